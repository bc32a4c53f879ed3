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

/// A compiled glob pattern over canonical ref strings.
#[derive(Clone, Debug)]
pub struct Glob {
    pattern: String,
    regex: Regex,
}

impl Glob {
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
        let chars: Vec<char> = pattern.chars().collect();
        let mut re = String::from("(?s)^");
        let mut pos = 0;
        translate_seq(&chars, &mut pos, false, &mut re).map_err(|k| err(k, None))?;
        re.push('$');
        let regex = Regex::new(&re).map_err(|e| err(GlobErrorKind::Regex, Some(e)))?;
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
