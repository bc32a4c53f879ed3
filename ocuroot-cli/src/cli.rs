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
    /// Read remote stores from the local cache only, without fetching (writes are refused).
    /// Same as OCUROOT_OFFLINE=1.
    #[arg(long, global = true)]
    pub offline: bool,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the process arguments, exiting with clap's message on a usage error.
    ///
    /// Building the parser of every command costs more than a quick command's own work
    /// (docs/benchmarks.md, "Start-up"), so `ocuroot state …` is first parsed by a parser of
    /// the `state` commands alone. That parser accepts a subset of what the full one
    /// accepts, with the same result; anything it does not accept (help, `--version`, a
    /// usage error) is parsed again by the full parser, so messages and exit codes are the
    /// full parser's.
    pub fn parse_args() -> Cli {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        Cli::parse_state_only(&args).unwrap_or_else(|| Cli::parse_from(args))
    }

    /// Parses `args` (program name first) with the parser of the `state` commands alone;
    /// `None` when they are not a valid `state` command line.
    pub fn parse_state_only(args: &[std::ffi::OsString]) -> Option<Cli> {
        let first = args.iter().skip(1).find(|a| a.as_os_str() != "--offline")?;
        if first.as_os_str() != "state" {
            return None;
        }
        let parsed = StateOnly::try_parse_from(args).ok()?;
        let StateOnlyCommand::State(command) = parsed.command;
        Some(Cli {
            offline: parsed.offline,
            command: Command::State(command),
        })
    }
}

/// The top level of [`Cli`] with only the `state` commands (see [`Cli::parse_args`]).
#[derive(Debug, Parser)]
#[command(
    name = "ocuroot",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct StateOnly {
    /// As [`Cli::offline`].
    #[arg(long, global = true)]
    offline: bool,
    #[command(subcommand)]
    command: StateOnlyCommand,
}

/// The one command of [`StateOnly`].
#[derive(Debug, Subcommand)]
enum StateOnlyCommand {
    /// As [`Command::State`].
    #[command(subcommand)]
    State(StateCommand),
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, continue and retry releases
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Read and change state and intent documents
    #[command(subcommand)]
    State(StateCommand),
    /// Find and carry out outstanding work: intent to apply, runs to execute
    #[command(subcommand)]
    Work(WorkCommand),
    /// Show what applying intent would do, without doing it
    ///
    /// Compares the intent at REV (default: the intent branch) with what state has applied and
    /// prints each change with its consequence and a diff. Run it on an intent pull request so
    /// reviewers see what merging it will do.
    Plan {
        /// The intent revision: a branch, tag or commit of the intent repository.
        #[arg(long, value_name = "REV")]
        intent: Option<String>,
        /// Output format (`markdown`: a summary table and a collapsible diff per document,
        /// for pull-request comments and $GITHUB_STEP_SUMMARY).
        #[arg(short, long, value_enum, default_value_t)]
        output: PlanFormat,
        /// When to colour the diff.
        #[arg(long, value_enum, default_value_t)]
        color: ColorChoice,
    },
    /// Validate intent documents
    #[command(subcommand)]
    Intent(IntentCommand),
    /// Evaluate Starlark with the SDK, one expression or interactively
    ///
    /// Starts from the package SDK globals, a `help()` builtin listing the available names, and
    /// the globals of FILE (default when interactive: repo.ocu.star). Refs resolve against
    /// `preview.git/-/<FILE>/@preview`, and `environments()` returns the environments in state
    /// when run inside a repository.
    ///
    /// With -c, evaluates EXPR, prints its value and exits (1 on error). Otherwise reads
    /// standard input line by line, printing each value that is not None; a block opened by a
    /// line ending in `:` ends at a blank line. `exit()` or end of input quits.
    Repl {
        /// The file whose globals the session starts with.
        #[arg(value_name = "FILE")]
        file: Option<String>,
        /// Evaluate this expression (or statements), print the result and exit.
        #[arg(
            short = 'c',
            long = "command",
            value_name = "EXPR",
            allow_hyphen_values = true
        )]
        command: Option<String>,
        /// The package file to load, used when FILE is not given.
        #[arg(long, value_name = "PACKAGE", conflicts_with = "file")]
        package: Option<String>,
        /// The release that relative refs (`ref("./custom/x")`) resolve against (default
        /// `preview`).
        #[arg(long, value_name = "RELEASE")]
        release: Option<String>,
    },
    /// Show the phases, tasks and deployments a package file declares, without releasing it
    ///
    /// Evaluates FILE as release `preview`, with the environments in state. Without
    /// --output, serves a web page of the pipeline (phases as columns of task and deployment
    /// cards) until Ctrl-C, evaluated again on every request and reloaded in the browser
    /// when FILE changes. With `--output text` prints each phase's tasks and deployments
    /// (function and inputs), then what targets each environment; with `--output json` the
    /// package definition as JSON. Nothing is written.
    Preview {
        /// The package file (no release).
        #[arg(value_name = "FILE")]
        file: String,
        /// Print instead of serving a page.
        #[arg(short, long, value_enum, conflicts_with_all = ["port", "bind"])]
        output: Option<LogFormat>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Release the package files changed since the last push, then cascade
    ///
    /// Refuses to run with uncommitted changes. The first push releases every `*.ocu.star`
    /// file except repo.ocu.star; later pushes release the files changed since the commit
    /// the previous push handled, plus packages whose runs asked to watch a changed path
    /// (`done(watch=[...])`), minus files matching `release_ignore`. Then it carries out the
    /// work those releases caused (see `ocuroot work cascade`) and records the commit.
    /// Run it in CI on every push to the source branch.
    Push {
        /// Print the package files that would be released, one per line, and stop.
        #[arg(short = 'n', long)]
        dryrun: bool,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// List the current deployments made from commits between START and END
    ///
    /// Walks the Git history from END back to START (both included, at most 1000 commits;
    /// commits merged in between count) and prints, one per line and sorted, each
    /// deployment of this repository (`<repo>/-/<pkg>/@/deploy/<env>`) whose release was made
    /// at one of those commits. Use it to answer "where is this change deployed?". START must
    /// be an ancestor of END.
    FindDeploys {
        /// The oldest commit of the range: a hash (full or short), branch, tag or `HEAD~N`.
        #[arg(value_name = "START")]
        start: String,
        /// The newest commit of the range.
        #[arg(value_name = "END")]
        end: String,
    },
    /// Roll a deployment back: one intent commit deploying an older release
    ///
    /// Sets the deploy intent of PACKAGE in ENVIRONMENT to --to (a release or tag), by default
    /// the newest release older than the one deployed there that completed a deployment
    /// there and is not marked bad, with the inputs it ran with there. Prints the plan;
    /// `ocuroot work any`, `work cascade` or the CI job on the intent push carries it out.
    /// Releases marked bad are refused. A frozen environment holds the rollback unless
    /// --override-freeze.
    Rollback {
        /// The package file (`api.ocu.star`; `api` means `api.ocu.star`).
        #[arg(value_name = "PACKAGE")]
        package: String,
        /// The environment.
        #[arg(value_name = "ENVIRONMENT")]
        environment: String,
        /// The release or tag to roll back to.
        #[arg(long, value_name = "RELEASE")]
        to: Option<String>,
        /// Start the rollback even while the environment is frozen (said in the commit).
        #[arg(long)]
        override_freeze: bool,
        /// Print the plan and write nothing.
        #[arg(short = 'n', long)]
        dryrun: bool,
        /// Then carry it out (and what it causes, as `work cascade` does for this process's
        /// changes) and report which deployments landed; exit 1 if one did not.
        #[arg(long, conflicts_with = "dryrun")]
        cascade: bool,
        #[command(flatten)]
        requester: RequesterArgs,
    },
    /// Promote what runs in one environment to another, as one intent commit
    ///
    /// Pins on --to exactly the release each package runs in --from (each with the inputs
    /// its deployment to --to takes), for the packages matching --package. Prints the plan,
    /// in dependency order; the work commands carry it out.
    Promote {
        /// The environment whose releases are promoted.
        #[arg(long, value_name = "ENV")]
        from: String,
        /// The environment they are pinned on.
        #[arg(long, value_name = "ENV")]
        to: String,
        /// Only packages whose ref or file matches this glob.
        #[arg(long, value_name = "GLOB")]
        package: Option<String>,
        /// Print the plan and write nothing.
        #[arg(short = 'n', long)]
        dryrun: bool,
        /// Then carry it out (and what it causes, as `work cascade` does for this process's
        /// changes) and report which deployments landed; exit 1 if one did not.
        #[arg(long, conflicts_with = "dryrun")]
        cascade: bool,
        #[command(flatten)]
        requester: RequesterArgs,
    },
    /// Freeze an environment: no deployment starts or is taken down there
    ///
    /// Writes the intent `@/environment/<ENV>/freeze`. Runs that would start there wait,
    /// held, until `ocuroot unfreeze` (or --until passes); they start on the first work
    /// command after that. `ocuroot rollback --override-freeze` is the only way through.
    Freeze {
        /// The environment.
        #[arg(value_name = "ENV")]
        environment: String,
        /// Why (shown wherever held runs are).
        #[arg(long)]
        reason: Option<String>,
        /// When the freeze ends by itself (RFC 3339, e.g. 2026-01-02T18:00:00Z).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        #[command(flatten)]
        requester: RequesterArgs,
    },
    /// End an environment's freeze
    Unfreeze {
        /// The environment.
        #[arg(value_name = "ENV")]
        environment: String,
        #[command(flatten)]
        requester: RequesterArgs,
    },
    /// Approve: write custom-state intent naming who approved
    ///
    /// Writes VALUE (default: the approver) at the custom-state REF, with a
    /// `Requested-by:` trailer naming the approver: --as, else the CI's actor (GITHUB_ACTOR,
    /// GITLAB_USER_LOGIN, BUILDKITE_BUILD_CREATOR, BUILD_USER_ID), else this repository's
    /// git user.name and user.email.
    Approve {
        /// The custom-state ref (`@/custom/…` or `<pkg>/@<release>/custom/…`).
        #[arg(value_name = "REF")]
        reference: String,
        /// The value (a string); default: the approver.
        #[arg(value_name = "VALUE")]
        value: Option<String>,
        #[command(flatten)]
        requester: RequesterArgs,
    },
    /// Write starter files: repo.ocu.star, an example release, CI configuration
    #[command(subcommand)]
    Init(InitCommand),
    /// Manage the stores as a whole: import a store of the original Ocuroot
    #[command(subcommand)]
    Store(StoreCommand),
    /// Print the version of ocuroot
    Version,
    /// Print a shell completion script
    ///
    /// Load it in the current shell, e.g. `source <(ocuroot completion bash)`, or install
    /// it where the shell looks for completions (see docs/guide.md).
    Completion {
        /// The shell.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Serve the Model Context Protocol on standard input and output
    ///
    /// An MCP server named `Ocuroot` for AI assistants, with the tools `preview` (a package
    /// file's definition as JSON), `sdk` (the SDK builtins as Starlark stubs), `example_list`
    /// and `example_get` (example configurations shipped in the binary).
    Mcp,
}

/// Who asks for an intent change (the `Requested-by:` trailer of its commit).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct RequesterArgs {
    /// The person asking (default: the CI's actor, else git user.name and user.email).
    #[arg(long = "as", value_name = "PERSON")]
    pub as_person: Option<String>,
}

/// `ocuroot store …`
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Import the state and intent of the original Ocuroot into the stores repo.ocu.star selects
    ///
    /// STATE and INTENT are folders of the original's file-system stores (holding
    /// `.ocuroot-store` and `refs/`), or `<git URL or path>#<branch>` for a branch of an
    /// original Git store. A single STATE holding `state/` and `intent/` is the original's
    /// layout for one backend (`store.set(backend)` without `intent=`). Every document and
    /// link is copied, in one commit per store whose message names the source, together
    /// with the applied-intent mirror, so `ocuroot state diff` shows exactly the intent the
    /// original had not applied yet. Importing again changes nothing. Anything that cannot
    /// be mapped is listed and nothing is written (exit 1).
    Import {
        /// The original state store (or both, in the single-backend layout).
        #[arg(value_name = "STATE")]
        state: String,
        /// The original intent store, when it is separate.
        #[arg(value_name = "INTENT")]
        intent: Option<String>,
        /// Print what would be imported, per document kind, and write nothing.
        #[arg(short = 'n', long)]
        dryrun: bool,
    },
}

/// `ocuroot init …`
#[derive(Debug, Subcommand)]
pub enum InitCommand {
    /// Write repo.ocu.star at the repository root
    ///
    /// The repository alias comes from --alias, else from the `origin` remote's URL, else
    /// from the folder name. State and intent go to the local default store; the file shows
    /// (commented out) how to share them in a Git remote and how to set a trigger. Refuses to
    /// replace an existing repo.ocu.star unless --force.
    Repo {
        /// The repository's name in refs, e.g. `github.com/acme/app`.
        #[arg(long)]
        alias: Option<String>,
        /// Replace an existing repo.ocu.star.
        #[arg(short, long)]
        force: bool,
    },
    /// Write an example package NAME.ocu.star and, if missing, environments.ocu.star
    ///
    /// The package (in the current directory) builds, then deploys to staging, then to
    /// production; environments.ocu.star (at the repository root) registers those two
    /// environments. Release them with `ocuroot release new environments.ocu.star`, then
    /// `ocuroot release new NAME.ocu.star`. Refuses to replace an existing package file unless
    /// --force; an existing environments.ocu.star is always kept.
    Release {
        /// The package name.
        #[arg(value_name = "NAME", default_value = "release")]
        name: String,
        /// Replace an existing package file.
        #[arg(short, long)]
        force: bool,
    },
    /// Write CI configuration that runs ocuroot on pushes and intent reviews
    ///
    /// Pushes to the source branch run `ocuroot push`, pushes to the intent branch
    /// `ocuroot work cascade`, and pull/merge requests to the intent branch `ocuroot intent
    /// check` and `ocuroot plan`. Comments at the top of the file say what to fill in.
    /// See docs/ci.md.
    Ci {
        /// The CI platform.
        #[arg(value_enum, value_name = "PLATFORM")]
        platform: CiPlatformArg,
        /// The branch whose pushes release.
        #[arg(long, default_value = "main", value_name = "BRANCH")]
        source_branch: String,
        /// The intent store's branch.
        #[arg(long, default_value = "intent", value_name = "BRANCH")]
        intent_branch: String,
        /// Write to this file instead (relative to the current directory), e.g.
        /// `.gitlab/ocuroot.yml` to include from an existing `.gitlab-ci.yml`.
        #[arg(short, long, value_name = "PATH")]
        output: Option<std::path::PathBuf>,
        /// Replace an existing file.
        #[arg(short, long)]
        force: bool,
    },
}

/// CI platforms of `init ci`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CiPlatformArg {
    /// GitHub Actions: .github/workflows/ocuroot.yml.
    GithubActions,
    /// GitLab CI: .gitlab-ci.yml.
    Gitlab,
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

/// Output formats for `state log`, `plan` and `preview`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line per change.
    #[default]
    Text,
    /// A JSON array.
    Json,
}

/// Output formats for `plan`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Each change with its consequence and a diff.
    #[default]
    Text,
    /// A JSON array of the changes.
    Json,
    /// Markdown: a summary table and a collapsible diff per document.
    Markdown,
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
        #[command(flatten)]
        target: StateRefArgs,
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
        #[command(flatten)]
        requester: RequesterArgs,
    },
    /// Delete an intent document
    Delete {
        #[command(flatten)]
        target: StateRefArgs,
        #[command(flatten)]
        requester: RequesterArgs,
    },
    /// List intent refs that differ from what state has applied, one per line
    ///
    /// Pipe into apply to carry them out: `ocuroot state diff | xargs -n1 ocuroot state apply`.
    Diff,
    /// Apply the intent at a ref to state
    ///
    /// Custom state is copied; an environment is written (or removed, taking down its
    /// deployments); deploy intent schedules an `up` run (or a `down` run when deleted).
    /// Scheduled runs execute with `ocuroot work continue`.
    Apply {
        #[command(flatten)]
        target: StateRefArgs,
        /// Afterwards, carry out the work this change caused, in every repository and commit
        /// it affects (see `ocuroot work cascade`).
        #[arg(long)]
        cascade: bool,
    },
    /// Show when a ref changed, in which commit and by whom
    ///
    /// Reads the history of the state branch (or the intent branch with --intent). For a
    /// link such as `<pkg>/@/deploy/production` this answers "what was deployed there, and
    /// when".
    Log {
        #[command(flatten)]
        target: StateRefArgs,
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
    /// Serve a read-only web page of what runs where (state and intent)
    ///
    /// Serves, until Ctrl-C, an overview (environments × packages: which release runs
    /// where, its status, when and from which commit), pages of packages, releases, runs,
    /// environments (with their deployment history) and outstanding work, and the original
    /// tool's `/match/<glob>` and `/ref/<ref>` addresses. Pages reload when the store
    /// branches move. Listens on 127.0.0.1 and the first free port of 3000-3100 unless told
    /// otherwise; nothing it does writes a store.
    View {
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Where a web server listens.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// The port (default: the first free one of 3000-3100; 0 lets the system choose).
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// The address to listen on. Anything but a loopback address makes the pages
    /// reachable from other machines.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
}

/// How a state command names its ref: REF, or `--package` and `--release` (spec §5.1).
#[derive(Debug, clap::Args)]
pub struct StateRefArgs {
    /// The ref, e.g. `@/environment/staging` or `pkg.ocu.star/@/deploy/prod#output/url`.
    ///
    /// Relative to the current directory inside the repository.
    #[arg(value_name = "REF", required_unless_present_any = ["package", "release"])]
    pub reference: Option<String>,
    /// The package file, used when REF is not given (default `.`, the current directory).
    #[arg(long, value_name = "PACKAGE", conflicts_with = "reference")]
    pub package: Option<String>,
    /// The release id or tag, used when REF is not given: the ref is `<PACKAGE>/@<RELEASE>`.
    #[arg(long, value_name = "RELEASE", conflicts_with = "reference")]
    pub release: Option<String>,
}

/// How a release command names its package and release.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// The package (and release) ref, e.g. `basic.ocu.star` or `basic.ocu.star/@r2`.
    ///
    /// Relative to the current directory inside the repository; `//path` is relative to the
    /// repository root.
    #[arg(value_name = "REF")]
    pub reference: Option<String>,
    /// The package file, used when REF is not given.
    #[arg(long, default_value = ".")]
    pub package: String,
    /// The release id or tag, used when REF is not given.
    #[arg(long)]
    pub release: Option<String>,
}

/// Execution flags shared by commands that run work.
#[derive(Debug, Default, clap::Args)]
pub struct ExecArgs {
    /// How many runs of one phase execute at once (default: 4 per CPU, at least 16).
    #[arg(long, value_name = "N")]
    pub parallel: Option<usize>,
    /// Take over runs that another job marked running, even if it may still be alive
    ///
    /// A job claims a run before executing it; others skip it while it runs. A claim of a
    /// job on this host whose process is gone is taken over automatically. For a job on
    /// another machine (a CI runner that was killed), pass --takeover once you know it is
    /// gone: taking over a job that still runs executes the run twice at once.
    #[arg(long)]
    pub takeover: bool,
}

/// `ocuroot release …`
#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Create a release of a package at the current commit and run it until it pauses
    ///
    /// Runs each phase's tasks and deployments (concurrently within a phase), stopping when
    /// everything is done, something failed, or runs wait for inputs such as approvals.
    /// Exits 1 if a run failed. Refuses a second release of the same commit unless --force.
    New {
        #[command(flatten)]
        target: TargetArgs,
        /// Create a release even if one exists for this commit.
        #[arg(short, long)]
        force: bool,
        /// Afterwards, carry out the work this release caused (dependants' redeploys, in
        /// other commits and repositories too; see `ocuroot work cascade`).
        #[arg(long)]
        cascade: bool,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Continue a release that paused (for example after an approval was applied)
    Continue {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Retry the failed runs of a release, keeping the failed runs in history
    ///
    /// Without a release, retries the newest release made at the current commit.
    Retry {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Mark a release bad: none of its runs starts, and rollback never picks it
    ///
    /// Writes the intent `<pkg>/@<release>/custom/ocuroot/bad`. `plan` lists every
    /// environment still running it.
    MarkBad {
        /// The release (`api.ocu.star/@r2`, a tag works too).
        #[arg(value_name = "RELEASE")]
        release: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        requester: RequesterArgs,
    },
    /// Remove a release's bad mark
    MarkGood {
        /// The release.
        #[arg(value_name = "RELEASE")]
        release: String,
        #[command(flatten)]
        requester: RequesterArgs,
    },
    /// Evaluate a package file and print its phases, without writing anything
    Lint {
        /// The package file.
        #[arg(value_name = "FILE")]
        file: String,
    },
}

/// `ocuroot work …`
#[derive(Debug, Subcommand)]
pub enum WorkCommand {
    /// Execute runs of releases made at the current commit that are ready, and redeploy
    /// deployments whose inputs changed
    Continue {
        /// Print the work items as JSON (`null` when there is none) instead of doing them.
        #[arg(short, long)]
        dryrun: bool,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Apply all intent changes, then do all work of the current commit until none is left
    Any {
        /// Accepted for compatibility: work is always repeated until none is left.
        #[arg(long, conflicts_with = "dryrun")]
        comprehensive: bool,
        /// Print the work items as JSON (`null` when there is none) instead of doing them.
        #[arg(short, long)]
        dryrun: bool,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Ask each other commit with outstanding work to run ocuroot, through the repository's
    /// `trigger(fn)` (for example a CI API call)
    Trigger {
        /// Print the work items as JSON (`null` when there is none) instead of triggering.
        #[arg(short, long)]
        dryrun: bool,
        /// Trigger the latest recorded commit of every repository, for intent changes.
        #[arg(short, long)]
        intent: bool,
    },
    /// Do all outstanding work of every repository and commit, until none is left
    ///
    /// Applies intent, then runs each batch of commit-bound work in a clean checkout of its
    /// repository at its commit: this checkout when it matches, a `git worktree` of this
    /// repository for another commit, or a clone (from the remotes recorded in state) for
    /// another repository. Worktrees and clones live under $OCUROOT_HOME and are removed
    /// afterwards. Repeats until no work is left. Run it on pushes to the intent branch.
    Cascade {
        /// Print the work items as JSON (`null` when there is none) instead of doing them.
        #[arg(short, long)]
        dryrun: bool,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Run pending operations (such as deploying to new environments) of the current commit
    Ops {
        /// Print the work items as JSON (`null` when there is none) instead of doing them.
        #[arg(short, long)]
        dryrun: bool,
        #[command(flatten)]
        exec: ExecArgs,
    },
}

/// When to use colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// `ocuroot intent …`
#[derive(Debug, Subcommand)]
pub enum IntentCommand {
    /// Check every intent document at a revision: it parses, fits its schema, and names an
    /// existing environment, release and deployment; exits 1 with one line per problem
    ///
    /// Use it as the required check on intent pull requests.
    Check {
        /// The intent revision (default: the intent branch).
        #[arg(value_name = "REV")]
        rev: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> Vec<std::ffi::OsString> {
        std::iter::once("ocuroot")
            .chain(line.iter().copied())
            .map(Into::into)
            .collect()
    }

    /// The `state` parser gives what the full parser gives for every command line it
    /// accepts, and leaves everything else (help, version, usage errors, other commands)
    /// to the full parser.
    #[test]
    fn state_only_parser_agrees_with_the_full_parser() {
        let accepted: &[&[&str]] = &[
            &["state", "get", "r/-/p.ocu.star/@r1/deploy/prod"],
            &["state", "get", "@/custom/x", "--output", "yaml"],
            &["--offline", "state", "diff"],
            &["state", "diff", "--offline"],
            &["state", "match", "**/@*", "--no-links"],
            &["state", "set", "@/custom/x", "1", "--format", "json"],
            &["state", "delete", "@/custom/x"],
            &["state", "log", "@/custom/x", "--intent", "--limit", "3"],
            &["state", "get", "--package", "api", "--release", "r2"],
        ];
        for line in accepted {
            let full = Cli::try_parse_from(args(line)).expect("the full parser accepts it");
            let fast = Cli::parse_state_only(&args(line)).expect("the state parser accepts it");
            assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{line:?}");
        }
        let refused: &[&[&str]] = &[
            &["state"],
            &["state", "--help"],
            &["state", "get", "--help"],
            &["state", "--version"],
            &["state", "get"],
            &["state", "frobnicate"],
            &["state", "diff", "extra"],
            &["version"],
            &["--offline", "plan"],
            &["release", "new", "state"],
            &[],
        ];
        for line in refused {
            assert!(Cli::parse_state_only(&args(line)).is_none(), "{line:?}");
        }
    }
}
