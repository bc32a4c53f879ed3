//! Requests that become deploy intent: a rollback and a promotion.
//!
//! `ocuroot rollback` and `ocuroot promote` are ordinary intent writes
//! (`<pkg>/@/deploy/<env>` documents, one transaction for the whole request); this module
//! decides *which* documents, as a pure function of the intent and state trees. The plan of
//! those writes is then made by [`super::plan_views`] like any other intent change, so the
//! engine carries them out with the ordinary work commands.
//!
//! A promotion also writes a record of its set (`@/environment/<to>/promotion`,
//! [`Promotion`]); [`promotions`] reads those records back with what became of each
//! deployment, which is how `plan` shows a promotion as one change and, after a run failed,
//! says which of the set landed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::holds::Holds;
use super::{Plan, PlanError, PlanItem, decode};
use crate::model::{DeployIntent, Inputs, Promotion, ReleaseDoc, RunType, TaskSummary, WorkSpec};
use crate::refs::glob::escape;
use crate::refs::{Glob, PROMOTION, Ref, SubpathType};
use crate::store::{Area, MatchOptions, View};

/// Why a rollback or promotion cannot be requested.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The package is not deployed in the environment.
    #[error("{package} is not deployed in {environment}")]
    NotDeployed {
        /// The package ref.
        package: String,
        /// The environment.
        environment: String,
    },
    /// No older release completed an `up` there and is not marked bad.
    #[error(
        "no release of {package} older than {current} completed a deployment to {environment} and is not marked bad"
    )]
    NoTarget {
        /// The package ref.
        package: String,
        /// The release deployed now.
        current: String,
        /// The environment.
        environment: String,
    },
    /// The named release does not exist.
    #[error("release {release} does not exist in state")]
    NoRelease {
        /// The release ref as given.
        release: String,
    },
    /// The named release is marked bad.
    #[error("release {release} is marked bad{}", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Bad {
        /// The release.
        release: String,
        /// The mark's reason.
        reason: Option<String>,
    },
    /// The release has no deployment to the environment.
    #[error("release {release} has no deployment to {environment}")]
    NoDeployment {
        /// The release.
        release: String,
        /// The environment.
        environment: String,
    },
    /// Reading the stores failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

impl From<crate::store::StoreError> for RequestError {
    fn from(e: crate::store::StoreError) -> Self {
        RequestError::Plan(PlanError::Store(e))
    }
}

impl From<crate::refs::GlobError> for RequestError {
    fn from(e: crate::refs::GlobError) -> Self {
        RequestError::Plan(e.into())
    }
}

/// One deploy intent a request writes.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The deploy intent ref (`<pkg>/@/deploy/<env>`).
    pub r: Ref,
    /// The document.
    pub intent: DeployIntent,
}

/// The release deployed now at `<pkg>/@/deploy/<env>` in state, with the deployment's
/// task summary, or `None` when nothing is deployed there.
fn deployed(state: &View<'_>, link: &Ref) -> Result<Option<(Ref, TaskSummary)>, RequestError> {
    let target = state.resolve_link(link)?;
    if target == *link {
        return Ok(None);
    }
    let Some(v) = state.try_get(&target)? else {
        return Ok(None);
    };
    let summary: TaskSummary = decode(&target, "task summary", v)?;
    if summary.run_type == RunType::Down {
        return Ok(None);
    }
    Ok(Some((target.release_ref(), summary)))
}

/// The deploy intent (and current deployment link) of `package` in `environment`:
/// `<pkg>/@/deploy/<env>`.
fn deploy_ref(package: &Ref, environment: &str) -> Ref {
    package
        .package_ref()
        .with_release(Some(""))
        .with_subpath(SubpathType::Deploy, environment)
}

fn release_number(r: &Ref) -> Option<u64> {
    r.release.as_deref()?.strip_prefix('r')?.parse().ok()
}

/// The release document of `release` (links resolved), with its resolved ref.
fn release_doc(state: &View<'_>, release: &Ref) -> Result<(Ref, ReleaseDoc), RequestError> {
    let resolved = state.resolve_link(&release.release_ref())?.release_ref();
    match state.try_get(&resolved)? {
        Some(v) => Ok((resolved.clone(), decode(&resolved, "release", v)?)),
        None => Err(RequestError::NoRelease {
            release: release.release_ref().to_string(),
        }),
    }
}

fn refuse_bad(holds: &Holds<'_>, release: &Ref) -> Result<(), RequestError> {
    if let Some(mark) = holds.bad(release)? {
        return Err(RequestError::Bad {
            release: release.to_string(),
            reason: mark.reason,
        });
    }
    Ok(())
}

/// The deploy intent that rolls `package` back in `environment` (spec: `ocuroot
/// rollback`): to `to` (a release or tag of the package) when given, else to the newest
/// release older than the one deployed there that completed an `up` there and is not marked
/// bad, with the inputs it ran with there. A bad release is refused.
///
/// # Errors
///
/// [`RequestError`] saying why there is nothing to roll back to.
pub fn rollback(
    state: &View<'_>,
    holds: &Holds<'_>,
    package: &Ref,
    environment: &str,
    to: Option<&str>,
    override_freeze: bool,
) -> Result<Request, RequestError> {
    let package = package.package_ref();
    let link = deploy_ref(&package, environment);
    let (release, input) = match to {
        Some(to) => {
            let (release, doc) = release_doc(state, &package.with_release(Some(to)))?;
            refuse_bad(holds, &release)?;
            if !matches!(
                doc.package.find("deploy", environment),
                Some((_, WorkSpec::Deploy(_)))
            ) {
                return Err(RequestError::NoDeployment {
                    release: release.to_string(),
                    environment: environment.to_string(),
                });
            }
            // The inputs it ran with there, if it ever completed there.
            let summary = release.with_subpath(SubpathType::Deploy, environment);
            let input = match state.try_get(&summary)? {
                Some(v) => {
                    let s: TaskSummary = decode(&summary, "task summary", v)?;
                    if s.run_type == RunType::Down {
                        Inputs::new()
                    } else {
                        s.input
                    }
                }
                None => Inputs::new(),
            };
            (release, input)
        }
        None => {
            let Some((current, _)) = deployed(state, &link)? else {
                return Err(RequestError::NotDeployed {
                    package: package.to_string(),
                    environment: environment.to_string(),
                });
            };
            let current_n = release_number(&current).unwrap_or(u64::MAX);
            let glob = Glob::new(&format!(
                "{}/@*/deploy/{}",
                escape(&package.to_string()),
                escape(environment)
            ))?;
            let mut found: BTreeMap<u64, (Ref, Inputs)> = BTreeMap::new();
            for summary_ref in
                state.match_refs(Area::Records, &[glob], MatchOptions { no_links: true })?
            {
                let release = summary_ref.release_ref();
                let Some(n) = release_number(&release).filter(|n| *n < current_n) else {
                    continue;
                };
                let Some(v) = state.try_get(&summary_ref)? else {
                    continue;
                };
                let summary: TaskSummary = decode(&summary_ref, "task summary", v)?;
                if summary.run_type == RunType::Down || holds.bad(&release)?.is_some() {
                    continue;
                }
                found.insert(n, (release, summary.input));
            }
            match found.pop_last() {
                Some((_, x)) => x,
                None => {
                    return Err(RequestError::NoTarget {
                        package: package.to_string(),
                        current: current.to_string(),
                        environment: environment.to_string(),
                    });
                }
            }
        }
    };
    Ok(Request {
        r: link,
        intent: DeployIntent {
            release: release.to_string(),
            input,
            override_freeze,
        },
    })
}

/// The deploy intents that pin on `to` exactly the releases running in `from` (spec:
/// `ocuroot promote`), for the packages whose ref or file matches `package` (every package
/// when `None`). Each intent lists no inputs, so the deployment takes the inputs its
/// release declares for `to`. Packages already running that release in `to`, and releases
/// without a deployment to `to`, are left out; a bad release in `from` is refused.
///
/// # Errors
///
/// [`RequestError::Bad`] when `from` runs a release marked bad; store errors.
pub fn promote(
    state: &View<'_>,
    holds: &Holds<'_>,
    from: &str,
    to: &str,
    package: Option<&Glob>,
) -> Result<Vec<Request>, RequestError> {
    let glob = Glob::new(&format!("**/@/deploy/{}", escape(from)))?;
    let mut out = Vec::new();
    for link in state.match_refs(Area::Records, &[glob], MatchOptions::default())? {
        let pkg = link.package_ref();
        if let Some(g) = package
            && !g.matches(&pkg.to_string())
            && !g.matches(&pkg.filename)
        {
            continue;
        }
        let Some((release, _)) = deployed(state, &link)? else {
            continue;
        };
        let (release, doc) = release_doc(state, &release)?;
        if !matches!(
            doc.package.find("deploy", to),
            Some((_, WorkSpec::Deploy(_)))
        ) {
            continue;
        }
        refuse_bad(holds, &release)?;
        let target = deploy_ref(&pkg, to);
        if deployed(state, &target)?.is_some_and(|(r, _)| r == release) {
            continue;
        }
        out.push(Request {
            r: target,
            intent: DeployIntent {
                release: release.to_string(),
                input: Inputs::new(),
                override_freeze: false,
            },
        });
    }
    Ok(out)
}

/// What became of one deploy intent of a request after the work commands ran.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// State deploys the requested release there.
    Landed,
    /// The run that carries it out failed.
    Failed {
        /// The run.
        run: Ref,
    },
    /// A freeze or a bad mark holds the run.
    Held {
        /// The run.
        run: Ref,
        /// Why.
        hold: crate::model::Hold,
    },
    /// The run has not finished (pending, paused or running).
    Waiting {
        /// The run.
        run: Ref,
        /// Its status.
        status: crate::refs::RunStatus,
    },
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Landed => write!(f, "landed"),
            Outcome::Failed { run } => write!(f, "not landed: run {run} failed"),
            Outcome::Held { run, hold } => write!(f, "not landed: run {run} held ({hold})"),
            Outcome::Waiting { run, status } => write!(f, "not landed yet: run {run} is {status}"),
        }
    }
}

/// What became of `req` in `state`: landed when the deployment there is the requested
/// release; otherwise the status of `run`, the run its plan created or found scheduled.
///
/// # Errors
///
/// Store errors.
pub fn outcome(
    state: &View<'_>,
    req: &Request,
    run: Option<&Ref>,
) -> Result<Outcome, RequestError> {
    let wanted = state
        .resolve_link(&Ref::parse(&req.intent.release).map_err(PlanError::from)?)?
        .release_ref();
    if deployed(state, &req.r)?.is_some_and(|(r, _)| r == wanted) {
        return Ok(Outcome::Landed);
    }
    let Some(run) = run else {
        return Ok(Outcome::Failed {
            run: wanted.with_subpath(SubpathType::Deploy, req.r.subpath.clone()),
        });
    };
    let markers = state.match_refs(
        Area::Records,
        &[run.status_glob()?],
        MatchOptions { no_links: true },
    )?;
    let status = markers
        .iter()
        .find_map(Ref::marker_status)
        .unwrap_or(crate::refs::RunStatus::Pending);
    Ok(match status {
        crate::refs::RunStatus::Failed | crate::refs::RunStatus::FailedRetried => {
            Outcome::Failed { run: run.clone() }
        }
        _ => {
            let hold = state
                .try_get(&run.status(status))?
                .and_then(|m| super::holds::recorded_hold(&m));
            match hold {
                Some(hold) => Outcome::Held {
                    run: run.clone(),
                    hold,
                },
                None => Outcome::Waiting {
                    run: run.clone(),
                    status,
                },
            }
        }
    })
}

/// What became of one deployment of a promotion record.
#[derive(Clone, Debug, PartialEq)]
pub enum MemberStatus {
    /// Its deploy intent is a pending change of the plan: this item carries it out.
    Pending(Box<PlanItem>),
    /// The work commands carried it out (or tried): what became of it.
    Done(Outcome),
    /// The deploy intent names another release now (a later release, rollback or
    /// promotion), or was removed.
    Superseded {
        /// The release the deploy intent names now, if any.
        by: Option<String>,
    },
}

/// One deployment of a promotion record, with what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberReport {
    /// The deploy intent ref (`<pkg>/@/deploy/<to>`).
    pub r: Ref,
    /// The release the promotion pinned.
    pub release: Ref,
    /// What became of it.
    pub status: MemberStatus,
}

impl MemberReport {
    /// Whether state deploys the promoted release there.
    pub fn landed(&self) -> bool {
        self.status == MemberStatus::Done(Outcome::Landed)
    }

    /// The status in one word: `pending`, `landed`, `failed`, `held`, `waiting` or
    /// `superseded`.
    pub fn status_word(&self) -> &'static str {
        match &self.status {
            MemberStatus::Pending(_) => "pending",
            MemberStatus::Superseded { .. } => "superseded",
            MemberStatus::Done(Outcome::Landed) => "landed",
            MemberStatus::Done(Outcome::Failed { .. }) => "failed",
            MemberStatus::Done(Outcome::Held { .. }) => "held",
            MemberStatus::Done(Outcome::Waiting { .. }) => "waiting",
        }
    }
}

impl std::fmt::Display for MemberReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.r)?;
        match &self.status {
            MemberStatus::Pending(item) => write!(f, "{}", item.effect),
            MemberStatus::Done(outcome) => write!(f, "{outcome}"),
            MemberStatus::Superseded { by: Some(by) } => {
                write!(f, "superseded: the deploy intent names {by} now")
            }
            MemberStatus::Superseded { by: None } => {
                write!(f, "superseded: the deploy intent was removed")
            }
        }
    }
}

impl Serialize for MemberReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ref", &self.r.to_string())?;
        m.serialize_entry("release", &self.release.to_string())?;
        m.serialize_entry("status", self.status_word())?;
        match &self.status {
            MemberStatus::Pending(item) => m.serialize_entry("item", item)?,
            MemberStatus::Superseded { by } => m.serialize_entry("by", by)?,
            MemberStatus::Done(outcome) => match outcome {
                Outcome::Landed => {}
                Outcome::Failed { run }
                | Outcome::Held { run, .. }
                | Outcome::Waiting { run, .. } => {
                    m.serialize_entry("run", &run.to_string())?;
                    m.serialize_entry("detail", &outcome.to_string())?;
                }
            },
        }
        m.end()
    }
}

/// A promotion record of intent (`@/environment/<to>/promotion`) with what became of each
/// of its deployments: the grouped change `plan` shows.
#[derive(Clone, Debug, PartialEq)]
pub struct PromotionReport {
    /// The record's ref.
    pub r: Ref,
    /// The record.
    pub promotion: Promotion,
    /// Its deployments: the pending ones in the order their runs happen, then the others in
    /// the record's order.
    pub members: Vec<MemberReport>,
}

impl Serialize for PromotionReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let p = &self.promotion;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ref", &self.r.to_string())?;
        m.serialize_entry("from", &p.from)?;
        m.serialize_entry("to", &p.to)?;
        if let Some(glob) = &p.package {
            m.serialize_entry("package", glob)?;
        }
        if let Some(by) = &p.requested_by {
            m.serialize_entry("requested-by", by)?;
        }
        m.serialize_entry("time", &p.time)?;
        m.serialize_entry("landed", &self.landed())?;
        m.serialize_entry("deployments", &self.members)?;
        m.end()
    }
}

impl PromotionReport {
    /// Whether some deployment of the set is still a pending change of the plan.
    pub fn is_pending(&self) -> bool {
        self.members
            .iter()
            .any(|m| matches!(m.status, MemberStatus::Pending(_)))
    }

    /// How many of the set landed.
    pub fn landed(&self) -> usize {
        self.members.iter().filter(|m| m.landed()).count()
    }

    /// The pending deployments, in the order their runs happen.
    pub fn pending(&self) -> Vec<&PlanItem> {
        self.members
            .iter()
            .filter_map(|m| match &m.status {
                MemberStatus::Pending(item) => Some(item.as_ref()),
                _ => None,
            })
            .collect()
    }

    /// The one-line heading of the group: what was promoted, by whom and when, and how much
    /// of it is pending or landed.
    pub fn heading(&self) -> String {
        let p = &self.promotion;
        let mut out = format!("promotion {} → {}", p.from, p.to);
        if let Some(glob) = &p.package {
            out.push_str(&format!(" of {glob}"));
        }
        out.push_str(" (");
        if let Some(by) = &p.requested_by {
            out.push_str(&format!("requested by {by}, "));
        }
        out.push_str(&format!("{})", p.time));
        let total = self.members.len();
        let pending = self.pending().len();
        let landed = self.landed();
        if pending > 0 {
            out.push_str(&format!(
                ": {pending} deployment(s) to carry out, in this order"
            ));
            if pending < total {
                out.push_str(&format!(" (landed {landed} of {total})"));
            }
        } else if landed == total {
            out.push_str(&format!(": all {total} deployment(s) landed"));
        } else {
            out.push_str(&format!(": landed {landed} of {total}"));
        }
        out
    }
}

/// Every promotion record of `intent` with what became of each of its deployments in
/// `state`, given `plan` (the plan of those trees): a deployment whose deploy intent is a
/// change of the plan is pending; one whose deploy intent names another release now is
/// superseded; the others carry the [`outcome`] of the newest run of the promoted release
/// there. Sorted by record ref.
///
/// # Errors
///
/// Store errors; a record that does not fit its schema (`intent check` reports it first).
pub fn promotions(
    intent: &View<'_>,
    state: &View<'_>,
    plan: &Plan,
) -> Result<Vec<PromotionReport>, RequestError> {
    let glob = Glob::new(&format!("@/environment/*/{PROMOTION}"))?;
    let mut out = Vec::new();
    for r in intent.match_refs(Area::Records, &[glob], MatchOptions { no_links: true })? {
        let Some(v) = intent.try_get(&r)? else {
            continue;
        };
        let promotion: Promotion = decode(&r, "promotion", v)?;
        let mut pending = Vec::new();
        let mut others = Vec::new();
        for d in &promotion.deployments {
            let release = super::parse(&d.release)?;
            let deploy = deploy_ref(&release, &promotion.to);
            let named = match intent.try_get(&deploy)? {
                Some(v) => Some(decode::<DeployIntent>(&deploy, "deploy intent", v)?.release),
                None => None,
            };
            let resolved = |text: &str| -> Result<Ref, RequestError> {
                Ok(state.resolve_link(&super::parse(text)?)?.release_ref())
            };
            let wanted = state.resolve_link(&release)?.release_ref();
            let status = match &named {
                Some(text) if resolved(text)? == wanted => {
                    match plan.items.iter().find(|i| i.r == deploy) {
                        Some(item) => MemberStatus::Pending(Box::new(item.clone())),
                        None => {
                            let req = Request {
                                r: deploy.clone(),
                                intent: DeployIntent {
                                    release: d.release.clone(),
                                    input: Inputs::new(),
                                    override_freeze: false,
                                },
                            };
                            let run = newest_run(state, &wanted, &promotion.to)?;
                            MemberStatus::Done(outcome(state, &req, run.as_ref())?)
                        }
                    }
                }
                by => MemberStatus::Superseded { by: by.clone() },
            };
            let member = MemberReport {
                r: deploy,
                release,
                status,
            };
            if matches!(member.status, MemberStatus::Pending(_)) {
                pending.push(member);
            } else {
                others.push(member);
            }
        }
        // Pending ones in the order their runs happen, as the engine carries them out.
        let order: Vec<Ref> = super::run_order(pending.iter().filter_map(|m| match &m.status {
            MemberStatus::Pending(item) => Some(item.as_ref()),
            _ => None,
        }))
        .into_iter()
        .map(|i| i.r.clone())
        .collect();
        pending.sort_by_key(|m| order.iter().position(|r| *r == m.r));
        pending.extend(others);
        out.push(PromotionReport {
            r,
            promotion,
            members: pending,
        });
    }
    Ok(out)
}

/// The newest run (highest number) of `release` in `environment`, if any.
fn newest_run(
    state: &View<'_>,
    release: &Ref,
    environment: &str,
) -> Result<Option<Ref>, RequestError> {
    let glob = Glob::below(release, &format!("deploy/{}/*", escape(environment)))?;
    let runs = state.match_refs(Area::Records, &[glob], MatchOptions { no_links: true })?;
    Ok(runs
        .into_iter()
        .filter_map(|r| {
            let n: u64 = r.subpath.rsplit('/').next()?.parse().ok()?;
            Some((n, r))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, r)| r))
}
