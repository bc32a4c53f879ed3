//! `ocuroot repl` and `ocuroot preview`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use ocuroot_core::model::Package;
use ocuroot_core::refs::Ref;
use ocuroot_core::sdk::repl::{
    PREVIEW_RELEASE, REPL_REPO, Repl, ReplOptions, render_preview, state_environments,
};
use ocuroot_core::sdk::{
    HostContext, PackageEval, PackageEvalOptions, PrintSink, Secrets, evaluate_package,
};

use super::open_workspace;
use crate::cli::LogFormat;
use crate::env::{ProcessEnv, StderrSink};
use crate::error::{CommandError, CommandResult};

/// The file an interactive session loads when none is given.
const DEFAULT_FILE: &str = "repo.ocu.star";

/// Sends prints of REPL code to stdout: there they are the session's output.
struct StdoutSink;

impl PrintSink for StdoutSink {
    fn print(&self, line: &str) {
        // Prints run on the thread that holds the stdout lock of `main`; the lock is
        // reentrant, and both write to the same buffer, so lines stay in order.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

pub fn run_repl(
    env: &ProcessEnv,
    file: Option<String>,
    command: Option<String>,
    release: Option<String>,
    out: &mut dyn Write,
) -> CommandResult {
    // Outside a repository (or with a broken config) the REPL still works, without
    // environments.
    let ws = open_workspace(env).ok();
    let (root, environments, host) = match &ws {
        Some(ws) => (
            ws.root().to_path_buf(),
            state_environments(ws.state()).map_err(CommandError::user)?,
            ws.host().clone(),
        ),
        None => (
            env.cwd.clone(),
            Vec::new(),
            HostContext {
                env: env.vars.clone(),
                cwd: env.cwd.clone(),
            },
        ),
    };
    let file = match (file, &command) {
        (Some(f), _) => Some(f),
        (None, Some(_)) => None,
        (None, None) => env
            .cwd
            .join(DEFAULT_FILE)
            .is_file()
            .then(|| DEFAULT_FILE.to_owned()),
    };
    let (root, rel) = match &file {
        Some(f) => {
            let (root, rel) = locate(&root, &env.cwd.join(f));
            (root, Some(rel))
        }
        None => (root, None),
    };

    if command.is_some()
        && let Some(f) = &file
    {
        writeln!(out, "Loading file: {f}")?;
        out.flush()?;
    }
    let mut repl = Repl::new(ReplOptions {
        root,
        file: rel,
        environments,
        host,
        sink: Arc::new(StdoutSink),
        release,
    })
    .map_err(CommandError::user)?;

    let Some(command) = command else {
        return interactive(&mut repl, out);
    };
    if file.is_some() {
        writeln!(out, "File loaded successfully")?;
    }
    writeln!(out, "Executing: {command}")?;
    out.flush()?;
    match repl.eval(&command).map_err(CommandError::user)? {
        Some(value) => writeln!(out, "Result:\n{value}")?,
        None => writeln!(out, "Command executed successfully")?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Returns the evaluation root and the file's path relative to it: the repository root when
/// the file is inside it, else the file's directory.
fn locate(root: &Path, file: &Path) -> (PathBuf, String) {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let file = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    let slashed = |p: &Path| {
        p.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    };
    match file.strip_prefix(&root) {
        Ok(rel) => (root.clone(), slashed(rel)),
        Err(_) => {
            let dir = file
                .parent()
                .map_or_else(|| root.clone(), Path::to_path_buf);
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (dir, name)
        }
    }
}

/// Reads inputs from stdin until `exit()` or end of input; errors are reported and the
/// session goes on.
#[allow(clippy::print_stderr)]
fn interactive(repl: &mut Repl, out: &mut dyn Write) -> CommandResult {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    if tty {
        eprintln!("Ocuroot REPL: help() lists the available names, exit() quits.");
    }
    let mut buffer = String::new();
    let mut input = stdin.lock();
    loop {
        if tty {
            eprint!("{}", if buffer.is_empty() { ">>> " } else { "... " });
            let _ = std::io::stderr().flush();
        }
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            if !buffer.trim().is_empty() {
                eval_one(repl, &buffer, out)?;
            }
            if tty {
                eprintln!();
            }
            break;
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if buffer.is_empty() {
            if line.trim().is_empty() {
                continue;
            }
            if matches!(line.trim(), "exit()" | "quit()") {
                break;
            }
        }
        buffer.push_str(line);
        buffer.push('\n');
        if Repl::is_incomplete(&buffer) {
            continue;
        }
        eval_one(repl, &buffer, out)?;
        buffer.clear();
    }
    Ok(ExitCode::SUCCESS)
}

/// Evaluates one input, printing its value, or reporting its error on stderr.
fn eval_one(repl: &mut Repl, source: &str, out: &mut dyn Write) -> Result<(), CommandError> {
    match repl.eval(source) {
        Ok(Some(value)) => writeln!(out, "{value}")?,
        Ok(None) => {}
        Err(e) => {
            out.flush()?;
            // The exit code is for the whole session, not for one input.
            let _ = CommandError::user(e).report();
        }
    }
    out.flush()?;
    Ok(())
}

/// What a package file declares, evaluated as release `preview`.
pub enum Previewed {
    /// A package, with the environments in state.
    Package {
        /// The package file relative to the repository root.
        file: String,
        /// The package definition.
        package: Package,
        /// The environments in state.
        environments: Vec<ocuroot_core::model::Environment>,
    },
    /// The file registers environments.
    Environments(String, Vec<ocuroot_core::model::Environment>),
    /// The file declares nothing.
    Nothing,
}

/// Opens the workspace and checks that `file` (relative to the working directory) names
/// a package file without a release, as `ocuroot preview` needs.
pub fn preview_target(
    env: &ProcessEnv,
    file: &str,
) -> Result<(ocuroot_core::workspace::Workspace, Ref), CommandError> {
    let ws = open_workspace(env)?;
    let r = ws.resolve_cli_ref(file)?;
    if r.has_release() {
        return Err(
            CommandError::message(format!("release should not be specified: {r}"))
                .hint("preview takes a package file, e.g. `ocuroot preview package.ocu.star`"),
        );
    }
    if r.filename.is_empty() || !ws.root().join(&r.filename).is_file() {
        return Err(CommandError::message(format!(
            "package file not found: {file}"
        )));
    }
    Ok((ws, r))
}

/// Evaluates `file` (relative to the working directory) as `ocuroot preview` does.
pub fn preview(env: &ProcessEnv, file: &str) -> Result<Previewed, CommandError> {
    let (ws, r) = preview_target(env, file)?;
    let environments = state_environments(ws.state()).map_err(CommandError::user)?;
    let opts = PackageEvalOptions {
        root: ws.root().to_path_buf(),
        file: r.filename.clone(),
        base_ref: Ref {
            repo: ws.repo_name().unwrap_or(REPL_REPO).to_owned(),
            filename: r.filename.clone(),
            release: Some(PREVIEW_RELEASE.to_owned()),
            ..Ref::default()
        },
        environments: environments.clone(),
        host: ws.host().clone(),
        sink: Arc::new(StderrSink),
        secrets: Secrets::default(),
    };
    Ok(match evaluate_package(&opts).map_err(CommandError::user)? {
        PackageEval::Package(loaded) => Previewed::Package {
            file: r.filename,
            package: loaded.package,
            environments,
        },
        PackageEval::Environments(envs) => Previewed::Environments(r.filename, envs),
        PackageEval::Nothing => Previewed::Nothing,
    })
}

/// Returns the package definition of `file` as pretty JSON (an empty package when the file
/// declares none), as `ocuroot preview --output json` prints it.
pub fn preview_json(env: &ProcessEnv, file: &str) -> Result<String, CommandError> {
    let package = match preview(env, file)? {
        Previewed::Package { package, .. } => package,
        Previewed::Environments(..) | Previewed::Nothing => Package::default(),
    };
    serde_json::to_string_pretty(&package).map_err(CommandError::user)
}

pub fn run_preview(
    env: &ProcessEnv,
    file: &str,
    output: LogFormat,
    out: &mut dyn Write,
) -> CommandResult {
    if output == LogFormat::Json {
        writeln!(out, "{}", preview_json(env, file)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    match preview(env, file)? {
        Previewed::Package {
            file,
            package,
            environments,
        } => write!(out, "{}", render_preview(&file, &package, &environments))?,
        Previewed::Environments(file, envs) => {
            writeln!(out, "{file} registers environments:")?;
            for e in envs {
                writeln!(out, "  {}", e.name)?;
            }
        }
        Previewed::Nothing => writeln!(out, "No release configured")?,
    }
    Ok(ExitCode::SUCCESS)
}
