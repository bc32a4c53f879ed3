//! `ocuroot release new|continue|retry|lint`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use ocuroot_core::engine::{
    CascadeScope, ClaimOptions, Engine, EngineError, EngineOptions, ReleaseOutcome, ReleaseStatus,
};
use ocuroot_core::refs::Ref;
use ocuroot_core::workspace::Workspace;

use super::open_workspace;
use crate::cli::{ExecArgs, ReleaseCommand, TargetArgs};
use crate::env::ProcessEnv;
use crate::error::{CommandError, CommandResult};
use crate::progress::{StderrProgress, TtyProgress};

pub fn run(cmd: ReleaseCommand, env: &ProcessEnv, out: &mut dyn Write) -> CommandResult {
    match cmd {
        ReleaseCommand::New {
            target,
            force,
            cascade,
            exec,
        } => {
            let ws = open_workspace(env)?;
            let r = target_ref(&ws, &target)?;
            let engine = Engine::new(&ws, engine_options(env, &exec));
            engine.save_repo_config().map_err(engine_error)?;
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
                    let outcome = other.map_err(engine_error)?;
                    let cascaded = if cascade {
                        engine
                            .cascade(CascadeScope::ThisProcess)
                            .map_err(engine_error)?
                            .failed
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
            engine.save_repo_config().map_err(engine_error)?;
            finish(engine.release_continue(&r).map_err(engine_error)?, out)
        }
        ReleaseCommand::Retry { target, exec } => {
            let ws = open_workspace(env)?;
            let mut r = target_ref(&ws, &target)?;
            let engine = Engine::new(&ws, engine_options(env, &exec));
            engine.save_repo_config().map_err(engine_error)?;
            if !r.has_release() {
                let releases = engine
                    .releases_for_commit(ws.commit())
                    .map_err(engine_error)?;
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
                            ws.commit()
                        )));
                    }
                };
            }
            finish(engine.release_retry(&r).map_err(engine_error)?, out)
        }
        ReleaseCommand::Lint { file } => {
            let ws = open_workspace(env)?;
            let r = ws.resolve_cli_ref(&file)?;
            let engine = Engine::new(&ws, engine_options(env, &ExecArgs::default()));
            let lines = engine.lint(&r).map_err(engine_error)?;
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

pub(super) fn engine_options(env: &ProcessEnv, exec: &ExecArgs) -> EngineOptions {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    EngineOptions {
        // Runs mostly wait on other systems (deploy APIs, shell commands), so the default
        // runs well beyond the CPU count.
        parallel: exec.parallel.unwrap_or((cpus * 4).max(16)).max(1),
        progress: if std::io::stderr().is_terminal() && env.get("CI").is_none() {
            Arc::new(TtyProgress::new())
        } else {
            Arc::new(StderrProgress::new())
        },
        clock: env.clock(),
        results_window: EngineOptions::DEFAULT_RESULTS_WINDOW,
        wave_slice: EngineOptions::DEFAULT_WAVE_SLICE,
        claims: ClaimOptions {
            takeover: exec.takeover,
            ..env.claim_options()
        },
    }
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

pub(super) fn engine_error(e: EngineError) -> CommandError {
    let hint = match &e {
        EngineError::CommitMismatch { expected, .. } => Some(format!(
            "to check out the expected commit, run: git checkout {expected}"
        )),
        EngineError::NoFailedRuns { .. } => Some(
            "nothing to retry; `ocuroot state match '<release>/**/status/*'` shows run states"
                .to_string(),
        ),
        EngineError::Uncommitted { .. } => Some(
            "push releases what is committed: commit (or stash) the changes, then push again"
                .to_string(),
        ),
        EngineError::Checkout { .. } => Some(
            "work of another commit runs in a git worktree, of another repository in a clone \
             from the remotes recorded in state: check that the commit exists there and that \
             your Git credentials can fetch it"
                .to_string(),
        ),
        EngineError::NoProgress { .. } => Some(
            "`ocuroot work cascade --dryrun` lists the work; `ocuroot state get <ref>` shows \
             why a run cannot finish"
                .to_string(),
        ),
        _ => None,
    };
    let mut err = match e {
        EngineError::Store(s) => CommandError::from(s),
        EngineError::Plan(p) => CommandError::from(p),
        other => CommandError::user(other),
    };
    if let Some(h) = hint {
        err = err.hint(h);
    }
    err
}
