//! Validators for the names that end up inside refs: tags, release ids, environment names and
//! task input names (spec §2.3 and the SDK validation rules).
//!
//! These are plain predicates; callers decide which error to report.

/// Returns true if `s` is a valid release tag: `^[a-zA-Z0-9-_.]+$` and not a release id
/// (`^r[0-9]+$`).
pub fn is_valid_tag(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !is_release_id(s)
}

/// Returns the number of a release id (`"r12"` gives `Some(12)`), or `None` when `s` is not
/// of the form `r<digits>` or the number overflows.
pub fn release_number(s: &str) -> Option<u64> {
    if !is_release_id(s) {
        return None;
    }
    s[1..].parse().ok()
}

/// Returns true if `s` matches `^r[0-9]+$`.
fn is_release_id(s: &str) -> bool {
    s.strip_prefix('r')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Returns true if `s` is a valid environment name: `^[a-zA-Z0-9_.]+$`.
pub fn is_valid_environment_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
}

/// Returns true if `s` is a valid task input name: `^[a-zA-Z_][a-zA-Z0-9_]*$`.
pub fn is_valid_input_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use test_case::test_case;

    use super::*;

    #[test_case("v1", true; "simple")]
    #[test_case("0.1.0-1", true; "semver")]
    #[test_case("a_b.c-d", true; "all punctuation")]
    #[test_case("r1", false; "release id")]
    #[test_case("r123", false; "long release id")]
    #[test_case("r", true; "bare r")]
    #[test_case("r1a", true; "release id with suffix")]
    #[test_case("invalid/tag", false; "slash")]
    #[test_case("", false; "empty")]
    #[test_case("a b", false; "space")]
    #[test_case("a+b", false; "plus")]
    fn tag(s: &str, ok: bool) {
        assert_eq!(is_valid_tag(s), ok);
    }

    #[test_case("r12", Some(12); "twelve")]
    #[test_case("r0", Some(0); "zero")]
    #[test_case("r007", Some(7); "leading zeros")]
    #[test_case("r", None; "no digits")]
    #[test_case("v12", None; "not r")]
    #[test_case("r1x", None; "suffix")]
    #[test_case("r99999999999999999999999", None; "overflow")]
    fn release(s: &str, n: Option<u64>) {
        assert_eq!(release_number(s), n);
    }

    #[test_case("production", true; "plain")]
    #[test_case("prod_2.eu", true; "underscore dot")]
    #[test_case("invalid/name", false; "slash")]
    #[test_case("bad+environment", false; "plus")]
    #[test_case("bad-env", false; "dash")]
    #[test_case("", false; "empty")]
    fn environment(s: &str, ok: bool) {
        assert_eq!(is_valid_environment_name(s), ok);
    }

    #[test_case("input1", true; "plain")]
    #[test_case("_x", true; "underscore first")]
    #[test_case("0startswithnumber", false; "digit first")]
    #[test_case("bad-input", false; "dash")]
    #[test_case("", false; "empty")]
    fn input(s: &str, ok: bool) {
        assert_eq!(is_valid_input_name(s), ok);
    }
}
