//! `ocuroot completion <shell>`: shell completion scripts generated from the clap definition.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::CommandResult;

pub fn run(shell: Shell, out: &mut dyn Write) -> CommandResult {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "ocuroot", out);
    Ok(ExitCode::SUCCESS)
}
