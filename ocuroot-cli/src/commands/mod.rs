//! Command implementations: each turns parsed arguments into calls on `ocuroot-core` and
//! renders the results.

mod completion;
mod find_deploys;
mod init;
mod mcp;
mod ops;
mod plan;
mod release;
mod repl;
mod state;
mod store;
mod ui;
mod work;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use ocuroot_core::engine::{ClaimOptions, EngineOptions};
use ocuroot_core::workspace::{Workspace, WorkspaceOptions};

use crate::cli::{Cli, Command, ExecArgs};
use crate::env::{ProcessEnv, StderrSink};
use crate::error::CommandResult;
use crate::progress::{StderrProgress, TtyProgress};

/// Runs the parsed command, writing results to `out`.
pub fn run(cli: Cli, env: &ProcessEnv, out: &mut dyn Write) -> CommandResult {
    match cli.command {
        Command::Release(cmd) => release::run(cmd, env, out),
        Command::State(cmd) => state::run(cmd, env, out),
        Command::Work(cmd) => work::run(cmd, env, out),
        Command::Plan {
            intent,
            output,
            color,
        } => plan::run_plan(env, intent.as_deref(), output, color, out),
        Command::Intent(cmd) => plan::run_intent(cmd, env, out),
        Command::Repl {
            file,
            command,
            package,
            release,
        } => repl::run_repl(env, file.or(package), command, release, out),
        Command::Preview {
            file,
            output: Some(output),
            ..
        } => repl::run_preview(env, &file, output, out),
        Command::Preview {
            file,
            output: None,
            server,
        } => ui::preview(env, &file, &server, out),
        Command::Push { dryrun, exec } => work::push(env, dryrun, &exec, out),
        Command::FindDeploys { start, end } => find_deploys::run(env, &start, &end, out),
        Command::Rollback {
            package,
            environment,
            to,
            override_freeze,
            dryrun,
            cascade,
            requester,
        } => ops::rollback(
            env,
            &package,
            &environment,
            to.as_deref(),
            override_freeze,
            ops::Mode::of(dryrun, cascade),
            &requester,
            out,
        ),
        Command::Promote {
            from,
            to,
            package,
            dryrun,
            cascade,
            requester,
        } => ops::promote(
            env,
            &from,
            &to,
            package.as_deref(),
            ops::Mode::of(dryrun, cascade),
            &requester,
            out,
        ),
        Command::Freeze {
            environment,
            reason,
            until,
            requester,
        } => ops::freeze(env, &environment, reason, until, &requester, out),
        Command::Unfreeze {
            environment,
            requester,
        } => ops::unfreeze(env, &environment, &requester, out),
        Command::Approve {
            reference,
            value,
            requester,
        } => ops::approve(env, &reference, value, &requester, out),
        Command::Init(cmd) => init::run(cmd, env),
        Command::Completion { shell } => completion::run(shell, out),
        Command::Mcp => mcp::run(env),
        Command::Store(cmd) => store::run(cmd, env, out),
        Command::Version => {
            let version = env!("CARGO_PKG_VERSION");
            let (v, build) = version.split_once('-').unwrap_or((version, ""));
            writeln!(out, "Ocuroot version: {v}")?;
            if !build.is_empty() {
                writeln!(out, "Build: {build}")?;
            }
            writeln!(
                out,
                "SDK version: {}",
                ocuroot_core::sdk::DEFAULT_SDK_VERSION
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs `ocuroot mcp`, which owns standard input and output (see `main`).
pub fn mcp(env: &ProcessEnv) -> CommandResult {
    mcp::run(env)
}

/// Opens the workspace around the working directory.
pub fn open_workspace(env: &ProcessEnv) -> Result<Workspace, crate::error::CommandError> {
    Ok(Workspace::open(WorkspaceOptions {
        cwd: env.cwd.clone(),
        env: env.vars.clone(),
        repo_url_override: env.get("OCU_REPO_URL_OVERRIDE").map(str::to_string),
        commit_override: env.get("OCU_REPO_COMMIT_OVERRIDE").map(str::to_string),
        author: env.author(),
        clock: env.clock(),
        sink: Arc::new(StderrSink),
        home: env.ocuroot_home(),
        remote: env.remote_settings(),
    })?)
}

/// Returns the engine options of a run-executing command: parallelism, progress output
/// (a live display on a terminal outside CI), the clock and run claims.
fn engine_options(env: &ProcessEnv, exec: &ExecArgs) -> EngineOptions {
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
        requested_by: ops::requester_in(&env.cwd, env, None),
    }
}
