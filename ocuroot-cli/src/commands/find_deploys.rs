//! `ocuroot find-deploys START END`.

use std::io::Write;
use std::process::ExitCode;

use ocuroot_core::find_deploys::{FindDeploysError, MAX_DEPTH, find_deploys};

use super::open_workspace;
use crate::env::ProcessEnv;
use crate::error::{CommandError, CommandResult};

pub fn run(env: &ProcessEnv, start: &str, end: &str, out: &mut dyn Write) -> CommandResult {
    let ws = open_workspace(env)?;
    let refs = find_deploys(&ws, start, end).map_err(find_deploys_error)?;
    for r in refs {
        writeln!(out, "{r}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn find_deploys_error(e: FindDeploysError) -> CommandError {
    let hint = match &e {
        FindDeploysError::UnknownRevision { .. } => Some(
            "give a commit hash, a branch or a tag of this repository; fetch it first if it only exists on a remote"
                .to_string(),
        ),
        FindDeploysError::NotAncestor { .. } => {
            Some("give the older commit first: ocuroot find-deploys <START> <END>".to_string())
        }
        FindDeploysError::TooDeep { .. } => Some(format!(
            "the search stops after {MAX_DEPTH} commits; give a START closer to END"
        )),
        FindDeploysError::NoRepoName => Some(
            "set repo_alias(\"name\") in repo.ocu.star or add an `origin` remote".to_string(),
        ),
        _ => None,
    };
    let mut err = match e {
        FindDeploysError::Store(s) => CommandError::from(s),
        other => CommandError::user(other),
    };
    if let Some(h) = hint {
        err = err.hint(h);
    }
    err
}
