//! `ocuroot state view` and the web page of `ocuroot preview`: the servers live in
//! `ocuroot_core::ui`; this file opens the workspace, binds and prints the ready lines.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ocuroot_core::ui::{self, Listen, Preview, PreviewSource, StateSource};

use super::open_workspace;
use super::repl::{self, Previewed, preview_target};
use crate::cli::ServerArgs;
use crate::env::ProcessEnv;
use crate::error::CommandResult;

/// How often live pages look for moved store branches, at least: a remote store is never
/// fetched more often than its fetch interval.
const MIN_POLL: Duration = Duration::from_secs(1);

/// The warning printed when the server listens beyond this machine.
fn bind_warning(bind: std::net::IpAddr) -> Option<String> {
    (!bind.is_loopback()).then(|| {
        format!(
            "warning: listening on {bind}: anyone who can reach this machine can read these pages"
        )
    })
}

fn listen(server: &ServerArgs) -> Listen {
    if let Some(warning) = bind_warning(server.bind) {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{warning}");
        }
    }
    Listen {
        bind: server.bind,
        port: server.port,
    }
}

/// `ocuroot state view`.
pub fn state_view(env: &ProcessEnv, server: &ServerArgs, out: &mut dyn Write) -> CommandResult {
    let ws = open_workspace(env)?;
    let listener = ui::bind(&listen(server))?;
    let source = StateSource {
        state: ws.state().clone(),
        intent: ws.intent().clone(),
        poll: env.remote_settings().fetch_interval.max(MIN_POLL),
    };
    let mut failed = None;
    ui::serve_state(listener, source, |addr| {
        let r = writeln!(out, "Your state view is ready and waiting!")
            .and_then(|()| {
                writeln!(
                    out,
                    "Open your browser to: http://localhost:{}",
                    addr.port()
                )
            })
            .and_then(|()| out.flush());
        failed = r.err();
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(ExitCode::SUCCESS)
}

/// `ocuroot preview FILE` without `--output`: the web page.
pub fn preview(
    env: &ProcessEnv,
    file: &str,
    server: &ServerArgs,
    out: &mut dyn Write,
) -> CommandResult {
    let (ws, r) = preview_target(env, file)?;
    let path = ws.root().join(&r.filename);
    drop(ws);
    let listener = ui::bind(&listen(server))?;
    let eval_env = env.clone();
    let eval_file = file.to_string();
    let source = PreviewSource {
        path,
        name: r.filename.clone(),
        evaluate: Arc::new(move || match repl::preview(&eval_env, &eval_file) {
            Ok(Previewed::Package {
                file,
                package,
                environments,
            }) => Ok(Preview::Package {
                file,
                package,
                environments,
            }),
            Ok(Previewed::Environments(file, environments)) => {
                Ok(Preview::Environments { file, environments })
            }
            Ok(Previewed::Nothing) => Ok(Preview::Nothing {
                file: eval_file.clone(),
            }),
            Err(e) => Err(e.render()),
        }),
    };
    let mut failed = None;
    ui::serve_preview(listener, source, |addr| {
        let port = addr.port();
        let r = writeln!(out, "Preview server started at: http://localhost:{port}")
            .and_then(|()| writeln!(out, "Press Ctrl+C to stop the server"))
            .and_then(|()| writeln!(out, "Listening on port {port}"))
            .and_then(|()| out.flush());
        failed = r.err();
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::bind_warning;

    #[test]
    fn only_addresses_beyond_loopback_warn() {
        for quiet in ["127.0.0.1", "127.0.0.2", "::1"] {
            assert_eq!(bind_warning(quiet.parse().expect("ip")), None, "{quiet}");
        }
        for loud in ["0.0.0.0", "192.168.1.5", "::"] {
            let w = bind_warning(loud.parse().expect("ip")).expect(loud);
            assert!(
                w.starts_with(&format!("warning: listening on {loud}:")),
                "{w}"
            );
        }
    }
}
