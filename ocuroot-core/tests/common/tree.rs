//! Text renderings of store trees for snapshots: [`Tree`] (every file with its text, or
//! what changed between two trees) and [`filter`], which takes out what differs between
//! runs of the suite (temporary folders, commit ids, the platform).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

static HEX: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b[0-9a-f]{40}\b").expect("regex"));

/// `os()` and `arch()` as the `minimal` fixture's build prints them.
static PLATFORM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"building on [a-z0-9_]+/[a-z0-9_]+").expect("regex"));

/// Replaces `root` with `$TEST_ENV`, each of `commits` with `[commit:<n>]` (1-based), other
/// 40-digit hex ids with `[HASH]`, and the platform the `minimal` fixture prints with
/// `[PLATFORM]`.
pub fn filter(text: &str, root: &Path, commits: &[String]) -> String {
    let mut out = text.replace(root.to_str().expect("utf-8"), "$TEST_ENV");
    for (i, c) in commits.iter().enumerate() {
        out = out.replace(c.as_str(), &format!("[commit:{}]", i + 1));
    }
    let out = HEX.replace_all(&out, "[HASH]");
    PLATFORM
        .replace_all(&out, "building on [PLATFORM]")
        .into_owned()
}

/// Files of a store: path and text, both filtered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree(pub BTreeMap<String, String>);

impl Tree {
    /// Every path with its text indented below it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (path, text) in &self.0 {
            push_file(&mut out, "", path, Some(text));
        }
        out
    }

    /// What changed from `before` to this tree: files added (`+`, with their text), changed
    /// (`~`, with their new text) and removed (`-`).
    pub fn diff(&self, before: &Tree) -> String {
        let mut out = String::new();
        let paths: BTreeSet<&String> = self.0.keys().chain(before.0.keys()).collect();
        for path in paths {
            match (before.0.get(path), self.0.get(path)) {
                (None, Some(text)) => push_file(&mut out, "+ ", path, Some(text)),
                (Some(old), Some(text)) if old != text => {
                    push_file(&mut out, "~ ", path, Some(text))
                }
                (Some(_), None) => push_file(&mut out, "- ", path, None),
                _ => {}
            }
        }
        out
    }
}

fn push_file(out: &mut String, mark: &str, path: &str, text: Option<&str>) {
    out.push_str(mark);
    out.push_str(path);
    out.push('\n');
    for line in text.unwrap_or_default().lines() {
        out.push_str("      ");
        out.push_str(line);
        out.push('\n');
    }
}

#[test]
fn diffs_mark_added_changed_and_removed_files() {
    let tree = |files: &[(&str, &str)]| {
        Tree(
            files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
        )
    };
    let before = tree(&[("a", "1"), ("b", "2"), ("c", "3")]);
    let after = tree(&[("a", "1"), ("b", "two"), ("d", "4\n5")]);
    assert_eq!(
        after.diff(&before),
        "~ b\n      two\n- c\n+ d\n      4\n      5\n"
    );
    assert_eq!(after.diff(&after), "");
    assert_eq!(before.render(), "a\n      1\nb\n      2\nc\n      3\n");
}

#[test]
fn filters_take_out_what_differs_between_runs() {
    let root = Path::new("/tmp/xyz");
    let c1 = "a".repeat(40);
    let other = "b".repeat(40);
    assert_eq!(
        filter(
            &format!("/tmp/xyz/o.git {c1} {other} building on linux/amd64"),
            root,
            std::slice::from_ref(&c1)
        ),
        "$TEST_ENV/o.git [commit:1] [HASH] building on [PLATFORM]"
    );
}
