//! Repo-level builtins, available in `repo.ocu.star`.
//!
//! `repo_alias(alias)`, `remotes(urls)`, `trigger(fn)`, `notify(fn)`, the `store` namespace (`set`, `fs`,
//! `git`), and stand-ins for the package builtins that are unavailable at repo level
//! (`environments`, `ref`, `input`, `task`, `call`, `deploy`, `phase`), which fail with
//! `<name> is not available under the current configuration`.
//!
//! Calls are recorded in [`SdkContext::repo`]; the trigger and notify functions are stored
//! in a dict kept as the module's extra value (keys [`TRIGGER_HOOK`], [`NOTIFY_HOOK`]) so
//! they are frozen with the module.

use std::collections::BTreeMap;

use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::list::UnpackList;
use starlark::values::none::{NoneOr, NoneType};
use starlark::values::tuple::UnpackTuple;
use starlark::values::{Heap, Value};

use crate::sdk::SdkContext;
use crate::sdk::store_value;
use crate::store::StoreSpec;

/// The key of the `trigger(fn)` function in the module's hooks (its extra value).
pub const TRIGGER_HOOK: &str = "trigger";

/// The key of the `notify(fn)` function in the module's hooks.
pub const NOTIFY_HOOK: &str = "notify";

/// Records `f` under `key` in the module's hooks: a dict kept as the module's extra value,
/// so the functions are frozen with the module.
fn set_hook<'v>(eval: &mut Evaluator<'v, '_, '_>, key: &str, f: Value<'v>) {
    let module = eval.module();
    let mut entries: Vec<(String, Value<'v>)> = Vec::new();
    if let Some(old) = module.extra_value()
        && let Some(dict) = DictRef::from_value(old)
    {
        for (k, v) in dict.iter() {
            if let Some(k) = k.unpack_str()
                && k != key
            {
                entries.push((k.to_owned(), v));
            }
        }
    }
    entries.push((key.to_owned(), f));
    let dict = module
        .heap()
        .alloc(AllocDict(entries.iter().map(|(k, v)| (k.as_str(), *v))));
    module.set_extra_value(dict);
}

/// Errors raised by repo-level builtins.
#[derive(Debug, thiserror::Error)]
pub enum RepoBuiltinError {
    /// `repo_alias("")`.
    #[error("alias cannot be empty")]
    EmptyAlias,
    /// `store.set` was called a second time.
    #[error("store already set")]
    StoreAlreadySet,
    /// An argument of `store.set` is not a store value.
    #[error("store.set: {0}")]
    BadStore(String),
    /// `trigger` or `notify` was given something that cannot be called.
    #[error("{0}: expected a function, got {1}")]
    NotCallable(&'static str, String),
    /// `store.git(support_files = ...)` names files the store cannot hold (the message
    /// carries the file and the limit).
    #[error("store.git: {0}")]
    SupportFiles(crate::store::support_files::SupportFileError),
    /// A package-level builtin was called at repo level.
    #[error("{0} is not available under the current configuration")]
    Unavailable(&'static str),
}

fn err(e: RepoBuiltinError) -> starlark::Error {
    starlark::Error::new_other(e)
}

fn unavailable(name: &'static str) -> starlark::Result<NoneType> {
    Err(err(RepoBuiltinError::Unavailable(name)))
}

#[starlark_module]
fn store_members(builder: &mut GlobalsBuilder) {
    /// Chooses the state store and, optionally, a separate intent store.
    fn set<'v>(
        state: Value<'v>,
        #[starlark(default = NoneOr::None)] intent: NoneOr<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<NoneType> {
        let ctx = SdkContext::from_eval(eval)?;
        let state =
            store_value::from_value(state).map_err(|e| err(RepoBuiltinError::BadStore(e)))?;
        let intent = match intent {
            NoneOr::None => None,
            NoneOr::Other(v) => {
                Some(store_value::from_value(v).map_err(|e| err(RepoBuiltinError::BadStore(e)))?)
            }
        };
        let mut repo = ctx.repo.borrow_mut();
        if repo.stores.is_some() {
            return Err(err(RepoBuiltinError::StoreAlreadySet));
        }
        repo.stores = Some((state, intent));
        Ok(NoneType)
    }

    /// Returns a filesystem store at `path`, relative to the repo root.
    fn fs<'v>(path: String, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        Ok(store_value::to_value(&StoreSpec::Fs { path }, heap))
    }

    /// Returns a Git store in `remote_url`.
    fn git<'v>(
        remote_url: String,
        #[starlark(default = NoneOr::None)] branch: NoneOr<String>,
        #[starlark(default = true)] create_branch: bool,
        #[starlark(default = NoneOr::None)] support_files: NoneOr<BTreeMap<String, String>>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        let support_files = support_files.into_option().unwrap_or_default();
        crate::store::support_files::check_support_files(&support_files, &crate::limits::current())
            .map_err(|e| err(RepoBuiltinError::SupportFiles(e)))?;
        let spec = StoreSpec::Git {
            remote_url,
            branch: branch.into_option(),
            create_branch,
            support_files,
        };
        Ok(store_value::to_value(&spec, heap))
    }
}

#[starlark_module]
fn repo_members(builder: &mut GlobalsBuilder) {
    /// Sets the repository name used in refs.
    fn repo_alias(alias: &str, eval: &mut Evaluator<'_, '_, '_>) -> starlark::Result<NoneType> {
        if alias.is_empty() {
            return Err(err(RepoBuiltinError::EmptyAlias));
        }
        SdkContext::from_eval(eval)?.repo.borrow_mut().repo_alias = Some(alias.to_owned());
        Ok(NoneType)
    }

    /// Overrides the Git remotes used when cloning this repository for cross-repo work.
    fn remotes(
        remotes: UnpackList<String>,
        eval: &mut Evaluator<'_, '_, '_>,
    ) -> starlark::Result<NoneType> {
        SdkContext::from_eval(eval)?.repo.borrow_mut().remotes = Some(remotes.items);
        Ok(NoneType)
    }

    /// Registers `fn(commit)`, called to ask CI to run `ocuroot work continue` on a commit.
    fn trigger<'v>(
        r#fn: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<NoneType> {
        let ty = r#fn.get_type();
        if !matches!(ty, "function" | "native_function" | "partial") {
            return Err(err(RepoBuiltinError::NotCallable(
                TRIGGER_HOOK,
                ty.to_owned(),
            )));
        }
        let ctx = SdkContext::from_eval(eval)?;
        set_hook(eval, TRIGGER_HOOK, r#fn);
        ctx.repo.borrow_mut().trigger_set = true;
        Ok(NoneType)
    }

    /// Registers `fn(run)`, called once for every run that ends complete, failed or
    /// paused, and for every run a freeze or a bad mark holds. `run` is a struct: `ref`,
    /// `package`, `release`, `environment`, `status`, `commit`, `outputs` (secrets masked),
    /// `error`. A `notify` that fails is warned about and never fails the run.
    fn notify<'v>(r#fn: Value<'v>, eval: &mut Evaluator<'v, '_, '_>) -> starlark::Result<NoneType> {
        let ty = r#fn.get_type();
        if !matches!(ty, "function" | "native_function" | "partial") {
            return Err(err(RepoBuiltinError::NotCallable(
                NOTIFY_HOOK,
                ty.to_owned(),
            )));
        }
        set_hook(eval, NOTIFY_HOOK, r#fn);
        Ok(NoneType)
    }

    /// Unavailable in `repo.ocu.star`.
    fn environments(
        #[starlark(args)] args: UnpackTuple<Value>,
        #[starlark(kwargs)] kwargs: Value,
    ) -> starlark::Result<NoneType> {
        let _ = (args, kwargs);
        unavailable("environments")
    }

    /// Unavailable in `repo.ocu.star`.
    fn r#ref(
        #[starlark(args)] args: UnpackTuple<Value>,
        #[starlark(kwargs)] kwargs: Value,
    ) -> starlark::Result<NoneType> {
        let _ = (args, kwargs);
        unavailable("ref")
    }

    /// Unavailable in `repo.ocu.star`.
    fn input(
        #[starlark(args)] args: UnpackTuple<Value>,
        #[starlark(kwargs)] kwargs: Value,
    ) -> starlark::Result<NoneType> {
        let _ = (args, kwargs);
        unavailable("input")
    }

    /// Unavailable in `repo.ocu.star`.
    fn task(
        #[starlark(args)] args: UnpackTuple<Value>,
        #[starlark(kwargs)] kwargs: Value,
    ) -> starlark::Result<NoneType> {
        let _ = (args, kwargs);
        unavailable("task")
    }

    /// Unavailable in `repo.ocu.star`.
    fn call(
        #[starlark(args)] args: UnpackTuple<Value>,
        #[starlark(kwargs)] kwargs: Value,
    ) -> starlark::Result<NoneType> {
        let _ = (args, kwargs);
        unavailable("call")
    }

    /// Unavailable in `repo.ocu.star`.
    fn deploy(
        #[starlark(args)] args: UnpackTuple<Value>,
        #[starlark(kwargs)] kwargs: Value,
    ) -> starlark::Result<NoneType> {
        let _ = (args, kwargs);
        unavailable("deploy")
    }

    /// Unavailable in `repo.ocu.star`.
    fn phase(
        #[starlark(args)] args: UnpackTuple<Value>,
        #[starlark(kwargs)] kwargs: Value,
    ) -> starlark::Result<NoneType> {
        let _ = (args, kwargs);
        unavailable("phase")
    }
}

/// Registers the repo-level builtins (see the module docs) on top of the base SDK globals.
pub fn register_repo_builtins(builder: &mut GlobalsBuilder) {
    repo_members(builder);
    builder.namespace("store", store_members);
}
