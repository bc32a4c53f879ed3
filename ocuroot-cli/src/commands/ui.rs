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

/// What a server serves.
enum Site {
    State(StateSource),
    Preview(PreviewSource),
}

/// Binds where `server` says (warning first when that reaches beyond this machine), serves
/// `site` until Ctrl-C, and prints the lines `ready` makes of the port once it listens.
fn serve(
    server: &ServerArgs,
    site: Site,
    ready: impl FnOnce(u16) -> Vec<String>,
    out: &mut dyn Write,
) -> CommandResult {
    let listener = ui::bind(&listen(server))?;
    let mut failed = None;
    let on_ready = |addr: std::net::SocketAddr| {
        let r = ready(addr.port())
            .iter()
            .try_for_each(|line| writeln!(out, "{line}"))
            .and_then(|()| out.flush());
        failed = r.err();
    };
    match site {
        Site::State(source) => ui::serve_state(listener, source, on_ready)?,
        Site::Preview(source) => ui::serve_preview(listener, source, on_ready)?,
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(ExitCode::SUCCESS)
}

/// `ocuroot state view`.
pub fn state_view(env: &ProcessEnv, server: &ServerArgs, out: &mut dyn Write) -> CommandResult {
    let ws = open_workspace(env)?;
    let source = StateSource {
        state: ws.state().clone(),
        intent: ws.intent().clone(),
        clock: env.clock(),
        poll: env.remote_settings().fetch_interval.max(MIN_POLL),
    };
    let ready = |port| {
        vec![
            "Your state view is ready and waiting!".to_string(),
            format!("Open your browser to: http://localhost:{port}"),
        ]
    };
    serve(server, Site::State(source), ready, out)
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
    let ready = |port| {
        vec![
            format!("Preview server started at: http://localhost:{port}"),
            "Press Ctrl+C to stop the server".to_string(),
            format!("Listening on port {port}"),
        ]
    };
    serve(server, Site::Preview(source), ready, out)
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
