//! Which refs can carry intent.
//!
//! Intent covers three kinds of document (spec §1.9): environments
//! (`@/environment/<name>`), custom state (`@/custom/…` or `<pkg>/@<release>/custom/…`)
//! and deploy intent (`<pkg>/@/deploy/<env>`). Everything else in state is a record of
//! what happened and is never written as intent.

use crate::refs::Ref;

/// The kind of an intent document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntentKind {
    /// `@/environment/<name>`.
    Environment,
    /// `@/custom/…` or `<pkg>/@<release>/custom/…`.
    Custom,
    /// `<pkg>/@/deploy/<env>`.
    Deploy,
}

impl IntentKind {
    /// Returns the intent kind of `r`, or `None` if `r` cannot carry intent.
    pub fn of(r: &Ref) -> Option<IntentKind> {
        if !r.fragment.is_empty() || r.is_relative() {
            return None;
        }
        let single = !r.subpath.is_empty() && !r.subpath.contains('/');
        if r.global {
            return match r.subpath_type.as_str() {
                "environment" if single => Some(IntentKind::Environment),
                "custom" if !r.subpath.is_empty() => Some(IntentKind::Custom),
                _ => None,
            };
        }
        let release = r.release.as_deref()?;
        if r.filename.is_empty() {
            return None;
        }
        match r.subpath_type.as_str() {
            "custom" if !r.subpath.is_empty() => Some(IntentKind::Custom),
            "deploy" if single && release.is_empty() => Some(IntentKind::Deploy),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

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
    #[test_case("./custom/approval", None)]
    fn intent_kinds(r: &str, expected: Option<IntentKind>) {
        assert_eq!(IntentKind::of(&r.parse().expect("ref")), expected);
    }
}
