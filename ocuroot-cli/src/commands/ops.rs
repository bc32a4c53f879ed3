//! `ocuroot rollback|promote|freeze|unfreeze|approve`, `release mark-bad|mark-good`: intent
//! commits made for a person (the `Requested-by:` trailer), carried out by the work
//! commands.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use ocuroot_core::git_subprocess::GitCommand;
use ocuroot_core::intent::IntentKind;
use ocuroot_core::model::{self, BadMark, Freeze};
use ocuroot_core::plan::holds::Holds;
use ocuroot_core::plan::requests::{self, Request};
use ocuroot_core::plan::{Effect, Plan, PlanItem, plan_views, run_order};
use ocuroot_core::refs::{Glob, Ref};
use ocuroot_core::store::Transaction;
use ocuroot_core::workspace::Workspace;
use serde_json::Value;

use super::open_workspace;
use crate::cli::RequesterArgs;
use crate::env::ProcessEnv;
use crate::error::{CommandError, CommandResult};

/// The CI variables that name the person who started a job, in the order they are tried.
const CI_ACTORS: [&str; 5] = [
    "GITHUB_ACTOR",
    "GITLAB_USER_LOGIN",
    "BUILDKITE_BUILD_CREATOR",
    "BUILD_USER_ID",
    "BUILD_USER",
];

/// The person asking for an intent change: `--as`, else the CI's actor, else the source
/// repository's git `user.name` and `user.email`. `None` when none of them names anyone.
pub fn requester(ws: &Workspace, env: &ProcessEnv, args: &RequesterArgs) -> Option<String> {
    requester_in(ws.root(), env, args.as_person.as_deref())
}

/// As [`requester`], with `as_person` for `--as` and the git configuration of the
/// repository at `dir`.
pub fn requester_in(
    dir: &std::path::Path,
    env: &ProcessEnv,
    as_person: Option<&str>,
) -> Option<String> {
    if let Some(p) = as_person.filter(|p| !p.trim().is_empty()) {
        return Some(p.trim().to_string());
    }
    if let Some(actor) = CI_ACTORS.iter().find_map(|v| env.get(v)) {
        return Some(actor.to_string());
    }
    let git_env = env.git_environment();
    let config = |key: &str| {
        GitCommand::in_dir(&git_env, dir)
            .args(["config", "--get", key])
            .run_text()
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    match (config("user.name"), config("user.email")) {
        (Some(name), Some(email)) => Some(format!("{name} <{email}>")),
        (Some(name), None) => Some(name),
        (None, Some(email)) => Some(format!("<{email}>")),
        (None, None) => None,
    }
}

/// Commits `tx` to the intent store with the requester's `Requested-by:` trailer.
pub fn commit_intent(
    ws: &Workspace,
    env: &ProcessEnv,
    args: &RequesterArgs,
    mut tx: Transaction,
) -> Result<(), CommandError> {
    if let Some(person) = requester(ws, env, args) {
        tx.trailer("Requested-by", &person);
    }
    ws.intent().commit(&tx)?;
    Ok(())
}

/// The package ref of a command-line package (`api` means `api.ocu.star`).
fn package_ref(ws: &Workspace, text: &str) -> Result<Ref, CommandError> {
    let text = if text.contains('/') || text.ends_with(".ocu.star") {
        text.to_string()
    } else {
        format!("{text}.ocu.star")
    };
    Ok(ws.resolve_cli_ref(&text)?.package_ref())
}

fn refused(e: requests::RequestError, what: &str) -> CommandError {
    CommandError::message(format!("cannot {what}: {e}")).hint("nothing was written")
}

/// The plan of the intent writes of `tx` (on a preview of the intent store), restricted to
/// the refs it writes.
fn plan_of(ws: &Workspace, tx: &Transaction, refs: &BTreeSet<Ref>) -> Result<Plan, CommandError> {
    let preview = ws.intent().preview(tx)?;
    let state_view = ws.state().view()?;
    let mut plan = plan_views(ws.intent(), &preview, ws.state(), &state_view)?;
    plan.retain_refs(refs);
    Ok(plan)
}

/// What a rollback or promotion command does with its intent commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Print the plan, write nothing.
    Dryrun,
    /// Write the commit; the work commands carry it out.
    Write,
    /// Write it, carry it out with a cascade, report what landed.
    Cascade,
}

impl Mode {
    /// The mode of `--dryrun` and `--cascade` (clap refuses both).
    pub fn of(dryrun: bool, cascade: bool) -> Mode {
        match (dryrun, cascade) {
            (true, _) => Mode::Dryrun,
            (false, true) => Mode::Cascade,
            (false, false) => Mode::Write,
        }
    }
}

/// The run that carries out a plan item: the one it creates or finds scheduled.
fn run_of(item: &PlanItem) -> Option<Ref> {
    item.effects.iter().find_map(|e| match e {
        Effect::Up { run, .. } | Effect::Scheduled { run } | Effect::OverrideFreeze { run } => {
            Some(run.clone())
        }
        _ => None,
    })
}

#[allow(clippy::too_many_arguments)]
fn write_requests(
    ws: &Workspace,
    env: &ProcessEnv,
    requester: &RequesterArgs,
    message: String,
    list: &[Request],
    promotion: Option<model::Promotion>,
    mode: Mode,
    out: &mut dyn Write,
) -> CommandResult {
    let dryrun = mode == Mode::Dryrun;
    if list.is_empty() {
        writeln!(out, "Nothing to change: no deploy intent to write.")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut tx = Transaction::new(message);
    let mut refs = BTreeSet::new();
    for req in list {
        let value = model::to_json(&req.intent);
        ocuroot_core::intent::check_write(&req.r, &value, ws.state()).map_err(|problem| {
            CommandError::message(format!("cannot set {}: {problem}", req.r))
                .hint("nothing was written")
        })?;
        tx.set(&req.r, value);
        refs.insert(req.r.clone());
    }
    let plan = plan_of(ws, &tx, &refs)?;
    let ordered = run_order(&plan.items);
    if let Some(mut record) = promotion {
        // The set in the order its runs happen; deployments already planned as `Deployed`
        // keep their place after them.
        let position = |d: &model::PromotedDeployment| {
            ordered
                .iter()
                .position(|i| i.r.package_ref().to_string() == d.package)
                .unwrap_or(usize::MAX)
        };
        record.deployments.sort_by_key(position);
        let r = Ref::promotion(&record.to);
        let value = model::to_json(&record);
        ocuroot_core::intent::check_write(&r, &value, ws.state()).map_err(|problem| {
            CommandError::message(format!("cannot set {r}: {problem}")).hint("nothing was written")
        })?;
        tx.set(&r, value);
        refs.insert(r);
    }
    if dryrun {
        writeln!(out, "Would write one intent commit; its plan:")?;
    } else {
        commit_intent(ws, env, requester, tx)?;
        writeln!(out, "Wrote one intent commit; its plan:")?;
    }
    if ordered.is_empty() {
        writeln!(out, "  no changes: state already matches")?;
    }
    for (n, item) in ordered.iter().enumerate() {
        writeln!(out, "  {}. {}: {}", n + 1, item.r, item.effect)?;
    }
    if let Some(r) = refs
        .iter()
        .find(|r| IntentKind::of(r) == Some(IntentKind::Promotion))
    {
        writeln!(
            out,
            "The set is recorded at {r}: `ocuroot plan` shows it as one change and which of it landed."
        )?;
    }
    if mode == Mode::Write {
        writeln!(
            out,
            "Carry it out with `ocuroot work any` or `ocuroot work cascade` (or the CI job on the intent push)."
        )?;
    }
    if mode != Mode::Cascade {
        return Ok(ExitCode::SUCCESS);
    }
    let runs: std::collections::BTreeMap<Ref, Option<Ref>> = plan
        .items
        .iter()
        .map(|i| (i.r.clone(), run_of(i)))
        .collect();
    let engine = ocuroot_core::engine::Engine::new(
        ws,
        super::engine_options(env, &crate::cli::ExecArgs::default()),
    );
    engine.apply_intent_changes(Some(&refs))?;
    engine.save_repo_config()?;
    engine.cascade(ocuroot_core::engine::CascadeScope::ThisProcess)?;
    let state = ws.state().view()?;
    let mut landed = 0;
    let mut lines = Vec::new();
    for req in list {
        let run = runs.get(&req.r).cloned().flatten();
        let outcome = requests::outcome(&state, req, run.as_ref())
            .map_err(|e| refused(e, "report the outcome"))?;
        if outcome == requests::Outcome::Landed {
            landed += 1;
        }
        lines.push(format!("  {}: {outcome}", req.r));
    }
    writeln!(out, "Landed {landed} of {}:", list.len())?;
    for l in lines {
        writeln!(out, "{l}")?;
    }
    if landed == list.len() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(CommandError::message(format!(
            "{} of {} deployment(s) did not land",
            list.len() - landed,
            list.len()
        ))
        .hint("the intent stays; fix the cause and run `ocuroot work cascade`, or roll back"))
    }
}

/// `ocuroot rollback`.
#[allow(clippy::too_many_arguments)]
pub fn rollback(
    env: &ProcessEnv,
    package: &str,
    environment: &str,
    to: Option<&str>,
    override_freeze: bool,
    mode: Mode,
    requester: &RequesterArgs,
    out: &mut dyn Write,
) -> CommandResult {
    let ws = open_workspace(env)?;
    let pkg = package_ref(&ws, package)?;
    let state = ws.state().view()?;
    let intent = ws.intent().view()?;
    let holds = Holds::read(&intent, env.clock().now())?;
    let req = requests::rollback(&state, &holds, &pkg, environment, to, override_freeze)
        .map_err(|e| refused(e, &format!("roll back {pkg} in {environment}")))?;
    let mut message = format!(
        "rollback {pkg} in {environment} to {}",
        Ref::parse(&req.intent.release)
            .map(|r| r.release.unwrap_or_default())
            .unwrap_or_default()
    );
    if override_freeze {
        message.push_str(&format!(" (overrides the freeze of {environment})"));
    }
    write_requests(&ws, env, requester, message, &[req], None, mode, out)
}

/// `ocuroot promote`.
pub fn promote(
    env: &ProcessEnv,
    from: &str,
    to: &str,
    package: Option<&str>,
    mode: Mode,
    requester: &RequesterArgs,
    out: &mut dyn Write,
) -> CommandResult {
    let ws = open_workspace(env)?;
    let glob = package
        .map(|p| Glob::new(p).map_err(CommandError::user))
        .transpose()?;
    let state = ws.state().view()?;
    let intent = ws.intent().view()?;
    let holds = Holds::read(&intent, env.clock().now())?;
    let list = requests::promote(&state, &holds, from, to, glob.as_ref())
        .map_err(|e| refused(e, &format!("promote {from} to {to}")))?;
    let message = format!("promote {from} to {to} ({} deployment(s))", list.len());
    let record = model::Promotion {
        from: from.to_string(),
        to: to.to_string(),
        package: package.map(str::to_string),
        deployments: list
            .iter()
            .map(|req| model::PromotedDeployment {
                package: req.r.package_ref().to_string(),
                release: req.intent.release.clone(),
            })
            .collect(),
        requested_by: self::requester(&ws, env, requester),
        time: env.clock().now().to_rfc3339(),
    };
    write_requests(&ws, env, requester, message, &list, Some(record), mode, out)
}

/// Writes (or with `None`, deletes) one intent document, checked like `state set`.
fn write_one(
    ws: &Workspace,
    env: &ProcessEnv,
    requester: &RequesterArgs,
    r: &Ref,
    value: Option<Value>,
    message: String,
) -> Result<(), CommandError> {
    let mut tx = Transaction::new(message);
    match value {
        Some(value) => {
            ocuroot_core::intent::check_write(r, &value, ws.state()).map_err(|problem| {
                CommandError::message(format!("cannot set {r}: {problem}"))
                    .hint("nothing was written")
            })?;
            tx.set(r, value);
        }
        None => {
            if ws.intent().try_get(r)?.is_none() {
                return Err(CommandError::message(format!("{r} is not set in intent")));
            }
            tx.delete(r);
        }
    }
    commit_intent(ws, env, requester, tx)
}

/// `ocuroot freeze`.
pub fn freeze(
    env: &ProcessEnv,
    environment: &str,
    reason: Option<String>,
    until: Option<String>,
    requester: &RequesterArgs,
    out: &mut dyn Write,
) -> CommandResult {
    let ws = open_workspace(env)?;
    let r = Ref::freeze(environment);
    let freeze = Freeze { reason, until };
    let mut message = format!("freeze {environment}");
    if let Some(reason) = &freeze.reason {
        message.push_str(&format!(": {reason}"));
    }
    write_one(
        &ws,
        env,
        requester,
        &r,
        Some(model::to_json(&freeze)),
        message,
    )?;
    writeln!(out, "{environment} is frozen ({r}).")?;
    Ok(ExitCode::SUCCESS)
}

/// `ocuroot unfreeze`.
pub fn unfreeze(
    env: &ProcessEnv,
    environment: &str,
    requester: &RequesterArgs,
    out: &mut dyn Write,
) -> CommandResult {
    let ws = open_workspace(env)?;
    let r = Ref::freeze(environment);
    write_one(
        &ws,
        env,
        requester,
        &r,
        None,
        format!("unfreeze {environment}"),
    )
    .map_err(|e| e.hint(format!("{environment} is not frozen")))?;
    writeln!(
        out,
        "{environment} is no longer frozen; held runs start on the next work command."
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The resolved release (`<pkg>/@rN`) a command-line release names.
fn release_ref(ws: &Workspace, text: &str) -> Result<Ref, CommandError> {
    let r = ws.resolve_cli_ref(text)?;
    if r.release.as_deref().is_none_or(str::is_empty) {
        return Err(CommandError::message(format!("{r} names no release"))
            .hint("name a release, e.g. api.ocu.star/@r2"));
    }
    let resolved = ws.state().resolve_link(&r.release_ref())?.release_ref();
    if ws.state().try_get(&resolved)?.is_none() {
        return Err(CommandError::message(format!(
            "release {resolved} does not exist in state"
        )));
    }
    Ok(resolved)
}

/// `ocuroot release mark-bad`.
pub fn mark_bad(
    env: &ProcessEnv,
    release: &str,
    reason: Option<String>,
    requester: &RequesterArgs,
    out: &mut dyn Write,
) -> CommandResult {
    let ws = open_workspace(env)?;
    let release = release_ref(&ws, release)?;
    let mark = BadMark { reason };
    let mut message = format!("mark {release} bad");
    if let Some(reason) = &mark.reason {
        message.push_str(&format!(": {reason}"));
    }
    write_one(
        &ws,
        env,
        requester,
        &release.bad_mark(),
        Some(model::to_json(&mark)),
        message,
    )?;
    writeln!(out, "{release} is marked bad.")?;
    Ok(ExitCode::SUCCESS)
}

/// `ocuroot release mark-good`.
pub fn mark_good(
    env: &ProcessEnv,
    release: &str,
    requester: &RequesterArgs,
    out: &mut dyn Write,
) -> CommandResult {
    let ws = open_workspace(env)?;
    let release = release_ref(&ws, release)?;
    write_one(
        &ws,
        env,
        requester,
        &release.bad_mark(),
        None,
        format!("mark {release} good"),
    )
    .map_err(|e| e.hint(format!("{release} is not marked bad")))?;
    writeln!(out, "{release} is no longer marked bad.")?;
    Ok(ExitCode::SUCCESS)
}

/// `ocuroot approve`.
pub fn approve(
    env: &ProcessEnv,
    reference: &str,
    value: Option<String>,
    requester: &RequesterArgs,
    out: &mut dyn Write,
) -> CommandResult {
    let ws = open_workspace(env)?;
    let r = ws.resolve_cli_ref(reference)?;
    if IntentKind::of(&r) != Some(IntentKind::Custom) {
        return Err(
            CommandError::message(format!("{r} is not a custom-state ref")).hint(
                "approvals are custom state: @/custom/<name> or <pkg>/@<release>/custom/<name>",
            ),
        );
    }
    let person = self::requester(&ws, env, requester).ok_or_else(|| {
        CommandError::message("cannot tell who approves")
            .hint("pass --as NAME, or set git user.name in this repository")
    })?;
    let value = value.unwrap_or_else(|| person.clone());
    let args = RequesterArgs {
        as_person: Some(person.clone()),
    };
    write_one(
        &ws,
        env,
        &args,
        &r,
        Some(Value::String(value)),
        format!("approve {r}"),
    )?;
    writeln!(out, "{r} approved by {person}.")?;
    Ok(ExitCode::SUCCESS)
}
