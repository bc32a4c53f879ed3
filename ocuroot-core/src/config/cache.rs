//! A cache of evaluated `repo.ocu.star` files, so that quick commands (`state get`) do not
//! pay for building the Starlark environment on every run.
//!
//! Only *pure* configurations are cached: files that cannot observe anything outside their
//! own text. A file that mentions a host builtin (`host`, `env`, `shell`, `read`, `pwd`,
//! `http`, `secret`, ...) or `load` is always evaluated. The cache entry stores the full
//! source text and the `OCU_CFG_*` variables it was evaluated with and is used only when
//! both match exactly, so a stale entry is impossible; a missing, unreadable or foreign
//! entry just means evaluating again. Writes are atomic (temporary file, then rename).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{ConfigError, HostContext, RepoConfig, StoreSelection, evaluate_repo_config};
use crate::sdk::PrintSink;

/// The cache file's name inside the cache directory.
const CACHE_FILE: &str = "repo-config.cache.json";

/// Identifiers whose presence makes a file impure (its evaluation can observe the host, or
/// depends on other files or has effects). A plain token scan: compiling a regular
/// expression would cost more than the cache saves.
const IMPURE: &[&str] = &[
    "host",
    "env",
    "shell",
    "read",
    "write",
    "read_dir",
    "is_dir",
    "pwd",
    "os",
    "arch",
    "http",
    "secret",
    "load",
    "print",
    "debug_break",
    "trigger",
    "notify",
];

#[derive(Serialize, Deserialize)]
struct Entry {
    version: String,
    path: String,
    source: String,
    cfg_env: BTreeMap<String, String>,
    sdk_version: String,
    repo_alias: Option<String>,
    remotes: Option<Vec<String>>,
    stores: Option<StoreSelection>,
    release_ignore: Vec<String>,
}

/// Returns true when evaluating `source` cannot depend on anything but its text.
fn is_pure(source: &str) -> bool {
    !source
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| IMPURE.contains(&word))
}

fn cfg_env(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    env.iter()
        .filter(|(k, _)| k.starts_with("OCU_CFG_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Like [`evaluate_repo_config`], but reuses an earlier evaluation of the same pure file
/// kept in `cache_dir` (created if missing). Without a cache dir it just evaluates.
///
/// # Errors
///
/// As [`evaluate_repo_config`]. Cache problems are never errors.
pub fn evaluate_repo_config_cached(
    path: &Path,
    source: &str,
    host: &HostContext,
    sink: Arc<dyn PrintSink>,
    cache_dir: Option<&Path>,
) -> Result<RepoConfig, ConfigError> {
    let Some(dir) = cache_dir.filter(|_| is_pure(source)) else {
        return evaluate_repo_config(path, source, host, sink);
    };
    let file = dir.join(CACHE_FILE);
    let env = cfg_env(&host.env);
    let version = env!("CARGO_PKG_VERSION").to_string();
    let path_text = path.to_string_lossy().into_owned();
    if let Ok(bytes) = std::fs::read(&file)
        && let Ok(e) = serde_json::from_slice::<Entry>(&bytes)
        && e.version == version
        && e.path == path_text
        && e.source == source
        && e.cfg_env == env
    {
        return Ok(RepoConfig {
            path: path.to_path_buf(),
            source: e.source,
            sdk_version: e.sdk_version,
            repo_alias: e.repo_alias,
            remotes: e.remotes,
            stores: e.stores,
            release_ignore: e.release_ignore,
            trigger: None,
            notify: None,
        });
    }
    let config = evaluate_repo_config(path, source, host, sink)?;
    let entry = Entry {
        version,
        path: path_text,
        source: source.to_string(),
        cfg_env: env,
        sdk_version: config.sdk_version.clone(),
        repo_alias: config.repo_alias.clone(),
        remotes: config.remotes.clone(),
        stores: config.stores.clone(),
        release_ignore: config.release_ignore.clone(),
    };
    // Best effort: a read-only checkout still works, it just evaluates every time.
    if let Ok(bytes) = serde_json::to_vec(&entry) {
        let tmp = dir.join(format!("{CACHE_FILE}.{}.tmp", std::process::id()));
        let _ = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &file));
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::CollectingSink;

    fn host(dir: &Path) -> HostContext {
        HostContext {
            env: BTreeMap::new(),
            cwd: dir.to_path_buf(),
        }
    }

    #[test]
    fn purity() {
        assert!(is_pure(
            "repo_alias(\"x\")\nstore.set(store.fs(\".store\"))\n"
        ));
        assert!(!is_pure("store.set(store.git(env()[\"REMOTE\"]))"));
        assert!(!is_pure("x = host.shell(\"git remote get-url origin\")"));
        assert!(!is_pure("load(\"./x.ocu.star\", \"y\")"));
        assert!(!is_pure("def t(c):\n    pass\ntrigger(t)\n"));
    }

    #[test]
    fn cached_result_equals_evaluation_and_follows_changes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let path = dir.join("repo.ocu.star");
        let cache = dir.join(".ocuroot");
        let sink: Arc<dyn PrintSink> = Arc::new(CollectingSink::default());
        let a = "repo_alias(\"one\")\nstore.set(store.fs(\".store\"))\n";
        let first = evaluate_repo_config_cached(&path, a, &host(dir), sink.clone(), Some(&cache))
            .expect("eval");
        assert!(cache.join(CACHE_FILE).exists());
        let second = evaluate_repo_config_cached(&path, a, &host(dir), sink.clone(), Some(&cache))
            .expect("cached");
        assert_eq!(first.repo_alias, second.repo_alias);
        assert_eq!(first.stores, second.stores);
        // A changed file is evaluated again.
        let b = "repo_alias(\"two\")\n";
        let third = evaluate_repo_config_cached(&path, b, &host(dir), sink.clone(), Some(&cache))
            .expect("eval");
        assert_eq!(third.repo_alias.as_deref(), Some("two"));
        // So is a changed OCU_CFG_ variable.
        let mut h = host(dir);
        h.env.insert("OCU_CFG_repo_alias".into(), "three".into());
        let fourth =
            evaluate_repo_config_cached(&path, b, &h, sink.clone(), Some(&cache)).expect("eval");
        assert_eq!(fourth.repo_alias.as_deref(), Some("three"));
        // A corrupt cache file is ignored.
        std::fs::write(cache.join(CACHE_FILE), "{not json").expect("write");
        let fifth =
            evaluate_repo_config_cached(&path, b, &host(dir), sink, Some(&cache)).expect("eval");
        assert_eq!(fifth.repo_alias.as_deref(), Some("two"));
    }

    #[test]
    fn errors_are_not_cached() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let cache = dir.join(".ocuroot");
        let sink: Arc<dyn PrintSink> = Arc::new(CollectingSink::default());
        let bad = "repo_alias(\"\")\n";
        assert!(
            evaluate_repo_config_cached(
                &dir.join("repo.ocu.star"),
                bad,
                &host(dir),
                sink,
                Some(&cache)
            )
            .is_err()
        );
        assert!(!cache.join(CACHE_FILE).exists());
    }
}
