//! Command implementations: each turns parsed arguments into calls on `ocuroot-core` and
//! renders the results.

mod completion;
mod find_deploys;
mod init;
mod mcp;
mod plan;
mod release;
mod repl;
mod state;
mod store;
mod work;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use ocuroot_core::workspace::{Workspace, WorkspaceOptions};

use crate::cli::{Cli, Command};
use crate::env::{ProcessEnv, StderrSink};
use crate::error::CommandResult;

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
        Command::Preview { file, output } => repl::run_preview(env, &file, output, out),
        Command::Push { dryrun, exec } => work::push(env, dryrun, &exec, out),
        Command::FindDeploys { start, end } => find_deploys::run(env, &start, &end, out),
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
        clock: env.clock(),
        sink: Arc::new(StderrSink),
        home: env.ocuroot_home(),
        remote: env.remote_settings(),
    })?)
}
