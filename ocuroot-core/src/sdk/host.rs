//! Host access builtins: the `host` namespace and its top-level aliases.
//!
//! `host.os()`, `host.arch()`, `host.env()`, `host.shell(...)`, `host.pwd()`,
//! `host.read_file(path)`, `host.write_file(path, content)`, `host.read_dir(path)` and
//! `host.is_dir(path)`; also available as the top-level `os`, `arch`, `env`, `shell`, `pwd`,
//! `read`, `write`, `read_dir` and `is_dir`.
//!
//! Everything goes through the [`SdkContext`]: the environment is the map the caller passed
//! in (never the process environment), `shell(dir=".")` runs in the context's working
//! directory, file paths are relative to the package directory, and shell output is printed
//! through [`SdkContext::print`].

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::Value;
use starlark::values::none::NoneType;
use starlark::values::structs::AllocStruct;

use crate::sdk::context::SdkContext;

/// Errors raised by host builtins, surfaced to Starlark as evaluation errors.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The command exited with a non-zero status and `continue_on_error` was not set.
    #[error("{command}: exit status {code}")]
    ExitStatus {
        /// The command as given to `shell`.
        command: String,
        /// The exit status (-1 when killed by a signal).
        code: i32,
    },
    /// The shell could not be started or its output could not be read.
    #[error("{command}: failed to run {shell}: {source}")]
    Spawn {
        /// The command as given to `shell`.
        command: String,
        /// The shell program.
        shell: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    File {
        /// The operation (`read`, `write`, `read_dir`).
        op: &'static str,
        /// The path as resolved against the package directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn host_err(e: HostError) -> starlark::Error {
    starlark::Error::new_other(e)
}

/// Returns the Go-style name of the operating system (`linux`, `darwin`, `windows`, ...).
pub fn go_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// Returns the Go-style name of the CPU architecture (`amd64`, `arm64`, ...).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// Options of one `shell(...)` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellRequest {
    /// The command passed to `<shell> -c`.
    pub command: String,
    /// The shell program.
    pub shell: String,
    /// The working directory as given (`"."` = the context's cwd, `""` = package dir).
    pub dir: String,
    /// Extra environment variables, added to the context environment.
    pub env: BTreeMap<String, String>,
    /// Whether to keep output lines away from the print sink.
    pub mute: bool,
}

/// The result of a `shell(...)` call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellOutput {
    /// Standard output and standard error interleaved line by line, in arrival order.
    pub combined_output: String,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit status; -1 when the process was killed by a signal.
    pub exit_code: i32,
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Runs `<shell> -c <command>` as `shell(...)` does, printing output through `ctx`.
///
/// # Errors
///
/// Fails when the shell cannot be started or its output cannot be read. A non-zero exit is
/// not an error here; see [`ShellOutput::exit_code`].
// The one program core starts besides `git`: the user's `shell()`, with the environment the
// caller gave the SDK (not this process's).
#[allow(clippy::disallowed_methods)]
pub fn run_shell(ctx: &SdkContext, req: &ShellRequest) -> Result<ShellOutput, HostError> {
    let spawn_err = |source| HostError::Spawn {
        command: req.command.clone(),
        shell: req.shell.clone(),
        source,
    };
    let dir = if req.dir.is_empty() {
        ctx.package_dir().to_path_buf()
    } else {
        ctx.host().cwd.join(&req.dir)
    };
    let mut cmd = Command::new(&req.shell);
    cmd.arg("-c")
        .arg(&req.command)
        .current_dir(dir)
        .env_clear()
        .envs(&ctx.host().env)
        .envs(&req.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(spawn_err)?;
    let (tx, rx) = mpsc::channel::<(Stream, Vec<u8>)>();
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(spawn_reader(out, Stream::Stdout, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(spawn_reader(err, Stream::Stderr, tx.clone()));
    }
    drop(tx);
    // Lines are handled on this thread, in arrival order, so the single print path stays
    // on the evaluating thread and `combined_output` interleaves as the user would see it.
    let mut output = ShellOutput::default();
    for (stream, bytes) in rx {
        let text = String::from_utf8_lossy(&bytes);
        match stream {
            Stream::Stdout => output.stdout.push_str(&text),
            Stream::Stderr => output.stderr.push_str(&text),
        }
        output.combined_output.push_str(&text);
        if !req.mute {
            let line = text.strip_suffix('\n').unwrap_or(&text);
            ctx.print(line.strip_suffix('\r').unwrap_or(line));
        }
    }
    for reader in readers {
        if let Ok(Err(e)) = reader.join() {
            return Err(spawn_err(e));
        }
    }
    let status = child.wait().map_err(spawn_err)?;
    output.exit_code = status.code().unwrap_or(-1);
    Ok(output)
}

fn spawn_reader(
    stream: impl Read + Send + 'static,
    kind: Stream,
    tx: mpsc::Sender<(Stream, Vec<u8>)>,
) -> std::thread::JoinHandle<std::io::Result<()>> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = Vec::new();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Ok(());
            }
            if tx.send((kind, line)).is_err() {
                return Ok(());
            }
        }
    })
}

fn resolve(ctx: &SdkContext, path: &str) -> PathBuf {
    ctx.package_dir().join(path)
}

fn shell_impl<'v>(
    eval: &mut Evaluator<'v, '_, '_>,
    req: ShellRequest,
    continue_on_error: bool,
) -> starlark::Result<Value<'v>> {
    let ctx = SdkContext::from_eval(eval)?;
    let out = run_shell(&ctx, &req).map_err(host_err)?;
    if out.exit_code != 0 && !continue_on_error {
        return Err(host_err(HostError::ExitStatus {
            command: req.command,
            code: out.exit_code,
        }));
    }
    let heap = eval.heap();
    Ok(heap.alloc(AllocStruct([
        ("combined_output", heap.alloc(out.combined_output)),
        ("stdout", heap.alloc(out.stdout)),
        ("stderr", heap.alloc(out.stderr)),
        ("exit_code", heap.alloc(out.exit_code)),
    ])))
}

fn read_impl(ctx: &SdkContext, path: &str) -> starlark::Result<String> {
    let path = resolve(ctx, path);
    std::fs::read_to_string(&path).map_err(|source| {
        host_err(HostError::File {
            op: "read",
            path,
            source,
        })
    })
}

fn write_impl(ctx: &SdkContext, path: &str, content: &str) -> starlark::Result<NoneType> {
    let path = resolve(ctx, path);
    let result = match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent),
        None => Ok(()),
    }
    .and_then(|()| std::fs::write(&path, content));
    result.map_err(|source| {
        host_err(HostError::File {
            op: "write",
            path,
            source,
        })
    })?;
    Ok(NoneType)
}

fn read_dir_impl(ctx: &SdkContext, path: &str) -> starlark::Result<Vec<String>> {
    let path = resolve(ctx, path);
    let file_err = |source| {
        host_err(HostError::File {
            op: "read_dir",
            path: path.clone(),
            source,
        })
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&path).map_err(file_err)? {
        let entry = entry.map_err(file_err)?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

fn is_dir_impl(ctx: &SdkContext, path: &str) -> bool {
    Path::is_dir(&resolve(ctx, path))
}

fn env_impl<'v>(eval: &Evaluator<'v, '_, '_>) -> starlark::Result<Value<'v>> {
    let ctx = SdkContext::from_eval(eval)?;
    Ok(eval.heap().alloc(ctx.host().env.clone()))
}

fn pwd_impl(eval: &Evaluator<'_, '_, '_>) -> starlark::Result<String> {
    let ctx = SdkContext::from_eval(eval)?;
    Ok(ctx.package_dir().to_string_lossy().into_owned())
}

/// The members of the `host` namespace.
#[starlark_module]
fn host_members(builder: &mut GlobalsBuilder) {
    /// Returns the operating system name, Go style: `linux`, `darwin`, `windows`.
    fn os() -> starlark::Result<&'static str> {
        Ok(go_os())
    }

    /// Returns the CPU architecture name, Go style: `amd64`, `arm64`.
    fn arch() -> starlark::Result<&'static str> {
        Ok(go_arch())
    }

    /// Returns the environment variables visible to config code, as a dict.
    fn env<'v>(eval: &mut Evaluator<'v, '_, '_>) -> starlark::Result<Value<'v>> {
        env_impl(eval)
    }

    /// Runs `<shell> -c <command>` and returns a struct with `combined_output`, `stdout`,
    /// `stderr` and `exit_code`.
    ///
    /// `dir="."` is the working directory, `dir=""` the package directory. `env` adds
    /// variables to the inherited environment. Output lines are printed unless `mute`. A
    /// non-zero exit fails with `<command>: exit status <n>` unless `continue_on_error`.
    fn shell<'v>(
        command: String,
        #[starlark(default = "sh".to_owned())] shell: String,
        #[starlark(default = ".".to_owned())] dir: String,
        #[starlark(default = BTreeMap::new())] env: BTreeMap<String, String>,
        #[starlark(default = false)] mute: bool,
        #[starlark(default = false)] continue_on_error: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let req = ShellRequest {
            command,
            shell,
            dir,
            env,
            mute,
        };
        shell_impl(eval, req, continue_on_error)
    }

    /// Returns the package directory.
    fn pwd(eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<String> {
        pwd_impl(eval)
    }

    /// Returns the content of a file, relative to the package directory.
    fn read_file(path: &str, eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<String> {
        read_impl(SdkContext::from_eval(eval)?.as_ref(), path)
    }

    /// Writes a file relative to the package directory, creating parent directories.
    fn write_file(
        path: &str,
        content: &str,
        eval: &mut Evaluator<'_, '_, '_>,
    ) -> starlark::Result<NoneType> {
        write_impl(SdkContext::from_eval(eval)?.as_ref(), path, content)
    }

    /// Returns the sorted entry names of a directory relative to the package directory.
    fn read_dir(path: &str, eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<Vec<String>> {
        read_dir_impl(SdkContext::from_eval(eval)?.as_ref(), path)
    }

    /// Returns whether a path relative to the package directory is a directory.
    fn is_dir(path: &str, eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<bool> {
        Ok(is_dir_impl(SdkContext::from_eval(eval)?.as_ref(), path))
    }
}

/// The top-level aliases of the `host` members.
#[starlark_module]
fn host_aliases(builder: &mut GlobalsBuilder) {
    /// Alias of `host.os()`.
    fn os() -> starlark::Result<&'static str> {
        Ok(go_os())
    }

    /// Alias of `host.arch()`.
    fn arch() -> starlark::Result<&'static str> {
        Ok(go_arch())
    }

    /// Alias of `host.env()`.
    fn env<'v>(eval: &mut Evaluator<'v, '_, '_>) -> starlark::Result<Value<'v>> {
        env_impl(eval)
    }

    /// Alias of `host.shell(...)`.
    fn shell<'v>(
        command: String,
        #[starlark(default = "sh".to_owned())] shell: String,
        #[starlark(default = ".".to_owned())] dir: String,
        #[starlark(default = BTreeMap::new())] env: BTreeMap<String, String>,
        #[starlark(default = false)] mute: bool,
        #[starlark(default = false)] continue_on_error: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let req = ShellRequest {
            command,
            shell,
            dir,
            env,
            mute,
        };
        shell_impl(eval, req, continue_on_error)
    }

    /// Alias of `host.pwd()`.
    fn pwd(eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<String> {
        pwd_impl(eval)
    }

    /// Alias of `host.read_file(path)`.
    fn read(path: &str, eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<String> {
        read_impl(SdkContext::from_eval(eval)?.as_ref(), path)
    }

    /// Alias of `host.write_file(path, content)`.
    fn write(
        path: &str,
        content: &str,
        eval: &mut Evaluator<'_, '_, '_>,
    ) -> starlark::Result<NoneType> {
        write_impl(SdkContext::from_eval(eval)?.as_ref(), path, content)
    }

    /// Alias of `host.read_dir(path)`.
    fn read_dir(path: &str, eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<Vec<String>> {
        read_dir_impl(SdkContext::from_eval(eval)?.as_ref(), path)
    }

    /// Alias of `host.is_dir(path)`.
    fn is_dir(path: &str, eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<bool> {
        Ok(is_dir_impl(SdkContext::from_eval(eval)?.as_ref(), path))
    }
}

/// Registers the `host` namespace and its top-level aliases.
pub fn register_host(builder: &mut GlobalsBuilder) {
    builder.namespace("host", host_members);
    host_aliases(builder);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::sdk::EvalError;
    use crate::sdk::{CollectingSink, HostContext, LoadedModule, Session, globals};

    struct Run {
        result: Result<LoadedModule, EvalError>,
        lines: Vec<String>,
    }

    fn run(dir: &Path, source: &str) -> Run {
        let mut env = BTreeMap::new();
        env.insert("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned());
        env.insert("BASE".to_owned(), "base".to_owned());
        let host = HostContext {
            env,
            cwd: dir.to_path_buf(),
        };
        let sink = Arc::new(CollectingSink::default());
        let pkg = dir.join("pkg");
        let ctx = SdkContext::new(host, pkg.clone(), sink.clone()).install();
        let session = Session::new(dir, globals(), &ctx);
        let result = session.eval_source(&pkg.join("f.ocu.star"), source.to_owned());
        Run {
            result,
            lines: sink.lines(),
        }
    }

    fn get(m: &LoadedModule, name: &str) -> String {
        let v = m.module.get(name).expect("global exists");
        match v.value().unpack_str() {
            Some(s) => s.to_owned(),
            None => v.value().to_string(),
        }
    }

    #[test]
    fn shell_captures_streams_and_prints() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = run(
            dir.path(),
            "r = shell('echo out1; echo err1 >&2; sleep 0.1; echo out2')\n\
             OUT = r.stdout\nERR = r.stderr\nCOMB = r.combined_output\nCODE = r.exit_code\n",
        );
        let m = r.result.expect("evaluates");
        assert_eq!(get(&m, "OUT"), "out1\nout2\n");
        assert_eq!(get(&m, "ERR"), "err1\n");
        assert_eq!(get(&m, "CODE"), "0");
        let comb = get(&m, "COMB");
        assert!(comb.ends_with("out2\n") && comb.len() == 15, "{comb:?}");
        let mut lines = r.lines.clone();
        assert_eq!(lines.pop().as_deref(), Some("out2"));
        lines.sort();
        assert_eq!(lines, vec!["err1", "out1"]);
    }

    #[test]
    fn shell_failure_and_continue_on_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = run(dir.path(), "\nshell('exit 3', mute = True)\n");
        let err = r.result.expect_err("fails");
        let msg = err.to_string();
        assert!(msg.contains("exit 3: exit status 3"), "{msg}");
        assert!(msg.contains("f.ocu.star:2:1"), "{msg}");

        let r = run(
            dir.path(),
            "r = host.shell('echo x; exit 4', continue_on_error = True, mute = True)\nC = r.exit_code\n",
        );
        assert_eq!(get(&r.result.expect("evaluates"), "C"), "4");
        assert!(r.lines.is_empty(), "{:?}", r.lines);
    }

    #[test]
    fn shell_env_and_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("pkg")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("sub")).expect("mkdir");
        let r = run(
            dir.path(),
            "A = shell('echo $BASE-$EXTRA', env = {'EXTRA': 'x'}, mute = True).stdout\n\
             B = shell('echo $BASE-$EXTRA', mute = True).stdout\n\
             C = shell('pwd', mute = True).stdout\n\
             D = shell('pwd', dir = 'sub', mute = True).stdout\n\
             E = shell('pwd', dir = '', mute = True).stdout\n\
             F = shell('echo $0', shell = 'bash', mute = True).stdout\n",
        );
        let m = r.result.expect("evaluates");
        let canon = |p: &Path| p.canonicalize().expect("canonical").display().to_string() + "\n";
        assert_eq!(get(&m, "A"), "base-x\n");
        assert_eq!(get(&m, "B"), "base-\n");
        assert_eq!(get(&m, "C"), canon(dir.path()));
        assert_eq!(get(&m, "D"), canon(&dir.path().join("sub")));
        assert_eq!(get(&m, "E"), canon(&dir.path().join("pkg")));
        assert_eq!(get(&m, "F"), "bash\n");
    }

    #[test]
    fn files_env_and_platform() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = run(
            dir.path(),
            "write('out/a.txt', 'hello')\n\
             host.write_file('out/b.txt', 'b')\n\
             R = read('out/a.txt') + host.read_file('out/b.txt')\n\
             L = str(read_dir('out')) + str(host.read_dir('out'))\n\
             D = str(is_dir('out')) + str(host.is_dir('out/a.txt'))\n\
             P = pwd() == host.pwd()\n\
             V = env()['BASE'] + host.env()['BASE']\n\
             O = os() + '/' + arch() + ' ' + host.os() + '/' + host.arch()\n",
        );
        let m = r.result.expect("evaluates");
        assert_eq!(get(&m, "R"), "hellob");
        assert_eq!(get(&m, "L"), "[\"a.txt\", \"b.txt\"][\"a.txt\", \"b.txt\"]");
        assert_eq!(get(&m, "D"), "TrueFalse");
        assert_eq!(get(&m, "P"), "True");
        assert_eq!(get(&m, "V"), "basebase");
        let o = format!("{}/{}", go_os(), go_arch());
        assert_eq!(get(&m, "O"), format!("{o} {o}"));
        assert!(dir.path().join("pkg/out/a.txt").is_file());
    }
}
