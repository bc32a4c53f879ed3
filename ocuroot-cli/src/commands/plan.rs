//! `ocuroot plan` and `ocuroot intent check`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use ocuroot_core::intent;
use ocuroot_core::plan::requests::{self, MemberStatus, PromotionReport};
use ocuroot_core::plan::{PlanItem, holds, plan};
use ocuroot_core::refs::Ref;
use serde_json::Value;

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
    let intent_view = match rev {
        Some(rev) => ws.intent().view_at(rev)?,
        None => ws.intent().view()?,
    };
    let state_view = ws.state().view()?;
    let notices = holds::notices(&intent_view, &state_view, env.clock().now())?;
    let promotions = requests::promotions(&intent_view, &state_view, &plan)
        .map_err(|e| CommandError::message(format!("cannot report the promotions: {e}")))?;
    let changes = Changes::of(&plan.items, &promotions);
    match output {
        PlanFormat::Markdown => markdown(&changes, &notices, out)?,
        PlanFormat::Json => {
            let groups: Vec<Value> = promotions
                .iter()
                .map(|p| {
                    let mut v = serde_json::to_value(p).unwrap_or_default();
                    v["pending"] = Value::Bool(changes.is_grouped(p));
                    v
                })
                .collect();
            let doc = serde_json::json!({
                "items": changes.items,
                "promotions": groups,
                "holds": notices,
            });
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).map_err(CommandError::user)?
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
            render(&changes, colour, out)?;
            reports(&changes.reports, "Promotions:", ["  ", "    "], out)?;
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

/// A plan as `plan` shows it: promotions with pending deployments as one grouped change
/// each, the other pending items one by one, and the promotions with nothing pending (what
/// became of their sets).
struct Changes<'a> {
    /// Promotions with a pending deployment or a pending record: one change each.
    groups: Vec<&'a PromotionReport>,
    /// The other pending intent changes.
    items: Vec<&'a PlanItem>,
    /// Promotions with nothing pending: reported, not changes.
    reports: Vec<&'a PromotionReport>,
}

impl<'a> Changes<'a> {
    fn of(items: &'a [PlanItem], promotions: &'a [PromotionReport]) -> Changes<'a> {
        let record_pending = |p: &PromotionReport| items.iter().any(|i| i.r == p.r);
        let (groups, reports): (Vec<&PromotionReport>, Vec<&PromotionReport>) = promotions
            .iter()
            .partition(|p| p.is_pending() || record_pending(p));
        let grouped: std::collections::BTreeSet<&Ref> = groups
            .iter()
            .flat_map(|p| {
                p.pending()
                    .into_iter()
                    .map(|i| &i.r)
                    .chain(std::iter::once(&p.r))
            })
            .collect();
        Changes {
            items: items.iter().filter(|i| !grouped.contains(&i.r)).collect(),
            groups,
            reports,
        }
    }

    fn is_grouped(&self, p: &PromotionReport) -> bool {
        self.groups.iter().any(|g| g.r == p.r)
    }

    fn len(&self) -> usize {
        self.groups.len() + self.items.len()
    }
}

fn render(changes: &Changes<'_>, colour: bool, out: &mut dyn Write) -> Result<(), CommandError> {
    if changes.len() == 0 {
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
    writeln!(out, "{} intent change(s):\n", changes.len())?;
    // `first` opens the item's first line (a number in a promotion), `indent` the others.
    let item =
        |out: &mut dyn Write, item: &PlanItem, first: &str, indent: &str| -> std::io::Result<()> {
            writeln!(
                out,
                "{first}{} {}",
                paint("1", item.work_type.as_str()),
                item.r
            )?;
            writeln!(out, "{indent}  {}", item.effect)?;
            for line in diff(item).lines() {
                let line = if line.starts_with('+') && !line.starts_with("+++") {
                    paint("32", line)
                } else if line.starts_with('-') && !line.starts_with("---") {
                    paint("31", line)
                } else if line.starts_with("@@") {
                    paint("36", line)
                } else {
                    line.to_string()
                };
                writeln!(out, "{indent}  {line}")?;
            }
            writeln!(out)
        };
    for group in &changes.groups {
        writeln!(out, "{} {}", paint("1", "promotion"), group.r)?;
        writeln!(out, "  {}:", group.heading())?;
        for (n, i) in group.pending().into_iter().enumerate() {
            item(out, i, &format!("  {}. ", n + 1), "   ")?;
        }
        for m in group
            .members
            .iter()
            .filter(|m| !matches!(m.status, MemberStatus::Pending(_)))
        {
            writeln!(out, "  {m}")?;
        }
        writeln!(out)?;
    }
    for i in &changes.items {
        item(out, i, "", "")?;
    }
    Ok(())
}

/// Writes what became of the promotions with nothing pending under `title`: a heading line
/// each (after `prefix[0]`), then a line per deployment (after `prefix[1]`).
fn reports(
    reports: &[&PromotionReport],
    title: &str,
    prefix: [&str; 2],
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    if reports.is_empty() {
        return Ok(());
    }
    writeln!(out, "{title}")?;
    for p in reports {
        writeln!(out, "{}{}", prefix[0], p.heading())?;
        for m in &p.members {
            writeln!(out, "{}{m}", prefix[1])?;
        }
    }
    Ok(())
}

/// The unified diff of an item's document, state (applied) to intent.
fn diff(item: &PlanItem) -> String {
    let before = item.before.as_deref().unwrap_or("");
    let after = item.after.as_deref().unwrap_or("");
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header("state (applied)", "intent")
        .to_string()
}

/// Escapes text for a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Renders the plan as Markdown: a heading, a summary table (change, ref, effect; a
/// promotion is one row listing its deployments in order), a collapsible diff per document,
/// what became of earlier promotions, and the holds.
fn markdown(
    changes: &Changes<'_>,
    notices: &[holds::Notice],
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    writeln!(out, "### Ocuroot plan\n")?;
    if changes.len() == 0 {
        writeln!(out, "No changes: state matches intent.")?;
    } else {
        writeln!(out, "{} intent change(s).\n", changes.len())?;
        writeln!(out, "| change | ref | effect |")?;
        writeln!(out, "|---|---|---|")?;
        for group in &changes.groups {
            let mut effect = cell(&group.heading());
            for (n, i) in group.pending().into_iter().enumerate() {
                effect.push_str(&format!(
                    "<br>{}. `{}`: {}",
                    n + 1,
                    cell(&i.r.to_string()),
                    cell(&i.effect)
                ));
            }
            for m in group
                .members
                .iter()
                .filter(|m| !matches!(m.status, MemberStatus::Pending(_)))
            {
                effect.push_str(&format!("<br>{}", cell(&m.to_string())));
            }
            writeln!(
                out,
                "| promotion | `{}` | {effect} |",
                cell(&group.r.to_string())
            )?;
        }
        for item in &changes.items {
            writeln!(
                out,
                "| {} | `{}` | {} |",
                item.work_type.as_str(),
                cell(&item.r.to_string()),
                cell(&item.effect)
            )?;
        }
        let grouped = changes.groups.iter().flat_map(|g| g.pending());
        for item in grouped.chain(changes.items.iter().copied()) {
            let diff = diff(item);
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
    reports(&changes.reports, "\n#### Promotions\n", ["- ", "  - "], out)?;
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
