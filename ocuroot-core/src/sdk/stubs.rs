//! The SDK as Starlark stubs: every builtin of a package file and of `repo.ocu.star`, with
//! its parameters and documentation, for `ocuroot mcp`'s `sdk` tool (spec §5.2: the
//! original returned its SDK stub files).
//!
//! The stubs are rendered from the globals themselves (starlark-rust's documentation of
//! each native function and of the prelude's `def`s), so they cannot drift from what the
//! SDK accepts. Namespace members are rendered as `def _<ns>_<member>(...)` followed by
//! `<ns> = struct(<member> = _<ns>_<member>, ...)`, the shape of the original's stubs.

use std::collections::BTreeSet;

use starlark::docs::{DocItem, DocMember, DocModule};
use starlark::environment::{GlobalsBuilder, LibraryExtension};

use super::version::{DEFAULT_SDK_VERSION, VersionError, resolve_version};

/// Returns the stubs of SDK `version`: `latest`, an exact version or a constraint such as
/// `0.3.x` (resolved as `ocuroot("…")` is).
///
/// # Errors
///
/// [`VersionError::NotFound`] when no SDK version of this binary matches.
pub fn sdk_stubs(version: &str) -> Result<String, VersionError> {
    let version = if version == "latest" {
        DEFAULT_SDK_VERSION.to_owned()
    } else {
        resolve_version(version)?
    };
    let base: BTreeSet<String> =
        GlobalsBuilder::extended_by(&[LibraryExtension::StructType, LibraryExtension::Print])
            .build()
            .names()
            .map(|n| n.as_str().to_owned())
            .collect();
    let mut out = format!(
        "# Ocuroot SDK {version}: the builtins of package files and repo.ocu.star.\n\
         # Generated from the SDK itself. Select this version with ocuroot(\"{version}\").\n"
    );
    let mut seen = BTreeSet::new();
    let package = super::package::package_globals().documentation();
    let repo = super::globals_builder()
        .with(crate::sdk::repo_builtins::register_repo_builtins)
        .build()
        .documentation();
    for (section, doc) in [("package files", package), ("repo.ocu.star", repo)] {
        out.push_str(&format!("\n# ---- builtins of {section} ----\n"));
        render_members(&doc, &base, &mut seen, &mut out);
    }
    Ok(out)
}

fn render_members(
    doc: &DocModule,
    base: &BTreeSet<String>,
    seen: &mut BTreeSet<String>,
    out: &mut String,
) {
    for (name, item) in &doc.members {
        if base.contains(name) || name.starts_with('_') || !seen.insert(name.clone()) {
            continue;
        }
        match item {
            DocItem::Module(ns) => {
                let mut fields = Vec::new();
                for (member, item) in &ns.members {
                    let stub = format!("_{name}_{member}");
                    if let DocItem::Member(DocMember::Function(f)) = item {
                        out.push('\n');
                        out.push_str(&f.render_as_code(&stub));
                        out.push('\n');
                        fields.push(format!("    {member} = {stub},"));
                    }
                }
                out.push_str(&format!("\n{name} = struct(\n{}\n)\n", fields.join("\n")));
            }
            DocItem::Member(DocMember::Function(f)) => {
                out.push('\n');
                out.push_str(&f.render_as_code(name));
                out.push('\n');
            }
            DocItem::Member(DocMember::Property(_)) | DocItem::Type(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_list_the_builtins_with_their_keywords() {
        let stubs = sdk_stubs("latest").expect("stubs");
        assert_eq!(sdk_stubs("0.3.x").expect("constraint"), stubs);
        assert!(stubs.starts_with("# Ocuroot SDK 0.3.0"), "{stubs}");
        for needle in [
            "def secret(value",
            "def ref(ref",
            "def register_environment(env",
            "def task(fn",
            "def environment_from_json(envJSON",
            "def _host_shell(",
            "    shell = _host_shell,",
            "def _store_set(state",
            "def repo_alias(alias",
            "def trigger(fn",
            "def _http_post(",
        ] {
            assert!(stubs.contains(needle), "missing {needle:?} in\n{stubs}");
        }
        // Universals are not part of the SDK.
        assert!(!stubs.contains("def len("), "{stubs}");
        assert!(matches!(sdk_stubs("9.9.9"), Err(VersionError::NotFound(_))));
    }
}
