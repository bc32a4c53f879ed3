//! The documents Ocuroot stores, as serde types (spec §3.6).
//!
//! Field names follow the original tool's JSON so that `ocuroot state get` output and
//! `#output/...` fragments keep working for existing users. Maps are `BTreeMap`s, so the
//! canonical YAML is byte-stable. Readers ignore unknown fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A JSON object.
pub type JsonMap = serde_json::Map<String, Value>;

/// A function reference: its name and definition position (`tasks.ocu.star:34:5`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FnDef {
    /// The function name.
    pub name: String,
    /// `file:line:col` of the `def`, the file relative to the repository root.
    pub pos: String,
}

impl FnDef {
    /// The key identifying the function across evaluations: `name/file:line:col`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.name, self.pos)
    }
}

/// An input descriptor: a ref to read, a default, and the value once populated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InputDesc {
    /// The (absolute) ref to read from state.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The value used when the ref has no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// The populated (or literal) value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl InputDesc {
    /// A literal value input.
    pub fn literal(value: Value) -> Self {
        InputDesc {
            reference: None,
            default: None,
            value: Some(value),
        }
    }

    /// Returns the value passed to the function: the value, else the default.
    pub fn effective(&self) -> Option<&Value> {
        self.value
            .as_ref()
            .filter(|v| !v.is_null())
            .or(self.default.as_ref().filter(|v| !v.is_null()))
    }

    /// Returns true when the input has neither a value nor a default (JSON null counts as absent).
    pub fn is_missing(&self) -> bool {
        self.effective().is_none()
    }
}

/// Named inputs of a function.
pub type Inputs = BTreeMap<String, InputDesc>;

/// A plain task (`task(fn, name=...)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The task name (unique in the package).
    pub name: String,
    /// The entry function.
    #[serde(rename = "fn")]
    pub function: FnDef,
    /// Declared inputs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: Inputs,
    /// Free text shown in previews.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub annotation: String,
}

/// A deployment (`deploy(environment=..., up=..., down=...)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeploySpec {
    /// The environment name.
    pub environment: String,
    /// The function run to deploy.
    pub up: FnDef,
    /// The function run to remove the deployment.
    pub down: FnDef,
    /// Declared inputs (including the implicit `environment` input).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: Inputs,
}

/// One entry of a phase: a task or a deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkSpec {
    /// A plain task.
    Task(TaskSpec),
    /// A deployment to one environment.
    Deploy(DeploySpec),
}

impl WorkSpec {
    /// The subpath type: `task` or `deploy`.
    pub fn kind(&self) -> &'static str {
        match self {
            WorkSpec::Task(_) => "task",
            WorkSpec::Deploy(_) => "deploy",
        }
    }

    /// The task name or environment name.
    pub fn name(&self) -> &str {
        match self {
            WorkSpec::Task(t) => &t.name,
            WorkSpec::Deploy(d) => &d.environment,
        }
    }

    /// The entry function (`up` for deployments).
    pub fn entry(&self) -> &FnDef {
        match self {
            WorkSpec::Task(t) => &t.function,
            WorkSpec::Deploy(d) => &d.up,
        }
    }

    /// The declared inputs.
    pub fn inputs(&self) -> &Inputs {
        match self {
            WorkSpec::Task(t) => &t.inputs,
            WorkSpec::Deploy(d) => &d.inputs,
        }
    }
}

/// A phase: tasks that may run in parallel once the previous phase completed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// The phase name (empty for implicit single-task phases).
    #[serde(default)]
    pub name: String,
    /// The tasks and deployments.
    #[serde(default)]
    pub tasks: Vec<WorkSpec>,
}

/// A package: the phases declared by a `.ocu.star` file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Package {
    /// The phases in order.
    #[serde(default)]
    pub phases: Vec<Phase>,
}

impl Package {
    /// Finds the work spec with `kind` (`task`/`deploy`) and `name`.
    pub fn find(&self, kind: &str, name: &str) -> Option<(usize, &WorkSpec)> {
        self.phases.iter().enumerate().find_map(|(i, p)| {
            p.tasks
                .iter()
                .find(|t| t.kind() == kind && t.name() == name)
                .map(|t| (i, t))
        })
    }
}

/// A release document (`<pkg>/@rN`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseDoc {
    /// The commit the release was made from.
    pub commit: String,
    /// The package definition at release time.
    pub package: Package,
}

/// A marker document (commit markers, status markers, op markers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// RFC 3339 time.
    pub time: String,
}

/// One function of a run's chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFunction {
    /// The function.
    #[serde(rename = "fn")]
    pub function: FnDef,
    /// Globs of status refs that must exist before this function may run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    /// Its inputs.
    #[serde(default)]
    pub inputs: Inputs,
}

/// What a run executes: a task, or a deployment's `up` or `down`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunType {
    /// A task (`<rel>/task/<name>/<n>`).
    Task,
    /// A deployment's `up` (`<rel>/deploy/<env>/<n>`).
    Up,
    /// A deployment's `down`: the environment is torn down.
    Down,
}

impl RunType {
    /// The name stored in run documents.
    pub fn as_str(self) -> &'static str {
        match self {
            RunType::Task => "task",
            RunType::Up => "up",
            RunType::Down => "down",
        }
    }
}

impl std::fmt::Display for RunType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run document (`<rel>/{task,deploy}/<name>/<n>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunDoc {
    /// `task`, `up` or `down`.
    #[serde(rename = "type")]
    pub run_type: RunType,
    /// The release ref.
    pub release: String,
    /// The function chain.
    pub functions: Vec<RunFunction>,
    /// Outputs once complete.
    #[serde(default)]
    pub output: Option<JsonMap>,
    /// Paths `push` watches.
    #[serde(default)]
    pub watch_files: Option<Vec<String>>,
    /// The run starts even while its environment is frozen (a rollback made with
    /// `--override-freeze`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub override_freeze: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A task summary (`<rel>/{task,deploy}/<name>`), written on completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSummary {
    /// The run that completed.
    pub run_ref: String,
    /// The run type.
    #[serde(rename = "type")]
    pub run_type: RunType,
    /// The release ref.
    pub release: String,
    /// The entry function's populated inputs.
    #[serde(default)]
    pub input: Inputs,
    /// The outputs.
    #[serde(default)]
    pub output: JsonMap,
}

/// Deploy intent (`<pkg>/@/deploy/<env>` in the intent store).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeployIntent {
    /// The release to deploy.
    pub release: String,
    /// The populated inputs.
    #[serde(default)]
    pub input: Inputs,
    /// The deployment starts even while the environment is frozen (`ocuroot rollback
    /// --override-freeze`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub override_freeze: bool,
}

/// A freeze of an environment (`@/environment/<env>/freeze` in intent): no `up` or `down`
/// run starts there while it holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    /// Why the environment is frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the freeze ends by itself (RFC 3339); absent: until `unfreeze`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// A release marked bad (`<pkg>/@<release>/custom/ocuroot/bad` in intent): none of its runs
/// starts, and rollback never picks it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BadMark {
    /// Why the release is bad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The record of one `ocuroot promote` (`@/environment/<to>/promotion` in intent): the set of
/// deploy intents it pinned, written in the same commit, so that `plan` can show them as one
/// change and say afterwards which of them landed. The next promotion to `<to>` replaces it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Promotion {
    /// The environment whose releases were promoted.
    pub from: String,
    /// The environment they were pinned on (the one the ref names).
    pub to: String,
    /// The `--package` glob, if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The deploy intents written, in dependency order.
    pub deployments: Vec<PromotedDeployment>,
    /// Who asked for it (the `Requested-by:` person), if anyone can be named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// When it was asked for (RFC 3339, from the clock passed in).
    pub time: String,
}

/// One deployment of a [`Promotion`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotedDeployment {
    /// The package (`<repo>/-/<file>`).
    pub package: String,
    /// The release pinned (`<repo>/-/<file>/@rN`).
    pub release: String,
}

/// Why a run that could start does not: its environment is frozen or its release is marked
/// bad. Recorded as `held` in the run's `pending` (or `paused`) status marker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Hold {
    /// The run's environment is frozen.
    Frozen {
        /// The environment.
        environment: String,
        /// The freeze's reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// When the freeze ends (RFC 3339), if it says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<String>,
    },
    /// The run's release is marked bad.
    Bad {
        /// The release.
        release: String,
        /// The mark's reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hold::Frozen {
                environment,
                detail,
                until,
            } => {
                write!(f, "frozen: environment {environment} is frozen")?;
                if let Some(d) = detail {
                    write!(f, " ({d})")?;
                }
                if let Some(u) = until {
                    write!(f, " until {u}")?;
                }
                Ok(())
            }
            Hold::Bad { release, detail } => {
                write!(f, "bad: release {release} is marked bad")?;
                if let Some(d) = detail {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
        }
    }
}

/// An environment (`@/environment/<name>`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Environment {
    /// The name.
    pub name: String,
    /// String attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// One log line of a run (`<run>/logs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// RFC 3339 time.
    pub timestamp: String,
    /// The line, with secrets masked.
    pub message: String,
    /// Where it came from (`function`, `filename`, `line`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// 0 for print/stdout, 1 for stderr.
    #[serde(default)]
    pub stream: u8,
}

/// Converts a serializable value into JSON.
///
/// # Panics
///
/// Never for the types in this module (they serialize to JSON objects).
pub fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("model types always serialize to JSON")
}

/// A recorded repository configuration (`<repo>/-/repo.ocu.star/@<commit>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepoConfigDoc {
    /// Remote URLs of the repository, credentials removed.
    #[serde(rename = "Remotes", default)]
    pub remotes: Vec<String>,
    /// The text of `repo.ocu.star`.
    pub source: String,
    /// The commit the configuration was recorded at: set in the copy kept in a separate
    /// intent store (`repos/`), absent in state, where the ref names the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}
