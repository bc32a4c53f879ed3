//! Integration tests of `ocuroot-core`, one module per topic.

// Tests build repositories with `git` and time things: the rules for the library do not
// apply to them.
#![allow(clippy::disallowed_methods)]

mod common;
mod test_engine;
mod test_engine_cascade;
mod test_engine_intent;
mod test_engine_push;
mod test_engine_release;
mod test_fuzz;
mod test_hostile_env;
mod test_import;
mod test_intent_pipeline;
mod test_layers;
mod test_remote;
mod test_store;
mod test_transports;

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
