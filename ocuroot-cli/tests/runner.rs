//! End-to-end tests of the `ocuroot` binary, one module per topic.
//!
//! Each test builds a [`common::TestEnv`] (a temp Git repository with a `repo.ocu.star`) and
//! runs the real binary in it. Outputs are `insta` snapshots under `tests/snapshots/`.

// Tests build repositories with `git` and time things: the rules for the library do not
// apply to them.
#![allow(clippy::disallowed_methods)]

mod common;
mod test_bad_input;
mod test_browser;
mod test_cascade;
mod test_ci;
mod test_claims;
mod test_cli;
mod test_completion;
mod test_concurrency;
mod test_config;
mod test_dependencies;
mod test_find_deploys;
mod test_hostile;
mod test_import;
mod test_init;
mod test_intent;
mod test_mcp;
mod test_ops;
mod test_push;
mod test_release;
mod test_remote;
mod test_repl;
mod test_state;
mod test_transports;
mod test_ui;

#[test]
fn every_test_file_is_declared() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let runner = std::fs::read_to_string(dir.join("runner.rs")).expect("read runner.rs");
    for entry in std::fs::read_dir(&dir).expect("read tests dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .to_string();
        if let Some(stem) = name
            .strip_prefix("test_")
            .and_then(|n| n.strip_suffix(".rs"))
        {
            assert!(
                runner.contains(&format!("mod test_{stem};")),
                "tests/{name} is not declared in runner.rs"
            );
        }
    }
}
