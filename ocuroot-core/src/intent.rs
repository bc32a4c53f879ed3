//! Which refs can carry intent.
//!
//! Intent covers three kinds of document (spec §1.9): environments
//! (`@/environment/<name>`), custom state (`@/custom/…` or `<pkg>/@<release>/custom/…`)
//! and deploy intent (`<pkg>/@/deploy/<env>`), plus ocuroot's own: freezes
//! (`@/environment/<env>/freeze`), promotion records (`@/environment/<env>/promotion`) and
//! bad marks (`<pkg>/@<release>/custom/ocuroot/bad`). Everything else in state is a record
//! of what happened and is never written as intent.
//!
//! [`check`] judges every entry of an intent tree, [`check_changes`] the entries that differ
//! from what state applied (symlinks, gitlinks, stray files and folders included, by path),
//! and [`check_write`] a document before a command writes it, all with the same rules.

use std::fmt;

use serde_json::Value;

use crate::limits;
use crate::model::{DeployIntent, Environment, ReleaseDoc, WorkSpec};
use crate::refs::{Ref, names};
use crate::store::layout::{DOC_FILE, LINK_FILE};
use crate::store::{Area, FileKind, Store, StoreResult, View};
use crate::yaml;

/// The kind of an intent document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntentKind {
    /// `@/environment/<name>`.
    Environment,
    /// `@/custom/…` or `<pkg>/@<release>/custom/…`.
    Custom,
    /// `<pkg>/@/deploy/<env>`.
    Deploy,
    /// `@/environment/<env>/freeze`: the environment is frozen.
    Freeze,
    /// `<pkg>/@<release>/custom/ocuroot/bad`: the release is marked bad.
    BadMark,
    /// `@/environment/<env>/promotion`: the record of the last promotion to the environment.
    Promotion,
}

impl IntentKind {
    /// Returns the intent kind of `r`, or `None` if `r` cannot carry intent.
    pub fn of(r: &Ref) -> Option<IntentKind> {
        if !r.fragment.is_empty() || r.is_relative() {
            return None;
        }
        let single = !r.subpath.is_empty() && !r.subpath.contains('/');
        if r.global {
            let last = r
                .subpath
                .split_once('/')
                .filter(|(env, _)| !env.is_empty())
                .map(|(_, last)| last);
            return match r.type_str() {
                "environment" if single => Some(IntentKind::Environment),
                "environment" if last == Some(crate::refs::FREEZE) => Some(IntentKind::Freeze),
                "environment" if last == Some(crate::refs::PROMOTION) => {
                    Some(IntentKind::Promotion)
                }
                "custom" if !r.subpath.is_empty() => Some(IntentKind::Custom),
                _ => None,
            };
        }
        let release = r.release.as_deref()?;
        if r.filename.is_empty() {
            return None;
        }
        match r.type_str() {
            "custom" if r.subpath == crate::refs::BAD_MARK && !release.is_empty() => {
                Some(IntentKind::BadMark)
            }
            // `custom/ocuroot/` is reserved for ocuroot's own documents.
            "custom" if r.subpath.starts_with("ocuroot/") => None,
            "custom" if !r.subpath.is_empty() => Some(IntentKind::Custom),
            "deploy" if single && release.is_empty() => Some(IntentKind::Deploy),
            _ => None,
        }
    }
}

/// One problem found by [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentProblem {
    /// The file's path inside the intent branch.
    pub path: String,
    /// The line of the file the problem is on, where known (1 for a document that parses
    /// but does not fit its schema).
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl IntentProblem {
    /// A problem of the file at `path`, on `line` where known.
    pub fn new(path: String, line: Option<usize>, message: String) -> IntentProblem {
        IntentProblem {
            path,
            line,
            message,
        }
    }
}

impl fmt::Display for IntentProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Validates every intent document of `intent` (a view of the intent store at some
/// revision) against its schema and against `state`: each file must be a canonical-path
/// document of an intent ref, parse as YAML, fit its kind's schema, and name an existing
/// release and deployment configuration.
///
/// # Errors
///
/// Git errors reading either store. Problems with the documents are returned, not errors.
pub fn check(intent: &View<'_>, state: &Store) -> StoreResult<Vec<IntentProblem>> {
    let mut problems = Vec::new();
    for file in intent.files(Area::Records)? {
        let mut problem =
            |message: String| problems.push(IntentProblem::new(file.path.clone(), None, message));
        if file.kind != FileKind::File {
            problem(format!(
                "{} is not allowed in intent; write the document itself",
                file.kind.describe()
            ));
            continue;
        }
        if file.name == LINK_FILE {
            problem("links are not allowed in intent; write the document itself".to_string());
            continue;
        }
        if file.name != DOC_FILE {
            problem(format!(
                "unexpected file {:?}: intent documents are named {DOC_FILE}",
                file.name
            ));
            continue;
        }
        let Some(r) = &file.r else {
            problem(match &file.folder_error {
                Some(e) => format!("the folder does not name a valid ref: {e}"),
                None => "the folder does not name a valid ref".to_string(),
            });
            continue;
        };
        let Some(kind) = IntentKind::of(r) else {
            problem(format!(
                "{r} is not an intent ref (environments, freezes, promotions, custom state, bad marks and deployments only)"
            ));
            continue;
        };
        if let Err(e) = check_size(file.text.len()) {
            problem(format!("{r}: {e}"));
            continue;
        }
        let value: Value = match yaml::value_from_str(&file.text) {
            Ok(v) => v,
            Err(e) => {
                problem(format!("{r}: {e}"));
                continue;
            }
        };
        if let Err(e) = limits::check_value(&value, &limits::current()) {
            problem(format!("{r}: {e}"));
            continue;
        }
        if let Err(message) = check_document(kind, r, value, state) {
            problem(format!("{r}: {message}"));
        }
    }
    Ok(problems)
}

/// Validates only the intent documents that differ from what state applied: what `work`
/// commands are about to act on. Cost follows the number of changes, not the store size.
///
/// # Errors
///
/// Git errors reading either store.
pub fn check_changes(intent: &Store, state: &Store) -> StoreResult<Vec<IntentProblem>> {
    let mut problems: Vec<IntentProblem> = crate::store::intent_tree_problems(intent, state)?
        .into_iter()
        .map(|p| IntentProblem::new(p.path, None, p.message))
        .collect();
    let view = intent.view()?;
    for d in crate::store::diff_intent(intent, state)? {
        if d.kind == crate::store::DiffKind::Delete {
            continue;
        }
        let path = intent.doc_path(Area::Records, &d.r);
        let raw = match view.raw_document(Area::Records, &d.r) {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                problems.push(IntentProblem::new(
                    path,
                    None,
                    format!("{}: not a document", d.r),
                ));
                continue;
            }
            Err(crate::store::StoreError::NotAFile { what, .. }) => {
                problems.push(IntentProblem::new(
                    path,
                    None,
                    format!("{}: {what} is not allowed in intent", d.r),
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Err(p) = validate_document(path, &d.r, &raw, state) {
            problems.push(p);
        }
    }
    Ok(problems)
}

/// Checks a rendered intent document's size against `max_document_bytes`.
fn check_size(bytes: usize) -> Result<(), limits::LimitError> {
    let limits = limits::current();
    if bytes > limits.max_document_bytes {
        return Err(limits::LimitError::document(bytes, &limits));
    }
    Ok(())
}

/// Validates `value` as the intent document of `r` before it is written: the same rules as
/// [`check`] (the ref must carry intent, the document must fit its kind's schema, name an
/// existing release and deployment, and stay within the limits), so that no command can
/// write intent that would then block every `work` command.
///
/// # Errors
///
/// One message saying what is wrong (the caller names the ref).
pub fn check_write(r: &Ref, value: &Value, state: &Store) -> Result<(), String> {
    let Some(kind) = IntentKind::of(r) else {
        return Err(format!(
            "{r} is not an intent ref (environments, freezes, promotions, custom state, bad marks and deployments only)"
        ));
    };
    let limits = limits::current();
    limits::check_value(value, &limits).map_err(|e| e.to_string())?;
    let text = yaml::to_canonical(value).map_err(|e| e.to_string())?;
    check_size(text.len()).map_err(|e| e.to_string())?;
    check_document(kind, r, value.clone(), state)
}

/// Validates one intent document: `raw` is the text of the file at `path` on the intent
/// branch, the document of `r`. It must be an intent ref, parse as YAML and fit its kind's
/// schema, naming a release and deployment that exist in `state`. Returns the document's
/// kind and value, or the problem (with the line where the parser names one).
pub fn validate_document(
    path: String,
    r: &Ref,
    raw: &str,
    state: &Store,
) -> Result<(IntentKind, Value), IntentProblem> {
    let Some(kind) = IntentKind::of(r) else {
        return Err(IntentProblem::new(
            path,
            None,
            format!(
                "{r} is not an intent ref (environments, freezes, promotions, custom state, bad marks and deployments only)"
            ),
        ));
    };
    check_size(raw.len())
        .map_err(|e| IntentProblem::new(path.clone(), None, format!("{r}: {e}")))?;
    let value: Value = yaml::value_from_str(raw).map_err(|e| {
        let message = e.to_string();
        IntentProblem::new(path.clone(), yaml_line(&message), format!("{r}: {message}"))
    })?;
    limits::check_value(&value, &limits::current())
        .map_err(|e| IntentProblem::new(path.clone(), Some(1), format!("{r}: {e}")))?;
    check_document(kind, r, value.clone(), state)
        .map_err(|message| IntentProblem::new(path, Some(1), format!("{r}: {message}")))?;
    Ok((kind, value))
}

/// Extracts the line number from a YAML parser message (`… at line 3, column 5`).
fn yaml_line(message: &str) -> Option<usize> {
    let at = message.find("line ")?;
    let digits: String = message[at + 5..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Checks one parsed intent document of kind `kind` at `r` against its schema and against
/// `state` (the release and deployment it names exist). Returns what is wrong.
fn check_document(kind: IntentKind, r: &Ref, value: Value, state: &Store) -> Result<(), String> {
    match kind {
        IntentKind::Freeze => {
            let freeze: crate::model::Freeze = serde_json::from_value(value)
                .map_err(|e| format!("not a freeze ({{reason, until}}): {e}"))?;
            let env = r.subpath.split('/').next().unwrap_or_default();
            if !names::is_valid_environment_name(env) {
                return Err(format!(
                    "environment names may only contain letters, numbers, periods and underscores: {env}"
                ));
            }
            if let Some(until) = &freeze.until
                && crate::clock::Timestamp::parse(until).is_none()
            {
                return Err(format!("until is not an RFC 3339 time: {until:?}"));
            }
            Ok(())
        }
        IntentKind::Promotion => {
            let p: crate::model::Promotion = serde_json::from_value(value).map_err(|e| {
                format!(
                    "not a promotion ({{from, to, package, deployments, requested-by, time}}): {e}"
                )
            })?;
            let env = r.subpath.split('/').next().unwrap_or_default();
            for name in [&p.from, &p.to] {
                if !names::is_valid_environment_name(name) {
                    return Err(format!(
                        "environment names may only contain letters, numbers, periods and underscores: {name}"
                    ));
                }
            }
            if p.to != env {
                return Err(format!(
                    "to ({:?}) must match the environment of the ref ({env:?})",
                    p.to
                ));
            }
            if crate::clock::Timestamp::parse(&p.time).is_none() {
                return Err(format!("time is not an RFC 3339 time: {:?}", p.time));
            }
            if p.deployments.is_empty() {
                return Err("a promotion lists at least one deployment".to_string());
            }
            for d in &p.deployments {
                let release = Ref::parse(&d.release)
                    .map_err(|e| format!("release {:?} is not a ref: {e}", d.release))?;
                if release.release.as_deref().is_none_or(str::is_empty)
                    || release != release.release_ref()
                    || release.package_ref().to_string() != d.package
                {
                    return Err(format!(
                        "release {} is not a release of package {}",
                        d.release, d.package
                    ));
                }
                match state.try_get(&release) {
                    Ok(Some(_)) => {}
                    Ok(None) => return Err(format!("release {release} does not exist in state")),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(())
        }
        IntentKind::BadMark => {
            let _: crate::model::BadMark = serde_json::from_value(value)
                .map_err(|e| format!("not a bad mark ({{reason}}): {e}"))?;
            let release = r.release_ref();
            match state.resolve_link(&release).and_then(|x| state.try_get(&x)) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(format!("release {release} does not exist in state")),
                Err(e) => Err(e.to_string()),
            }
        }
        IntentKind::Custom => {
            if r.global || r.release.as_deref() == Some("") {
                return Ok(());
            }
            let release = Ref {
                repo: r.repo.clone(),
                filename: r.filename.clone(),
                release: r.release.clone(),
                ..Ref::default()
            };
            match state.resolve_link(&release).and_then(|x| state.try_get(&x)) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(format!("release {release} does not exist in state")),
                Err(e) => Err(e.to_string()),
            }
        }
        IntentKind::Environment => {
            let env: Environment = serde_json::from_value(value).map_err(|e| {
                format!(
                    "not an environment document ({{name, attributes: {{string: string}}}}): {e}"
                )
            })?;
            if !names::is_valid_environment_name(&env.name) {
                return Err(format!(
                    "environment names may only contain letters, numbers, periods and underscores: {}",
                    env.name
                ));
            }
            if env.name != r.subpath {
                return Err(format!(
                    "environment name ({:?}) must match subpath ({:?})",
                    env.name, r.subpath
                ));
            }
            Ok(())
        }
        IntentKind::Deploy => {
            let intent: DeployIntent = serde_json::from_value(value)
                .map_err(|e| format!("not a deploy intent ({{release, input}}): {e}"))?;
            let release = Ref::parse(&intent.release).map_err(|e| e.to_string())?;
            let doc = match state.try_get(&release) {
                Ok(Some(v)) => v,
                Ok(None) => return Err(format!("release {release} does not exist in state")),
                Err(e) => return Err(e.to_string()),
            };
            let doc: ReleaseDoc = serde_json::from_value(doc)
                .map_err(|e| format!("release {release} is unreadable: {e}"))?;
            match doc.package.find("deploy", &r.subpath) {
                Some((_, WorkSpec::Deploy(_))) => {}
                _ => {
                    return Err(format!(
                        "release {release} has no deployment to {}",
                        r.subpath
                    ));
                }
            }
            let env =
                Ref::parse(&format!("@/environment/{}", r.subpath)).map_err(|e| e.to_string())?;
            if state.try_get(&env).map_err(|e| e.to_string())?.is_none() {
                return Err(format!("environment {} does not exist in state", r.subpath));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test]
    fn yaml_lines_are_found_in_parser_messages() {
        assert_eq!(yaml_line("invalid YAML: bad at line 3, column 5"), Some(3));
        assert_eq!(yaml_line("no position"), None);
    }

    #[test_case("@/environment/staging", Some(IntentKind::Environment))]
    #[test_case("@/custom/test", Some(IntentKind::Custom))]
    #[test_case("@/custom/credential/staging", Some(IntentKind::Custom))]
    #[test_case(
        "minimal/repo/-/approvals.ocu.star/@v1/custom/approval",
        Some(IntentKind::Custom)
    )]
    #[test_case(
        "minimal/repo/-/basic.ocu.star/@/deploy/production",
        Some(IntentKind::Deploy)
    )]
    #[test_case("minimal/repo/-/basic.ocu.star/@r1/deploy/production", None)]
    #[test_case("minimal/repo/-/basic.ocu.star/@r1", None)]
    #[test_case("minimal/repo/-/basic.ocu.star/@r1/task/build/1", None)]
    #[test_case("@/environment/staging#name", None)]
    #[test_case("@/environment/staging/freeze", Some(IntentKind::Freeze))]
    #[test_case("@/environment/staging/other", None)]
    #[test_case("@/environment/staging/freeze/x", None)]
    #[test_case("@/environment/staging/promotion", Some(IntentKind::Promotion))]
    #[test_case("@/environment/staging/promotion/x", None)]
    #[test_case(
        "minimal/repo/-/basic.ocu.star/@r1/custom/ocuroot/bad",
        Some(IntentKind::BadMark)
    )]
    #[test_case("minimal/repo/-/basic.ocu.star/@/custom/ocuroot/bad", None)]
    #[test_case("minimal/repo/-/basic.ocu.star/@r1/custom/ocuroot/other", None)]
    #[test_case("./custom/approval", None)]
    fn intent_kinds(r: &str, expected: Option<IntentKind>) {
        assert_eq!(IntentKind::of(&r.parse().expect("ref")), expected);
    }
}
