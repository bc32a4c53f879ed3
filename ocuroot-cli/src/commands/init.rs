//! `ocuroot init repo|release|ci`: writes the starter files core renders, and reports each
//! file on stderr with its path relative to the working directory.

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use ocuroot_core::init::{self, Action, CiOptions, CiPlatform, InitError, InitFile, plan_writes};

use crate::cli::{CiPlatformArg, InitCommand};
use crate::env::ProcessEnv;
use crate::error::{CommandError, CommandResult};

/// Where `init ci` installs ocuroot from, unless the user edits the file.
const INSTALL_URL: &str = env!("CARGO_PKG_REPOSITORY");

pub fn run(cmd: InitCommand, env: &ProcessEnv) -> CommandResult {
    let root = init::project_root(&env.cwd);
    let (files, force, next) = match cmd {
        InitCommand::Repo { alias, force } => {
            let alias = match alias {
                Some(a) => a,
                None => init::default_alias(&root)?,
            };
            let files = init::repo_files(&root, &alias)?;
            (
                files,
                force,
                format!("Repository alias: {alias}\nNext: ocuroot init release"),
            )
        }
        InitCommand::Release { name, force } => {
            let files = init::release_files(&env.cwd, &root, &name)?;
            let package = display_path(&env.cwd, &files[0].path);
            let environments = display_path(&env.cwd, &files[1].path);
            (
                files,
                force,
                format!(
                    "Next: ocuroot release new {environments} && ocuroot release new {package}"
                ),
            )
        }
        InitCommand::Ci {
            platform,
            source_branch,
            intent_branch,
            output,
            force,
        } => {
            let platform = match platform {
                CiPlatformArg::GithubActions => CiPlatform::GithubActions,
                CiPlatformArg::Gitlab => CiPlatform::Gitlab,
            };
            let opts = CiOptions {
                source_branch,
                intent_branch,
                install_url: INSTALL_URL.to_string(),
            };
            let mut files = init::ci_files(&root, platform, &opts)?;
            if let Some(output) = output {
                files[0].path = env.cwd.join(output);
            }
            let path = display_path(&env.cwd, &files[0].path);
            (
                files,
                force,
                format!(
                    "Next: fill in what the comments at the top of {path} ask for (see docs/ci.md)"
                ),
            )
        }
    };
    let plan = plan_writes(files, force).map_err(|e| exists_error(e, env))?;
    let mut report = String::new();
    for (file, action) in &plan {
        let shown = display_path(&env.cwd, &file.path);
        match action {
            Action::Keep => report.push_str(&format!("Kept existing {shown}\n")),
            Action::Create | Action::Overwrite => {
                write_file(file)?;
                let verb = if *action == Action::Create {
                    "Wrote"
                } else {
                    "Replaced"
                };
                report.push_str(&format!("{verb} {shown}\n"));
            }
        }
    }
    report.push_str(&next);
    report.push('\n');
    let mut stderr = std::io::stderr().lock();
    stderr.write_all(report.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn write_file(file: &InitFile) -> Result<(), CommandError> {
    let failed = |e: std::io::Error| {
        CommandError::user(WriteError {
            path: file.path.clone(),
            source: e,
        })
    };
    if let Some(parent) = file.path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    std::fs::write(&file.path, &file.contents).map_err(failed)
}

/// Writing a starter file failed.
#[derive(Debug, thiserror::Error)]
#[error("failed to write {}", path.display())]
struct WriteError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// Reports a refused file with its path relative to the working directory.
fn exists_error(e: InitError, env: &ProcessEnv) -> CommandError {
    let InitError::Exists { path } = &e else {
        return CommandError::from(e);
    };
    let shown = display_path(&env.cwd, path);
    let err = CommandError::message(format!("{shown} already exists; nothing was written"));
    if path.ends_with(".gitlab-ci.yml") {
        err.hint(
            "keep your pipeline and include ocuroot's jobs from their own file: run \
             `ocuroot init ci gitlab --output .gitlab/ocuroot.yml`, then add to .gitlab-ci.yml:\n\
             \n  include:\n    - local: .gitlab/ocuroot.yml",
        )
    } else {
        err.hint("pass --force to replace it")
    }
}

/// Returns `path` relative to `cwd` (with `..` when it lies outside), for messages.
fn display_path(cwd: &Path, path: &Path) -> String {
    let cwd_parts: Vec<Component<'_>> = cwd.components().collect();
    let path_parts: Vec<Component<'_>> = path.components().collect();
    let common = cwd_parts
        .iter()
        .zip(&path_parts)
        .take_while(|(a, b)| a == b)
        .count();
    if common == 0 {
        return path.display().to_string();
    }
    let mut rel = PathBuf::new();
    for _ in common..cwd_parts.len() {
        rel.push("..");
    }
    for part in &path_parts[common..] {
        rel.push(part);
    }
    rel.display().to_string()
}
