//! Applying intent to state: environments (spec §6.6).

use std::collections::BTreeMap;

use super::release::{RefExt, escape};
use super::{Engine, EngineError, EngineResult, ref_of};
use crate::model::{self, Environment};
use crate::refs::{Glob, Ref, names};
use crate::store::{Area, MatchOptions, Transaction};

/// Registers an environment declared by an environments file: writes its intent and applies
/// it to state.
pub(crate) fn register_environment(engine: &Engine<'_>, env: &Environment) -> EngineResult<()> {
    let r = ref_of(&format!("@/environment/{}", env.name))?;
    let mut tx = Transaction::new(format!("register environment {}", env.name));
    let value = model::to_json(env);
    tx.set(&r, value.clone());
    engine.ws.intent.commit(&tx)?;
    let raw = crate::yaml::to_canonical(&value).map_err(|e| EngineError::Invalid(e.to_string()))?;
    apply_environment(engine, &env.name, Some((env, raw)))
}

/// Applies environment intent for `name`: with a document, writes it to state and schedules
/// a `check_envs` operation for every package so that packages targeting the environment
/// deploy to it; without one (deleted intent), removes the environment from state. The
/// intent's exact text is recorded in the applied mirror.
///
/// # Errors
///
/// [`EngineError::Invalid`] for an invalid name or a name that does not match the document;
/// store errors.
pub fn apply_environment(
    engine: &Engine<'_>,
    name: &str,
    env: Option<(&Environment, String)>,
) -> EngineResult<()> {
    let r = ref_of(&format!("@/environment/{name}"))?;
    let ws = engine.ws;
    let Some((env, raw)) = env else {
        let mut tx = Transaction::new(format!("apply environment intent\n\nremove {name}"));
        tx.delete_if_exists(&r);
        tx.delete_applied(&r);
        ws.state.commit(&tx)?;
        return Ok(());
    };
    if !names::is_valid_environment_name(&env.name) {
        return Err(EngineError::Invalid(format!(
            "environment validation failed: environment names may only contain letters, numbers, periods and underscores: {}",
            env.name
        )));
    }
    if env.name != name {
        return Err(EngineError::Invalid(format!(
            "environment name ({:?}) must match subpath ({name:?})",
            env.name
        )));
    }
    let value = model::to_json(env);
    if ws.state.try_get(&r)?.as_ref() == Some(&value) {
        // Already applied: make sure the mirror agrees and stop.
        let mut tx = Transaction::new(format!("apply environment intent\n\n{name}"));
        tx.set_applied_raw(&r, raw);
        ws.state.commit(&tx)?;
        return Ok(());
    }
    let mut tx = Transaction::new(format!("apply environment intent\n\n{name}"));
    tx.set(&r, value);
    tx.set_applied_raw(&r, raw);
    for release in package_releases(engine)? {
        tx.set(
            &ref_of(&format!("{release}/op/check_envs"))?,
            engine.marker(),
        );
    }
    ws.state.commit(&tx)?;
    Ok(())
}

/// Chooses one release per package (spec §6.6): the release currently deployed, else the
/// first release recorded with a commit marker.
fn package_releases(engine: &Engine<'_>) -> EngineResult<Vec<Ref>> {
    let state = &engine.ws.state;
    let mut chosen: BTreeMap<String, Ref> = BTreeMap::new();
    for link in state.match_refs(
        Area::Records,
        &[Glob::new("**/@/deploy/*")?],
        MatchOptions::default(),
    )? {
        let target = state.resolve_link(&link)?;
        chosen.insert(package_key(&link), target.release_ref());
    }
    for marker in state.match_refs(
        Area::Records,
        &[Glob::new("**/@*/commit/*")?],
        MatchOptions { no_links: true },
    )? {
        chosen
            .entry(package_key(&marker))
            .or_insert_with(|| marker.release_ref());
    }
    let _ = escape;
    Ok(chosen.into_values().collect())
}

fn package_key(r: &Ref) -> String {
    format!("{}/-/{}", r.repo, r.filename)
}
