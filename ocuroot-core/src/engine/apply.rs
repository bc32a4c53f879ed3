//! Applying intent to state: environments (spec §6.6).

use std::collections::BTreeMap;

use super::release::{RefExt, escape};
use super::{Engine, EngineError, EngineResult, ref_of};
use crate::model::{self, Environment};
use crate::refs::{Glob, Ref, names};
use crate::store::{Area, MatchOptions, Transaction};

/// Registers the environments declared by an environments file: writes their intent and
/// applies it to state, with one commit on each branch (one push when state and intent live
/// in one remote), whatever the number of environments.
///
/// Every environment is validated before anything is written.
pub(crate) fn register_environments(engine: &Engine<'_>, envs: &[Environment]) -> EngineResult<()> {
    let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
    let mut intent_tx = Transaction::new(format!("register environments\n\n{}", names.join("\n")));
    let mut state_tx =
        Transaction::new(format!("apply environment intent\n\n{}", names.join("\n")));
    let releases = package_releases(engine)?;
    for env in envs {
        let r = ref_of(&format!("@/environment/{}", env.name))?;
        let value = model::to_json(env);
        let raw =
            crate::yaml::to_canonical(&value).map_err(|e| EngineError::Invalid(e.to_string()))?;
        intent_tx.set(&r, value);
        apply_ops(engine, &mut state_tx, &env.name, env, raw, &releases)?;
    }
    engine
        .ws
        .intent
        .commit_with(&intent_tx, &engine.ws.state, &state_tx)?;
    Ok(())
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
    let mut tx = Transaction::new(format!("apply environment intent\n\n{name}"));
    match env {
        Some((env, raw)) => {
            let releases = package_releases(engine)?;
            apply_ops(engine, &mut tx, name, env, raw, &releases)?;
        }
        None => {
            let r = ref_of(&format!("@/environment/{name}"))?;
            tx.delete_if_exists(&r);
            tx.delete_applied(&r);
        }
    }
    engine.ws.state.commit(&tx)?;
    Ok(())
}

/// Records in `tx` the application of the environment document `env` (intent text `raw`)
/// for `name`; `releases` are the packages' releases to schedule `check_envs` for.
fn apply_ops(
    engine: &Engine<'_>,
    tx: &mut Transaction,
    name: &str,
    env: &Environment,
    raw: String,
    releases: &[Ref],
) -> EngineResult<()> {
    let r = ref_of(&format!("@/environment/{name}"))?;
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
    if engine.ws.state.try_get(&r)?.as_ref() == Some(&value) {
        // Already applied: make sure the mirror agrees and stop.
        tx.set_applied_raw(&r, raw);
        return Ok(());
    }
    tx.set(&r, value);
    tx.set_applied_raw(&r, raw);
    for release in releases {
        tx.set(
            &ref_of(&format!("{release}/op/check_envs"))?,
            engine.marker(),
        );
    }
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
