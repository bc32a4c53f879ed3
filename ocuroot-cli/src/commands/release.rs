//! `ocuroot release new|continue|retry|lint`.

use std::io::Write;
use std::process::ExitCode;

use ocuroot_core::engine::{CascadeScope, Engine, EngineError, ReleaseOutcome, ReleaseStatus};
use ocuroot_core::refs::Ref;
use ocuroot_core::workspace::Workspace;

use super::{engine_options, open_workspace};
use crate::cli::{ExecArgs, ReleaseCommand, TargetArgs};
use crate::env::ProcessEnv;
use crate::error::{CommandError, CommandResult};

pub fn run(cmd: ReleaseCommand, env: &ProcessEnv, out: &mut dyn Write) -> CommandResult {
    match cmd {
        ReleaseCommand::MarkBad {
            release,
            reason,
            requester,
        } => super::ops::mark_bad(env, &release, reason, &requester, out),
        ReleaseCommand::MarkGood { release, requester } => {
            super::ops::mark_good(env, &release, &requester, out)
        }
        ReleaseCommand::New {
            target,
            force,
            cascade,
            exec,
        } => {
            let ws = open_workspace(env)?;
            let r = target_ref(&ws, &target)?;
            let engine = Engine::new(&ws, engine_options(env, &exec));
            engine.save_repo_config()?;
            match engine.release_new(&r, force) {
                Err(EngineError::AlreadyReleased { refs, .. }) => {
                    for r in &refs {
                        writeln!(out, "{r}")?;
                    }
                    writeln!(out)?;
                    Err(CommandError::message(format!(
                        "there are already {} releases for this commit (listed above)",
                        refs.len()
                    ))
                    .hint("you can force a new release with the --force flag"))
                }
                other => {
                    let outcome = other?;
                    let cascaded = if cascade {
                        engine.cascade(CascadeScope::ThisProcess)?.failed
                    } else {
                        false
                    };
                    let code = finish(outcome, out)?;
                    if cascaded {
                        return super::work::exit_for(true);
                    }
                    Ok(code)
                }
            }
        }
        ReleaseCommand::Continue { target, exec } => {
            let ws = open_workspace(env)?;
            let r = target_ref(&ws, &target)?;
            let engine = Engine::new(&ws, engine_options(env, &exec));
            engine.save_repo_config()?;
            finish(engine.release_continue(&r)?, out)
        }
        ReleaseCommand::Retry { target, exec } => {
            let ws = open_workspace(env)?;
            let mut r = target_ref(&ws, &target)?;
            let engine = Engine::new(&ws, engine_options(env, &exec));
            engine.save_repo_config()?;
            if !r.has_release() {
                let releases = engine.releases_for_commit(ws.commit_name())?;
                let pkg = r.clone();
                let mine: Vec<&Ref> = releases
                    .iter()
                    .filter(|x| x.filename == pkg.filename)
                    .collect();
                r = match mine.last().or(releases.last().as_ref()) {
                    Some(latest) => (*latest).clone(),
                    None => {
                        return Err(CommandError::message(format!(
                            "no release of {pkg} at commit {}",
                            ws.commit_name()
                        )));
                    }
                };
            }
            finish(engine.release_retry(&r)?, out)
        }
        ReleaseCommand::Lint { file } => {
            let ws = open_workspace(env)?;
            let r = ws.resolve_cli_ref(&file)?;
            let engine = Engine::new(&ws, engine_options(env, &ExecArgs::default()));
            let lines = engine.lint(&r)?;
            for line in lines {
                writeln!(out, "{line}")?;
            }
            writeln!(out, "Config file evaluated successfully")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn target_ref(ws: &Workspace, target: &TargetArgs) -> Result<Ref, CommandError> {
    let text = match (&target.reference, &target.release) {
        (Some(r), _) => r.clone(),
        (None, Some(rel)) => format!("{}/@{rel}", target.package),
        (None, None) => target.package.clone(),
    };
    Ok(ws.resolve_cli_ref(&text)?)
}

fn finish(outcome: ReleaseOutcome, out: &mut dyn Write) -> CommandResult {
    match outcome {
        ReleaseOutcome::Release {
            release,
            status,
            waiting,
        } => {
            writeln!(out, "{release}")?;
            if status == ReleaseStatus::Failed {
                return Err(
                    CommandError::message(format!("release {release} failed")).hint(
                        "see the run logs above; fix the cause and run `ocuroot release retry`",
                    ),
                );
            }
            if !waiting.is_empty() {
                crate::progress::note(&format!(
                    "release {release} is waiting for inputs; it continues when they exist (`ocuroot release continue {release}`)"
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        ReleaseOutcome::Environments(envs) => {
            for e in envs {
                writeln!(out, "@/environment/{}", e.name)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ReleaseOutcome::Nothing => {
            crate::progress::note("no release configured in this file");
            Ok(ExitCode::SUCCESS)
        }
    }
}
