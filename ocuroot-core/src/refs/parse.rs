//! The ref parser (spec §2.2) and its error type.
//!
//! Parsing is a small hand-written lexer that follows the original lexing rules, including
//! their edge cases (`//` repo-root marker, `./` relative markers, `+` as a legacy alias of
//! `@`, `call` rewritten to `task`, trailing `/` trimmed, the first character of a subpath
//! not inspected). On top of the original grammar, [`check_fields`] rejects anything that
//! could escape a store's directory tree: `.`/`..` segments outside the relative markers,
//! empty segments, a leading `/` and control characters.
//!
//! Rendering lives in `mod.rs` ([`Ref`]'s `Display`); this module only reads strings.

use std::fmt;
use std::str::FromStr;

use super::{Ref, SubpathType};

/// The longest accepted ref, in bytes (its canonical string, fragment included).
///
/// A document's path in Git is `refs/` or `applied/` plus the ref plus `/#.yaml`; 1024
/// bytes keeps every checkout far below the usual 4096-byte path limit.
pub const MAX_REF_LEN: usize = 1024;

/// The longest accepted segment (one file or folder name in Git), in bytes.
///
/// Most file systems refuse names over 255 bytes, so a longer segment would make a
/// checkout of the store fail. For a release the segment is `@` plus the release.
pub const MAX_SEGMENT_LEN: usize = 255;

/// Why a ref failed to parse (or to be accepted as a store key).
///
/// Returned by [`RefParseError::kind`]; new variants may be added.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The ref is the empty string.
    Empty,
    /// The ref contains NUL or another control character.
    ControlCharacter,
    /// The ref starts with a single `/` (an absolute filesystem path).
    LeadingSlash,
    /// The ref has an empty segment (`a//b`, or a trailing `//`).
    EmptySegment,
    /// The ref has a `.` or `..` segment outside the relative-ref markers.
    DotSegment(String),
    /// `/-` was followed by something other than `/` or the end (`a/-x`).
    ExpectedSlashAfterRepo,
    /// The repo separator `/-/` appears twice (or after a leading `//`).
    DuplicateRepo,
    /// An `@`/`+` appears inside a path segment (`repo.git/package@/deploy/hello`).
    UnexpectedReleaseInPath,
    /// `/@` appears inside the subpath.
    UnexpectedReleaseInSubpath,
    /// `/@` appears inside the fragment.
    UnexpectedReleaseInFragment,
    /// A `#` appears where no fragment may start (in the subpath type or the path).
    UnexpectedFragment,
    /// An `=` appears in the subpath.
    UnexpectedEquals,
    /// The subpath type is not one of `deploy`, `task`, `custom`, `environment`, `commit`,
    /// `push`, `op` (or the legacy `call`).
    InvalidSubpathType(String),
    /// A global ref (`@…`) has a package filename.
    GlobalWithFilename,
    /// The ref is relative and cannot be used as a store key.
    Relative,
    /// The ref does not round-trip through its canonical string (built by hand with
    /// inconsistent fields).
    NotCanonical,
    /// A store path rebuilt into a ref carried a fragment.
    FragmentInStoragePath,
    /// The ref is longer than [`MAX_REF_LEN`] bytes.
    TooLong(usize),
    /// A segment is longer than [`MAX_SEGMENT_LEN`] bytes (Git hosts and file systems
    /// refuse longer file names).
    SegmentTooLong(usize),
    /// A segment starts with `-` (only the repo separator `-` may).
    LeadingDash(String),
    /// A segment is a name Git reserves or that `git fsck` flags: `.git` and its case,
    /// NTFS and HFS variants, `.gitmodules` and its friends, or an 8.3 short name such as
    /// `git~1`.
    GitReserved(String),
    /// The ref contains a zero-width or text-direction character, which Git on macOS
    /// ignores in names and which hides what a ref really says.
    InvisibleCharacter(char),
    /// A store folder spells a ref other than the way the ref is stored (`+/custom/x` for
    /// `@/custom/x`, `call/` for `task/`): reading it as that ref would read and write
    /// another folder than the one it is in.
    NotCanonicalFolder(String),
    /// A `#` is followed by nothing: an empty fragment.
    EmptyFragment,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Empty => f.write_str("ref is empty"),
            ErrorKind::ControlCharacter => f.write_str("control characters are not allowed"),
            ErrorKind::LeadingSlash => f.write_str("leading '/' is not allowed"),
            ErrorKind::EmptySegment => f.write_str("empty segment is not allowed"),
            ErrorKind::DotSegment(seg) => write!(f, "segment {seg:?} is not allowed"),
            ErrorKind::ExpectedSlashAfterRepo => f.write_str("expected slash or eof after repo"),
            ErrorKind::DuplicateRepo => f.write_str("repo separator '/-' given twice"),
            ErrorKind::UnexpectedReleaseInPath => f.write_str("unexpected release prefix in path"),
            ErrorKind::UnexpectedReleaseInSubpath => {
                f.write_str("unexpected release prefix in subpath")
            }
            ErrorKind::UnexpectedReleaseInFragment => {
                f.write_str("unexpected release prefix in fragment")
            }
            ErrorKind::UnexpectedFragment => f.write_str("unexpected fragment"),
            ErrorKind::UnexpectedEquals => f.write_str("unexpected '='"),
            ErrorKind::InvalidSubpathType(t) => write!(f, "invalid subpath type: {t}"),
            ErrorKind::GlobalWithFilename => f.write_str("package must be empty for global refs"),
            ErrorKind::Relative => f.write_str("ref is relative"),
            ErrorKind::NotCanonical => f.write_str("ref does not round-trip"),
            ErrorKind::NotCanonicalFolder(r) => {
                write!(f, "the folder spells {r} differently; its folder is {r}")
            }
            ErrorKind::FragmentInStoragePath => f.write_str("store path contains a fragment"),
            ErrorKind::TooLong(n) => {
                write!(f, "ref is {n} bytes long, the limit is {MAX_REF_LEN}")
            }
            ErrorKind::SegmentTooLong(n) => write!(
                f,
                "a segment is {n} bytes long, the limit is {MAX_SEGMENT_LEN}"
            ),
            ErrorKind::LeadingDash(seg) => {
                write!(f, "segment {seg:?} must not start with '-'")
            }
            ErrorKind::GitReserved(seg) => {
                write!(f, "segment {seg:?} is a name Git reserves")
            }
            ErrorKind::InvisibleCharacter(c) => write!(
                f,
                "invisible character U+{:04X} is not allowed",
                u32::from(*c)
            ),
            ErrorKind::EmptyFragment => f.write_str("empty fragment after '#'"),
        }
    }
}

/// An invalid ref: the input string and why it was rejected.
///
/// Displays as `invalid ref "a/../b": segment ".." is not allowed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ref {input:?}: {kind}")]
pub struct RefParseError {
    input: String,
    kind: ErrorKind,
}

impl RefParseError {
    pub(crate) fn new(input: &str, kind: ErrorKind) -> Self {
        RefParseError {
            input: input.to_owned(),
            kind,
        }
    }

    /// Returns why the ref was rejected.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Returns the rejected input string.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl FromStr for Ref {
    type Err = RefParseError;

    fn from_str(s: &str) -> Result<Ref, RefParseError> {
        parse_ref(s).map_err(|kind| RefParseError::new(s, kind))
    }
}

/// Parses `s` into a [`Ref`] (spec §2.2 plus the path-safety rules).
fn parse_ref(s: &str) -> Result<Ref, ErrorKind> {
    if s.is_empty() {
        return Err(ErrorKind::Empty);
    }
    if s.len() > MAX_REF_LEN {
        return Err(ErrorKind::TooLong(s.len()));
    }
    if s.chars().any(char::is_control) {
        return Err(ErrorKind::ControlCharacter);
    }
    if let Some(c) = s.chars().find(|&c| is_invisible(c)) {
        return Err(ErrorKind::InvisibleCharacter(c));
    }
    let mut lexer = Lexer {
        input: s,
        out: Ref::default(),
        raw_type: "",
    };
    if let Some(rest) = s.strip_prefix("//") {
        lexer.out.repo = ".".to_owned();
        lexer.path(s.len() - rest.len())?;
    } else if s.starts_with('/') {
        return Err(ErrorKind::LeadingSlash);
    } else if s.starts_with("./@") || s.starts_with("./+") {
        lexer.out.filename = ".".to_owned();
        lexer.release(3)?;
    } else if s.starts_with("./") && !s.starts_with("./-") {
        lexer.out.filename = ".".to_owned();
        lexer.subpath_type(2)?;
    } else if s.starts_with('@') || s.starts_with('+') {
        lexer.out.global = true;
        lexer.release(1)?;
    } else {
        lexer.path(0)?;
    }
    let (out, raw_type) = (lexer.out, lexer.raw_type);
    if out.subpath_type.is_none() && !raw_type.is_empty() {
        // An unknown type: every other field is checked first, as for a known one.
        check_fields(&Ref {
            subpath_type: Some(SubpathType::Task),
            ..out
        })?;
        check_segments(raw_type)?;
        return Err(ErrorKind::InvalidSubpathType(raw_type.to_owned()));
    }
    check_fields(&out)?;
    Ok(out)
}

/// State of one parse: the input and the ref built so far. Each method lexes one part
/// starting at a byte offset and hands over to the next part.
struct Lexer<'a> {
    input: &'a str,
    out: Ref,
    /// The subpath type as written, checked once the whole ref is lexed.
    raw_type: &'a str,
}

impl<'a> Lexer<'a> {
    /// Path mode: repo and/or filename, then possibly a release.
    fn path(&mut self, start: usize) -> Result<(), ErrorKind> {
        let bytes = self.input.as_bytes();
        let mut i = start;
        loop {
            let rest = &self.input[i..];
            if rest.starts_with("/-") {
                if self.out.repo.is_empty() {
                    self.out.repo = self.input[start..i].to_owned();
                } else {
                    return Err(ErrorKind::DuplicateRepo);
                }
                let after = i + 2;
                return match bytes.get(after) {
                    None => Ok(()),
                    Some(b'/') => self.path(after + 1),
                    Some(_) => Err(ErrorKind::ExpectedSlashAfterRepo),
                };
            }
            if rest.starts_with("/@") || rest.starts_with("/+") {
                self.out.filename = self.input[start..i].to_owned();
                return self.release(i + 2);
            }
            match rest.chars().next() {
                None => {
                    self.out.filename = trim_slash(&self.input[start..])?.to_owned();
                    return Ok(());
                }
                Some('@' | '+') if i == start => return self.release(i + 1),
                Some('@' | '+') => return Err(ErrorKind::UnexpectedReleaseInPath),
                // Without a release there is nowhere for a fragment to attach.
                Some('#') => return Err(ErrorKind::UnexpectedFragment),
                Some(c) => i += c.len_utf8(),
            }
        }
    }

    /// The release, starting after its `@`/`+`.
    fn release(&mut self, start: usize) -> Result<(), ErrorKind> {
        let rest = &self.input[start..];
        match rest.find(['/', '#']) {
            None => {
                self.out.release = Some(rest.to_owned());
                Ok(())
            }
            Some(end) => {
                self.out.release = Some(rest[..end].to_owned());
                if rest.as_bytes()[end] == b'/' {
                    self.subpath_type(start + end + 1)
                } else {
                    self.fragment(start + end + 1)
                }
            }
        }
    }

    /// The subpath type: one segment, then the subpath.
    fn subpath_type(&mut self, start: usize) -> Result<(), ErrorKind> {
        let input: &'a str = self.input;
        let rest = &input[start..];
        let (ty, next) = match rest.find(['/', '#']) {
            None => (rest, None),
            Some(end) if rest.as_bytes()[end] == b'#' => return Err(ErrorKind::UnexpectedFragment),
            Some(end) => (&rest[..end], Some(start + end + 1)),
        };
        self.raw_type = ty;
        self.out.subpath_type = SubpathType::parse(ty);
        match next {
            None => Ok(()),
            Some(_) if ty.is_empty() => Err(ErrorKind::EmptySegment),
            Some(next) => self.subpath(next),
        }
    }

    /// The subpath: up to `#` or the end.
    fn subpath(&mut self, start: usize) -> Result<(), ErrorKind> {
        let rest = &self.input[start..];
        // Original quirk: the first character is taken without inspection.
        let mut i = rest.chars().next().map_or(0, char::len_utf8);
        loop {
            let tail = &rest[i..];
            if tail.starts_with("/@") {
                return Err(ErrorKind::UnexpectedReleaseInSubpath);
            }
            match tail.chars().next() {
                None => {
                    self.out.subpath = trim_slash(rest)?.to_owned();
                    return Ok(());
                }
                Some('#') => {
                    self.out.subpath = trim_slash(&rest[..i])?.to_owned();
                    return self.fragment(start + i + 1);
                }
                Some('=') => return Err(ErrorKind::UnexpectedEquals),
                Some(c) => i += c.len_utf8(),
            }
        }
    }

    /// The fragment: the rest of the input.
    fn fragment(&mut self, start: usize) -> Result<(), ErrorKind> {
        let rest = &self.input[start..];
        if rest.is_empty() {
            return Err(ErrorKind::EmptyFragment);
        }
        if rest.contains("/@") {
            return Err(ErrorKind::UnexpectedReleaseInFragment);
        }
        self.out.fragment = trim_slash(rest)?.to_owned();
        Ok(())
    }
}

/// Trims one trailing `/`; a part that was only `/` (an empty segment) is an error.
fn trim_slash(s: &str) -> Result<&str, ErrorKind> {
    if s == "/" {
        return Err(ErrorKind::EmptySegment);
    }
    Ok(s.strip_suffix('/').unwrap_or(s))
}

/// Checks the '/'-separated segments of one field: none empty, none `.` or `..`.
fn check_segments(field: &str) -> Result<(), ErrorKind> {
    for seg in field.split('/') {
        match seg {
            "" => return Err(ErrorKind::EmptySegment),
            "." | ".." => return Err(ErrorKind::DotSegment(seg.to_owned())),
            _ => {}
        }
    }
    Ok(())
}

/// Checks the segments of a field that becomes folder names in Git: the rules of
/// [`check_segments`] plus what `git fsck` or a Git host refuses.
fn check_path_segments(field: &str) -> Result<(), ErrorKind> {
    check_segments(field)?;
    field.split('/').try_for_each(check_git_name)
}

/// Checks one folder name of a store path against what Git and Git hosts accept.
///
/// - at most [`MAX_SEGMENT_LEN`] bytes;
/// - no leading `-` (it reads as an option to Git tools, and the grammar keeps `-` for
///   the repo separator);
/// - no `#` (it starts a fragment, and `#.yaml`/`#.link` are the store's file names);
/// - not `.git` or a name starting with `.git` (`.gitmodules`, `.gitattributes`,
///   `.gitignore`, `.git.`, `.git~1`, `.GIT`, ...), after removing the characters macOS
///   ignores in names; not `.mailmap`; no `~` followed by a digit (NTFS 8.3 short names
///   such as `git~1` or `gitmod~1`).
pub(crate) fn check_git_name(seg: &str) -> Result<(), ErrorKind> {
    if seg.len() > MAX_SEGMENT_LEN {
        return Err(ErrorKind::SegmentTooLong(seg.len()));
    }
    if seg.starts_with('-') {
        return Err(ErrorKind::LeadingDash(seg.to_owned()));
    }
    if seg.contains('#') {
        return Err(ErrorKind::UnexpectedFragment);
    }
    let folded: String = seg
        .chars()
        .filter(|&c| !is_invisible(c))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let short_name = folded
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'~' && w[1].is_ascii_digit());
    if folded.starts_with(".git") || folded.starts_with(".mailmap") || short_name {
        return Err(ErrorKind::GitReserved(seg.to_owned()));
    }
    Ok(())
}

/// Returns true for zero-width and text-direction characters: the ones Git's HFS
/// protection ignores in names (U+200C–U+200F, U+202A–U+202E, U+206A–U+206F, U+FEFF) and
/// the other invisible formatting characters of the same blocks (U+200B, U+2060–U+2069).
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

/// Validates the fields of a ref: the original's validation plus the path-safety rules.
///
/// The only `.` values allowed are the relative markers: repo `.` (from `//` or `./-/`) and
/// filename `.` with an empty repo (from `./`, `./@`).
pub(crate) fn check_fields(r: &Ref) -> Result<(), ErrorKind> {
    let fields = [&r.repo, &r.filename, &r.subpath, &r.fragment];
    let release = r.release.as_deref().unwrap_or("");
    if fields.iter().any(|f| f.chars().any(char::is_control))
        || release.chars().any(char::is_control)
    {
        return Err(ErrorKind::ControlCharacter);
    }
    let invisible = fields
        .iter()
        .flat_map(|f| f.chars())
        .chain(release.chars())
        .find(|&c| is_invisible(c));
    if let Some(c) = invisible {
        return Err(ErrorKind::InvisibleCharacter(c));
    }
    if r.global && !r.filename.is_empty() {
        return Err(ErrorKind::GlobalWithFilename);
    }
    if !r.repo.is_empty() && r.repo != "." {
        check_path_segments(&r.repo)?;
    }
    if r.filename == "." {
        if !r.repo.is_empty() {
            return Err(ErrorKind::DotSegment(".".to_owned()));
        }
    } else if !r.filename.is_empty() {
        check_path_segments(&r.filename)?;
    }
    if let Some(release) = &r.release {
        // The folder name is `@<release>`: only its length can break a Git rule.
        let len = release.len() + 1;
        if len > MAX_SEGMENT_LEN {
            return Err(ErrorKind::SegmentTooLong(len));
        }
    }
    if r.subpath_type.is_none() && !r.subpath.is_empty() {
        return Err(ErrorKind::EmptySegment);
    }
    if !r.subpath.is_empty() {
        check_path_segments(&r.subpath)?;
    }
    if !r.fragment.is_empty() {
        check_segments(&r.fragment)?;
    }
    Ok(())
}
