//! Plans: what applying intent (for example merging an intent pull request) would do.
//!
//! [`plan`] diffs the intent tree at a revision against the state store's applied-intent
//! mirror and describes, for every changed document, the consequence (an `up` or `down`
//! run, an environment added with the deployments it triggers, custom state written) with
//! the document's old and new canonical YAML, so a reviewer sees both the change and its
//! effect. Nothing is written.

use serde::Serialize;

use crate::intent::IntentKind;
use crate::model::DeployIntent;
use crate::refs::{Glob, Ref};
use crate::store::{Area, DiffKind, MatchOptions, Store, StoreResult, diff_view_blobs};
use crate::yaml;

/// One changed intent document and what applying it would do.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanItem {
    /// The intent ref.
    #[serde(rename = "ref", serialize_with = "ser_ref")]
    pub r: Ref,
    /// `create`, `update` or `delete`.
    pub work_type: String,
    /// What applying it does, in one sentence.
    pub effect: String,
    /// The document state has applied (canonical YAML), if any.
    pub before: Option<String>,
    /// The intent document (canonical YAML), if any.
    pub after: Option<String>,
}

fn ser_ref<S: serde::Serializer>(r: &Ref, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(r)
}

/// Computes the plan for the intent at `rev` (the intent branch tip when `None`).
///
/// # Errors
///
/// Store errors, including a revision that does not resolve.
pub fn plan(intent: &Store, rev: Option<&str>, state: &Store) -> StoreResult<Vec<PlanItem>> {
    // One view per side serves the diff and the document reads, so trees decoded for
    // the diff are not decoded again.
    let view = match rev {
        Some(rev) => intent.view_at(rev)?,
        None => intent.view()?,
    };
    let state_view = state.view()?;
    // The diff hands over the blob ids of both documents, so reading them costs one object
    // lookup each instead of a second walk down their paths.
    let diff = diff_view_blobs(&view, &state_view)?;
    let mut out = Vec::new();
    for d in diff {
        let r = d.entry.r;
        // An intent document that does not parse is reported by `intent check`; the plan
        // shows it without its content.
        let after = d
            .intent
            .and_then(|id| view.document_by_id(Area::Records, &r, id).ok());
        let before = d
            .applied
            .map(|id| state_view.document_by_id(Area::Applied, &r, id))
            .transpose()?;
        let effect = describe(&r, d.entry.kind, after.as_ref(), state)?;
        out.push(PlanItem {
            work_type: d.entry.kind.as_str().to_string(),
            r,
            effect,
            before: before.as_ref().and_then(|v| yaml::to_canonical(v).ok()),
            after: after.as_ref().and_then(|v| yaml::to_canonical(v).ok()),
        });
    }
    Ok(out)
}

fn describe(
    r: &Ref,
    kind: DiffKind,
    after: Option<&serde_json::Value>,
    state: &Store,
) -> StoreResult<String> {
    let pkg = || format!("{}/-/{}", r.repo, r.filename);
    Ok(match (IntentKind::of(r), kind) {
        (Some(IntentKind::Environment), DiffKind::Delete) => {
            let glob = Glob::new(&format!("**/@/deploy/{}", r.subpath))?;
            let n = state
                .match_refs(Area::Records, &[glob], MatchOptions::default())?
                .len();
            format!(
                "remove environment {} after running `down` for its {n} deployment(s)",
                r.subpath
            )
        }
        (Some(IntentKind::Environment), DiffKind::Create) => {
            format!(
                "add environment {}; every package that targets it deploys there",
                r.subpath
            )
        }
        (Some(IntentKind::Environment), DiffKind::Update) => {
            format!(
                "update environment {}; packages re-check their deployments",
                r.subpath
            )
        }
        (Some(IntentKind::Deploy), DiffKind::Delete) => {
            format!("run `down` for {} in {}", pkg(), r.subpath)
        }
        (Some(IntentKind::Deploy), _) => {
            let release = after
                .and_then(|v| serde_json::from_value::<DeployIntent>(v.clone()).ok())
                .map(|i| i.release)
                .unwrap_or_else(|| "?".to_string());
            format!("run `up` of {release} in {}", r.subpath)
        }
        (Some(IntentKind::Custom), DiffKind::Delete) => format!("remove custom state {r}"),
        (Some(IntentKind::Custom), _) => {
            format!("set custom state {r}; runs waiting for it continue")
        }
        (None, _) => format!("{r} is not an intent ref; `ocuroot intent check` reports it"),
    })
}
