//! The mapping between refs and paths inside a store's Git tree.
//!
//! A store occupies a folder of a branch (the branch root, or `state/` / `intent/` when two
//! stores share one branch). Inside it:
//!
//! ```text
//! ocuroot-store.yaml            format marker: `format: 1` and `kind: state|intent`
//! refs/<ref segments>/#.yaml    the document of a ref, canonical YAML
//! refs/<ref segments>/#.link    a link: one line, the canonical target ref
//! applied/<ref segments>/#.yaml the applied-intent mirror (state stores only)
//! repos/<repo>/-/repo.ocu.star/@/#.yaml
//!                               the latest recorded configuration of each repository
//!                               (separate intent stores only, see `docs/state-format.md`)
//! ```
//!
//! `<ref segments>` is the canonical ref string without its fragment, split on `/`. The
//! mapping is invertible (join the folder names with `/` and parse) and collision-free: a
//! ref's document lives *inside* the ref's folder, so `a` and `a/b` never compete for one
//! tree entry, and the file names `#.yaml` / `#.link` can never be a ref segment because `#`
//! always starts a fragment. The ref parser rejects `.`, `..`, empty and control-character
//! segments, so no ref can name a path outside its folder.

use crate::refs::Ref;

/// File name of a document inside its ref folder.
pub const DOC_FILE: &str = "#.yaml";
/// File name of a link inside its ref folder.
pub const LINK_FILE: &str = "#.link";
/// File name of the format marker at the store root.
pub const MARKER_FILE: &str = "ocuroot-store.yaml";
/// The store format version this build reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// Which part of a store a path belongs to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    /// The records: `refs/` (state records or intent documents).
    Records,
    /// The applied-intent mirror of a state store: `applied/`.
    Applied,
    /// The repositories' latest recorded configurations, copied into a separate intent
    /// store (`repos/`), so that a checkout of the intent store alone finds the other
    /// store and the triggers (spec §5.1). Never part of the intent diff.
    Repos,
}

impl Area {
    /// The folder name of the area inside the store.
    pub fn dir(self) -> &'static str {
        match self {
            Area::Records => "refs",
            Area::Applied => "applied",
            Area::Repos => "repos",
        }
    }
}

/// Returns the path segments (relative to the store folder) of a ref's folder.
pub fn ref_dir(area: Area, r: &Ref) -> Vec<String> {
    let mut out = vec![area.dir().to_string()];
    out.extend(r.storage_segments());
    out
}

/// Returns the path (relative to the store folder) of a ref's document file.
pub fn doc_path(area: Area, r: &Ref) -> Vec<String> {
    let mut out = ref_dir(area, r);
    out.push(DOC_FILE.to_string());
    out
}

/// Returns the path (relative to the store folder) of a ref's link file.
pub fn link_path(area: Area, r: &Ref) -> Vec<String> {
    let mut out = ref_dir(area, r);
    out.push(LINK_FILE.to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_paths() {
        let r: Ref = "minimal/repo/-/basic.ocu.star/@r1/deploy/staging#output/x"
            .parse()
            .expect("ref");
        assert_eq!(
            doc_path(Area::Records, &r).join("/"),
            "refs/minimal/repo/-/basic.ocu.star/@r1/deploy/staging/#.yaml"
        );
        let g: Ref = "@/environment/production".parse().expect("ref");
        assert_eq!(
            link_path(Area::Applied, &g).join("/"),
            "applied/@/environment/production/#.link"
        );
    }
}
