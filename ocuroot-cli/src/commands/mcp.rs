//! `ocuroot mcp`: a Model Context Protocol server on standard input and output (spec §5.2),
//! built on the official Rust MCP SDK (`rmcp`).
//!
//! The server is named `Ocuroot` and has the original's four tools:
//! - `preview(package_file)`: the package definition of a file as JSON (what `ocuroot
//!   preview --output json` prints), evaluated in the server's working directory;
//! - `sdk(version)`: the SDK builtins as Starlark stubs (`latest` allowed);
//! - `example_list`: the names and descriptions of the examples shipped in the binary;
//! - `example_get(name)`: one example's files.
//!
//! A tool that fails (a broken package file, an unknown version or example) answers with
//! an error result naming the problem; the session goes on.

use std::process::ExitCode;

use ocuroot_core::sdk::{examples, stubs};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;

use crate::env::ProcessEnv;
use crate::error::{CommandError, CommandResult};

/// Arguments of `preview`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct PreviewArgs {
    /// The package file, relative to the server's working directory (e.g. `release.ocu.star`).
    package_file: String,
}

/// Arguments of `sdk`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct SdkArgs {
    /// The SDK version: `latest`, `0.3.0` or a constraint such as `0.3.x`.
    version: String,
}

/// Arguments of `example_get`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ExampleArgs {
    /// The example's name, as `example_list` gives it.
    name: String,
}

#[derive(Clone)]
struct OcurootServer {
    env: ProcessEnv,
    tool_router: ToolRouter<Self>,
}

fn text(s: String) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(s)])
}

fn failure(s: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(s)])
}

#[tool_router]
impl OcurootServer {
    fn new(env: ProcessEnv) -> Self {
        OcurootServer {
            env,
            tool_router: Self::tool_router(),
        }
    }

    /// Evaluates a package file and returns its definition (phases, tasks, deployments and
    /// their inputs) as JSON, without releasing it.
    #[tool]
    fn preview(&self, Parameters(args): Parameters<PreviewArgs>) -> CallToolResult {
        match super::repl::preview_json(&self.env, &args.package_file) {
            Ok(json) => text(json),
            Err(e) => failure(e.render()),
        }
    }

    /// Returns the Ocuroot SDK (the builtins of package files and repo.ocu.star) as
    /// Starlark stubs with their parameters and documentation.
    #[tool]
    fn sdk(&self, Parameters(args): Parameters<SdkArgs>) -> CallToolResult {
        match stubs::sdk_stubs(&args.version) {
            Ok(s) => text(s),
            Err(e) => failure(format!("{e} (available: latest, 0.3.0)")),
        }
    }

    /// Lists the example configurations, one `name: description` per line.
    #[tool]
    fn example_list(&self) -> CallToolResult {
        text(
            examples::examples()
                .iter()
                .map(|e| format!("{}: {}\n", e.name, e.description))
                .collect(),
        )
    }

    /// Returns the files of one example configuration.
    #[tool]
    fn example_get(&self, Parameters(args): Parameters<ExampleArgs>) -> CallToolResult {
        match examples::example(&args.name) {
            Some(e) => text(e.render()),
            None => failure(format!(
                "no example named {:?} (see example_list)",
                args.name
            )),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for OcurootServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("Ocuroot", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tools for Ocuroot release configurations (*.ocu.star): preview a package \
                 file, read the SDK, and browse examples.",
            )
    }
}

/// Serves MCP on stdin/stdout until the client closes the connection.
pub fn run(env: &ProcessEnv) -> CommandResult {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CommandError::user)?;
    let server = OcurootServer::new(env.clone());
    runtime.block_on(async move {
        let service = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| CommandError::message(format!("mcp: initialization failed: {e}")))?;
        service
            .waiting()
            .await
            .map_err(|e| CommandError::message(format!("mcp: server stopped: {e}")))?;
        Ok(ExitCode::SUCCESS)
    })
}
