//! Requests that become deploy intent: a rollback and a promotion.
//!
//! `ocuroot rollback` and `ocuroot promote` are ordinary intent writes
//! (`<pkg>/@/deploy/<env>` documents, one transaction for the whole request); this module
//! decides *which* documents, as a pure function of the intent and state trees. The plan of
//! those writes is then made by [`super::plan_views`] like any other intent change, so the
//! engine carries them out with the ordinary work commands.

use std::collections::BTreeMap;

use super::holds::Holds;
use super::{PlanError, decode};
use crate::model::{DeployIntent, Inputs, ReleaseDoc, RunType, TaskSummary, WorkSpec};
use crate::refs::glob::escape;
use crate::refs::{Glob, Ref, SubpathType};
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
    let link = Ref {
        release: Some(String::new()),
        ..package.clone()
    }
    .with_subpath(SubpathType::Deploy, environment);
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
        let target = Ref {
            release: Some(String::new()),
            ..pkg
        }
        .with_subpath(SubpathType::Deploy, to);
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
