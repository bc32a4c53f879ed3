//! The engine through the library API: releases of one batch run together, in waves of at
//! most `EngineOptions::wave_slice` runs.

use std::path::Path;

use ocuroot_core::engine::{CascadeScope, Engine, EngineOptions, ReleaseOutcome, ReleaseStatus};
use ocuroot_core::workspace::Workspace;

use crate::common::git;

/// A repository with `envs` environments and `packages` packages deploying to each.
fn repo(dir: &Path, packages: usize, envs: usize) {
    std::fs::write(dir.join("repo.ocu.star"), "repo_alias(\"engine\")\n").expect("write");
    let registered: String = (1..=envs)
        .map(|i| format!("register_environment(environment(\"env{i}\"))\n"))
        .collect();
    std::fs::write(dir.join("environments.ocu.star"), registered).expect("write");
    for p in 0..packages {
        std::fs::write(
            dir.join(format!("pkg{p}.ocu.star")),
            format!(
                "def up(environment):\n    return done(outputs = {{\"p\": {p}}})\n\n\
                 def down(environment):\n    return done()\n\n\
                 phase(\"deploy\", tasks = [deploy(up = up, down = down, environment = e) \
                 for e in environments()])\n"
            ),
        )
        .expect("write");
    }
    crate::common::commit_all(dir);
}

fn workspace(dir: &Path) -> Workspace {
    crate::common::engine_workspace(dir)
}

fn options(wave_slice: usize) -> EngineOptions {
    crate::common::engine_options(wave_slice)
}

fn state_commits(dir: &Path) -> usize {
    git(
        &dir.join(".ocuroot/store.git"),
        &["rev-list", "--count", "state"],
    )
    .trim()
    .parse()
    .expect("count")
}

/// Releases made before the environments existed, then one cascade deploys them all: the
/// six releases run as one batch, their 18 deployments in slices of `slice` runs.
fn deploy_all(slice: usize) -> (tempfile::TempDir, usize) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    repo(dir, 6, 3);
    let ws = workspace(dir);
    let engine = Engine::new(&ws, options(slice));
    for p in 0..6 {
        let outcome = engine
            .release_new(&format!("pkg{p}.ocu.star").parse().expect("ref"), false)
            .expect("release");
        assert!(
            matches!(outcome, ReleaseOutcome::Release { .. }),
            "{outcome:?}"
        );
    }
    engine
        .release_new(&"environments.ocu.star".parse().expect("ref"), false)
        .expect("environments");
    let before = state_commits(dir);
    let report = engine.cascade(CascadeScope::All).expect("cascade");
    assert!(!report.failed);
    for p in 0..6 {
        let release = format!("engine/-/pkg{p}.ocu.star/@r1")
            .parse()
            .expect("ref");
        assert_eq!(
            engine.release_status(&release).expect("status"),
            ReleaseStatus::Complete
        );
        for e in 1..=3 {
            let link = format!("engine/-/pkg{p}.ocu.star/@/deploy/env{e}#output/p");
            assert_eq!(
                ws.state()
                    .get(&link.parse().expect("ref"))
                    .expect("deployed"),
                serde_json::json!(p),
                "{link}"
            );
        }
    }
    let commits = state_commits(dir) - before;
    (tmp, commits)
}

#[test]
fn a_batch_of_releases_deploys_in_one_wave_or_in_slices() {
    // One slice: apply 3 environments, run the 6 operations, start the 18 runs, record
    // their results.
    let (_a, whole) = deploy_all(256);
    // Slices of 4 runs: 5 slices, each started in the commit recording the previous one.
    let (_b, sliced) = deploy_all(4);
    assert_eq!(sliced, whole + 4, "whole wave: {whole}, sliced: {sliced}");
    assert!(whole <= 6, "{whole} commits");
}
