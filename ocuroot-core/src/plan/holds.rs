//! Holds: which runs must not start although they could, and why.
//!
//! Two intent documents hold runs (see `docs/state-format.md`, "Freezes and bad marks"):
//!
//! - a **freeze** (`@/environment/<env>/freeze`, [`Freeze`]) holds every `up` and `down`
//!   run of that environment until it is removed or its `until` time has passed; a run
//!   made with `override_freeze` (`ocuroot rollback --override-freeze`) is not held;
//! - a **bad mark** (`<pkg>/@<release>/custom/ocuroot/bad`, [`BadMark`]) holds every run
//!   of that release.
//!
//! Holds are read from the *intent* store: a freeze merged as a pull request holds the
//! next run that any job would start, whether or not a work command has applied it yet.
//! The engine asks [`Holds::hold_of`] before it starts a run and records the answer in the
//! run's status marker (`held`); `plan` lists them with [`notices`]. Like the rest of the
//! pipeline this is a pure function of the trees (and of the time, passed in).

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::Serialize;

use super::{PlanResult, decode};
use crate::clock::Timestamp;
use crate::model::{BadMark, Freeze, Hold, RunDoc, RunType, TaskSummary};
use crate::refs::{FREEZE, Glob, Ref, RunStatus, SubpathType};
use crate::store::{Area, MatchOptions, Reader, View};

/// The freezes and bad marks of an intent tree at one moment.
pub struct Holds<'a> {
    intent: &'a dyn Reader,
    /// Freezes in force, by environment.
    freezes: BTreeMap<String, Freeze>,
    /// Bad marks looked up so far, by release.
    bad: RefCell<BTreeMap<Ref, Option<BadMark>>>,
}

impl<'a> Holds<'a> {
    /// Reads the freezes of `intent` that are in force at `now` (no `until`, or `until`
    /// after `now`). Bad marks are looked up per release, when asked.
    ///
    /// # Errors
    ///
    /// Store errors; [`super::PlanError::BadDocument`] for a freeze that does not fit its
    /// schema (`intent check` reports those first).
    pub fn read(intent: &'a dyn Reader, now: Timestamp) -> PlanResult<Holds<'a>> {
        let glob = Glob::new(&format!("@/environment/*/{FREEZE}"))?;
        let mut freezes = BTreeMap::new();
        for r in intent.match_refs(Area::Records, &[glob], MatchOptions { no_links: true })? {
            let Some(v) = intent.try_get(&r)? else {
                continue;
            };
            let freeze: Freeze = decode(&r, "freeze", v)?;
            if in_force(&freeze, now) {
                let env = r.subpath.split('/').next().unwrap_or_default().to_string();
                freezes.insert(env, freeze);
            }
        }
        Ok(Holds {
            intent,
            freezes,
            bad: RefCell::new(BTreeMap::new()),
        })
    }

    /// The freeze of `env` in force, if any.
    pub fn freeze(&self, env: &str) -> Option<&Freeze> {
        self.freezes.get(env)
    }

    /// The frozen environments with their freezes.
    pub fn freezes(&self) -> &BTreeMap<String, Freeze> {
        &self.freezes
    }

    /// The bad mark of `release` (a resolved `<pkg>/@rN`), if it has one.
    ///
    /// # Errors
    ///
    /// Store errors; a mark that does not fit its schema.
    pub fn bad(&self, release: &Ref) -> PlanResult<Option<BadMark>> {
        let release = release.release_ref();
        if let Some(known) = self.bad.borrow().get(&release) {
            return Ok(known.clone());
        }
        let mark = release.bad_mark();
        let found = match self.intent.try_get(&mark)? {
            Some(v) => Some(decode::<BadMark>(&mark, "bad mark", v)?),
            None => None,
        };
        self.bad.borrow_mut().insert(release, found.clone());
        Ok(found)
    }

    /// Whether run `run` (document `doc`) must not start now, and why: its release is
    /// marked bad, or it is an `up` or `down` of a frozen environment and was not made to
    /// override the freeze.
    ///
    /// # Errors
    ///
    /// As [`Holds::bad`].
    pub fn hold_of(&self, run: &Ref, doc: &RunDoc) -> PlanResult<Option<Hold>> {
        let release = run.release_ref();
        if let Some(mark) = self.bad(&release)? {
            return Ok(Some(Hold::Bad {
                release: release.to_string(),
                detail: mark.reason,
            }));
        }
        if run.is(SubpathType::Deploy) && doc.run_type != RunType::Task && !doc.override_freeze {
            let env = run.subpath.split('/').next().unwrap_or_default();
            if let Some(freeze) = self.freeze(env) {
                return Ok(Some(Hold::Frozen {
                    environment: env.to_string(),
                    detail: freeze.reason.clone(),
                    until: freeze.until.clone(),
                }));
            }
        }
        Ok(None)
    }
}

/// Whether `freeze` holds at `now`. An `until` that does not parse holds (intent checks
/// refuse such documents before they are written).
pub fn in_force(freeze: &Freeze, now: Timestamp) -> bool {
    match freeze.until.as_deref() {
        None => true,
        Some(until) => Timestamp::parse(until).is_none_or(|t| t > now),
    }
}

/// The hold recorded in a status marker (`held`), if any.
pub fn recorded_hold(marker: &serde_json::Value) -> Option<Hold> {
    serde_json::from_value(marker.get("held")?.clone()).ok()
}

/// The environments in which `release` is deployed now (state's `<pkg>/@/deploy/<env>`
/// links point at it, and its last run there was not a `down`), sorted.
///
/// # Errors
///
/// Store errors.
pub fn running_in(state: &View<'_>, release: &Ref) -> PlanResult<Vec<String>> {
    let current = Ref {
        release: Some(String::new()),
        ..release.package_ref()
    };
    let glob = Glob::below(&current, "deploy/*")?;
    let release = state.resolve_link(&release.release_ref())?.release_ref();
    let mut out = Vec::new();
    for link in state.match_refs(Area::Records, &[glob], MatchOptions::default())? {
        let target = state.resolve_link(&link)?;
        if target == link || target.release_ref() != release {
            continue;
        }
        let Some(v) = state.try_get(&target)? else {
            continue;
        };
        let summary: TaskSummary = decode(&target, "task summary", v)?;
        if summary.run_type != RunType::Down {
            out.push(link.subpath.clone());
        }
    }
    out.sort();
    Ok(out)
}

/// Every bad mark of `intent`, by release (`<pkg>/@rN` as the mark's ref names it).
///
/// # Errors
///
/// Store errors; a mark that does not fit its schema.
pub fn bad_marks(intent: &dyn Reader) -> PlanResult<BTreeMap<Ref, BadMark>> {
    let glob = Glob::new(&format!("**/@*/custom/{}", crate::refs::BAD_MARK))?;
    let mut out = BTreeMap::new();
    for mark in intent.match_refs(Area::Records, &[glob], MatchOptions { no_links: true })? {
        if let Some(v) = intent.try_get(&mark)? {
            out.insert(mark.release_ref(), decode::<BadMark>(&mark, "bad mark", v)?);
        }
    }
    Ok(out)
}

/// Something `plan` says besides its items: an environment frozen with the runs it holds,
/// or a bad release still deployed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Notice {
    /// An environment is frozen.
    Frozen {
        /// The environment.
        environment: String,
        /// The freeze.
        freeze: Freeze,
        /// The runs waiting for it to end.
        #[serde(serialize_with = "super::ser_refs")]
        held: Vec<Ref>,
    },
    /// A release marked bad is still deployed.
    BadDeployed {
        /// The release.
        #[serde(serialize_with = "super::ser_ref")]
        release: Ref,
        /// The mark.
        mark: BadMark,
        /// The environments still running it.
        environments: Vec<String>,
        /// Its runs held by the mark.
        #[serde(serialize_with = "super::ser_refs")]
        held: Vec<Ref>,
    },
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = |f: &mut std::fmt::Formatter<'_>, held: &[Ref]| {
            for r in held {
                write!(f, "\n    held: {r}")?;
            }
            Ok(())
        };
        match self {
            Notice::Frozen {
                environment,
                freeze,
                held: h,
            } => {
                write!(f, "frozen: {environment}")?;
                if let Some(reason) = &freeze.reason {
                    write!(f, " ({reason})")?;
                }
                match &freeze.until {
                    Some(until) => write!(f, " until {until}")?,
                    None => write!(f, " until unfrozen")?,
                }
                held(f, h)
            }
            Notice::BadDeployed {
                release,
                mark,
                environments,
                held: h,
            } => {
                write!(f, "bad: {release}")?;
                if let Some(reason) = &mark.reason {
                    write!(f, " ({reason})")?;
                }
                if environments.is_empty() {
                    write!(f, " is not deployed anywhere")?;
                } else {
                    write!(f, " still runs in {}", environments.join(", "))?;
                }
                held(f, h)
            }
        }
    }
}

/// What `plan` says besides its items (see [`Notice`]): every frozen environment with the
/// runs it holds, and every release marked bad with the environments still running it and
/// its held runs. Runs count as held when their status marker records the hold.
///
/// # Errors
///
/// Store errors.
pub fn notices(intent: &View<'_>, state: &View<'_>, now: Timestamp) -> PlanResult<Vec<Notice>> {
    let holds = Holds::read(intent, now)?;
    let mut out = Vec::new();
    let waiting = |glob: &str, frozen: bool| -> PlanResult<Vec<Ref>> {
        let glob = Glob::new(glob)?;
        let mut runs = Vec::new();
        for marker in state.match_refs(Area::Records, &[glob], MatchOptions { no_links: true })? {
            let Some(run) = marker.status_run() else {
                continue;
            };
            if let Some(v) = state.try_get(&marker)?
                && let Some(hold) = recorded_hold(&v)
                && matches!(hold, Hold::Frozen { .. }) == frozen
            {
                runs.push(run);
            }
        }
        Ok(runs)
    };
    let statuses = format!("{{{},{}}}", RunStatus::Pending, RunStatus::Paused);
    for (env, freeze) in holds.freezes() {
        let env_glob = crate::refs::glob::escape(env);
        let held = waiting(
            &format!("**/@*/deploy/{env_glob}/*/status/{statuses}"),
            true,
        )?;
        out.push(Notice::Frozen {
            environment: env.clone(),
            freeze: freeze.clone(),
            held,
        });
    }
    for (release, bad) in bad_marks(intent)? {
        let environments = running_in(state, &release)?;
        let held = waiting(
            &crate::refs::glob::pattern_below(
                &release,
                &format!("{{task,deploy}}/*/*/status/{statuses}"),
            ),
            false,
        )?;
        out.push(Notice::BadDeployed {
            release,
            mark: bad,
            environments,
            held,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).expect("time")
    }

    #[test]
    fn a_freeze_holds_until_its_end() {
        let open = Freeze::default();
        assert!(in_force(&open, at("2030-01-01T00:00:00Z")));
        let until = Freeze {
            reason: None,
            until: Some("2026-01-02T00:00:00Z".into()),
        };
        assert!(in_force(&until, at("2026-01-01T23:59:59Z")));
        assert!(!in_force(&until, at("2026-01-02T00:00:00Z")));
        // An unreadable end (never written by ocuroot) holds rather than lets runs through.
        let bad = Freeze {
            reason: None,
            until: Some("soon".into()),
        };
        assert!(in_force(&bad, at("2030-01-01T00:00:00Z")));
    }

    #[test]
    fn a_marker_records_its_hold() {
        let hold = Hold::Frozen {
            environment: "eu".into(),
            detail: Some("audit".into()),
            until: None,
        };
        let marker = serde_json::json!({"time": "t", "held": crate::model::to_json(&hold)});
        assert_eq!(recorded_hold(&marker), Some(hold));
        assert_eq!(recorded_hold(&serde_json::json!({"time": "t"})), None);
        assert_eq!(
            crate::model::to_json(&Hold::Bad {
                release: "r/-/p.ocu.star/@r2".into(),
                detail: None
            }),
            serde_json::json!({"reason": "bad", "release": "r/-/p.ocu.star/@r2"})
        );
    }
}
