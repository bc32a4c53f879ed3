//! Example configurations shipped in the binary, for `ocuroot mcp`'s `example_list` and
//! `example_get` tools (spec §5.2).
//!
//! Each [`Example`] is a small repository: package files, an environments file and a
//! README. The tests evaluate every package file of every example with the real SDK, so an
//! example that stops working with the SDK fails the build's tests.

/// One example: a name, a one-line description and its files.
#[derive(Clone, Copy, Debug)]
pub struct Example {
    /// The name `example_get` takes (`quickstart`).
    pub name: &'static str,
    /// What the example shows, in one line.
    pub description: &'static str,
    /// The files, as (path relative to the repository root, content).
    pub files: &'static [(&'static str, &'static str)],
}

impl Example {
    /// Returns the example as one text: each file under a `# ==> <path> <==` header.
    pub fn render(&self) -> String {
        let mut out = format!("# Example: {}\n# {}\n", self.name, self.description);
        for (path, content) in self.files {
            out.push_str(&format!("\n# ==> {path} <==\n{content}"));
            if !content.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

const EXAMPLES: &[Example] = &[
    Example {
        name: "quickstart",
        description: "Build once, deploy to staging, then production, with outputs passed as inputs",
        files: &[
            (
                "repo.ocu.star",
                include_str!("../../../examples/quickstart/repo.ocu.star"),
            ),
            (
                "environments.ocu.star",
                include_str!("../../../examples/quickstart/environments.ocu.star"),
            ),
            (
                "release.ocu.star",
                include_str!("../../../examples/quickstart/release.ocu.star"),
            ),
            (
                "VERSION",
                include_str!("../../../examples/quickstart/VERSION"),
            ),
        ],
    },
    Example {
        name: "approvals",
        description: "Production waits for an approval given as custom state",
        files: &[
            ("README.md", include_str!("examples/approvals/README.md")),
            (
                "environments.ocu.star",
                include_str!("examples/approvals/environments.ocu.star"),
            ),
            (
                "release.ocu.star",
                include_str!("examples/approvals/release.ocu.star"),
            ),
        ],
    },
    Example {
        name: "dependencies",
        description: "A package deploys with an output of another package's deployment",
        files: &[
            ("README.md", include_str!("examples/dependencies/README.md")),
            (
                "environments.ocu.star",
                include_str!("examples/dependencies/environments.ocu.star"),
            ),
            (
                "backend.ocu.star",
                include_str!("examples/dependencies/backend.ocu.star"),
            ),
            (
                "frontend.ocu.star",
                include_str!("examples/dependencies/frontend.ocu.star"),
            ),
        ],
    },
];

/// Returns every shipped example, sorted by name.
pub fn examples() -> Vec<Example> {
    let mut out = EXAMPLES.to_vec();
    out.sort_by_key(|e| e.name);
    out
}

/// Returns the example called `name`, if there is one.
pub fn example(name: &str) -> Option<Example> {
    EXAMPLES.iter().find(|e| e.name == name).copied()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::refs::Ref;
    use crate::sdk::{
        CollectingSink, HostContext, PackageEval, PackageEvalOptions, Secrets, evaluate_package,
    };

    fn eval(root: &std::path::Path, file: &str, envs: &[crate::model::Environment]) -> PackageEval {
        let opts = PackageEvalOptions {
            root: root.to_path_buf(),
            file: file.to_owned(),
            base_ref: Ref::parse(&format!("example/-/{file}/@r1")).expect("ref"),
            environments: envs.to_vec(),
            host: HostContext {
                env: BTreeMap::new(),
                cwd: root.to_path_buf(),
            },
            sink: Arc::new(CollectingSink::default()),
            secrets: Secrets::default(),
        };
        evaluate_package(&opts).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    #[test]
    fn every_example_evaluates_with_the_sdk() {
        let all = examples();
        let names: Vec<&str> = all.iter().map(|e| e.name).collect();
        assert_eq!(names, ["approvals", "dependencies", "quickstart"]);
        for ex in &all {
            let dir = tempfile::tempdir().expect("tempdir");
            for (path, content) in ex.files {
                std::fs::write(dir.path().join(path), content).expect("write");
            }
            let envs = match eval(dir.path(), "environments.ocu.star", &[]) {
                PackageEval::Environments(envs) => envs,
                other => panic!("{}: environments file gave {other:?}", ex.name),
            };
            assert!(!envs.is_empty(), "{}", ex.name);
            let mut packages = 0;
            for (path, _) in ex.files {
                if path.ends_with(".ocu.star")
                    && *path != "environments.ocu.star"
                    && *path != "repo.ocu.star"
                {
                    match eval(dir.path(), path, &envs) {
                        PackageEval::Package(p) => assert!(!p.package.phases.is_empty()),
                        other => panic!("{}/{path}: {other:?}", ex.name),
                    }
                    packages += 1;
                }
            }
            assert!(packages > 0, "{} has a package", ex.name);
            let text = ex.render();
            assert!(text.contains("# ==> environments.ocu.star <=="), "{text}");
        }
        assert!(example("approvals").is_some());
        assert!(example("nope").is_none());
    }
}
