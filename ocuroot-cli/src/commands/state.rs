//! `ocuroot state get|match|set|delete|diff|log`.

use std::io::Write;
use std::process::ExitCode;

use ocuroot_core::intent::IntentKind;
use ocuroot_core::refs::Glob;
use ocuroot_core::store::{Area, Entry, MatchOptions, Transaction};
use serde_json::Value;

use super::open_workspace;
use crate::cli::{DocFormat, LogFormat, StateCommand, StateRefArgs, ValueFormat};
use crate::env::ProcessEnv;
use crate::error::{CommandError, CommandResult};

pub fn run(cmd: StateCommand, env: &ProcessEnv, out: &mut dyn Write) -> CommandResult {
    match cmd {
        StateCommand::Get { target, output } => {
            let ws = open_workspace(env)?;
            let r = ws.resolve_cli_ref(&ref_text(&target))?;
            let value = ws.state().get(&r)?;
            write_doc(out, &value, output)?;
        }
        StateCommand::Match { glob, no_links } => {
            let ws = open_workspace(env)?;
            let glob = Glob::new(&glob).map_err(CommandError::user)?;
            let refs = ws
                .state()
                .match_refs(Area::Records, &[glob], MatchOptions { no_links })?;
            for r in refs {
                writeln!(out, "{r}")?;
            }
        }
        StateCommand::Set {
            reference,
            value,
            format,
            requester,
        } => {
            let ws = open_workspace(env)?;
            let r = ws.resolve_cli_ref(&reference)?;
            require_intent_ref(&r)?;
            let value =
                parse_value(&value, format).map_err(|e| e.context(format!("cannot set {r}")))?;
            // The same rules as `intent check`: a document that would block every `work`
            // command is refused before anything is written.
            ocuroot_core::intent::check_write(&r, &value, ws.state()).map_err(|problem| {
                CommandError::message(format!("cannot set {r}: {problem}"))
                    .hint("nothing was written; `ocuroot intent check` applies the same rules")
            })?;
            let mut tx = Transaction::new(format!("set intent {r}"));
            tx.set(&r, value);
            super::ops::commit_intent(&ws, env, &requester, tx)?;
        }
        StateCommand::Delete { target, requester } => {
            let ws = open_workspace(env)?;
            let r = ws.resolve_cli_ref(&ref_text(&target))?;
            require_intent_ref(&r)?;
            let mut tx = Transaction::new(format!("delete intent {r}"));
            tx.delete(&r);
            super::ops::commit_intent(&ws, env, &requester, tx)?;
        }
        StateCommand::Apply { target, cascade } => {
            return super::work::apply(env, &ref_text(&target), cascade);
        }
        StateCommand::View { server } => return super::ui::state_view(env, &server, out),
        StateCommand::Diff => {
            let ws = open_workspace(env)?;
            // The plan, not the bare tree diff: invalid intent is refused, not listed.
            let plan = ocuroot_core::plan::plan(ws.intent(), None, ws.state())?;
            for item in &plan.items {
                writeln!(out, "{}", item.r)?;
            }
        }
        StateCommand::Log {
            target,
            intent,
            limit,
            output,
        } => {
            let ws = open_workspace(env)?;
            let r = ws.resolve_cli_ref(&ref_text(&target))?;
            let store = if intent { &ws.intent() } else { &ws.state() };
            let history = store.history(Area::Records, &r.without_fragment(), limit)?;
            match output {
                LogFormat::Json => {
                    let items: Vec<Value> = history
                        .iter()
                        .map(|h| {
                            serde_json::json!({
                                "commit": h.commit,
                                "time": ocuroot_core::clock::Timestamp { seconds: h.time, nanos: 0 }.to_rfc3339(),
                                "author": format!("{} <{}>", h.author_name, h.author_email),
                                "change": h.change.to_string(),
                                "message": h.summary,
                                "requested_by": h.requested_by,
                                "value": match &h.value {
                                    Some(Entry::Document(v)) => v.clone(),
                                    Some(Entry::Link(t)) => serde_json::json!({"link": t.to_string()}),
                                    None => Value::Null,
                                },
                            })
                        })
                        .collect();
                    writeln!(
                        out,
                        "{}",
                        serde_json::to_string_pretty(&items).map_err(CommandError::user)?
                    )?;
                }
                LogFormat::Text => {
                    for h in &history {
                        let time = ocuroot_core::clock::Timestamp {
                            seconds: h.time,
                            nanos: 0,
                        }
                        .to_rfc3339();
                        let what = match &h.value {
                            Some(Entry::Link(t)) => format!(" -> {t}"),
                            _ => String::new(),
                        };
                        let requested = match &h.requested_by {
                            Some(p) => format!(" [requested by {p}]"),
                            None => String::new(),
                        };
                        writeln!(
                            out,
                            "{} {time} {}{what} ({} <{}>) {}{requested}",
                            &h.commit[..h.commit.len().min(12)],
                            h.change,
                            h.author_name,
                            h.author_email,
                            h.summary
                        )?;
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Returns the ref a state command names: REF, else `<PACKAGE>/@<RELEASE>` (spec §5.1;
/// `--package` defaults to `.`, the current directory). Clap requires one of the three.
fn ref_text(target: &StateRefArgs) -> String {
    let package = target.package.as_deref().unwrap_or(".");
    match (&target.reference, &target.release) {
        (Some(r), _) => r.clone(),
        (None, Some(release)) => format!("{package}/@{release}"),
        (None, None) => package.to_string(),
    }
}

fn write_doc(out: &mut dyn Write, value: &Value, format: DocFormat) -> Result<(), CommandError> {
    match format {
        DocFormat::Json => {
            let text = serde_json::to_string_pretty(value).map_err(CommandError::user)?;
            writeln!(out, "{text}")?;
        }
        DocFormat::Yaml => {
            let text = ocuroot_core::yaml::to_canonical(value).map_err(CommandError::user)?;
            write!(out, "{text}")?;
        }
    }
    Ok(())
}

fn require_intent_ref(r: &ocuroot_core::refs::Ref) -> Result<IntentKind, CommandError> {
    IntentKind::of(r).ok_or_else(|| {
        CommandError::message(format!("{r} is not an intent ref"))
            .hint("intent refs are @/environment/<name>, @/custom/<name>, <pkg>/@<release>/custom/<name> and <pkg>/@/deploy/<env>")
    })
}

fn parse_value(text: &str, format: ValueFormat) -> Result<Value, CommandError> {
    if text == "-" {
        return Err(
            CommandError::message("reading the value from stdin is not implemented")
                .hint("pass the value as an argument"),
        );
    }
    match format {
        ValueFormat::String => Ok(Value::String(text.to_string())),
        ValueFormat::Json => serde_json::from_str(text)
            .map_err(|e| CommandError::message(format!("the value is not valid JSON: {e}"))),
        ValueFormat::Yaml => ocuroot_core::yaml::from_str(text)
            .map_err(|e| CommandError::message(format!("the value is not valid YAML: {e}"))),
        ValueFormat::Starlark => ocuroot_core::sdk::eval_expression_json(text).map_err(|e| {
            let hint = if matches!(e, ocuroot_core::sdk::EvalError::Limit { .. }) {
                "the limits and how to raise them are in docs/limits.md"
            } else {
                "the expression must evaluate to JSON values (dicts need string keys)"
            };
            CommandError::user(e).hint(hint)
        }),
    }
}
