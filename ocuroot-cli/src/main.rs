//! The `ocuroot` command-line tool: a thin layer over `ocuroot-core`.
//!
//! Argument parsing lives in [`cli`], one module per command group in `commands/`, and the
//! mapping of core errors to messages, hints and exit codes in [`error`].

mod cli;
mod commands;
mod env;
mod error;
mod progress;

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse_args();
    let mut env = env::ProcessEnv::capture();
    env.offline = args.offline;
    // Limits on outside input are process-wide settings (`OCU_CFG_max_*`, docs/limits.md).
    match ocuroot_core::limits::Limits::from_settings(&env.vars) {
        Ok(limits) => ocuroot_core::limits::configure(limits),
        Err(e) => {
            return error::CommandError::user(e)
                .hint("see docs/limits.md for the limits and their settings")
                .report();
        }
    }
    // The MCP server writes standard output from its own threads: holding the lock here
    // would block them.
    if matches!(args.command, cli::Command::Mcp) {
        return match commands::mcp(&env) {
            Ok(code) => code,
            Err(err) => err.report(),
        };
    }
    let mut stdout = std::io::stdout().lock();
    let result = commands::run(args, &env, &mut stdout);
    let _ = stdout.flush();
    match result {
        Ok(code) => code,
        Err(err) => err.report(),
    }
}
