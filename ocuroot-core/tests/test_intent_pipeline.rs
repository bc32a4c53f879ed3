//! The intent pipeline in process: random sequences of intent edits, carried out by the
//! engine as `work any` does, always end with an empty plan and every deploy intent
//! deployed exactly as it says (issue 10).

use std::collections::BTreeSet;
use std::path::Path;

use ocuroot_core::engine::{Engine, EngineOptions, WorkFilter};
use ocuroot_core::model::{DeployIntent, Environment, TaskSummary};
use ocuroot_core::refs::Ref;
use ocuroot_core::store::{Area, MatchOptions, Transaction};
use ocuroot_core::workspace::Workspace;
use proptest::prelude::*;

use crate::common::r;
use ocuroot_core::model::RunType;

const PACKAGES: [&str; 3] = ["a", "b", "c"];
/// Environments every release deploys to (they exist when the releases are made).
const BASE_ENVS: [&str; 2] = ["e1", "e2"];
/// An environment added and removed by the edits, which no release deploys to.
const EXTRA_ENV: &str = "e3";

/// A repository where `b` reads `a`'s output in the same environment, released twice
/// (`r1`, `r2`) to `e1` and `e2`, built once and copied for every case.
fn template(dir: &Path) {
    std::fs::write(dir.join("repo.ocu.star"), "repo_alias(\"pipe\")\n").expect("write");
    let envs: String = BASE_ENVS
        .iter()
        .map(|e| format!("register_environment(environment(\"{e}\"))\n"))
        .collect();
    std::fs::write(dir.join("environments.ocu.star"), envs).expect("write");
    for p in PACKAGES {
        let (params, inputs) = if p == "b" {
            (
                ", a = \"\"",
                ", inputs = {\"a\": input(ref = \"./-/a.ocu.star/@/deploy/\" + e.name + \"#output/p\", default = \"none\")}",
            )
        } else {
            ("", "")
        };
        std::fs::write(
            dir.join(format!("{p}.ocu.star")),
            format!(
                "def up(environment{params}):\n    return done(outputs = {{\"p\": \"{p}\"}})\n\n\
                 def down(environment{params}):\n    return done()\n\n\
                 phase(\"deploy\", tasks = [deploy(up = up, down = down, environment = e{inputs}) \
                 for e in environments()])\n"
            ),
        )
        .expect("write");
    }
    crate::common::commit_all(dir);
    let ws = workspace(dir);
    let engine = Engine::new(&ws, options());
    engine
        .release_new(&r("environments.ocu.star"), false)
        .expect("environments");
    for p in PACKAGES {
        for force in [false, true] {
            engine
                .release_new(&r(&format!("{p}.ocu.star")), force)
                .expect("release");
        }
    }
}

fn workspace(dir: &Path) -> Workspace {
    crate::common::engine_workspace(dir)
}

fn options() -> EngineOptions {
    crate::common::engine_options(EngineOptions::DEFAULT_WAVE_SLICE)
}

/// One intent edit.
#[derive(Clone, Debug)]
enum Edit {
    AddEnv(&'static str),
    RemoveEnv(&'static str),
    /// Deploy package `.0` to environment `.1` at release `r<.2>`.
    Deploy(&'static str, &'static str, u8),
    Undeploy(&'static str, &'static str),
    SetCustom(u8, u8),
    RemoveCustom(u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    let env = prop::sample::select(vec!["e1", "e2", EXTRA_ENV]);
    let base = prop::sample::select(BASE_ENVS.to_vec());
    let pkg = prop::sample::select(PACKAGES.to_vec());
    prop_oneof![
        env.clone().prop_map(Edit::AddEnv),
        env.prop_map(Edit::RemoveEnv),
        (pkg.clone(), base.clone(), 1u8..=2).prop_map(|(p, e, n)| Edit::Deploy(p, e, n)),
        (pkg, base).prop_map(|(p, e)| Edit::Undeploy(p, e)),
        (0u8..3, 0u8..3).prop_map(|(k, v)| Edit::SetCustom(k, v)),
        (0u8..3).prop_map(Edit::RemoveCustom),
    ]
}

fn env_ref(name: &str) -> Ref {
    r(&format!("@/environment/{name}"))
}

fn deploy_ref(pkg: &str, env: &str) -> Ref {
    r(&format!("pipe/-/{pkg}.ocu.star/@/deploy/{env}"))
}

/// Writes a batch of edits as one intent commit, as a merged pull request would. Edits that
/// would make invalid intent (a deployment to an environment state does not have) are left
/// out: refusing those is tested elsewhere.
fn commit_edits(ws: &Workspace, edits: &[Edit]) {
    let state_envs: BTreeSet<String> = BASE_ENVS
        .iter()
        .chain([&EXTRA_ENV])
        .filter(|e| ws.state().try_get(&env_ref(e)).expect("read").is_some())
        .map(|e| e.to_string())
        .collect();
    let mut removed = BTreeSet::new();
    let mut tx = Transaction::new("edits");
    for e in edits {
        match e {
            Edit::AddEnv(name) => {
                let env = Environment {
                    name: name.to_string(),
                    attributes: Default::default(),
                };
                tx.set(&env_ref(name), serde_json::to_value(env).expect("json"));
            }
            Edit::RemoveEnv(name) => {
                removed.insert(name.to_string());
                tx.delete_if_exists(&env_ref(name));
            }
            Edit::Deploy(pkg, env, n) => {
                if !state_envs.contains(*env) || removed.contains(*env) {
                    continue;
                }
                let intent = DeployIntent {
                    release: format!("pipe/-/{pkg}.ocu.star/@r{n}"),
                    input: Default::default(),
                    override_freeze: false,
                };
                tx.set(
                    &deploy_ref(pkg, env),
                    serde_json::to_value(intent).expect("json"),
                );
            }
            Edit::Undeploy(pkg, env) => {
                tx.delete_if_exists(&deploy_ref(pkg, env));
            }
            Edit::SetCustom(k, v) => {
                tx.set(&r(&format!("@/custom/k{k}")), serde_json::json!(v));
            }
            Edit::RemoveCustom(k) => {
                tx.delete_if_exists(&r(&format!("@/custom/k{k}")));
            }
        }
    }
    ws.intent().commit(&tx).expect("commit intent");
}

/// `ocuroot work any`: apply intent, run what is ready, until nothing is left.
fn work_any(engine: &Engine) {
    let filter = WorkFilter {
        commit: Some("c1".to_string()),
        changes: None,
    };
    let mut previous = None;
    for _ in 0..20 {
        let items = engine.identify_work(&filter, true).expect("identify");
        if items.is_empty() || previous.as_ref() == Some(&items) {
            return;
        }
        let failed = engine.execute_work(&items).expect("execute");
        assert!(!failed, "no run fails");
        previous = Some(items);
    }
    panic!("work any did not settle");
}

fn check_settled(ws: &Workspace) -> Result<(), TestCaseError> {
    let plan = ocuroot_core::plan::plan(ws.intent(), None, ws.state()).expect("plan");
    prop_assert!(plan.is_empty(), "plan after work: {:#?}", plan.items);
    let intents = ws
        .intent()
        .match_refs(
            Area::Records,
            &[ocuroot_core::refs::Glob::new("**/@/deploy/*").expect("glob")],
            MatchOptions::default(),
        )
        .expect("match");
    for intent_ref in intents {
        let intent: DeployIntent =
            serde_json::from_value(ws.intent().get(&intent_ref).expect("intent")).expect("intent");
        let deployed = ws.state().resolve_link(&intent_ref).expect("resolve");
        prop_assert!(deployed != intent_ref, "{intent_ref} is not deployed");
        let summary: TaskSummary =
            serde_json::from_value(ws.state().get(&deployed).expect("summary")).expect("summary");
        prop_assert_eq!(&summary.release, &intent.release, "{}", intent_ref);
        prop_assert_eq!(&summary.input, &intent.input, "{}", intent_ref);
        prop_assert!(summary.run_type != RunType::Down);
    }
    Ok(())
}

fn copy(src: &Path, dst: &Path) {
    let status = std::process::Command::new("cp")
        .args(["-a"])
        .arg(src)
        .arg(dst)
        .status()
        .expect("cp");
    assert!(status.success());
}

proptest! {
    // Each case releases nothing (the template is copied) but runs real deployments; a
    // dozen cases of up to four intent commits each keep the suite fast. A longer run:
    // PROPTEST_CASES=200.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(12),
        ..ProptestConfig::default()
    })]

    #[test]
    fn issue_10_random_intent_edits_settle_to_an_empty_plan(
        batches in prop::collection::vec(prop::collection::vec(edit(), 1..5), 1..5)
    ) {
        static TEMPLATE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
        let template_dir = TEMPLATE.get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            template(dir.path());
            dir
        });
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("repo");
        copy(template_dir.path(), &dir);
        let ws = workspace(&dir);
        let engine = Engine::new(&ws, options());
        for batch in &batches {
            commit_edits(&ws, batch);
            work_any(&engine);
            check_settled(&ws)?;
        }
    }
}
