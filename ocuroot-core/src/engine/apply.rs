//! Carrying out intent: executing a [`Plan`] (spec §6.6), and registering environments.
//!
//! What an intent change means is decided by [`crate::plan`] alone; this module only turns
//! the plan's effects into store operations. A plan is applied in one transaction per store
//! (one push when both share a remote): the runs it schedules (created `pending`, with the
//! plan's ordering as dependencies), the documents it writes and, in the same commit, the
//! applied mirror of every ref it carries out. Runs are created with create-only operations,
//! so two jobs applying the same change at once cannot both schedule it: the loser's commit
//! fails, it plans again on the store as it is now, and finds nothing left to do.

use std::collections::BTreeSet;

use super::{Engine, EngineError, EngineResult, RunStatus};
use crate::model::RunType;
use crate::model::{self, Environment, RunDoc, RunFunction};
use crate::plan::{Effect, Plan, package_releases};
use crate::refs::SubpathType;
use crate::refs::{Ref, names};
use crate::store::{StoreError, Transaction};

/// How many times intent is planned again after another job applied part of it first.
const MAX_REPLANS: u32 = 20;

impl Engine {
    /// Plans the intent changes (all of them, or those whose ref is in `only`) and carries
    /// them out. Returns the plan that was applied.
    ///
    /// # Errors
    ///
    /// [`EngineError::Plan`] for invalid intent (nothing is written); store errors.
    pub fn apply_intent_changes(&self, only: Option<&BTreeSet<Ref>>) -> EngineResult<Plan> {
        let mut attempt = 0;
        loop {
            let mut plan = crate::plan::plan(&self.cx.intent, None, &self.cx.state)?;
            if let Some(only) = only {
                plan.retain_refs(only);
            }
            if plan.is_empty() {
                return Ok(plan);
            }
            match self.apply_plan(&plan) {
                Ok(()) => return Ok(plan),
                // Another job scheduled a run of this plan first: plan again.
                Err(EngineError::Store(
                    StoreError::AlreadyExists { .. } | StoreError::Changed { .. },
                )) if attempt + 1 < MAX_REPLANS => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Carries out `plan` in one transaction per store (see the module doc).
    ///
    /// # Errors
    ///
    /// Store errors; [`StoreError::AlreadyExists`] when another job created one of its runs
    /// first (nothing was written: plan again).
    pub fn apply_plan(&self, plan: &Plan) -> EngineResult<()> {
        let refs: Vec<String> = plan.items.iter().map(|i| i.r.to_string()).collect();
        let body = refs.join("\n");
        let mut state_tx = Transaction::new(format!("apply intent\n\n{body}"));
        let mut intent_tx = Transaction::new(format!("apply intent\n\n{body}"));
        for item in &plan.items {
            for effect in &item.effects {
                self.effect_ops(&item.r, effect, &mut state_tx, &mut intent_tx)?;
            }
            match &item.mirror {
                Some(raw) => state_tx.set_applied_raw(&item.r, raw.clone()),
                None => state_tx.delete_applied(&item.r),
            };
        }
        // Intent first: when the two cannot share a push, the applied mirror must never be
        // ahead of the intent it mirrors.
        self.sign(&mut intent_tx);
        self.cx
            .intent
            .commit_with(&intent_tx, &self.cx.state, &state_tx)?;
        Ok(())
    }

    fn effect_ops(
        &self,
        r: &Ref,
        effect: &Effect,
        state_tx: &mut Transaction,
        intent_tx: &mut Transaction,
    ) -> EngineResult<()> {
        match effect {
            Effect::Up {
                run,
                release,
                function,
                inputs,
                after,
                ..
            }
            | Effect::Down {
                run,
                deployment: release,
                function,
                inputs,
                after,
                ..
            } => {
                let run_type = if matches!(effect, Effect::Up { .. }) {
                    RunType::Up
                } else {
                    RunType::Down
                };
                let doc = RunDoc {
                    run_type,
                    release: release.release_ref().to_string(),
                    functions: vec![RunFunction {
                        function: function.clone(),
                        dependencies: after.iter().map(Ref::completion_glob).collect(),
                        inputs: inputs.clone(),
                    }],
                    output: None,
                    watch_files: None,
                    override_freeze: matches!(
                        effect,
                        Effect::Up {
                            override_freeze: true,
                            ..
                        }
                    ),
                };
                state_tx.create(run, model::to_json(&doc));
                state_tx.set(&run.status(RunStatus::Pending), self.marker());
            }
            Effect::SetEnvironment {
                environment,
                packages,
            } => {
                state_tx.set(r, model::to_json(environment));
                for release in packages {
                    state_tx.set(
                        &release.with_subpath(SubpathType::Op, "check_envs"),
                        self.marker(),
                    );
                }
            }
            Effect::RemoveEnvironment { .. }
            | Effect::RemoveCustom
            | Effect::Unfreeze { .. }
            | Effect::MarkGood { .. }
            | Effect::RemovePromotion => {
                state_tx.delete_if_exists(r);
            }
            Effect::Freeze { freeze, .. } => {
                state_tx.set(r, model::to_json(freeze));
            }
            Effect::MarkBad { mark, .. } => {
                state_tx.set(r, model::to_json(mark));
            }
            Effect::RecordPromotion { promotion } => {
                state_tx.set(r, model::to_json(promotion));
            }
            Effect::RemoveDeployIntent { r: intent } => {
                intent_tx.delete_if_exists(intent);
                state_tx.delete_applied(intent);
            }
            Effect::SetCustom { value } => {
                state_tx.set(r, value.clone());
            }
            Effect::OverrideFreeze { run } => {
                let mut doc: RunDoc = super::decode(run, "run", self.cx.state.get(run)?)?;
                doc.override_freeze = true;
                state_tx.set(run, model::to_json(&doc));
            }
            Effect::Scheduled { .. }
            | Effect::Deployed { .. }
            | Effect::NotDeployed
            | Effect::Covered { .. }
            | Effect::EnvironmentUnchanged => {}
        }
        Ok(())
    }
}

/// Registers the environments declared by an environments file: writes their intent and
/// applies it to state, with one commit on each branch (one push when state and intent live
/// in one remote), whatever the number of environments. Like a deployment the engine
/// starts, it writes intent and its applied mirror together, so it never shows as drift.
///
/// Every environment is validated before anything is written.
pub(crate) fn register_environments(engine: &Engine, envs: &[Environment]) -> EngineResult<()> {
    let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
    let mut intent_tx = Transaction::new(format!("register environments\n\n{}", names.join("\n")));
    let mut state_tx =
        Transaction::new(format!("apply environment intent\n\n{}", names.join("\n")));
    let view = engine.cx.state.view()?;
    let releases = package_releases(&view)?;
    for env in envs {
        if !names::is_valid_environment_name(&env.name) {
            return Err(EngineError::BadEnvironmentName {
                name: env.name.clone(),
            });
        }
        let r = Ref::global(SubpathType::Environment, &env.name);
        let value = model::to_json(env);
        let raw = crate::yaml::to_canonical(&value)?;
        intent_tx.set(&r, value.clone());
        state_tx.set_applied_raw(&r, raw);
        if view.try_get(&r)?.as_ref() == Some(&value) {
            continue;
        }
        state_tx.set(&r, value);
        for release in &releases {
            state_tx.set(
                &release.with_subpath(SubpathType::Op, "check_envs"),
                engine.marker(),
            );
        }
    }
    engine.sign(&mut intent_tx);
    engine
        .cx
        .intent
        .commit_with(&intent_tx, &engine.cx.state, &state_tx)?;
    Ok(())
}
