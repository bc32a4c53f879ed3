//! The intent pipeline: what an intent change means, decided once.
//!
//! [`plan`] is a pure function of two trees, the intent store at some revision and the
//! state store (its records and its applied-intent mirror). It diffs intent against the
//! mirror, validates every changed document (an invalid one makes the whole plan a
//! [`PlanError::Invalid`]: nothing is ever planned, shown as fine or executed from intent
//! that does not parse or fit its schema), and turns each change into typed [`Effect`]s.
//! `ocuroot plan` renders the plan, `ocuroot state diff` lists it, and the engine executes it
//! (`Engine::apply_plan`); nothing else decides what an intent change means.
//!
//! The rules:
//!
//! - **A deploy intent is satisfied** only when `<pkg>/@/deploy/<env>` in state is the
//!   release the intent names, deployed with the intent's inputs (the task summary's
//!   `release` and `input`). Otherwise it means a new `up` run of the release it names, for
//!   a rollback and a roll-forward alike, unless a pending, paused or running `up` of that
//!   release with those inputs already exists ([`Effect::Scheduled`]).
//! - **The inputs of a deploy intent** are the ones it lists; their refs are read again
//!   when the run starts. An intent without inputs takes the ones its release's package
//!   declares for the environment. Input refs into *another release of the same package*
//!   read the named release instead, so editing only the `release` line of a deploy intent
//!   (a rollback in a pull request) deploys that release with its own build outputs.
//! - **Order**: an `up` whose inputs read another deployment in the same environment that
//!   the plan also deploys runs after it; a `down` runs after the `down`s of every
//!   deployment in the plan that reads it (removing an environment takes the readers down
//!   before what they read, across packages and repositories).
//! - **Removing an environment** takes down every deployment in it, removes their deploy
//!   intents and then the environment. A deploy intent of that environment changed in the
//!   same revision is covered by the removal.
//! - **The applied mirror** of a ref is written together with its effect (the run created,
//!   the environment written), never before.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::intent::{IntentKind, IntentProblem};
use crate::model::RunType;
use crate::refs::SubpathType;

use crate::model::{
    DeployIntent, Environment, FnDef, Inputs, ReleaseDoc, RunDoc, TaskSummary, WorkSpec,
};
use crate::refs::glob::escape;
use crate::refs::{Glob, Ref, RefParseError};
use crate::store::{Area, DiffKind, MatchOptions, Store, StoreError, View, diff_view_checked};
use crate::yaml;

pub mod holds;
pub mod requests;
mod rules;

pub(crate) use rules::package_releases;
use rules::{Ctx, order};

/// What applying the intent at a revision would do.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Plan {
    /// One item per changed intent document, sorted by ref.
    pub items: Vec<PlanItem>,
}

impl Plan {
    /// Returns true when state matches intent.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Keeps only the items whose ref is in `refs`.
    pub fn retain_refs(&mut self, refs: &BTreeSet<Ref>) {
        self.items.retain(|i| refs.contains(&i.r));
    }
}

/// Returns `items` in the order their runs happen: an item after those whose `up` or `down`
/// it waits for (an effect's `after`), otherwise in the order given.
pub fn run_order<'a>(items: impl IntoIterator<Item = &'a PlanItem>) -> Vec<&'a PlanItem> {
    let runs_of = |i: &PlanItem| -> Vec<Ref> {
        i.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Up { run, .. } | Effect::Down { run, .. } => Some(run.clone()),
                _ => None,
            })
            .collect()
    };
    let waits_for = |i: &PlanItem| -> Vec<Ref> {
        i.effects
            .iter()
            .flat_map(|e| match e {
                Effect::Up { after, .. } | Effect::Down { after, .. } => after.clone(),
                _ => Vec::new(),
            })
            .collect()
    };
    let mut left: Vec<&PlanItem> = items.into_iter().collect();
    let mine: BTreeSet<Ref> = left.iter().flat_map(|i| runs_of(i)).collect();
    let mut done: BTreeSet<Ref> = BTreeSet::new();
    let mut out = Vec::with_capacity(left.len());
    while !left.is_empty() {
        // A wait on a run outside these items is not this ordering's concern.
        let (ready, rest): (Vec<&PlanItem>, Vec<&PlanItem>) = left.into_iter().partition(|i| {
            waits_for(i)
                .iter()
                .all(|r| done.contains(r) || !mine.contains(r))
        });
        if ready.is_empty() {
            // Plans have no cycles; keep the rest as they are all the same.
            out.extend(rest);
            break;
        }
        for i in &ready {
            done.extend(runs_of(i));
        }
        out.extend(ready);
        left = rest;
    }
    out
}

/// One changed intent document and what applying it does.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanItem {
    /// The intent ref.
    #[serde(rename = "ref", serialize_with = "ser_ref")]
    pub r: Ref,
    /// How intent differs from what state applied.
    pub work_type: DiffKind,
    /// The effects in one sentence.
    pub effect: String,
    /// The effects, in the order they happen.
    pub effects: Vec<Effect>,
    /// The document state has applied (canonical YAML), if any.
    pub before: Option<String>,
    /// The intent document (canonical YAML), if any.
    pub after: Option<String>,
    /// What the applied mirror becomes with the effects: `Some(text)` the intent's exact
    /// text, `None` removed.
    #[serde(skip)]
    pub mirror: Option<String>,
}

/// One thing applying an intent change does.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Effect {
    /// Start a new `up` run of `release` in `environment` (a deployment, rollback or
    /// roll-forward).
    Up {
        /// The run to create.
        #[serde(serialize_with = "ser_ref")]
        run: Ref,
        /// The release.
        #[serde(serialize_with = "ser_ref")]
        release: Ref,
        /// The environment.
        environment: String,
        /// The `up` function.
        function: FnDef,
        /// Its inputs (refs read when it starts).
        inputs: Inputs,
        /// Runs of this plan that must complete first.
        #[serde(serialize_with = "ser_refs", skip_serializing_if = "Vec::is_empty")]
        after: Vec<Ref>,
        /// The run starts even while the environment is frozen (`rollback
        /// --override-freeze`).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        override_freeze: bool,
    },
    /// Start a `down` run of the deployment `deployment` (`<release>/deploy/<env>`).
    Down {
        /// The run to create.
        #[serde(serialize_with = "ser_ref")]
        run: Ref,
        /// The deployment taken down.
        #[serde(serialize_with = "ser_ref")]
        deployment: Ref,
        /// The environment.
        environment: String,
        /// The `down` function.
        function: FnDef,
        /// Its inputs: the entry inputs of the run that deployed it.
        inputs: Inputs,
        /// Runs of this plan that must complete first.
        #[serde(serialize_with = "ser_refs", skip_serializing_if = "Vec::is_empty")]
        after: Vec<Ref>,
    },
    /// Nothing to start: run `run` (pending, paused or running) already carries it out.
    Scheduled {
        /// The run.
        #[serde(serialize_with = "ser_ref")]
        run: Ref,
    },
    /// Nothing to start: run `run` (pending or paused) already carries it out, and is now
    /// let through a freeze of its environment (`rollback --override-freeze`).
    OverrideFreeze {
        /// The run.
        #[serde(serialize_with = "ser_ref")]
        run: Ref,
    },
    /// Nothing to start: state already deploys that release with those inputs.
    Deployed {
        /// The task summary of the deployment.
        #[serde(serialize_with = "ser_ref")]
        deployment: Ref,
    },
    /// Nothing to take down: the package is not deployed there.
    NotDeployed,
    /// Carried out by another change of the same plan (an environment's removal).
    Covered {
        /// The intent ref whose change covers it.
        #[serde(serialize_with = "ser_ref")]
        by: Ref,
    },
    /// Remove the deploy intent `r` from the intent branch (its environment goes away).
    RemoveDeployIntent {
        /// The deploy intent ref.
        #[serde(serialize_with = "ser_ref")]
        r: Ref,
    },
    /// Write the environment to state, and have `packages` (one release each) re-check
    /// their deployments (`check_envs`), so that packages targeting it deploy there.
    SetEnvironment {
        /// The environment document.
        environment: Environment,
        /// The releases that get a `check_envs` operation.
        #[serde(serialize_with = "ser_refs")]
        packages: Vec<Ref>,
    },
    /// Nothing to write: state holds this environment already.
    EnvironmentUnchanged,
    /// Remove the environment from state.
    RemoveEnvironment {
        /// Its name.
        name: String,
    },
    /// Write the custom state document; runs waiting for it continue.
    SetCustom {
        /// The document.
        value: Value,
    },
    /// Remove the custom state document.
    RemoveCustom,
    /// Freeze the environment: no `up` or `down` run starts there while the freeze holds.
    /// The freeze is recorded in state at the same ref.
    Freeze {
        /// The environment.
        environment: String,
        /// The freeze document.
        freeze: crate::model::Freeze,
    },
    /// End the environment's freeze: runs held by it start on the next work command.
    Unfreeze {
        /// The environment.
        environment: String,
    },
    /// Mark the release bad: none of its runs starts, rollback never picks it. Recorded in
    /// state at the same ref.
    MarkBad {
        /// The release.
        #[serde(serialize_with = "ser_ref")]
        release: Ref,
        /// The mark.
        mark: crate::model::BadMark,
        /// The environments that still run the release.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        running_in: Vec<String>,
    },
    /// Remove the release's bad mark: its held runs start on the next work command.
    MarkGood {
        /// The release.
        #[serde(serialize_with = "ser_ref")]
        release: Ref,
    },
    /// Record a promotion (the set of deploy intents `ocuroot promote` wrote): copied to
    /// state at the same ref; the deployments themselves are their own deploy intents.
    RecordPromotion {
        /// The record.
        promotion: crate::model::Promotion,
    },
    /// Remove a promotion record.
    RemovePromotion,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let after = |f: &mut fmt::Formatter<'_>, after: &[Ref]| {
            if after.is_empty() {
                return Ok(());
            }
            let list: Vec<String> = after.iter().map(ToString::to_string).collect();
            write!(f, ", after {}", list.join(" and "))
        };
        match self {
            Effect::Up {
                run,
                release,
                environment,
                after: a,
                override_freeze,
                ..
            } => {
                write!(f, "run `up` of {release} in {environment} (run {run})")?;
                if *override_freeze {
                    write!(f, ", overriding a freeze")?;
                }
                after(f, a)
            }
            Effect::Down {
                run,
                deployment,
                environment,
                after: a,
                ..
            } => {
                write!(
                    f,
                    "run `down` of {} in {environment} (run {run})",
                    deployment.release_ref()
                )?;
                after(f, a)
            }
            Effect::Scheduled { run } => write!(f, "already scheduled as run {run}"),
            Effect::OverrideFreeze { run } => {
                write!(f, "already scheduled as run {run}, now overriding a freeze")
            }
            Effect::Deployed { deployment } => {
                write!(f, "already deployed ({deployment}); nothing to run")
            }
            Effect::NotDeployed => write!(f, "not deployed there; nothing to take down"),
            Effect::Covered { by } => write!(f, "carried out by the change of {by}"),
            Effect::RemoveDeployIntent { r } => write!(f, "remove deploy intent {r}"),
            Effect::SetEnvironment {
                environment,
                packages,
            } => write!(
                f,
                "add or update environment {}; {} package(s) re-check their deployments",
                environment.name,
                packages.len()
            ),
            Effect::EnvironmentUnchanged => write!(f, "state already has this environment"),
            Effect::RemoveEnvironment { name } => write!(f, "remove environment {name}"),
            Effect::SetCustom { .. } => write!(f, "set custom state; runs waiting for it continue"),
            Effect::RemoveCustom => write!(f, "remove custom state"),
            Effect::Freeze {
                environment,
                freeze,
            } => {
                write!(
                    f,
                    "freeze {environment}: no `up` or `down` run starts there"
                )?;
                if let Some(reason) = &freeze.reason {
                    write!(f, " ({reason})")?;
                }
                match &freeze.until {
                    Some(until) => write!(f, " until {until}"),
                    None => write!(f, " until unfrozen"),
                }
            }
            Effect::Unfreeze { environment } => {
                write!(f, "unfreeze {environment}: runs held by the freeze start")
            }
            Effect::MarkBad {
                release,
                mark,
                running_in,
            } => {
                write!(f, "mark {release} bad: none of its runs starts")?;
                if let Some(reason) = &mark.reason {
                    write!(f, " ({reason})")?;
                }
                if !running_in.is_empty() {
                    write!(f, "; still running in {}", running_in.join(", "))?;
                }
                Ok(())
            }
            Effect::MarkGood { release } => {
                write!(f, "remove the bad mark of {release}: its held runs start")
            }
            Effect::RecordPromotion { promotion } => write!(
                f,
                "record the promotion {} → {} of {} deployment(s)",
                promotion.from,
                promotion.to,
                promotion.deployments.len()
            ),
            Effect::RemovePromotion => write!(f, "remove the promotion record"),
        }
    }
}

fn ser_ref<S: serde::Serializer>(r: &Ref, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(r)
}

fn ser_refs<S: serde::Serializer>(refs: &[Ref], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(refs.iter().map(ToString::to_string))
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Changed intent documents do not parse or do not fit their schema.
    #[error("invalid intent ({} problem(s)), nothing was planned:\n  {}", .0.len(), list(.0))]
    Invalid(Vec<IntentProblem>),
    /// Reading a store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored document does not have the shape its ref promises.
    #[error("state document {r} is not a valid {what}")]
    BadDocument {
        /// The ref.
        r: String,
        /// What it should be.
        what: &'static str,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// A ref stored in state does not parse.
    #[error(transparent)]
    Ref(#[from] RefParseError),
}

fn list(problems: &[IntentProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// The result type of planning.
pub type PlanResult<T> = Result<T, PlanError>;

impl From<crate::refs::GlobError> for PlanError {
    fn from(e: crate::refs::GlobError) -> Self {
        PlanError::Store(StoreError::InvalidGlob(e))
    }
}

/// Computes the plan for the intent at `rev` (the intent branch tip when `None`).
///
/// # Errors
///
/// [`PlanError::Invalid`] listing every changed document that does not parse or fit its
/// schema; store errors, including a revision that does not resolve.
pub fn plan(intent: &Store, rev: Option<&str>, state: &Store) -> PlanResult<Plan> {
    let view = match rev {
        Some(rev) => intent.view_at(rev)?,
        None => intent.view()?,
    };
    let state_view = state.view()?;
    plan_views(intent, &view, state, &state_view)
}

/// As [`plan`], on views already taken (`intent_view` of `intent`, `state_view` of `state`).
///
/// # Errors
///
/// As [`plan`].
pub fn plan_views(
    intent: &Store,
    intent_view: &View<'_>,
    state: &Store,
    state_view: &View<'_>,
) -> PlanResult<Plan> {
    // The diff hands over the blob ids of both documents, so reading them costs one object
    // lookup each instead of a second walk down their paths.
    let (diff, tree_problems) = diff_view_checked(intent_view, state_view)?;
    let mut problems: Vec<IntentProblem> = tree_problems
        .into_iter()
        .map(|p| IntentProblem::new(p.path, None, p.message))
        .collect();
    let mut changes = Vec::new();
    for d in diff {
        let r = d.entry.r;
        let path = intent.doc_path(Area::Records, &r);
        let raw = match d.intent {
            Some(_) => intent_view.raw_document(Area::Records, &r)?,
            None => None,
        };
        let before = d
            .applied
            .map(|id| state_view.document_by_id(Area::Applied, &r, id))
            .transpose()
            .ok()
            .flatten();
        let (kind, after) = match &raw {
            None => (IntentKind::of(&r), None),
            Some(text) => match crate::intent::validate_document(path, &r, text, state) {
                Ok((kind, value)) => (Some(kind), Some(value)),
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            },
        };
        changes.push((r, d.entry.kind, kind, before, after, raw));
    }
    if !problems.is_empty() {
        return Err(PlanError::Invalid(problems));
    }
    let mut ctx = Ctx {
        intent: intent_view,
        state: state_view,
        next_runs: BTreeMap::new(),
    };
    // Environment removals first: they cover the deploy intents of their environment.
    let mut covered: BTreeMap<(String, String), Ref> = BTreeMap::new();
    let mut items = Vec::with_capacity(changes.len());
    for (r, kind, intent_kind, before, after, raw) in &changes {
        if *intent_kind == Some(IntentKind::Environment) && after.is_none() {
            let effects = ctx.remove_environment(r, &mut covered)?;
            items.push(item(r, *kind, effects, before, after, raw));
        }
    }
    for (r, kind, intent_kind, before, after, raw) in &changes {
        let effects = match (intent_kind, after) {
            (Some(IntentKind::Environment), None) => continue,
            (Some(IntentKind::Environment), Some(v)) => ctx.set_environment(r, v)?,
            (Some(IntentKind::Custom), Some(v)) => vec![Effect::SetCustom { value: v.clone() }],
            (Some(IntentKind::Custom), None) => vec![Effect::RemoveCustom],
            (Some(IntentKind::Freeze), Some(v)) => vec![Effect::Freeze {
                environment: r.subpath.split('/').next().unwrap_or_default().to_string(),
                freeze: decode(r, "freeze", v.clone())?,
            }],
            (Some(IntentKind::Freeze), None) => vec![Effect::Unfreeze {
                environment: r.subpath.split('/').next().unwrap_or_default().to_string(),
            }],
            (Some(IntentKind::BadMark), Some(v)) => vec![Effect::MarkBad {
                release: r.release_ref(),
                mark: decode(r, "bad mark", v.clone())?,
                running_in: holds::running_in(state_view, &r.release_ref())?,
            }],
            (Some(IntentKind::BadMark), None) => vec![Effect::MarkGood {
                release: r.release_ref(),
            }],
            (Some(IntentKind::Promotion), Some(v)) => vec![Effect::RecordPromotion {
                promotion: decode(r, "promotion", v.clone())?,
            }],
            (Some(IntentKind::Promotion), None) => vec![Effect::RemovePromotion],
            (Some(IntentKind::Deploy), _) => {
                let key = (format!("{}/-/{}", r.repo, r.filename), r.subpath.clone());
                match covered.get(&key) {
                    Some(by) => vec![Effect::Covered { by: by.clone() }],
                    None => match after {
                        Some(v) => ctx.deploy(r, v)?,
                        None => ctx.undeploy(r)?,
                    },
                }
            }
            // The mirror names a ref that cannot carry intent (a hand edit of state):
            // removing it from the mirror is all there is to do.
            (None, _) => Vec::new(),
        };
        items.push(item(r, *kind, effects, before, after, raw));
    }
    order(&mut items);
    for i in &mut items {
        i.effect = describe(i);
    }
    items.sort_by(|a, b| a.r.cmp(&b.r));
    Ok(Plan { items })
}

pub(super) fn item(
    r: &Ref,
    kind: DiffKind,
    effects: Vec<Effect>,
    before: &Option<Value>,
    after: &Option<Value>,
    raw: &Option<String>,
) -> PlanItem {
    let covered = effects.iter().any(|e| matches!(e, Effect::Covered { .. }));
    PlanItem {
        r: r.clone(),
        work_type: kind,
        effect: String::new(),
        effects,
        before: before.as_ref().and_then(|v| yaml::to_canonical(v).ok()),
        after: after.as_ref().and_then(|v| yaml::to_canonical(v).ok()),
        // A covered deploy intent is removed (with its mirror) by the covering change.
        mirror: if covered { None } else { raw.clone() },
    }
}

fn describe(item: &PlanItem) -> String {
    if item.effects.is_empty() {
        return format!(
            "{} is not an intent ref; only its applied copy is removed",
            item.r
        );
    }
    item.effects
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(
    r: &Ref,
    what: &'static str,
    v: Value,
) -> PlanResult<T> {
    serde_json::from_value(v).map_err(|source| PlanError::BadDocument {
        r: r.to_string(),
        what,
        source,
    })
}

pub(super) fn parse(text: &str) -> PlanResult<Ref> {
    Ok(Ref::parse(text)?)
}

#[cfg(test)]
mod tests {
    use super::rules::effective_inputs;
    use super::*;

    #[test]
    fn listed_inputs_into_another_release_read_the_named_one() {
        let release: Ref = "r/-/p.ocu.star/@r1".parse().expect("ref");
        let spec = crate::model::DeploySpec {
            environment: "staging".to_string(),
            up: FnDef {
                name: "up".to_string(),
                pos: "p.ocu.star:1:1".to_string(),
            },
            down: FnDef {
                name: "down".to_string(),
                pos: "p.ocu.star:2:1".to_string(),
            },
            inputs: Inputs::from([(
                "v".to_string(),
                crate::model::InputDesc {
                    reference: Some("r/-/p.ocu.star/@r1/task/build#output/v".to_string()),
                    ..Default::default()
                },
            )]),
        };
        let listed = Inputs::from([
            (
                "v".to_string(),
                crate::model::InputDesc {
                    reference: Some("r/-/p.ocu.star/@r2/task/build#output/v".to_string()),
                    default: None,
                    value: Some(Value::from("2.0")),
                },
            ),
            (
                "other".to_string(),
                crate::model::InputDesc {
                    reference: Some("r/-/q.ocu.star/@r7/task/build#output/v".to_string()),
                    default: None,
                    value: Some(Value::from(7)),
                },
            ),
        ]);
        let got = effective_inputs(&listed, &release, &spec);
        assert_eq!(
            got["v"].reference.as_deref(),
            Some("r/-/p.ocu.star/@r1/task/build#output/v")
        );
        assert_eq!(got["v"].value, None);
        // Another package's release is what the intent asked for: kept.
        assert_eq!(got["other"], listed["other"]);
        // No inputs listed: the release's own.
        assert_eq!(
            effective_inputs(&Inputs::new(), &release, &spec),
            spec.inputs
        );
    }
}
