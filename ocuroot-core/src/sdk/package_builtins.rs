//! Package builtins (spec §4.4-§4.7, §4.10): `task`/`call`, `deploy`, `phase`, `ref`,
//! `input`, `next`, `done`, `register_environment`, and input checking.
//!
//! The builtins record what a package file declares in [`PackageRecorder`] (reached through
//! [`SdkContext::package`]); [`crate::sdk::package`] turns the recording into a
//! [`Package`](crate::model::Package). Values returned to Starlark are plain dicts built from
//! JSON, so their keys are sorted like every other JSON-derived value.
//!
//! The environment helpers (`environment`, `environments`, `environment_from_json`,
//! `environment_from_dict`) and `outputs`/`unwrap` are Starlark code in `prelude.star`, over
//! the internal builtin `_environments()`.

use std::collections::HashMap;

use starlark::docs::{DocItem, DocMember};
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::dict::DictRef;
use starlark::values::list::ListRef;
use starlark::values::none::{NoneOr, NoneType};
use starlark::values::tuple::UnpackTuple;
use starlark::values::{Heap, Value};

use crate::model::{DeploySpec, Environment, FnDef, InputDesc, Inputs, Phase, TaskSpec, WorkSpec};
use crate::refs::Ref;
use crate::refs::names::is_valid_environment_name;
use crate::sdk::SdkContext;
use crate::sdk::json::to_starlark;
use crate::sdk::output::SourceLocation;

/// What package builtins (`ref`, `input`, `environments`) need to know about the package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageScope {
    /// The release (or package) ref relative refs resolve against.
    pub base_ref: Ref,
    /// The environments `environments()` returns, sorted by name.
    pub environments: Vec<Environment>,
}

/// Errors raised by the package builtins.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageBuiltinError {
    /// A package builtin was called where no package is being evaluated.
    #[error("{0} is not available under the current configuration")]
    Unavailable(&'static str),
    /// `deploy`'s `up`/`down` or `next`'s function is not a top-level `def`.
    #[error(
        "function \"{name}\" must be defined at the top level of a file, it was defined at {pos}"
    )]
    NotTopLevel {
        /// The function name.
        name: String,
        /// Where it was defined.
        pos: String,
    },
    /// A deployment declared an input called `environment`.
    #[error("environment is a reserved input for deployments")]
    ReservedEnvironment,
    /// An input is not a parameter of the function.
    #[error("Input '{input}' is not in function parameters for '{function}' at {pos}")]
    InputNotParameter {
        /// The input name.
        input: String,
        /// The function name.
        function: String,
        /// The function position.
        pos: String,
    },
    /// A parameter without default has no input.
    #[error(
        "Function parameter '{param}' is not present in inputs and has no default value for '{function}' at {pos}"
    )]
    MissingParameter {
        /// The parameter name.
        param: String,
        /// The function name.
        function: String,
        /// The function position.
        pos: String,
    },
    /// `register_environment` with a bad name.
    #[error("environment names may only contain letters, numbers, periods and underscores: {0}")]
    BadEnvironmentName(String),
    /// `input()` without arguments.
    #[error("input must have either ref or default")]
    EmptyInput,
    /// A ref argument does not parse.
    #[error("invalid ref {0:?}")]
    BadRef(String),
    /// Any other bad argument.
    #[error("{0}")]
    Invalid(String),
}

fn err(e: PackageBuiltinError) -> starlark::Error {
    starlark::Error::new_other(e)
}

fn invalid(msg: impl Into<String>) -> starlark::Error {
    err(PackageBuiltinError::Invalid(msg.into()))
}

/// What the package builtins of one evaluation recorded.
#[derive(Debug, Default)]
pub struct PackageRecorder {
    next_id: u64,
    /// Every task and deployment declared, by task id.
    pub tasks: HashMap<String, WorkSpec>,
    /// Ids of declared tasks not yet placed in a phase, in declaration order.
    pub unplaced: Vec<String>,
    /// Phases placed so far.
    pub phases: Vec<Phase>,
    /// True once `task`, `deploy` or `phase` was called.
    pub declared: bool,
    /// Environments given to `register_environment`, in call order.
    pub environments: Vec<Environment>,
}

impl PackageRecorder {
    fn register(&mut self, spec: WorkSpec) -> String {
        self.next_id += 1;
        let id = format!("task-{:06}", self.next_id);
        self.tasks.insert(id.clone(), spec);
        self.unplaced.push(id.clone());
        self.declared = true;
        id
    }

    /// Places the tasks `ids` in a phase named `name`; unplaced tasks not in `ids` first
    /// become unnamed single-task phases (spec §4.5).
    fn place(&mut self, name: &str, ids: &[String]) -> Result<Phase, String> {
        self.declared = true;
        let mut tasks = Vec::with_capacity(ids.len());
        for id in ids {
            let spec = self
                .tasks
                .get(id)
                .ok_or_else(|| format!("phase: unknown task id {id}"))?;
            tasks.push(spec.clone());
        }
        for id in std::mem::take(&mut self.unplaced) {
            if !ids.contains(&id)
                && let Some(spec) = self.tasks.get(&id)
            {
                self.phases.push(Phase {
                    name: String::new(),
                    tasks: vec![spec.clone()],
                });
            }
        }
        let phase = Phase {
            name: name.to_owned(),
            tasks,
        };
        self.phases.push(phase.clone());
        Ok(phase)
    }

    /// Returns the phases, with still-unplaced tasks appended as unnamed phases.
    pub fn finish(&mut self) -> Vec<Phase> {
        for id in std::mem::take(&mut self.unplaced) {
            if let Some(spec) = self.tasks.get(&id) {
                self.phases.push(Phase {
                    name: String::new(),
                    tasks: vec![spec.clone()],
                });
            }
        }
        std::mem::take(&mut self.phases)
    }
}

/// The parameters of a Starlark function.
#[derive(Debug, Default)]
pub(crate) struct Params {
    /// Named parameters and whether each has a default.
    pub named: Vec<(String, bool)>,
    /// True when the function takes `**kwargs`.
    pub kwargs: bool,
}

impl Params {
    /// Returns the parameters of `f` (empty for non-functions).
    pub fn of(f: Value<'_>) -> Params {
        match f.documentation() {
            DocItem::Member(DocMember::Function(func)) => {
                let p = func.params;
                let named = p
                    .pos_only
                    .iter()
                    .chain(&p.pos_or_named)
                    .chain(&p.named_only)
                    .map(|x| (x.name.clone(), x.default_value.is_some()))
                    .collect();
                Params {
                    named,
                    kwargs: p.kwargs.is_some(),
                }
            }
            _ => Params::default(),
        }
    }

    /// True when the only parameter is `ctx`: the function is called as `fn(ctx)`.
    pub fn is_ctx_style(&self) -> bool {
        self.named.len() == 1 && self.named[0].0 == "ctx"
    }
}

/// Checks `inputs` against the parameters of `f` (spec §4.5, input checking).
pub(crate) fn check_params(f: Value<'_>, def: &FnDef, inputs: &Inputs) -> starlark::Result<()> {
    let params = Params::of(f);
    if params.is_ctx_style() {
        return Ok(());
    }
    for name in inputs.keys() {
        if !params.kwargs && !params.named.iter().any(|(p, _)| p == name) {
            return Err(err(PackageBuiltinError::InputNotParameter {
                input: name.clone(),
                function: def.name.clone(),
                pos: def.pos.clone(),
            }));
        }
    }
    for (param, has_default) in &params.named {
        if !has_default && !inputs.contains_key(param) {
            return Err(err(PackageBuiltinError::MissingParameter {
                param: param.clone(),
                function: def.name.clone(),
                pos: def.pos.clone(),
            }));
        }
    }
    Ok(())
}

/// Returns the JSON form of a Starlark value, checked against the limits (nesting before
/// the recursive conversion, numbers after).
pub(crate) fn to_json(v: Value<'_>) -> starlark::Result<serde_json::Value> {
    crate::sdk::json::to_json_checked(v)
}

/// Resolves the ref string `s` against the base ref of the package.
fn resolve_ref(s: &str, scope: &PackageScope) -> starlark::Result<String> {
    let parsed = Ref::parse(s).map_err(|_| err(PackageBuiltinError::BadRef(s.to_owned())))?;
    Ok(parsed.relative_to(&scope.base_ref).to_string())
}

/// Returns the ref named by `v`: a string, or the dict returned by `ref()`.
fn ref_of(v: Value<'_>, scope: &PackageScope) -> starlark::Result<Option<String>> {
    if v.is_none() {
        return Ok(None);
    }
    if let Some(s) = v.unpack_str() {
        return resolve_ref(s, scope).map(Some);
    }
    if let Some(d) = DictRef::from_value(v)
        && let Some(inner) = d.get_str("ref")
    {
        return ref_of(inner, scope);
    }
    Err(invalid(format!(
        "ref must be a string or a ref() value, got {}",
        v.get_type()
    )))
}

fn json_opt(v: Option<Value<'_>>) -> starlark::Result<Option<serde_json::Value>> {
    match v {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => to_json(v).map(Some),
    }
}

/// Converts one input value: a dict with any of `ref`/`default`/`value` is a descriptor,
/// anything else a literal value.
fn descriptor(v: Value<'_>, scope: &PackageScope) -> starlark::Result<InputDesc> {
    if let Some(d) = DictRef::from_value(v)
        && ["ref", "default", "value"]
            .iter()
            .any(|k| d.get_str(k).is_some())
    {
        let reference = match d.get_str("ref") {
            Some(r) => ref_of(r, scope)?,
            None => None,
        };
        return Ok(InputDesc {
            reference,
            default: json_opt(d.get_str("default"))?,
            value: json_opt(d.get_str("value"))?,
        });
    }
    Ok(InputDesc::literal(to_json(v)?))
}

/// Converts an `inputs` dict argument into descriptors.
pub(crate) fn descriptors(
    inputs: NoneOr<Value<'_>>,
    scope: &PackageScope,
    reserve_environment: bool,
) -> starlark::Result<Inputs> {
    let mut out = Inputs::new();
    let NoneOr::Other(inputs) = inputs else {
        return Ok(out);
    };
    let dict = DictRef::from_value(inputs)
        .ok_or_else(|| invalid(format!("inputs must be a dict, got {}", inputs.get_type())))?;
    for (k, v) in dict.iter() {
        let name = k
            .unpack_str()
            .ok_or_else(|| invalid(format!("input names must be strings, got {}", k.get_type())))?;
        if reserve_environment && name == "environment" {
            return Err(err(PackageBuiltinError::ReservedEnvironment));
        }
        out.insert(name.to_owned(), descriptor(v, scope)?);
    }
    Ok(out)
}

fn scope_of(ctx: &SdkContext, builtin: &'static str) -> starlark::Result<PackageScope> {
    ctx.scope()
        .cloned()
        .ok_or_else(|| err(PackageBuiltinError::Unavailable(builtin)))
}

/// Identifies `f`; `top_level` requires a top-level `def`.
fn fn_def<'v>(
    ctx: &SdkContext,
    eval: &Evaluator<'v, '_, '_>,
    f: Value<'v>,
    top_level: bool,
) -> starlark::Result<FnDef> {
    let (def, is_top) = ctx
        .files
        .borrow()
        .identify(eval, f)
        .ok_or_else(|| invalid(format!("expected a function, got {}", f.get_type())))?;
    if top_level && !is_top {
        return Err(err(PackageBuiltinError::NotTopLevel {
            name: def.name,
            pos: def.pos,
        }));
    }
    Ok(def)
}

fn task_impl<'v>(
    f: Value<'v>,
    name: String,
    annotation: String,
    inputs: NoneOr<Value<'v>>,
    eval: &mut Evaluator<'v, '_, '_>,
    builtin: &'static str,
) -> starlark::Result<Value<'v>> {
    let ctx = SdkContext::from_eval(eval)?;
    let scope = scope_of(&ctx, builtin)?;
    let function = fn_def(&ctx, eval, f, false)?;
    let inputs = descriptors(inputs, &scope, false)?;
    check_params(f, &function, &inputs)?;
    let spec = WorkSpec::Task(TaskSpec {
        name,
        function,
        inputs,
        annotation,
    });
    let json = crate::model::to_json(&spec);
    let id = ctx.package.borrow_mut().register(spec);
    let mut out = serde_json::Map::new();
    out.insert("task_id".to_owned(), serde_json::Value::String(id));
    if let serde_json::Value::Object(map) = json {
        out.extend(map);
    }
    Ok(to_starlark(eval.heap(), &serde_json::Value::Object(out)))
}

fn task_ids(list: Value<'_>) -> starlark::Result<Vec<String>> {
    let items = ListRef::from_value(list)
        .map(|l| l.content().to_vec())
        .or_else(|| {
            starlark::values::tuple::TupleRef::from_value(list).map(|t| t.content().to_vec())
        })
        .ok_or_else(|| {
            invalid(format!(
                "phase: expected a list of tasks, got {}",
                list.get_type()
            ))
        })?;
    items
        .into_iter()
        .map(|item| {
            DictRef::from_value(item)
                .and_then(|d| d.get_str("task_id"))
                .and_then(|id| id.unpack_str().map(str::to_owned))
                .ok_or_else(|| {
                    invalid(format!(
                        "phase: expected a task or deployment, got {}",
                        item.get_type()
                    ))
                })
        })
        .collect()
}

fn json_dict<'v>(heap: Heap<'v>, entries: Vec<(&str, serde_json::Value)>) -> Value<'v> {
    let map: serde_json::Map<String, serde_json::Value> = entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    to_starlark(heap, &serde_json::Value::Object(map))
}

#[starlark_module]
fn package_members(builder: &mut GlobalsBuilder) {
    /// Defines a task running `fn` with `inputs`.
    ///
    /// Returns the task, to be placed in a `phase`; a task not placed in any phase becomes
    /// its own unnamed phase.
    fn task<'v>(
        r#fn: Value<'v>,
        name: String,
        #[starlark(default = String::new())] annotation: String,
        #[starlark(default = NoneOr::None)] inputs: NoneOr<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        task_impl(r#fn, name, annotation, inputs, eval, "task")
    }

    /// An alias of `task`.
    fn call<'v>(
        r#fn: Value<'v>,
        name: String,
        #[starlark(default = String::new())] annotation: String,
        #[starlark(default = NoneOr::None)] inputs: NoneOr<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        task_impl(r#fn, name, annotation, inputs, eval, "call")
    }

    /// Defines a deployment of the package to `environment`, run by `up` and removed by
    /// `down` (both top-level functions).
    fn deploy<'v>(
        #[starlark(default = NoneOr::None)] environment: NoneOr<Value<'v>>,
        #[starlark(default = NoneOr::None)] up: NoneOr<Value<'v>>,
        #[starlark(default = NoneOr::None)] down: NoneOr<Value<'v>>,
        #[starlark(default = NoneOr::None)] inputs: NoneOr<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let ctx = SdkContext::from_eval(eval)?;
        let scope = scope_of(&ctx, "deploy")?;
        let NoneOr::Other(environment) = environment else {
            return Err(invalid("deploy: environment is required"));
        };
        let env_name = environment
            .get_attr("name", eval.heap())?
            .or_else(|| DictRef::from_value(environment).and_then(|d| d.get_str("name")))
            .and_then(|n| n.unpack_str().map(str::to_owned))
            .ok_or_else(|| {
                invalid(format!(
                    "deploy: environment must be an environment, got {}",
                    environment.get_type()
                ))
            })?;
        let NoneOr::Other(up) = up else {
            return Err(invalid("deploy: up function is required"));
        };
        let NoneOr::Other(down) = down else {
            return Err(invalid("deploy: down function is required"));
        };
        let up_def = fn_def(&ctx, eval, up, true)?;
        let down_def = fn_def(&ctx, eval, down, true)?;
        let mut inputs = descriptors(inputs, &scope, true)?;
        inputs.insert(
            "environment".to_owned(),
            InputDesc {
                reference: Some(format!("@/environment/{env_name}")),
                default: None,
                value: None,
            },
        );
        check_params(up, &up_def, &inputs)?;
        check_params(down, &down_def, &inputs)?;
        let spec = WorkSpec::Deploy(DeploySpec {
            environment: env_name,
            up: up_def,
            down: down_def,
            inputs,
        });
        let json = crate::model::to_json(&spec);
        let id = ctx.package.borrow_mut().register(spec);
        let mut out = serde_json::Map::new();
        out.insert("task_id".to_owned(), serde_json::Value::String(id));
        if let serde_json::Value::Object(map) = json {
            out.extend(map);
        }
        Ok(to_starlark(eval.heap(), &serde_json::Value::Object(out)))
    }

    /// Places tasks in a phase; `work` is used when `tasks` is empty.
    fn phase<'v>(
        name: String,
        #[starlark(default = NoneOr::None)] work: NoneOr<Value<'v>>,
        #[starlark(default = NoneOr::None)] tasks: NoneOr<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let ctx = SdkContext::from_eval(eval)?;
        scope_of(&ctx, "phase")?;
        let mut ids = match tasks {
            NoneOr::Other(t) => task_ids(t)?,
            NoneOr::None => Vec::new(),
        };
        if ids.is_empty()
            && let NoneOr::Other(w) = work
        {
            ids = task_ids(w)?;
        }
        let phase = ctx
            .package
            .borrow_mut()
            .place(&name, &ids)
            .map_err(invalid)?;
        Ok(json_dict(
            eval.heap(),
            vec![("phase", crate::model::to_json(&phase))],
        ))
    }

    /// Returns an input descriptor reading `r` (relative to this release) from state.
    fn r#ref<'v>(
        r#ref: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let ctx = SdkContext::from_eval(eval)?;
        let scope = scope_of(&ctx, "ref")?;
        let resolved = ref_of(r#ref, &scope)?.ok_or_else(|| invalid("ref: a ref is required"))?;
        Ok(json_dict(
            eval.heap(),
            vec![("ref", serde_json::Value::String(resolved))],
        ))
    }

    /// Returns an input descriptor with a ref and/or a default.
    fn input<'v>(
        #[starlark(default = NoneOr::None)] r#ref: NoneOr<Value<'v>>,
        #[starlark(default = NoneOr::None)] default: NoneOr<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let ctx = SdkContext::from_eval(eval)?;
        let scope = scope_of(&ctx, "input")?;
        let reference = match r#ref {
            NoneOr::Other(r) => ref_of(r, &scope)?,
            NoneOr::None => None,
        };
        let default = match default {
            NoneOr::Other(d) => Some(d),
            NoneOr::None => None,
        };
        if reference.is_none() && default.is_none() {
            return Err(err(PackageBuiltinError::EmptyInput));
        }
        let dict = eval.heap().alloc(starlark::values::dict::AllocDict([
            ("default", default.unwrap_or_else(Value::new_none)),
            (
                "ref",
                reference.map_or_else(Value::new_none, |r| eval.heap().alloc(r)),
            ),
        ]));
        Ok(dict)
    }

    /// Finishes the run, storing `outputs`, tagging the release with `tags` and recording
    /// `watch` paths.
    fn done<'v>(
        #[starlark(default = String::new())] annotation: String,
        #[starlark(default = NoneOr::None)] outputs: NoneOr<Value<'v>>,
        #[starlark(default = NoneOr::None)] tags: NoneOr<Value<'v>>,
        #[starlark(default = NoneOr::None)] watch: NoneOr<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let _ = annotation;
        let outputs = match outputs {
            NoneOr::Other(o) => to_json(o)?,
            NoneOr::None => serde_json::json!({}),
        };
        let tags = match tags {
            NoneOr::Other(t) => to_json(t)?,
            NoneOr::None => serde_json::json!([]),
        };
        let watch = match watch {
            NoneOr::Other(w) => to_json(w)?,
            NoneOr::None => serde_json::json!([]),
        };
        let done = serde_json::json!({"outputs": outputs, "tags": tags, "watch": watch});
        Ok(json_dict(eval.heap(), vec![("done", done)]))
    }

    /// Continues the run with the top-level function `fn`, given `inputs`.
    fn next<'v>(
        r#fn: Value<'v>,
        #[starlark(default = String::new())] annotation: String,
        #[starlark(default = NoneOr::None)] inputs: NoneOr<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let ctx = SdkContext::from_eval(eval)?;
        let scope = scope_of(&ctx, "next")?;
        let function = fn_def(&ctx, eval, r#fn, true)?;
        let inputs = descriptors(inputs, &scope, false)?;
        check_params(r#fn, &function, &inputs)?;
        let next = serde_json::json!({
            "fn": crate::model::to_json(&function),
            "annotation": annotation,
            "inputs": crate::model::to_json(&inputs),
        });
        Ok(json_dict(eval.heap(), vec![("next", next)]))
    }

    /// Declares an environment; the file then declares environments instead of a package.
    fn register_environment<'v>(
        env: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<NoneType> {
        let ctx = SdkContext::from_eval(eval)?;
        scope_of(&ctx, "register_environment")?;
        let heap = eval.heap();
        let field = |name: &str| -> starlark::Result<Option<Value<'v>>> {
            Ok(env
                .get_attr(name, heap)?
                .or_else(|| DictRef::from_value(env).and_then(|d| d.get_str(name))))
        };
        let name = field("name")?
            .and_then(|n| n.unpack_str().map(str::to_owned))
            .ok_or_else(|| {
                invalid(format!(
                    "register_environment: expected an environment, got {}",
                    env.get_type()
                ))
            })?;
        if !is_valid_environment_name(&name) {
            return Err(err(PackageBuiltinError::BadEnvironmentName(name)));
        }
        let mut attributes = std::collections::BTreeMap::new();
        if let Some(attrs) = field("attributes")?
            && !attrs.is_none()
        {
            let dict = DictRef::from_value(attrs).ok_or_else(|| {
                invalid(format!(
                    "environment attributes must be a dict, got {}",
                    attrs.get_type()
                ))
            })?;
            for (k, v) in dict.iter() {
                let value = match v.unpack_str() {
                    Some(s) => s.to_owned(),
                    None => v.to_str(),
                };
                attributes.insert(k.to_str(), value);
            }
        }
        ctx.package
            .borrow_mut()
            .environments
            .push(Environment { name, attributes });
        Ok(NoneType)
    }
}

#[starlark_module]
fn print_member(builder: &mut GlobalsBuilder) {
    /// Prints the arguments, separated by `sep`, as one line of output (masked, and logged
    /// with its position when a function runs).
    fn print<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(require = named, default = " ")] sep: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<NoneType> {
        let text = args
            .items
            .iter()
            .map(|v| v.to_str())
            .collect::<Vec<_>>()
            .join(sep);
        let ctx = SdkContext::from_eval(eval)?;
        match eval.call_stack_top_location() {
            Some(span) => {
                let pos = span.resolve_span();
                let at = SourceLocation {
                    filename: span.filename().to_owned(),
                    line: pos.begin.line + 1,
                    col: pos.begin.column + 1,
                };
                ctx.print_at(&text, &at);
            }
            None => {
                for line in text.split('\n') {
                    ctx.print(line);
                }
            }
        }
        Ok(NoneType)
    }
}

#[starlark_module]
fn internal_members(builder: &mut GlobalsBuilder) {
    /// Returns the environments in state as dicts (used by the prelude's `environments()`).
    fn _environments<'v>(eval: &mut Evaluator<'v, '_, '_>) -> starlark::Result<Value<'v>> {
        let ctx = SdkContext::from_eval(eval)?;
        let scope = scope_of(&ctx, "environments")?;
        let json = crate::model::to_json(&scope.environments);
        Ok(to_starlark(eval.heap(), &json))
    }
}

/// Registers the package builtins visible to config code.
pub fn register_package_builtins(builder: &mut GlobalsBuilder) {
    package_members(builder);
    print_member(builder);
}

/// Registers the internal builtins the prelude uses.
pub(crate) fn register_internal_builtins(builder: &mut GlobalsBuilder) {
    internal_members(builder);
}
