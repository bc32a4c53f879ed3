//! `ocuroot store import`.

use std::io::Write;
use std::process::ExitCode;

use ocuroot_core::import::{self, ImportRequest, Prepared, Source, StorePlan};

use super::open_workspace;
use crate::cli::StoreCommand;
use crate::env::ProcessEnv;
use crate::error::{CommandError, CommandResult};

pub fn run(cmd: StoreCommand, env: &ProcessEnv, out: &mut dyn Write) -> CommandResult {
    match cmd {
        StoreCommand::Import {
            state,
            intent,
            dryrun,
        } => {
            let request = ImportRequest {
                state: Source::parse(&state, &env.cwd)?,
                intent: intent
                    .as_deref()
                    .map(|i| Source::parse(i, &env.cwd))
                    .transpose()?,
                home: env.ocuroot_home(),
                git: env.git_environment(),
            };
            // Open the target first: a repository without repo.ocu.star fails before any
            // source is read.
            let ws = open_workspace(env)?;
            let prepared = import::prepare(&request)?;
            render(out, &prepared)?;
            if !prepared.problems.is_empty() {
                report_problems(&prepared);
                return Err(CommandError::from(import::ImportError::Unmappable {
                    count: prepared.problems.len(),
                }));
            }
            if dryrun {
                return Ok(ExitCode::SUCCESS);
            }
            let outcome = prepared.commit(ws.state(), ws.intent())?;
            if prepared.intent.is_some() {
                status(
                    out,
                    "intent",
                    outcome.intent_commit.as_deref(),
                    &ws.intent().location(),
                )?;
            }
            status(
                out,
                "state",
                outcome.state_commit.as_deref(),
                &ws.state().location(),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn render(out: &mut dyn Write, prepared: &Prepared) -> std::io::Result<()> {
    let mut plans: Vec<(&str, &StorePlan)> = vec![("state", &prepared.state)];
    if let Some(intent) = &prepared.intent {
        plans.push(("intent", intent));
    }
    for (kind, plan) in plans {
        writeln!(out, "{kind} from {}:", plan.source)?;
        if plan.counts.is_empty() {
            writeln!(out, "  (nothing)")?;
        }
        for (doc_kind, n) in &plan.counts {
            writeln!(out, "  {:<26} {n}", format!("{}:", doc_kind.name()))?;
        }
    }
    for note in &prepared.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

#[allow(clippy::print_stderr)]
fn report_problems(prepared: &Prepared) {
    for p in &prepared.problems {
        eprintln!("cannot import {p}");
    }
}

fn status(
    out: &mut dyn Write,
    kind: &str,
    commit: Option<&str>,
    location: &str,
) -> std::io::Result<()> {
    match commit {
        Some(c) => writeln!(out, "Imported {kind} into {location}: commit {c}"),
        None => writeln!(
            out,
            "Nothing to import into {kind} at {location}: it is up to date."
        ),
    }
}
