//! Generates a large store for benchmarks (see `docs/benchmarks.md`).
//!
//! ```text
//! cargo run --release -p ocuroot-core --example gen_store -- <out-dir> [--docs N] [--changes K]
//! cargo run --release -p ocuroot-core --example gen_store -- <out-dir> --estate <packages>
//! ```
//!
//! Makes `<out-dir>` a Git repository with a `repo.ocu.star` (`repo_alias("bench")`) and
//! fills its default hub `.ocuroot/store.git` through `git fast-import` (one pack, as a
//! long-lived store is after `git gc`), then runs the store maintenance ocuroot runs after
//! each commit (`ocuroot_core::store::maintain`: a multi-pack index over that pack):
//!
//! - `state`: for each package (`team<t>/svc<s>/package.ocu.star`) a run of releases, each
//!   with a release document, a commit marker, and three tasks (`build`, `deploy/staging`,
//!   `deploy/production`) with a summary, a run, a status marker and logs; tag links and
//!   the "latest" links; plus the `applied/` mirror of every intent document.
//! - `intent`: environments, global custom state, per-package deploy intent and approvals.
//!   A second commit changes K deploy intents (default 10), so `ocuroot state diff`
//!   reports exactly K refs.
//!
//! Documents are rendered with the store's own canonical YAML and paths, so the result is
//! byte-identical to what ocuroot would have written. N counts YAML documents (links are
//! extra); the actual count is printed.

// A benchmark tool, not the library: it drives `git` directly.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::print_stderr)]

use std::error::Error;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Instant;

use ocuroot_core::refs::Ref;
use ocuroot_core::store::layout::{self, Area};
use serde_json::{Value, json};

const TIME: i64 = 1_767_225_600;
const ENVS: usize = 10;
const GLOBAL_CUSTOM: usize = 20;
const TEAMS: usize = 20;
/// YAML documents per release: release, commit marker, 3 × (summary, run, status, logs).
const DOCS_PER_RELEASE: usize = 14;
/// Target documents per package (releases are sized to fit).
const DOCS_PER_PACKAGE: usize = 500;

struct Args {
    out: PathBuf,
    docs: usize,
    changes: usize,
    /// With `--estate N`: N packages, each deployed to every one of 10 environments.
    estate: Option<usize>,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let mut out = None;
    let mut docs = 100_000;
    let mut changes = 10;
    let mut estate = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--estate" => estate = Some(args.next().ok_or("--estate needs a value")?.parse()?),
            "--docs" => docs = args.next().ok_or("--docs needs a value")?.parse()?,
            "--changes" => changes = args.next().ok_or("--changes needs a value")?.parse()?,
            _ if out.is_none() => out = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument {a}").into()),
        }
    }
    let out =
        out.ok_or("usage: gen_store <out-dir> [--docs N | --estate PACKAGES] [--changes K]")?;
    Ok(Args {
        out,
        docs,
        changes,
        estate,
    })
}

/// A `git fast-import` stream.
struct Import<W: Write> {
    w: W,
    docs: usize,
    links: usize,
}

impl<W: Write> Import<W> {
    /// Starts a commit; a later commit on the same branch continues from the earlier one.
    fn commit(&mut self, branch: &str, message: &str) -> std::io::Result<()> {
        writeln!(self.w, "commit refs/heads/{branch}")?;
        writeln!(self.w, "author Ocuroot <contact@ocuroot.com> {TIME} +0000")?;
        writeln!(
            self.w,
            "committer Ocuroot <contact@ocuroot.com> {TIME} +0000"
        )?;
        writeln!(self.w, "data {}\n{message}", message.len())
    }

    fn file(&mut self, path: &str, content: &[u8]) -> std::io::Result<()> {
        writeln!(self.w, "M 100644 inline {path}")?;
        writeln!(self.w, "data {}", content.len())?;
        self.w.write_all(content)?;
        writeln!(self.w)
    }

    fn doc(&mut self, area: Area, r: &str, value: &Value) -> Result<(), Box<dyn Error>> {
        let r: Ref = r.parse()?;
        let path = layout::doc_path(area, &r).join("/");
        let yaml = ocuroot_core::yaml::to_canonical(value)?;
        self.docs += 1;
        Ok(self.file(&path, yaml.as_bytes())?)
    }

    fn link(&mut self, r: &str, target: &str) -> Result<(), Box<dyn Error>> {
        let r: Ref = r.parse()?;
        let path = layout::link_path(Area::Records, &r).join("/");
        self.links += 1;
        Ok(self.file(&path, format!("{target}\n").as_bytes())?)
    }
}

fn sha(n: usize) -> String {
    format!(
        "{:040x}",
        (n as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    )
}

fn package(p: usize) -> String {
    format!("bench/-/team{:02}/svc{p:04}/package.ocu.star", p % TEAMS)
}

fn fn_def(name: &str, line: usize) -> Value {
    json!({"name": name, "pos": format!("package.ocu.star:{line}:5")})
}

/// The intent documents (ref, value); `changed` bumps the release of deploy intents.
fn intent_docs(packages: usize, releases: usize, changed: usize) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for e in 0..ENVS {
        out.push((
            format!("@/environment/env{e:02}"),
            json!({"name": format!("env{e:02}"), "attributes": {"type": if e == 0 { "prod" } else { "staging" }, "region": format!("region-{}", e % 3)}}),
        ));
    }
    for c in 0..GLOBAL_CUSTOM {
        out.push((
            format!("@/custom/setting{c:02}"),
            json!({"enabled": c % 2 == 0, "value": format!("v{c}")}),
        ));
    }
    for p in 0..packages {
        let pkg = package(p);
        for env in ["staging", "production"] {
            let bump = usize::from(env == "production" && p < changed);
            out.push((
                format!("{pkg}/@/deploy/{env}"),
                json!({"release": format!("{pkg}/@r{}", releases - 1 + bump), "input": {"replicas": {"value": 3}}}),
            ));
        }
        out.push((
            format!("{pkg}/@r{releases}/custom/approval"),
            json!({"approved_by": "release-manager", "ticket": format!("CHG-{p}")}),
        ));
    }
    out
}

fn generate(args: &Args) -> Result<(usize, usize), Box<dyn Error>> {
    let packages = (args.docs / DOCS_PER_PACKAGE).max(1);
    // Per package: 3 intent docs, mirrored in applied (6); globals are shared out.
    let per_package = args.docs / packages;
    let releases = per_package
        .saturating_sub(6)
        .div_ceil(DOCS_PER_RELEASE)
        .max(1);
    let (child, mut imp) = start_import(&args.out)?;
    let time = "2026-01-01T00:00:00Z";
    let intent = intent_docs(packages, releases, 0);

    imp.commit("state", "generated state")?;
    imp.file("ocuroot-store.yaml", b"format: 1\nkind: state\n")?;
    // The environments the packages deploy to, so that their deploy intents validate.
    for env in ["staging", "production"] {
        imp.doc(
            Area::Records,
            &format!("@/environment/{env}"),
            &json!({"name": env, "attributes": {"type": env}}),
        )?;
    }
    for p in 0..packages {
        let pkg = package(p);
        for n in 1..=releases {
            let rel = format!("{pkg}/@r{n}");
            let commit = sha(p * 10_000 + n);
            imp.doc(
                Area::Records,
                &rel,
                &json!({"commit": commit, "package": {"phases": [
                    {"name": "build", "tasks": [{"task": {"name": "build", "fn": fn_def("build", 10), "inputs": {}}}]},
                    {"name": "staging", "tasks": [{"deploy": {"environment": "staging", "up": fn_def("up", 20), "down": fn_def("down", 30)}}]},
                    {"name": "production", "tasks": [{"deploy": {"environment": "production", "up": fn_def("up", 20), "down": fn_def("down", 30)}}]},
                ]}}),
            )?;
            imp.doc(
                Area::Records,
                &format!("{rel}/commit/{commit}"),
                &json!({"time": time}),
            )?;
            for (kind, name) in [
                ("task", "build"),
                ("deploy", "staging"),
                ("deploy", "production"),
            ] {
                let task = format!("{rel}/{kind}/{name}");
                let run = format!("{task}/1");
                let output = json!({"image": format!("registry.example.com/svc{p}:{n}"), "digest": sha(n + p)});
                imp.doc(
                    Area::Records,
                    &run,
                    &json!({"type": if kind == "task" { "task" } else { "up" }, "release": rel, "functions": [{"fn": fn_def(name, 10), "inputs": {}}], "output": output}),
                )?;
                imp.doc(
                    Area::Records,
                    &format!("{run}/status/complete"),
                    &json!({"time": time}),
                )?;
                let logs: Vec<Value> = (0..5)
                    .map(|i| json!({"timestamp": time, "message": format!("step {i} of {name} for r{n}"), "stream": 0}))
                    .collect();
                imp.doc(Area::Records, &format!("{run}/logs"), &Value::Array(logs))?;
                imp.doc(
                    Area::Records,
                    &task,
                    &json!({"run_ref": run, "type": "up", "release": rel, "input": {}, "output": output}),
                )?;
            }
            imp.link(&format!("{pkg}/@v{n}"), &rel)?;
        }
        let last = format!("{pkg}/@r{releases}");
        imp.link(&format!("{pkg}/@"), &last)?;
        imp.link(
            &format!("{pkg}/@/task/build"),
            &format!("{last}/task/build"),
        )?;
        for env in ["staging", "production"] {
            imp.link(
                &format!("{pkg}/@/deploy/{env}"),
                &format!("{last}/deploy/{env}"),
            )?;
        }
    }
    for (r, v) in &intent {
        imp.doc(Area::Applied, r, v)?;
    }

    imp.commit("intent", "generated intent")?;
    imp.file("ocuroot-store.yaml", b"format: 1\nkind: intent\n")?;
    for (r, v) in &intent {
        imp.doc(Area::Records, r, v)?;
    }
    if args.changes > 0 {
        imp.commit("intent", &format!("change {} deploy intents", args.changes))?;
        let changed = intent_docs(packages, releases, args.changes);
        for ((r, old), (_, new)) in intent.iter().zip(&changed) {
            if old != new {
                imp.doc(Area::Records, r, new)?;
            }
        }
    }
    finish_import(child, imp)
}

/// An estate for `ocuroot plan`: `packages` packages, each with one release deployed to all
/// 10 environments (deploy intent, applied mirror, task summary, run and `@/deploy` link
/// per pair), then one intent commit with 5 changes: two deploy intents updated, one
/// deployment removed, one approval added and one environment added.
fn generate_estate(out: &Path, packages: usize) -> Result<(usize, usize), Box<dyn Error>> {
    let (child, mut imp) = start_import(out)?;
    let time = "2026-01-01T00:00:00Z";
    let envs: Vec<String> = (0..ENVS).map(|e| format!("env{e:02}")).collect();
    let env_doc = |e: &str| json!({"name": e, "attributes": {"type": "prod"}});
    let intent_of = |pkg: &str, e: &str, replicas: u32| {
        json!({"release": format!("{pkg}/@r1"), "input": {
            "environment": {"ref": format!("@/environment/{e}"), "value": env_doc(e)},
            "replicas": {"value": replicas},
        }})
    };
    let mut intent: Vec<(String, Value)> = envs
        .iter()
        .map(|e| (format!("@/environment/{e}"), env_doc(e)))
        .collect();
    imp.commit("state", "generated state")?;
    imp.file("ocuroot-store.yaml", b"format: 1\nkind: state\n")?;
    for e in &envs {
        imp.doc(Area::Records, &format!("@/environment/{e}"), &env_doc(e))?;
    }
    for p in 0..packages {
        let pkg = package(p);
        let rel = format!("{pkg}/@r1");
        let tasks: Vec<Value> = envs
            .iter()
            .map(|e| json!({"deploy": {"environment": e, "up": fn_def("up", 20), "down": fn_def("down", 30)}}))
            .collect();
        imp.doc(
            Area::Records,
            &rel,
            &json!({"commit": sha(p), "package": {"phases": [{"name": "deploy", "tasks": tasks}]}}),
        )?;
        imp.doc(
            Area::Records,
            &format!("{rel}/commit/{}", sha(p)),
            &json!({"time": time}),
        )?;
        for e in &envs {
            let doc = intent_of(&pkg, e, 3);
            let task = format!("{rel}/deploy/{e}");
            let run = format!("{task}/1");
            imp.doc(Area::Records, &run, &json!({"type": "up", "release": rel, "functions": [{"fn": fn_def("up", 20), "inputs": doc["input"]}], "output": {"url": format!("https://{e}.example.com")}}))?;
            imp.doc(
                Area::Records,
                &format!("{run}/status/complete"),
                &json!({"time": time}),
            )?;
            imp.doc(Area::Records, &task, &json!({"run_ref": run, "type": "up", "release": rel, "input": doc["input"], "output": {"url": format!("https://{e}.example.com")}}))?;
            imp.link(&format!("{pkg}/@/deploy/{e}"), &task)?;
            intent.push((format!("{pkg}/@/deploy/{e}"), doc));
        }
    }
    for (r, v) in &intent {
        imp.doc(Area::Applied, r, v)?;
    }
    imp.commit("intent", "generated intent")?;
    imp.file("ocuroot-store.yaml", b"format: 1\nkind: intent\n")?;
    for (r, v) in &intent {
        imp.doc(Area::Records, r, v)?;
    }
    imp.commit("intent", "5 intent changes")?;
    let a = package(packages / 3);
    let b = package(packages / 2);
    imp.doc(
        Area::Records,
        &format!("{a}/@/deploy/env01"),
        &intent_of(&a, "env01", 5),
    )?;
    imp.doc(
        Area::Records,
        &format!("{b}/@/deploy/env02"),
        &intent_of(&b, "env02", 5),
    )?;
    let gone = format!("{}/@/deploy/env03", package(packages - 1));
    let gone_path = layout::doc_path(Area::Records, &gone.parse::<Ref>()?).join("/");
    writeln!(imp.w, "D {gone_path}")?;
    imp.doc(
        Area::Records,
        &format!("{}/@r1/custom/approval", package(0)),
        &json!("approved"),
    )?;
    imp.doc(Area::Records, "@/environment/env99", &env_doc("env99"))?;
    finish_import(child, imp)
}

/// The fast-import stream writer.
type Stream = Import<BufWriter<ChildStdin>>;

/// Creates the hub `<out>/.ocuroot/store.git` and starts `git fast-import` into it.
fn start_import(out: &Path) -> Result<(Child, Stream), Box<dyn Error>> {
    let hub = out.join(".ocuroot/store.git");
    std::fs::create_dir_all(&hub)?;
    git(&hub, &["init", "-q", "--bare"])?;
    std::fs::write(out.join(".ocuroot/.gitignore"), "*\n")?;
    let mut child = Command::new("git")
        .current_dir(&hub)
        .args(["fast-import", "--quiet", "--force"])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .stdin(Stdio::piped())
        .spawn()?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let imp = Import {
        w: BufWriter::with_capacity(1 << 20, stdin),
        docs: 0,
        links: 0,
    };
    Ok((child, imp))
}

/// Ends the import stream and waits for `git fast-import`; returns (documents, links).
fn finish_import(mut child: Child, mut imp: Stream) -> Result<(usize, usize), Box<dyn Error>> {
    imp.w.flush()?;
    let (docs, links) = (imp.docs, imp.links);
    drop(imp);
    if !child.wait()?.success() {
        return Err("git fast-import failed".into());
    }
    Ok((docs, links))
}

fn git(dir: &Path, args: &[&str]) -> Result<(), Box<dyn Error>> {
    let status = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("git {args:?} failed").into())
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let start = Instant::now();
    if args.out.exists() {
        return Err(format!("{} already exists", args.out.display()).into());
    }
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("repo.ocu.star"), "repo_alias(\"bench\")\n")?;
    git(&args.out, &["init", "-q", "-b", "main"])?;
    git(&args.out, &["add", "repo.ocu.star"])?;
    git(&args.out, &["commit", "-q", "-m", "bench repository"])?;
    let (docs, links) = match args.estate {
        Some(packages) => generate_estate(&args.out, packages)?,
        None => generate(&args)?,
    };
    // Leave the store as ocuroot keeps the stores it writes: the maintenance after its next
    // commit indexes the imported pack with a multi-pack index.
    let done = ocuroot_core::store::maintain(
        &args.out.join(".ocuroot/store.git"),
        &ocuroot_core::git_subprocess::GitEnvironment::default(),
    )?;
    eprintln!("maintenance: {done:?}");
    eprintln!(
        "wrote {docs} documents and {links} links to {} in {:.1}s",
        args.out.join(".ocuroot/store.git").display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
