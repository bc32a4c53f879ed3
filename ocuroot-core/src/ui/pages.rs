//! The HTML of every page: compile-time-checked `maud` templates over the view models of
//! [`super::model`].
//!
//! `maud` escapes every interpolated value; nothing here uses `PreEscaped` on user content
//! (refs, inputs, outputs, logs and custom state are all user content). The only raw
//! markup is the page skeleton's fixed strings.

use maud::{DOCTYPE, Markup, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::model::{
    Card, Cell, EnvironmentPage, InputRow, MatchPage, OpenRun, OutstandingPage, Overview,
    PackagePage, RefPage, ReleasePage, RunPage, StatusStyle, UiStatus, status_style,
};
use crate::model::{Environment, JsonMap, Package, WorkSpec};
use crate::refs::Ref;

/// The characters left as they are in a ref or glob inside a URL path.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/')
    .remove(b'@');

/// Percent-encodes `text` for a URL path.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, PATH).to_string()
}

/// The URL of the page of `r`.
pub fn ref_url(r: &Ref) -> String {
    format!("/ref/{}", encode(&r.to_string()))
}

/// The URL of the results of `glob`.
pub fn match_url(glob: &str) -> String {
    format!("/match/{}", encode(glob))
}

/// Where a page's live updates come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Live<'a> {
    /// The state viewer's `/events`, with the version of the stores the page shows (see
    /// [`version`]): a page that reconnects after a while in the background reloads when
    /// the stores moved meanwhile.
    State(&'a str),
    /// The preview server's `/watch`.
    Preview,
    /// No live updates (error pages).
    None,
}

/// The page skeleton: header, navigation, content, the stylesheet and script.
pub fn layout(title: &str, live: Live<'_>, body: Markup) -> Markup {
    let live_url = match live {
        Live::State(since) => Some(format!("/events?since={}", encode(since))),
        Live::Preview => Some("/watch".to_string()),
        Live::None => None,
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Ocuroot" }
                link rel="stylesheet" href=(format!("/static/style.css?v={}", super::ASSET_VERSION));
                link rel="icon" href="/favicon.ico" type="image/svg+xml";
            }
            body data-live=[live_url.as_deref()] {
                header.top {
                    a.brand href="/" {
                        img src="/static/logo.svg" alt="" width="22" height="22";
                        " Ocuroot"
                    }
                    @if live == Live::Preview {
                        span.navlabel { "preview" }
                    } @else {
                        nav {
                            a href="/" { "Overview" }
                            a href="/work" { "Outstanding work" }
                            a href=(match_url("@/environment/*")) { "Environments" }
                        }
                    }
                    @if live_url.is_some() {
                        span #live.live title="This page reloads when the store changes" { "live" }
                    }
                }
                main { (body) }
                script src=(format!("/static/app.js?v={}", super::ASSET_VERSION)) {}
            }
        }
    }
}

/// The version of the stores a page shows: both branches' commits (abbreviated).
pub fn version(state: Option<&str>, intent: Option<&str>) -> String {
    let short = |c: Option<&str>| c.map_or("none", |c| c.get(..16).unwrap_or(c)).to_string();
    format!("{}-{}", short(state), short(intent))
}

/// A status badge: symbol, word and colour.
pub fn badge(s: UiStatus) -> Markup {
    let StatusStyle {
        label,
        symbol,
        class,
    } = status_style(s);
    html! { span class={"badge " (class)} { span.sym aria-hidden="true" { (symbol) } " " (label) } }
}

fn short_commit(c: &str) -> &str {
    c.get(..10).unwrap_or(c)
}

fn ref_link(r: &Ref) -> Markup {
    html! { a.ref href=(ref_url(r)) { (r.to_string()) } }
}

/// The short name of a package: its file, and the repository in a second line.
fn package_name(r: &Ref) -> Markup {
    html! {
        a.pkg href=(ref_url(r)) { (r.filename) }
        span.repo { (r.repo) }
    }
}

fn release_id(r: &Ref) -> String {
    format!("@{}", r.release.as_deref().unwrap_or(""))
}

fn json(v: &Value) -> Markup {
    match v {
        Value::String(s) => html! { code { (s) } },
        other => {
            let compact = serde_json::to_string(other).unwrap_or_default();
            let text = if compact.len() <= 60 {
                compact
            } else {
                serde_json::to_string_pretty(other).unwrap_or_default()
            };
            if text.contains('\n') {
                html! { pre.json { (text) } }
            } else {
                html! { code { (text) } }
            }
        }
    }
}

fn outputs_table(outputs: &JsonMap) -> Markup {
    html! {
        @if outputs.is_empty() {
            p.muted { "no outputs" }
        } @else {
            table.kv {
                @for (k, v) in outputs {
                    tr { th { (k) } td { (json(v)) } }
                }
            }
        }
    }
}

fn inputs_table(inputs: &[InputRow]) -> Markup {
    inputs_table_with(inputs, true)
}

/// The inputs of a function; `links` makes each ref a link to its page (not on the
/// preview server, which has no ref pages).
fn inputs_table_with(inputs: &[InputRow], links: bool) -> Markup {
    html! {
        @if inputs.is_empty() {
            p.muted { "no inputs" }
        } @else {
            table.kv {
                @for i in inputs {
                    tr {
                        th { (i.name) }
                        td {
                            @if let Some(v) = &i.value { (json(v)) }
                            @if i.missing { (badge(UiStatus::Waiting)) " missing" }
                            @if let Some(r) = &i.reference {
                                @if links {
                                    div.from { "from " a href=(ref_url_text(r)) { (r) } }
                                } @else {
                                    div.from { "reads " code { (r) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The URL of a ref given as text (a link even when it does not parse).
fn ref_url_text(r: &str) -> String {
    format!("/ref/{}", encode(r))
}

fn waiting_list(waiting: &[String]) -> Markup {
    html! {
        @if !waiting.is_empty() {
            ul.waiting {
                @for w in waiting { li { "waiting for " (w) } }
            }
        }
    }
}

fn open_run(o: &OpenRun) -> Markup {
    html! {
        div.open {
            (badge(o.status)) " "
            a href=(ref_url(&o.run)) { (release_id(&o.run)) " " (o.run.subpath) }
            (waiting_list(&o.waiting))
        }
    }
}

fn cell(c: &Cell) -> Markup {
    html! {
        @if let Some(d) = &c.deployed {
            div.dep {
                (badge(UiStatus::Deployed)) " "
                a.rel href=(ref_url(&d.release)) { (release_id(&d.release)) }
            }
            div.meta {
                @if let Some(t) = &d.time { span title="deployed at (UTC)" { (t) } }
                @if let Some(c) = &d.commit { " " code title=(c) { (short_commit(c)) } }
            }
        }
        @if let Some(b) = &c.bad { (bad_flag(b)) }
        @if let Some(o) = &c.open { (open_run(o)) }
        @if c.deployed.is_none() && c.open.is_none() { span.muted { "—" } }
    }
}

/// The flag of a deployed release marked bad, with the mark's reason.
fn bad_flag(mark: &crate::model::BadMark) -> Markup {
    html! {
        div.holdnote.bad {
            span.badge.st-bad { "✖ marked bad" }
            @if let Some(reason) = &mark.reason { " " span.reason { (reason) } }
        }
    }
}

/// The note of a frozen environment: the freeze's reason and end.
fn freeze_note(freeze: &crate::model::Freeze) -> Markup {
    html! {
        div.holdnote.frozen {
            span class={"badge " (status_style(UiStatus::Held).class)} { "⊘ frozen" }
            @if let Some(reason) = &freeze.reason { " " span.reason { (reason) } }
            " " span.until {
                @match &freeze.until { Some(u) => { "until " (u) }, None => { "until unfrozen" } }
            }
        }
    }
}

/// The overview page.
pub fn overview(o: &Overview, since: &str) -> Markup {
    let counter = |n: usize, label: &str, glob: &str| {
        html! {
            a.counter href=(match_url(glob)) {
                span.n { (n) } span.l { (label) } span.view { "View" }
            }
        }
    };
    layout(
        "Overview",
        Live::State(since),
        html! {
            h1 { "What is running where" }
            div.counters {
                (counter(o.counts.environments, "Environments", "@/environment/*"))
                (counter(o.counts.releases, "Releases", "**/@*"))
                (counter(o.counts.deployments, "Deployments", "**/@/deploy/*"))
                (counter(o.counts.custom, "Custom state", "**/@*/custom/**"))
                a.counter href="/work" {
                    span.n { (o.open_runs) } span.l { "Runs not complete" } span.view { "View" }
                }
            }
            @if o.packages.is_empty() {
                p.empty { "No releases yet. Run " code { "ocuroot release new <file>" } " to make one." }
            } @else {
                div.scroll {
                    table.matrix {
                        thead {
                            tr {
                                th { "Package" }
                                th { "Latest release" }
                                @for e in &o.environments {
                                    th {
                                        a href=(ref_url(&Ref::global(crate::refs::SubpathType::Environment, e))) { (e) }
                                        @if let Some(f) = o.holds.frozen.get(e) { (freeze_note(f)) }
                                    }
                                }
                            }
                        }
                        tbody {
                            @for row in &o.packages {
                                tr {
                                    td.pkgcell { (package_name(&row.package)) }
                                    td {
                                        @if let Some((rel, st)) = &row.latest {
                                            a.rel href=(ref_url(rel)) { (release_id(rel)) } " " (badge(*st))
                                        } @else { span.muted { "—" } }
                                    }
                                    @for c in &row.cells { td { (cell(c)) } }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// The package page.
pub fn package(p: &PackagePage, since: &str) -> Markup {
    layout(
        &p.package.filename,
        Live::State(since),
        html! {
            p.crumbs { a href="/" { "Overview" } " / " (p.package.repo) }
            h1 { (p.package.filename) }
            p.muted { (p.package.to_string()) }
            div.scroll {
                table.list {
                    thead { tr { th { "Release" } th { "Status" } th { "Phases" } th { "Deployed to" } th { "Commit" } } }
                    tbody {
                        @for r in &p.releases {
                            tr {
                                td { a.rel href=(ref_url(&r.release)) { (release_id(&r.release)) } }
                                td { (badge(r.status)) }
                                td {
                                    @for (name, cards) in &r.phases {
                                        div.phase-line {
                                            @if !name.is_empty() { span.phase-name { (name) ": " } }
                                            @for (card, st) in cards {
                                                span.card-mini { (card) " " (badge(*st)) }
                                            }
                                        }
                                    }
                                }
                                td {
                                    @for e in &r.deployed_to {
                                        a.envtag href=(ref_url(&Ref::global(crate::refs::SubpathType::Environment, e))) { (e) } " "
                                    }
                                    @if r.deployed_to.is_empty() { span.muted { "—" } }
                                }
                                td { code title=(r.commit) { (short_commit(&r.commit)) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn release_card(c: &Card) -> Markup {
    html! {
        div class={"card " (status_style(c.status).class)} {
            div.card-head {
                span.kind { (c.kind) } " "
                strong { (c.name) }
                span.grow {}
                (badge(c.status))
            }
            div.fn { "fn " code { (c.function) } }
            @if !c.runs.is_empty() {
                div.runs {
                    "runs: "
                    @for (r, st) in &c.runs {
                        a href=(ref_url(r)) title=(status_style(*st).label) { "#" (r.run_number().unwrap_or(0)) } " "
                    }
                }
            }
            (waiting_list(&c.waiting))
            details open[c.status != UiStatus::Complete] {
                summary { "inputs" }
                (inputs_table(&c.inputs))
            }
            @if let Some(out) = &c.outputs {
                details open {
                    summary { "outputs" }
                    (outputs_table(out))
                }
            }
        }
    }
}

/// The release page.
pub fn release(r: &ReleasePage, since: &str) -> Markup {
    let pkg = r.release.package_ref();
    layout(
        &format!("{} {}", r.release.filename, release_id(&r.release)),
        Live::State(since),
        html! {
            p.crumbs { a href="/" { "Overview" } " / " a href=(ref_url(&pkg)) { (pkg.filename) } }
            h1 { (r.release.filename) " " (release_id(&r.release)) " " (badge(r.status)) }
            @if let Some(b) = &r.bad {
                (bad_flag(b))
                p.muted { "No run of this release starts while it is marked bad, and rollback never picks it." }
            }
            p.muted {
                "commit " code { (r.commit) }
                @if !r.deployed_to.is_empty() {
                    " · deployed to "
                    @for e in &r.deployed_to { a.envtag href=(ref_url(&Ref::global(crate::refs::SubpathType::Environment, e))) { (e) } " " }
                }
                " · " a href=(match_url(&format!("{}/**", crate::refs::glob::escape(&r.release.to_string())))) { "all refs" }
            }
            div.phases {
                @for (i, p) in r.phases.iter().enumerate() {
                    section.phase {
                        h2 { @if p.name.is_empty() { "phase " (i + 1) } @else { (p.name) } }
                        @for c in &p.cards { (release_card(c)) }
                    }
                }
            }
            (children_section(&r.children))
        },
    )
}

/// The run page.
pub fn run(r: &RunPage, since: &str) -> Markup {
    layout(
        &format!("{} {}", release_id(&r.release), r.run.subpath),
        Live::State(since),
        html! {
            p.crumbs {
                a href="/" { "Overview" } " / "
                a href=(ref_url(&r.release.package_ref())) { (r.release.filename) } " / "
                a href=(ref_url(&r.release)) { (release_id(&r.release)) }
            }
            h1 { (r.run.subpath_type.map_or("", |t| t.as_str())) " " (r.run.subpath) " " (badge(r.status)) }
            p.muted {
                (r.run_type.as_str()) " run of " (ref_link(&r.release))
                @if let Some(t) = &r.status_time { " · " (status_style(r.status).label) " at " (t) }
            }
            (waiting_list(&r.waiting))
            h2 { "Function chain" }
            @for (i, f) in r.functions.iter().enumerate() {
                section.fnbox {
                    h3 { (i + 1) ". " code { (f.name) } " " span.muted { (f.pos) } }
                    @if !f.dependencies.is_empty() {
                        ul.deps {
                            @for (d, ok) in &f.dependencies {
                                li { (badge(if *ok { UiStatus::Complete } else { UiStatus::Waiting })) " " code { (d) } }
                            }
                        }
                    }
                    h4 { "Inputs" }
                    (inputs_table(&f.inputs))
                }
            }
            h2 { "Outputs" }
            @if let Some(o) = &r.outputs { (outputs_table(o)) } @else { p.muted { "none yet" } }
            (children_section(&r.children))
            h2 { "Logs" }
            @if r.logs.is_empty() {
                p.muted { "no log lines" }
            } @else {
                div.scroll {
                    table.logs {
                        tbody {
                            @for l in &r.logs {
                                tr class=(if l.stream == 1 { "stderr" } else { "stdout" }) {
                                    td.time { (super::model::short_time(&l.timestamp)) }
                                    td.src { (l.attributes.get("filename").map(String::as_str).unwrap_or("")) (l.attributes.get("line").map(|n| format!(":{n}")).unwrap_or_default()) }
                                    td.msg { pre { (l.message) } }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn attributes(a: &std::collections::BTreeMap<String, String>) -> Markup {
    html! {
        @if a.is_empty() { p.muted { "no attributes" } } @else {
            table.kv { @for (k, v) in a { tr { th { (k) } td { code { (v) } } } } }
        }
    }
}

/// The environment page.
pub fn environment(e: &EnvironmentPage, since: &str) -> Markup {
    layout(
        &e.name,
        Live::State(since),
        html! {
            p.crumbs { a href="/" { "Overview" } " / environments" }
            h1 { "Environment " (e.name) }
            @if let Some(f) = &e.frozen {
                (freeze_note(f))
                p.muted { "No " code { "up" } " or " code { "down" } " run starts here while it is frozen." }
            }
            div.two {
                section {
                    h2 { "Attributes" }
                    @match &e.attributes {
                        Some(a) => (attributes(a)),
                        None => p.muted { "not registered in state" },
                    }
                    @if let Some(ia) = &e.intent_attributes {
                        @if e.attributes.as_ref() != Some(ia) {
                            h3 { "In intent (not applied yet)" }
                            (attributes(ia))
                        }
                    }
                }
                section {
                    h2 { "Not complete here" }
                    @if e.open.is_empty() { p.muted { "nothing" } }
                    @for o in &e.open { (open_run(o)) }
                }
            }
            h2 { "Deployed here" }
            @if e.deployed.is_empty() { p.muted { "nothing is deployed here" } } @else {
                div.scroll {
                    table.list {
                        thead { tr { th { "Package" } th { "Release" } th { "Since" } th { "Commit" } } }
                        tbody {
                            @for d in &e.deployed {
                                tr {
                                    td.pkgcell { (package_name(&d.package)) }
                                    td {
                                        a.rel href=(ref_url(&d.deployed.release)) { (release_id(&d.deployed.release)) } " " (badge(UiStatus::Deployed))
                                        @if let Some(b) = &d.bad { (bad_flag(b)) }
                                    }
                                    td { (d.deployed.time.as_deref().unwrap_or("")) }
                                    td { @if let Some(c) = &d.deployed.commit { code title=(c) { (short_commit(c)) } } }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "History" }
            @if e.history_packages.0 < e.history_packages.1 {
                p.muted {
                    "Of the " (e.history_packages.0) " packages deployed here most recently (of "
                    (e.history_packages.1) "); "
                    code { "ocuroot state log <package>/@/deploy/" (e.name) } " shows any other."
                }
            }
            @if e.history.is_empty() { p.muted { "no history" } } @else {
                div.scroll {
                    table.list {
                        thead { tr { th { "When (UTC)" } th { "Package" } th { "Change" } th { "Release" } th { "Store commit" } th { "Author" } } }
                        tbody {
                            @for h in &e.history {
                                tr {
                                    td { (h.time) }
                                    td.pkgcell { (package_name(&h.package)) }
                                    td { (h.change.to_string()) }
                                    td { @if let Some(r) = &h.release { a.rel href=(ref_url(r)) { (release_id(r)) } } @else { "removed" } }
                                    td { code title=(h.commit) { (short_commit(&h.commit)) } }
                                    td { (h.author) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn run_table(title: &str, runs: &[OpenRun], empty: &str) -> Markup {
    html! {
        h2 { (title) " " span.count { (runs.len()) } }
        @if runs.is_empty() { p.muted { (empty) } } @else {
            div.scroll {
                table.list {
                    thead { tr { th { "Run" } th { "Status" } th { "Waiting for" } } }
                    tbody {
                        @for o in runs {
                            tr {
                                td { (ref_link(&o.run)) }
                                td { (badge(o.status)) }
                                td { @if o.waiting.is_empty() { span.muted { "—" } } @for w in &o.waiting { div { (w) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The outstanding-work page.
pub fn outstanding(p: &OutstandingPage, since: &str) -> Markup {
    layout(
        "Outstanding work",
        Live::State(since),
        html! {
            h1 { "Outstanding work" }
            h2 { "Intent changes to apply" }
            @match &p.plan {
                Err(e) => div.error { "The plan cannot be made: " pre { (e) } },
                Ok(items) if items.is_empty() => p.muted { "No changes: state matches intent." },
                Ok(items) => div.scroll {
                    p.muted { "What " code { "ocuroot plan" } " shows; " code { "ocuroot work any" } " carries it out." }
                    table.list {
                        thead { tr { th { "Change" } th { "Ref" } th { "Effect" } } }
                        tbody {
                            @for i in items {
                                tr { td { span.kind { (i.work_type) } } td { (ref_link(&i.r)) } td { (i.effect) } }
                            }
                        }
                    }
                },
            }
            (run_table("Ready to run", &p.ready, "no run is ready"))
            (run_table("Running", &p.running, "nothing is running"))
            (run_table("Waiting", &p.waiting, "no run is waiting"))
            (run_table("Failed", &p.failed, "no failed run"))
        },
    )
}

/// A generic ref page: the document, link target and children.
pub fn ref_page(p: &RefPage, since: &str) -> Markup {
    layout(
        &p.r.to_string(),
        Live::State(since),
        html! {
            p.crumbs { a href="/" { "Overview" } }
            h1.refh { (p.r.to_string()) }
            @if let Some(t) = &p.resolved { p { "links to " (ref_link(t)) } }
            h2 { "Document" }
            @match &p.document {
                Some(v) => pre.json { (serde_json::to_string_pretty(v).unwrap_or_default()) },
                None => p.muted { "no document at this ref" },
            }
            h2 { "Children " span.count { (p.total_children) } }
            (ref_list(&p.children, p.total_children))
        },
    )
}

/// The refs stored below a release or run, folded.
fn children_section((refs, total): &(Vec<Ref>, usize)) -> Markup {
    html! {
        details.children {
            summary { "Stored refs " span.count { (total) } }
            (ref_list(refs, *total))
        }
    }
}

fn ref_list(refs: &[Ref], total: usize) -> Markup {
    html! {
        @if refs.is_empty() { p.muted { "none" } } @else {
            ul.reflist { @for r in refs { li { (ref_link(r)) } } }
            @if total > refs.len() { p.muted { "and " (total - refs.len()) " more" } }
        }
    }
}

/// A `/match/<glob>` page.
pub fn match_page(p: &MatchPage, since: &str) -> Markup {
    layout(
        &p.glob,
        Live::State(since),
        html! {
            p.crumbs { a href="/" { "Overview" } }
            h1 { "Refs matching " code { (p.glob) } " " span.count { (p.total) } }
            (ref_list(&p.refs, p.total))
        },
    )
}

/// An error page (404, 400, 500) with its message.
pub fn error(status: u16, title: &str, message: &str) -> Markup {
    layout(
        title,
        Live::None,
        html! {
            h1 { (status) " · " (title) }
            pre.error { (message) }
            p { a href="/" { "Back to the overview" } }
        },
    )
}

/// What the preview server shows of a package file.
#[derive(Clone, Debug, PartialEq)]
pub enum Preview {
    /// A package, with the environments in state.
    Package {
        /// The package file relative to the repository root.
        file: String,
        /// The package definition.
        package: Package,
        /// The environments in state.
        environments: Vec<Environment>,
    },
    /// The file registers environments.
    Environments {
        /// The file.
        file: String,
        /// The environments it registers.
        environments: Vec<Environment>,
    },
    /// The file declares nothing.
    Nothing {
        /// The file.
        file: String,
    },
}

/// The preview page: the package's phases as columns of task and deployment cards.
pub fn preview(p: &Preview) -> Markup {
    let (file, body) = match p {
        Preview::Package {
            file,
            package,
            environments,
        } => (
            file,
            html! {
                p.muted {
                    (package.phases.len()) " phase(s) · environments in state: "
                    @if environments.is_empty() { "none" }
                    @for e in environments { span.envtag { (e.name) } " " }
                }
                div.phases {
                    @for (i, ph) in package.phases.iter().enumerate() {
                        section.phase {
                            h2 { @if ph.name.is_empty() { "phase " (i + 1) } @else { (ph.name) } }
                            @for t in &ph.tasks {
                                div.card {
                                    div.card-head {
                                        span.kind { (t.kind()) } " " strong { (t.name()) }
                                    }
                                    @match t {
                                        WorkSpec::Task(task) => {
                                            div.fn { "fn " code { (task.function.name) } " " span.muted { (task.function.pos) } }
                                            @if !task.annotation.is_empty() { p { (task.annotation) } }
                                        }
                                        WorkSpec::Deploy(d) => {
                                            div.fn { "up " code { (d.up.name) } " · down " code { (d.down.name) } }
                                        }
                                    }
                                    details open {
                                        summary { "inputs" }
                                        // Not populated in a preview: an input with a ref is
                                        // read when the release runs, not missing.
                                        (inputs_table_with(&super::model::input_rows(t.inputs()).into_iter().map(|mut i| {
                                            i.missing &= i.reference.is_none();
                                            i
                                        }).collect::<Vec<_>>(), false))
                                    }
                                }
                            }
                        }
                    }
                }
                @if package.phases.is_empty() { p.empty { "The package declares no phases." } }
            },
        ),
        Preview::Environments { file, environments } => (
            file,
            html! {
                h2 { "Registers environments" }
                table.list {
                    thead { tr { th { "Name" } th { "Attributes" } } }
                    tbody { @for e in environments { tr { td { (e.name) } td { (attributes(&e.attributes)) } } } }
                }
            },
        ),
        Preview::Nothing { file } => (file, html! { p.empty { "No release configured" } }),
    };
    layout(
        file,
        Live::Preview,
        html! {
            h1 { "Preview of " code { (file) } }
            (body)
        },
    )
}

/// The preview server's error page (the file does not evaluate).
pub fn preview_error(file: &str, message: &str) -> Markup {
    layout(
        file,
        Live::Preview,
        html! {
            h1 { "Preview of " code { (file) } }
            div.error {
                p { strong { "Failed to load config " code { (file) } } }
                pre { (message) }
                p.muted { "The page reloads when the file changes." }
            }
        },
    )
}
