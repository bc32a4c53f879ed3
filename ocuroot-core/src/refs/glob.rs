//! Glob patterns over canonical ref strings (spec §2.5).
//!
//! The syntax and semantics are those of gobwas/glob with `/` as the separator:
//! `*` matches any run of non-`/` characters, `**` any run including `/`, `?` one non-`/`
//! character, `[abc]`/`[a-z]` a class and `[^…]`/`[!…]` a negated class (classes may match
//! `/`, as in gobwas), `{a,b}` alternatives (which may nest and contain any syntax), and `\`
//! escapes the next character. Everything else is literal; in particular `+` is a literal,
//! so the Package pattern `**/[^@]+/**` keeps the original's meaning.
//!
//! A [`Glob`] is parsed into a short program (literals, `*`, `**`, `?`, classes and the
//! branches of `{…}`) that a backtracking matcher runs over the ref's bytes, remembering the
//! (instruction, position) pairs already explored at `*`, `**` and `{` (a run that failed
//! from one position fails from every later one it covers), so a match takes about program
//! length × text length steps at worst. Building a glob costs about as much as reading its
//! pattern once (compiling a regular expression, as before, cost tens of microseconds per
//! pattern, and the plan builds several per changed intent document); the tests check the
//! matcher against the regular expression the pattern used to be translated to.
//! [`patterns`] holds the internal named globs; [`Glob::literal_prefix_segments`] tells a
//! store which subtree to walk.

use std::fmt;

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
}

impl fmt::Display for GlobErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GlobErrorKind::UnclosedClass => "unclosed '['",
            GlobErrorKind::EmptyClass => "empty character class",
            GlobErrorKind::InvalidRange => "invalid character range",
            GlobErrorKind::UnclosedBrace => "unclosed '{'",
            GlobErrorKind::TrailingBackslash => "trailing '\\'",
        })
    }
}

/// An invalid glob pattern.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid glob {pattern:?}: {kind}")]
pub struct GlobError {
    pattern: String,
    kind: GlobErrorKind,
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
    program: Vec<Inst>,
}

/// One instruction of a glob's program. Control moves to the next instruction unless it
/// says otherwise; jumps only go forward, so no (instruction, position) pair is met twice on
/// one path.
#[derive(Clone, Debug)]
enum Inst {
    /// These characters.
    Literal(Box<str>),
    /// One character other than `/` (`?`).
    One,
    /// One character in the ranges (inclusive), or not in them when `negated` (`[…]`).
    Class {
        negated: bool,
        ranges: Box<[(char, char)]>,
    },
    /// A run of characters other than `/` (`*`).
    Star,
    /// A run of any characters (`**`).
    AnyRun,
    /// Continues at any one of these instructions (the alternatives of `{…}`).
    Split(Box<[usize]>),
    /// Continues at this instruction.
    Jump(usize),
    /// The end of the pattern: matches when the text is used up.
    Match,
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
        let chars: Vec<char> = pattern.chars().collect();
        let mut compiler = Compiler::default();
        let mut pos = 0;
        compiler
            .seq(&chars, &mut pos, false)
            .map_err(|kind| GlobError {
                pattern: pattern.to_owned(),
                kind,
            })?;
        compiler.flush();
        compiler.program.push(Inst::Match);
        Ok(Glob {
            pattern: pattern.to_owned(),
            program: compiler.program,
        })
    }

    /// Returns true if the whole of `s` matches the pattern.
    pub fn matches(&self, s: &str) -> bool {
        // `**<literal>*` with the literal ending in `/` (`**/@/deploy/*`, the plan's walks
        // over the whole store): the `*` is the last segment, so the literal ends at the
        // last `/`.
        if let [Inst::AnyRun, Inst::Literal(l), Inst::Star, Inst::Match] = self.program.as_slice()
            && l.ends_with('/')
        {
            return s.rfind('/').is_some_and(|k| s[..=k].ends_with(&**l));
        }
        let cells = self.program.len() * (s.len() + 1);
        let words = cells.div_ceil(64);
        if words <= STACK_MEMO_WORDS {
            let mut memo = [0u64; STACK_MEMO_WORDS];
            Matcher {
                program: &self.program,
                text: s,
                memo: &mut memo[..words],
            }
            .run(0, 0)
        } else {
            let mut memo = vec![0u64; words];
            Matcher {
                program: &self.program,
                text: s,
                memo: &mut memo,
            }
            .run(0, 0)
        }
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

/// Builds a glob's program from its pattern.
#[derive(Default)]
struct Compiler {
    program: Vec<Inst>,
    /// Literal characters not yet emitted (consecutive ones become one instruction).
    literal: String,
}

impl Compiler {
    /// Emits the pending literal, if any.
    fn flush(&mut self) {
        if !self.literal.is_empty() {
            let text = std::mem::take(&mut self.literal);
            self.program.push(Inst::Literal(text.into_boxed_str()));
        }
    }

    fn push(&mut self, inst: Inst) {
        self.flush();
        self.program.push(inst);
    }

    /// Compiles a sequence of glob terms, stopping at the end of input or, inside braces, at
    /// a `,` or `}` (left for the caller).
    fn seq(
        &mut self,
        chars: &[char],
        pos: &mut usize,
        in_braces: bool,
    ) -> Result<(), GlobErrorKind> {
        while let Some(&c) = chars.get(*pos) {
            match c {
                '*' => {
                    let mut n = 0;
                    while chars.get(*pos) == Some(&'*') {
                        n += 1;
                        *pos += 1;
                    }
                    self.push(if n >= 2 { Inst::AnyRun } else { Inst::Star });
                    continue;
                }
                '?' => self.push(Inst::One),
                '[' => {
                    *pos += 1;
                    let class = class(chars, pos)?;
                    self.push(class);
                    continue;
                }
                '{' => {
                    *pos += 1;
                    self.alternatives(chars, pos)?;
                }
                ',' | '}' if in_braces => return Ok(()),
                '\\' => {
                    *pos += 1;
                    let escaped = chars.get(*pos).ok_or(GlobErrorKind::TrailingBackslash)?;
                    self.literal.push(*escaped);
                }
                _ => self.literal.push(c),
            }
            *pos += 1;
        }
        Ok(())
    }

    /// Compiles `{a,b,…}`; `pos` is just after the `{` and ends on the `}`. Emits a split to
    /// each alternative, each followed by a jump past the last one.
    fn alternatives(&mut self, chars: &[char], pos: &mut usize) -> Result<(), GlobErrorKind> {
        self.flush();
        let split = self.program.len();
        self.program.push(Inst::Split(Box::new([])));
        let mut starts = Vec::new();
        let mut jumps = Vec::new();
        loop {
            starts.push(self.program.len());
            self.seq(chars, pos, true)?;
            self.flush();
            jumps.push(self.program.len());
            self.program.push(Inst::Jump(0));
            match chars.get(*pos) {
                Some(',') => *pos += 1,
                Some('}') => break,
                _ => return Err(GlobErrorKind::UnclosedBrace),
            }
        }
        let end = self.program.len();
        for j in jumps {
            self.program[j] = Inst::Jump(end);
        }
        self.program[split] = Inst::Split(starts.into_boxed_slice());
        Ok(())
    }
}

/// Parses a character class; `pos` is just after the `[` and ends just after the `]`.
fn class(chars: &[char], pos: &mut usize) -> Result<Inst, GlobErrorKind> {
    let negated = matches!(chars.get(*pos), Some('!' | '^'));
    if negated {
        *pos += 1;
    }
    let mut ranges = Vec::new();
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
        let mut hi = c;
        if chars.get(*pos) == Some(&'-') && !matches!(chars.get(*pos + 1), None | Some(']')) {
            hi = match chars.get(*pos + 1) {
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
            *pos += 2;
        }
        ranges.push((c, hi));
    }
    if ranges.is_empty() {
        return Err(GlobErrorKind::EmptyClass);
    }
    *pos += 1;
    Ok(Inst::Class {
        negated,
        ranges: ranges.into_boxed_slice(),
    })
}

/// Memo words kept on the stack: programs × texts up to 2,048 cells allocate nothing.
const STACK_MEMO_WORDS: usize = 32;

/// One run of a program over a text.
struct Matcher<'a> {
    program: &'a [Inst],
    text: &'a str,
    /// One bit per (instruction, position): explored from there already, without a match.
    memo: &'a mut [u64],
}

impl Matcher<'_> {
    /// Marks (`pc`, `pos`) explored; returns false when it was already.
    fn first_visit(&mut self, pc: usize, pos: usize) -> bool {
        let cell = pc * (self.text.len() + 1) + pos;
        let (word, bit) = (cell / 64, 1u64 << (cell % 64));
        let seen = self.memo[word] & bit != 0;
        self.memo[word] |= bit;
        !seen
    }

    /// Whether the program from instruction `pc` matches the text from byte `pos` on.
    fn run(&mut self, mut pc: usize, mut pos: usize) -> bool {
        let program = self.program;
        let text = self.text;
        let bytes = text.as_bytes();
        loop {
            match &program[pc] {
                Inst::Literal(l) => {
                    if !bytes[pos..].starts_with(l.as_bytes()) {
                        return false;
                    }
                    pos += l.len();
                }
                Inst::One => match text[pos..].chars().next() {
                    Some(c) if c != '/' => pos += c.len_utf8(),
                    _ => return false,
                },
                Inst::Class { negated, ranges } => match text[pos..].chars().next() {
                    Some(c) if ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated => {
                        pos += c.len_utf8();
                    }
                    _ => return false,
                },
                Inst::Star => {
                    let end = bytes[pos..]
                        .iter()
                        .position(|&b| b == b'/')
                        .map_or(bytes.len(), |n| pos + n);
                    return self.run_to(pc, pos, end);
                }
                Inst::AnyRun => return self.run_to(pc, pos, bytes.len()),
                Inst::Split(targets) => {
                    if !self.first_visit(pc, pos) {
                        return false;
                    }
                    return targets.iter().any(|&t| self.run(t, pos));
                }
                Inst::Jump(target) => {
                    pc = *target;
                    continue;
                }
                Inst::Match => return pos == bytes.len(),
            }
            pc += 1;
        }
    }

    /// A run (`*` or `**`) at instruction `pc` that may take the text from `pos` up to
    /// `end`: whether the rest of the program matches from any position in between.
    fn run_to(&mut self, pc: usize, pos: usize, end: usize) -> bool {
        if !self.first_visit(pc, pos) {
            return false;
        }
        let program = self.program;
        let text = self.text;
        let bytes = text.as_bytes();
        let next = pc + 1;
        let found = match &program[next] {
            // A trailing run takes the rest, if it may.
            Inst::Match => end == bytes.len(),
            // Only where the literal that follows starts and ends (never inside a character: a
            // literal starts with a character's first byte), tried from the end: a leading
            // `**` mostly matches late.
            Inst::Literal(l) => {
                let l = l.as_bytes();
                let (first, last) = (l[0], l[l.len() - 1]);
                (pos..=end).rev().any(|at| {
                    bytes.get(at) == Some(&first)
                        && bytes.get(at + l.len() - 1) == Some(&last)
                        && self.run(next, at)
                })
            }
            _ => (pos..=end).any(|at| text.is_char_boundary(at) && self.run(next, at)),
        };
        if !found {
            // The same run from any later position up to `end` ends at `end` too and tries
            // a subset of these positions: none of them needs trying again.
            self.mark_explored(pc, pos, end);
        }
        found
    }

    /// Marks (`pc`, `at`) explored for every `at` in `from..=to`.
    fn mark_explored(&mut self, pc: usize, from: usize, to: usize) {
        let base = pc * (self.text.len() + 1);
        let (mut cell, last) = (base + from, base + to);
        while cell <= last {
            let (word, bit) = (cell / 64, cell % 64);
            let n = (64 - bit).min(last - cell + 1);
            let mask = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << bit
            };
            self.memo[word] |= mask;
            cell += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use regex::Regex;
    use test_case::test_case;

    use super::*;

    /// The regular expression a pattern was translated to before the matcher existed (the
    /// matcher's reference: same syntax, same errors).
    fn regex_of(pattern: &str) -> Result<Regex, GlobErrorKind> {
        fn seq(
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
                        class(chars, pos, out)?;
                        continue;
                    }
                    '{' => {
                        *pos += 1;
                        out.push_str("(?:");
                        loop {
                            seq(chars, pos, true, out)?;
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
                        literal(out, *escaped);
                    }
                    _ => literal(out, c),
                }
                *pos += 1;
            }
            Ok(())
        }
        fn class(chars: &[char], pos: &mut usize, out: &mut String) -> Result<(), GlobErrorKind> {
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
                literal(out, c);
                if chars.get(*pos) == Some(&'-') && !matches!(chars.get(*pos + 1), None | Some(']'))
                {
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
                    literal(out, hi);
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
        fn literal(out: &mut String, c: char) {
            let mut buf = [0; 4];
            out.push_str(&regex::escape(c.encode_utf8(&mut buf)));
        }
        let chars: Vec<char> = pattern.chars().collect();
        let mut re = String::from("(?s)^");
        let mut pos = 0;
        seq(&chars, &mut pos, false, &mut re)?;
        re.push('$');
        Ok(Regex::new(&re).expect("the translation is a valid regex"))
    }

    /// A glob term as pattern text and a text that it may or may not match (from an
    /// alphabet with `/`, so `*`, `?` and classes miss as well as match).
    fn term() -> impl Strategy<Value = (String, String)> {
        let text = "[ab/@é-]{0,3}";
        let leaf = prop_oneof![
            ("[ab@/é.+-]", "[ab@/é.+-]"),
            text.prop_map(|t| ("*".to_string(), t)),
            text.prop_map(|t| ("**".to_string(), t)),
            text.prop_map(|t| ("***".to_string(), t)),
            "[ab/é]".prop_map(|t| ("?".to_string(), t)),
            ("[!^]?", "[a-c@é]", "[a-c@é]", "[ab/é-]").prop_map(|(neg, lo, hi, t)| {
                let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                (format!("[{neg}{lo}-{hi}]"), t)
            }),
            ("[!^]?", "[ab/@-]{1,3}", "[ab/é]")
                .prop_map(|(neg, set, t)| (format!("[{neg}{set}]"), t)),
            ("[*?{},\\[\\]]", "[*?{},ab]").prop_map(|(c, t)| (format!("\\{c}"), t)),
            "[,}]".prop_map(|c| (c.clone(), c)),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|ts| {
                    let (p, t): (Vec<String>, Vec<String>) = ts.into_iter().unzip();
                    (p.concat(), t.concat())
                }),
                (
                    prop::collection::vec(prop::collection::vec(inner, 0..3), 1..4),
                    any::<prop::sample::Index>()
                )
                    .prop_map(|(alts, pick)| {
                        let pats: Vec<String> = alts
                            .iter()
                            .map(|a| a.iter().map(|(p, _)| p.as_str()).collect())
                            .collect();
                        let chosen = &alts[pick.index(alts.len())];
                        let text = chosen.iter().map(|(_, t)| t.as_str()).collect();
                        (format!("{{{}}}", pats.join(",")), text)
                    }),
            ]
        })
    }

    /// A pattern and texts to try it on: the one built with it, and mutations of it.
    fn case() -> impl Strategy<Value = (String, Vec<String>)> {
        (
            prop::collection::vec(term(), 1..6),
            "[ab/@é]{0,2}",
            any::<prop::sample::Index>(),
        )
            .prop_map(|(terms, extra, at)| {
                let (p, t): (Vec<String>, Vec<String>) = terms.into_iter().unzip();
                let (pattern, text) = (p.concat(), t.concat());
                let mut cut: Vec<char> = text.chars().collect();
                let mut texts = vec![
                    text.clone(),
                    format!("{text}{extra}"),
                    format!("{extra}{text}"),
                ];
                if !cut.is_empty() {
                    cut.remove(at.index(cut.len()));
                    texts.push(cut.into_iter().collect());
                }
                (pattern, texts)
            })
    }

    proptest! {
        #[test]
        fn matcher_agrees_with_the_regex((pattern, texts) in case()) {
            let re = regex_of(&pattern);
            let glob = Glob::new(&pattern);
            prop_assert_eq!(glob.as_ref().err().map(|e| e.kind), re.as_ref().err().copied());
            if let (Ok(glob), Ok(re)) = (glob, re) {
                for t in &texts {
                    prop_assert_eq!(glob.matches(t), re.is_match(t), "{:?} on {:?}", pattern, t);
                }
            }
        }

        #[test]
        fn any_pattern_is_accepted_and_matched_as_the_regex_does(
            pattern in r"[ab/*?\[\]{},!^\\-]{0,12}",
            texts in prop::collection::vec("[ab/*?{},!^-]{0,8}", 4),
        ) {
            let re = regex_of(&pattern);
            let glob = Glob::new(&pattern);
            prop_assert_eq!(glob.as_ref().err().map(|e| e.kind), re.as_ref().err().copied());
            if let (Ok(glob), Ok(re)) = (glob, re) {
                for t in &texts {
                    prop_assert_eq!(glob.matches(t), re.is_match(t), "{:?} on {:?}", pattern, t);
                }
            }
        }
    }

    #[test]
    fn last_segment_globs_agree_with_the_regex() {
        for pattern in ["**/@/deploy/*", "**/", "**a/*", "**é/b/*"] {
            let (glob, re) = (glob(pattern), regex_of(pattern).expect("regex"));
            for text in [
                "",
                "/",
                "a/",
                "x/@/deploy/prod",
                "/@/deploy/x",
                "@/deploy/x",
                "a/@/deploy/",
                "a/@/deploy/x/y",
                "a/@r1/deploy/x",
                "ba/",
                "a/b",
                "xé/b/c",
                "é/b/",
                "a/a/a",
            ] {
                assert_eq!(
                    glob.matches(text),
                    re.is_match(text),
                    "{pattern:?} on {text:?}"
                );
            }
        }
    }

    #[test]
    fn long_texts_and_many_runs_match_in_bounded_steps() {
        // 3,000 characters: the memo is on the heap, and without it the runs would try
        // about 3000^8 splits before failing.
        let text = "a".repeat(3000);
        let glob = glob("*a*a*a*a*a*a*a*a*b");
        assert!(!glob.matches(&text));
        assert!(glob.matches(&format!("{text}b")));
        let deep = format!("{}x", "a/".repeat(1500));
        assert!(
            Glob::new("**a**a**a**a**y")
                .expect("glob")
                .matches(&format!("{deep}y"))
        );
        assert!(!Glob::new("**a**a**a**a**y").expect("glob").matches(&deep));
    }

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
