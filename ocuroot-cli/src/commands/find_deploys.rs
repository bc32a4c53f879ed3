//! `ocuroot find-deploys START END`.

use std::io::Write;
use std::process::ExitCode;

use ocuroot_core::find_deploys::find_deploys;

use super::open_workspace;
use crate::env::ProcessEnv;
use crate::error::CommandResult;

pub fn run(env: &ProcessEnv, start: &str, end: &str, out: &mut dyn Write) -> CommandResult {
    let ws = open_workspace(env)?;
    let refs = find_deploys(&ws, start, end)?;
    for r in refs {
        writeln!(out, "{r}")?;
    }
    Ok(ExitCode::SUCCESS)
}
