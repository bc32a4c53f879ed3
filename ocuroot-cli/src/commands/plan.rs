//! `ocuroot plan` and `ocuroot intent check`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use ocuroot_core::intent;
use ocuroot_core::plan::{PlanItem, plan};

use super::open_workspace;
use crate::cli::{ColorChoice, IntentCommand, PlanFormat};
use crate::env::ProcessEnv;
use crate::error::{CommandError, CommandResult};

pub fn run_plan(
    env: &ProcessEnv,
    rev: Option<&str>,
    output: PlanFormat,
    color: ColorChoice,
    out: &mut dyn Write,
) -> CommandResult {
    let ws = open_workspace(env)?;
    let plan = plan(ws.intent(), rev, ws.state())?;
    let items = &plan.items;
    let intent_view = match rev {
        Some(rev) => ws.intent().view_at(rev)?,
        None => ws.intent().view()?,
    };
    let notices =
        ocuroot_core::plan::holds::notices(&intent_view, &ws.state().view()?, env.clock().now())?;
    match output {
        PlanFormat::Markdown => markdown(items, &notices, out)?,
        PlanFormat::Json => {
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(items).map_err(CommandError::user)?
            )?;
        }
        PlanFormat::Text => {
            let colour = match color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    std::io::stdout().is_terminal() && env.get("NO_COLOR").is_none()
                }
            };
            render(items, colour, out)?;
            if !notices.is_empty() {
                writeln!(out, "Holds:")?;
                for n in &notices {
                    writeln!(out, "  {n}")?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn render(items: &[PlanItem], colour: bool, out: &mut dyn Write) -> Result<(), CommandError> {
    if items.is_empty() {
        writeln!(out, "No changes: state matches intent.")?;
        return Ok(());
    }
    let paint = |code: &str, text: &str| {
        if colour {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_string()
        }
    };
    writeln!(out, "{} intent change(s):\n", items.len())?;
    for item in items {
        writeln!(out, "{} {}", paint("1", item.work_type.as_str()), item.r)?;
        writeln!(out, "  {}", item.effect)?;
        let before = item.before.as_deref().unwrap_or("");
        let after = item.after.as_deref().unwrap_or("");
        let diff = similar::TextDiff::from_lines(before, after);
        let text = diff
            .unified_diff()
            .context_radius(3)
            .header("state (applied)", "intent")
            .to_string();
        for line in text.lines() {
            let line = if line.starts_with('+') && !line.starts_with("+++") {
                paint("32", line)
            } else if line.starts_with('-') && !line.starts_with("---") {
                paint("31", line)
            } else if line.starts_with("@@") {
                paint("36", line)
            } else {
                line.to_string()
            };
            writeln!(out, "  {line}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Escapes text for a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Renders the plan as Markdown: a heading, a summary table (change, ref, effect), a
/// collapsible diff per document, and the holds.
fn markdown(
    items: &[PlanItem],
    notices: &[ocuroot_core::plan::holds::Notice],
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    writeln!(out, "### Ocuroot plan\n")?;
    if items.is_empty() {
        writeln!(out, "No changes: state matches intent.")?;
    } else {
        writeln!(out, "{} intent change(s).\n", items.len())?;
        writeln!(out, "| change | ref | effect |")?;
        writeln!(out, "|---|---|---|")?;
        for item in items {
            writeln!(
                out,
                "| {} | `{}` | {} |",
                item.work_type.as_str(),
                cell(&item.r.to_string()),
                cell(&item.effect)
            )?;
        }
        for item in items {
            let before = item.before.as_deref().unwrap_or("");
            let after = item.after.as_deref().unwrap_or("");
            let diff = similar::TextDiff::from_lines(before, after)
                .unified_diff()
                .context_radius(3)
                .header("state (applied)", "intent")
                .to_string();
            writeln!(
                out,
                "\n<details><summary>{} <code>{}</code></summary>\n",
                item.work_type.as_str(),
                item.r
            )?;
            // A fence longer than any run of backticks in the diff.
            let longest = diff.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            let fence = "`".repeat(longest.max(2) + 1);
            writeln!(out, "{fence}diff\n{}{fence}\n\n</details>", diff)?;
        }
    }
    if !notices.is_empty() {
        writeln!(out, "\n#### Holds\n")?;
        for n in notices {
            let text = n.to_string();
            let mut lines = text.lines();
            writeln!(out, "- {}", lines.next().unwrap_or_default())?;
            for l in lines {
                writeln!(out, "  - {}", l.trim())?;
            }
        }
    }
    Ok(())
}

pub fn run_intent(cmd: IntentCommand, env: &ProcessEnv, out: &mut dyn Write) -> CommandResult {
    match cmd {
        IntentCommand::Check { rev } => {
            let ws = open_workspace(env)?;
            let view = match &rev {
                Some(rev) => ws.intent().view_at(rev)?,
                None => ws.intent().view()?,
            };
            let problems = intent::check(&view, ws.state())?;
            for p in &problems {
                writeln!(out, "{p}")?;
            }
            if problems.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                Err(
                    CommandError::message(format!("{} problem(s) in intent", problems.len()))
                        .hint("fix the files listed above on the intent branch"),
                )
            }
        }
    }
}
