//! Command-line arguments.

use clap::{Parser, Subcommand, ValueEnum};

/// Ocuroot: release orchestration for CI/CD, with state and intent kept in Git.
///
/// Run it inside a repository with a `repo.ocu.star` at its root. State (what happened) and
/// intent (what you want) are YAML documents in Git branches; see docs/ for the format.
#[derive(Debug, Parser)]
#[command(
    name = "ocuroot",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read and change state and intent documents
    #[command(subcommand)]
    State(StateCommand),
    /// Print the version of ocuroot
    Version,
}

/// Output formats for documents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum DocFormat {
    /// Indented JSON (for jq and scripts).
    #[default]
    Json,
    /// Canonical YAML, as stored.
    Yaml,
}

/// Input formats for `state set`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ValueFormat {
    /// The value is stored as a JSON string (`1` becomes `"1"`).
    #[default]
    String,
    /// The value is parsed as JSON.
    Json,
    /// The value is parsed as YAML.
    Yaml,
    /// The value is a Starlark expression.
    Starlark,
}

/// Output formats for `state log`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line per change.
    #[default]
    Text,
    /// A JSON array.
    Json,
}

/// `ocuroot state …`
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the state document at a ref (links resolved, fragment applied)
    ///
    /// Relative refs resolve against this repository and the current directory:
    /// `basic.ocu.star/@/deploy/staging` inside the repo root means
    /// `<repo>/-/basic.ocu.star/@/deploy/staging`. Exits 1 when the ref does not exist.
    Get {
        /// The ref, e.g. `@/environment/staging` or `pkg.ocu.star/@/deploy/prod#output/url`.
        #[arg(value_name = "REF")]
        reference: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: DocFormat,
    },
    /// List the state refs matching a glob, one per line
    ///
    /// `*` matches within one segment, `**` across segments, `{a,b}` either.
    Match {
        /// The glob (default: every ref).
        #[arg(value_name = "GLOB", default_value = "**")]
        glob: String,
        /// Leave out links and everything below them.
        #[arg(short = 'l', long)]
        no_links: bool,
    },
    /// Write an intent document (state changes only when intent is applied)
    ///
    /// Intent covers environments (`@/environment/<name>`), custom state
    /// (`@/custom/…`, `<pkg>/@<release>/custom/…`) and deployments
    /// (`<pkg>/@/deploy/<env>`).
    Set {
        /// The intent ref.
        #[arg(value_name = "REF")]
        reference: String,
        /// The value, interpreted according to --format.
        #[arg(value_name = "VALUE", allow_hyphen_values = true)]
        value: String,
        /// How to read VALUE.
        #[arg(short, long, value_enum, default_value_t)]
        format: ValueFormat,
    },
    /// Delete an intent document
    Delete {
        /// The intent ref.
        #[arg(value_name = "REF")]
        reference: String,
    },
    /// List intent refs that differ from what state has applied, one per line
    Diff,
    /// Show when a ref changed, in which commit and by whom
    ///
    /// Reads the history of the state branch (or the intent branch with --intent). For a
    /// link such as `<pkg>/@/deploy/production` this answers "what was deployed there, and
    /// when".
    Log {
        /// The ref.
        #[arg(value_name = "REF")]
        reference: String,
        /// Read the intent store instead of state.
        #[arg(long)]
        intent: bool,
        /// At most this many changes.
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: usize,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: LogFormat,
    },
}
