//! `ocuroot work continue|any|ops` and `ocuroot state apply`.

use std::io::Write;
use std::process::ExitCode;

use ocuroot_core::engine::{CascadeScope, Engine, WorkFilter, WorkItem};

use super::engine_options;
use super::open_workspace;
use crate::cli::WorkCommand;
use crate::env::ProcessEnv;
use crate::error::{CommandError, CommandResult};

/// At most this many rounds of `work any`; each round must change the outstanding work.
const MAX_ROUNDS: usize = 50;

pub fn run(cmd: WorkCommand, env: &ProcessEnv, out: &mut dyn Write) -> CommandResult {
    let ws = open_workspace(env)?;
    refuse_invalid_intent(&ws)?;
    let filter = WorkFilter {
        commit: Some(ws.commit_name().to_string()),
        changes: None,
    };
    match cmd {
        WorkCommand::Trigger { dryrun, intent } => {
            let engine = Engine::new(&ws, engine_options(env, &crate::cli::ExecArgs::default()));
            if intent {
                if dryrun {
                    let pairs: Vec<serde_json::Value> = engine
                        .latest_commits()?
                        .into_iter()
                        .map(|(repo, commit)| serde_json::json!({"repo": repo, "commit": commit}))
                        .collect();
                    let text = serde_json::to_string_pretty(&pairs).map_err(CommandError::user)?;
                    writeln!(
                        out,
                        "{}",
                        if pairs.is_empty() {
                            "null".to_string()
                        } else {
                            text
                        }
                    )?;
                    return Ok(ExitCode::SUCCESS);
                }
                engine.trigger_latest()?;
                return Ok(ExitCode::SUCCESS);
            }
            let items = engine.identify_work(&WorkFilter::default(), false)?;
            if dryrun {
                return print_items(out, &items);
            }
            engine.trigger_items(&items, true)?;
            Ok(ExitCode::SUCCESS)
        }
        WorkCommand::Continue { dryrun, exec } => {
            let engine = Engine::new(&ws, engine_options(env, &exec));
            engine.save_repo_config()?;
            let mut items = engine.ready_runs(&filter)?;
            items.extend(engine.reconcilable_deployments(&filter)?);
            if dryrun {
                return print_items(out, &items);
            }
            let failed = engine.execute_work(&items)?;
            exit_for(failed)
        }
        WorkCommand::Cascade { dryrun, exec } => {
            let engine = Engine::new(&ws, engine_options(env, &exec));
            if dryrun {
                let items = engine.identify_work(&WorkFilter::default(), true)?;
                return print_items(out, &items);
            }
            engine.save_repo_config()?;
            let report = engine.cascade(CascadeScope::All)?;
            exit_for(report.failed)
        }
        WorkCommand::Ops { dryrun, exec } => {
            let engine = Engine::new(&ws, engine_options(env, &exec));
            engine.save_repo_config()?;
            let items = engine.pending_ops(&filter)?;
            if dryrun {
                return print_items(out, &items);
            }
            let failed = engine.execute_work(&items)?;
            exit_for(failed)
        }
        WorkCommand::Any {
            comprehensive: _,
            dryrun,
            exec,
        } => {
            let engine = Engine::new(&ws, engine_options(env, &exec));
            if !dryrun {
                engine.save_repo_config()?;
            }
            let mut failed = false;
            let mut previous: Option<Vec<WorkItem>> = None;
            for _ in 0..MAX_ROUNDS {
                let items = engine.identify_work(&filter, true)?;
                if dryrun {
                    return print_items(out, &items);
                }
                if items.is_empty() || previous.as_ref() == Some(&items) {
                    break;
                }
                failed |= engine.execute_work(&items)?;
                previous = Some(items);
            }
            // Work left at other commits is handed to their CI jobs.
            let rest = engine.identify_work(&WorkFilter::default(), false)?;
            engine.trigger_items(&rest, false)?;
            exit_for(failed)
        }
    }
}

/// Work never starts from intent that does not validate: every problem is reported instead,
/// and nothing runs or is written.
fn refuse_invalid_intent(ws: &ocuroot_core::workspace::Workspace) -> Result<(), CommandError> {
    let problems = ocuroot_core::intent::check_changes(ws.intent(), ws.state())?;
    if problems.is_empty() {
        return Ok(());
    }
    Err(CommandError::from(ocuroot_core::plan::PlanError::Invalid(
        problems,
    )))
}

/// `ocuroot state apply <ref>`.
pub fn apply(env: &ProcessEnv, reference: &str, cascade: bool) -> CommandResult {
    let ws = open_workspace(env)?;
    refuse_invalid_intent(&ws)?;
    let r = ws.resolve_cli_ref(reference)?;
    let engine = Engine::new(&ws, engine_options(env, &crate::cli::ExecArgs::default()));
    engine.apply_intent(&r)?;
    if cascade {
        engine.save_repo_config()?;
        let report = engine.cascade(CascadeScope::ThisProcess)?;
        return exit_for(report.failed);
    }
    Ok(ExitCode::SUCCESS)
}

/// `ocuroot push`.
pub fn push(
    env: &ProcessEnv,
    dryrun: bool,
    exec: &crate::cli::ExecArgs,
    out: &mut dyn Write,
) -> CommandResult {
    let ws = open_workspace(env)?;
    refuse_invalid_intent(&ws)?;
    let engine = Engine::new(&ws, engine_options(env, exec));
    if ws.store_checkout().is_some() {
        let (refs, failed) = engine.push_intent(dryrun)?;
        for r in &refs {
            writeln!(out, "{r}")?;
        }
        return exit_for(failed);
    }
    if dryrun {
        let plan = engine.push_plan()?;
        for file in &plan.files {
            writeln!(out, "{file}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    engine.save_repo_config()?;
    let report = engine.push()?;
    for file in &report.files {
        writeln!(out, "{file}")?;
    }
    exit_for(report.failed)
}

fn print_items(out: &mut dyn Write, items: &[WorkItem]) -> CommandResult {
    if items.is_empty() {
        writeln!(out, "null")?;
    } else {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(items).map_err(CommandError::user)?
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn exit_for(failed: bool) -> CommandResult {
    if failed {
        Err(CommandError::message("some runs failed")
            .hint("see the run logs above; `ocuroot release retry` runs them again"))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}
