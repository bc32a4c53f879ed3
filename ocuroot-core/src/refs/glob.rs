//! Glob patterns over canonical ref strings (spec §2.5).
//!
//! The syntax and semantics are those of gobwas/glob with `/` as the separator:
//! `*` matches any run of non-`/` characters, `**` any run including `/`, `?` one non-`/`
//! character, `[abc]`/`[a-z]` a class and `[^…]`/`[!…]` a negated class (classes may match
//! `/`, as in gobwas), `{a,b}` alternatives (which may nest and contain any syntax), and `\`
//! escapes the next character. Everything else is literal; in particular `+` is a literal,
//! so the Package pattern `**/[^@]+/**` keeps the original's meaning.
//!
//! A [`Glob`] is compiled to an anchored [`regex::Regex`]. [`patterns`] holds the internal
//! named globs; [`Glob::literal_prefix_segments`] tells a store which subtree to walk.

use std::fmt;

use regex::Regex;

use super::Ref;

/// The internal named globs of spec §2.5.
pub mod patterns {
    /// Anything inside a package (original pattern, `+` is a literal).
    pub const PACKAGE: &str = "**/[^@]+/**";
    /// Repo config documents and the `@` link to the latest.
    pub const REPO_CONFIG: &str = "**/-/repo.ocu.star/@*";
    /// Releases (and tag links).
    pub const RELEASE: &str = "**/@*";
    /// Task and deployment summaries.
    pub const TASK: &str = "**/@*/{task,deploy}/*";
    /// Pending operations.
    pub const OP: &str = "**/@*/op/*";
    /// Deployments.
    pub const DEPLOYMENT: &str = "**/@*/deploy/*";
    /// Runs of tasks and deployments.
    pub const RUN: &str = "**/@*/{task,deploy}/*/*";
    /// Logs of runs.
    pub const LOG: &str = "**/@*/{task,deploy}/*/*/logs";
    /// Single-segment custom state under a release.
    pub const CUSTOM: &str = "**/@*/custom/*";
    /// Environments.
    pub const ENVIRONMENT: &str = "@*/environment/*";
}

/// Why a glob pattern was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GlobErrorKind {
    UnclosedClass,
    EmptyClass,
    InvalidRange,
    UnclosedBrace,
    TrailingBackslash,
    Regex,
}

impl fmt::Display for GlobErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GlobErrorKind::UnclosedClass => "unclosed '['",
            GlobErrorKind::EmptyClass => "empty character class",
            GlobErrorKind::InvalidRange => "invalid character range",
            GlobErrorKind::UnclosedBrace => "unclosed '{'",
            GlobErrorKind::TrailingBackslash => "trailing '\\'",
            GlobErrorKind::Regex => "pattern too complex",
        })
    }
}

/// An invalid glob pattern.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid glob {pattern:?}: {kind}")]
pub struct GlobError {
    pattern: String,
    kind: GlobErrorKind,
    #[source]
    source: Option<regex::Error>,
}

impl GlobError {
    /// Returns the rejected pattern.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// Escapes glob metacharacters so that `text` matches only itself inside a pattern.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A compiled glob pattern over canonical ref strings.
#[derive(Clone, Debug)]
pub struct Glob {
    pattern: String,
    regex: Regex,
}

/// The pattern of [`Glob::below`] as text (for dependency globs that run documents store).
pub fn pattern_below(r: &Ref, pattern: &str) -> String {
    format!("{}/{pattern}", escape(&r.to_string()))
}

impl Glob {
    /// The glob of `pattern` below `r`: `r`'s canonical string, escaped so that each of its
    /// characters matches only itself, then `/` and `pattern` (glob syntax):
    /// `Glob::below(&task, "*/status/complete")`.
    ///
    /// # Errors
    ///
    /// A [`GlobError`] when `pattern` is not a valid glob.
    pub fn below(r: &Ref, pattern: &str) -> Result<Glob, GlobError> {
        Glob::new(&pattern_below(r, pattern))
    }

    /// Compiles a glob pattern.
    ///
    /// # Errors
    ///
    /// Returns a [`GlobError`] naming the pattern for an unclosed `[` or `{`, an empty class,
    /// a reversed range (`[z-a]`) or a trailing `\`.
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let err = |kind, source| GlobError {
            pattern: pattern.to_owned(),
            kind,
            source,
        };
        if let Some(regex) = compiled::get(pattern) {
            return Ok(Glob {
                pattern: pattern.to_owned(),
                regex,
            });
        }
        let chars: Vec<char> = pattern.chars().collect();
        let mut re = String::from("(?s)^");
        let mut pos = 0;
        translate_seq(&chars, &mut pos, false, &mut re).map_err(|k| err(k, None))?;
        re.push('$');
        let regex = Regex::new(&re).map_err(|e| err(GlobErrorKind::Regex, Some(e)))?;
        compiled::put(pattern, &regex);
        Ok(Glob {
            pattern: pattern.to_owned(),
            regex,
        })
    }

    /// Returns true if the whole of `s` matches the pattern.
    pub fn matches(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }

    /// Returns the pattern the glob was compiled from.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Returns the literal `/`-separated segments that every match starts with.
    ///
    /// These are the whole segments (each followed by a `/`) before the first meta character,
    /// e.g. `a/b/-/**/@*` gives `["a", "b", "-"]`, so a store can walk only that subtree. The
    /// last segment of a fully literal pattern is not included (it names the document, not a
    /// directory). Stops before an empty, `.` or `..` segment.
    pub fn literal_prefix_segments(&self) -> Vec<String> {
        let mut literal = String::new();
        let mut chars = self.pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '*' | '?' | '[' | '{' => break,
                '\\' => match chars.next() {
                    Some(next) => literal.push(next),
                    None => break,
                },
                _ => literal.push(c),
            }
        }
        let Some(end) = literal.rfind('/') else {
            return Vec::new();
        };
        literal[..end]
            .split('/')
            .take_while(|s| !matches!(*s, "" | "." | ".."))
            .map(str::to_owned)
            .collect()
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// Translates a sequence of glob terms into regex syntax, stopping at the end of input or,
/// inside braces, at a `,` or `}` (left for the caller).
fn translate_seq(
    chars: &[char],
    pos: &mut usize,
    in_braces: bool,
    out: &mut String,
) -> Result<(), GlobErrorKind> {
    while let Some(&c) = chars.get(*pos) {
        match c {
            '*' => {
                let mut n = 0;
                while chars.get(*pos) == Some(&'*') {
                    n += 1;
                    *pos += 1;
                }
                out.push_str(if n >= 2 { ".*" } else { "[^/]*" });
                continue;
            }
            '?' => out.push_str("[^/]"),
            '[' => {
                *pos += 1;
                translate_class(chars, pos, out)?;
                continue;
            }
            '{' => {
                *pos += 1;
                out.push_str("(?:");
                loop {
                    translate_seq(chars, pos, true, out)?;
                    match chars.get(*pos) {
                        Some(',') => out.push('|'),
                        Some('}') => break,
                        _ => return Err(GlobErrorKind::UnclosedBrace),
                    }
                    *pos += 1;
                }
                out.push(')');
            }
            ',' | '}' if in_braces => return Ok(()),
            '\\' => {
                *pos += 1;
                let escaped = chars.get(*pos).ok_or(GlobErrorKind::TrailingBackslash)?;
                push_literal(out, *escaped);
            }
            _ => push_literal(out, c),
        }
        *pos += 1;
    }
    Ok(())
}

/// Translates a character class; `pos` is just after the `[` and ends just after the `]`.
fn translate_class(chars: &[char], pos: &mut usize, out: &mut String) -> Result<(), GlobErrorKind> {
    out.push('[');
    if matches!(chars.get(*pos), Some('!' | '^')) {
        out.push('^');
        *pos += 1;
    }
    let mut empty = true;
    loop {
        let c = match chars.get(*pos) {
            None => return Err(GlobErrorKind::UnclosedClass),
            Some(']') => break,
            Some('\\') => {
                *pos += 1;
                *chars.get(*pos).ok_or(GlobErrorKind::UnclosedClass)?
            }
            Some(&c) => c,
        };
        *pos += 1;
        empty = false;
        push_literal(out, c);
        if chars.get(*pos) == Some(&'-') && !matches!(chars.get(*pos + 1), None | Some(']')) {
            let hi = match chars.get(*pos + 1) {
                Some('\\') => {
                    *pos += 1;
                    *chars.get(*pos + 1).ok_or(GlobErrorKind::UnclosedClass)?
                }
                Some(&hi) => hi,
                None => return Err(GlobErrorKind::UnclosedClass),
            };
            if hi < c {
                return Err(GlobErrorKind::InvalidRange);
            }
            out.push('-');
            push_literal(out, hi);
            *pos += 2;
        }
    }
    if empty {
        return Err(GlobErrorKind::EmptyClass);
    }
    *pos += 1;
    out.push(']');
    Ok(())
}

/// Appends `c` to a regex, escaped (also valid inside a class).
fn push_literal(out: &mut String, c: char) {
    let mut buf = [0; 4];
    out.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

/// The regexes of recently compiled globs, by pattern. The engine asks for the same globs
/// (a package's deployments, a run's dependencies) every round of a cascade, and compiling
/// one costs tens of microseconds, far more than a lookup. Bounded: the map is emptied when
/// it reaches [`compiled::CAPACITY`] patterns. A `Regex` clone shares the compiled program.
mod compiled {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};

    use regex::Regex;

    /// Patterns kept at most.
    pub(super) const CAPACITY: usize = 4096;

    static CACHE: LazyLock<Mutex<HashMap<String, Regex>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));

    pub(super) fn get(pattern: &str) -> Option<Regex> {
        CACHE.lock().ok()?.get(pattern).cloned()
    }

    #[cfg(test)]
    pub(super) fn len() -> usize {
        CACHE.lock().map(|c| c.len()).unwrap_or(0)
    }

    pub(super) fn put(pattern: &str, regex: &Regex) {
        if let Ok(mut cache) = CACHE.lock() {
            if cache.len() >= CAPACITY {
                cache.clear();
            }
            cache.insert(pattern.to_owned(), regex.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compiled_globs_are_reused_and_bounded() {
        let a = Glob::new("x/*/cache-test").expect("glob");
        let b = Glob::new("x/*/cache-test").expect("glob");
        assert!(a.matches("x/y/cache-test") && b.matches("x/y/cache-test"));
        assert!(!b.matches("x/y/z/cache-test"));
        for i in 0..compiled::CAPACITY + 10 {
            Glob::new(&format!("bound/{i}/*")).expect("glob");
        }
        assert!(compiled::len() <= compiled::CAPACITY);
        // Still right after the cache was emptied.
        assert!(Glob::new("bound/3/*").expect("glob").matches("bound/3/q"));
    }

    use test_case::test_case;

    use super::*;

    fn glob(p: &str) -> Glob {
        Glob::new(p).unwrap_or_else(|e| panic!("{p:?} should compile: {e}"))
    }

    #[test_case("a/*", "a/b", true; "star one segment")]
    #[test_case("a/*", "a/b/c", false; "star not across slash")]
    #[test_case("a/*", "a/", true; "star empty")]
    #[test_case("**/c", "a/b/c", true; "double star across")]
    #[test_case("**/c", "c", false; "double star needs slash")]
    #[test_case("a/**", "a/b/c", true; "trailing double star")]
    #[test_case("a?c", "abc", true; "question")]
    #[test_case("a?c", "a/c", false; "question not slash")]
    #[test_case("[ab]x", "bx", true; "class")]
    #[test_case("[ab]x", "cx", false; "class miss")]
    #[test_case("[a-c]x", "bx", true; "range")]
    #[test_case("[!a-c]x", "dx", true; "negated bang")]
    #[test_case("[^a-c]x", "bx", false; "negated caret")]
    #[test_case("[^@]", "/", true; "negated class matches slash like gobwas")]
    #[test_case("{a,b}/x", "b/x", true; "alternatives")]
    #[test_case("{a,b}/x", "c/x", false; "alternatives miss")]
    #[test_case("{a,b{c,d}}", "bd", true; "nested alternatives")]
    #[test_case("{a/*,b}", "a/z", true; "alternative with star")]
    #[test_case("{,x}y", "y", true; "empty alternative")]
    #[test_case("a\\*", "a*", true; "escaped star")]
    #[test_case("a\\*", "ab", false; "escaped star is literal")]
    #[test_case("a\\{b", "a{b", true; "escaped brace")]
    #[test_case("a.b", "axb", false; "dot is literal")]
    #[test_case("a+", "aa", false; "plus is literal")]
    #[test_case("a,b}", "a,b}", true; "comma and brace literal outside braces")]
    #[test_case("**/@/deploy/*", "a/-/p/@/deploy/prod", true; "current deploy")]
    #[test_case("**/@/deploy/*", "a/-/p/@r1/deploy/prod", false; "release deploy")]
    #[test_case("**/@*/custom/*", "a/-/p/@r1/custom/credential/staging", false;
        "multi segment custom not matched")]
    #[test_case("@/{custom,environment}/*", "@/environment/prod", true; "global alternatives")]
    #[test_case("**/-/repo.ocu.star/@", "a/b/-/repo.ocu.star/@", true; "repo config link")]
    fn matches(pattern: &str, s: &str, expected: bool) {
        assert_eq!(glob(pattern).matches(s), expected);
    }

    #[test_case(patterns::RELEASE, "a/-/p/@r1", true; "release")]
    #[test_case(patterns::RELEASE, "@/environment/x", false; "release not global")]
    #[test_case(patterns::REPO_CONFIG, "a/-/repo.ocu.star/@abc", true; "repo config")]
    #[test_case(patterns::TASK, "a/-/p/@r1/task/build", true; "task")]
    #[test_case(patterns::TASK, "a/-/p/@r1/deploy/prod", true; "deploy task")]
    #[test_case(patterns::OP, "a/-/p/@r1/op/check_envs", true; "op")]
    #[test_case(patterns::DEPLOYMENT, "a/-/p/@/deploy/prod", true; "deployment")]
    #[test_case(patterns::RUN, "a/-/p/@r1/task/build/1", true; "run")]
    #[test_case(patterns::RUN, "a/-/p/@r1/task/build", false; "run not task")]
    #[test_case(patterns::LOG, "a/-/p/@r1/deploy/prod/2/logs", true; "log")]
    #[test_case(patterns::CUSTOM, "a/-/p/@v1/custom/approval", true; "custom")]
    #[test_case(patterns::ENVIRONMENT, "@/environment/staging", true; "environment")]
    #[test_case(patterns::ENVIRONMENT, "a/-/p/@/environment/staging", false; "environment global only")]
    #[test_case(patterns::PACKAGE, "a/b+/c", true; "package plus literal")]
    fn named_patterns(pattern: &str, s: &str, expected: bool) {
        assert_eq!(glob(pattern).matches(s), expected);
    }

    #[test_case("[ab"; "unclosed class")]
    #[test_case("[]"; "empty class")]
    #[test_case("[z-a]"; "reversed range")]
    #[test_case("{a,b"; "unclosed brace")]
    #[test_case("a\\"; "trailing backslash")]
    fn invalid(pattern: &str) {
        let err = Glob::new(pattern).expect_err("should be rejected");
        assert_eq!(err.pattern(), pattern);
        assert!(
            err.to_string()
                .starts_with(&format!("invalid glob {pattern:?}: "))
        );
    }

    #[test_case("a/b/-/**/@*", &["a", "b", "-"]; "spec example")]
    #[test_case("**/@*", &[]; "starts with meta")]
    #[test_case("@/environment/*", &["@", "environment"]; "global")]
    #[test_case("a/b/c", &["a", "b"]; "literal keeps parent")]
    #[test_case("a/bc*/d", &["a"]; "partial segment dropped")]
    #[test_case("a/{b,c}/d", &["a"]; "brace stops")]
    #[test_case("a\\*/b/*", &["a*", "b"]; "escape is literal")]
    #[test_case("a//b/*", &["a"]; "stops at empty segment")]
    #[test_case("../x/*", &[]; "stops at dotdot")]
    fn literal_prefix(pattern: &str, expected: &[&str]) {
        assert_eq!(glob(pattern).literal_prefix_segments(), expected);
    }

    #[test]
    fn accessors() {
        let g = glob("**/@*");
        assert_eq!(g.as_str(), "**/@*");
        assert_eq!(g.to_string(), "**/@*");
    }
}
