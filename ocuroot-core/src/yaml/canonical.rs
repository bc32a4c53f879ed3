//! A reader for the block YAML that [`to_canonical`](super::to_canonical) writes, so that
//! reading a store document does not go through the general parser.
//!
//! A store read decodes a few documents (a release, a task summary, a deploy intent), and
//! `serde-saphyr` spends about 300 instructions per byte on them (200,000 for a release
//! document of 650 bytes), most of a small `state diff`. The documents are canonical:
//! block mappings and sequences indented by two spaces, one scalar per line, keys plain
//! or quoted. [`read`] understands exactly that shape and gives up (`None`) on anything
//! else, and the caller then parses with `serde-saphyr` as before. It only accepts what it
//! can decide the way `serde-saphyr` does:
//!
//! - plain scalars made of letters, digits and `_ . / @ + = # : -` (and inner spaces for
//!   values) that cannot be anything but a string: starting with a letter, `_` or `/` and
//!   not one of YAML's words (`yes`, `off`, `null`, `inf`, … in any case); or starting with
//!   a digit and holding a letter that no number syntax uses (a commit id, a time);
//! - `null`, `true`, `false` and decimal integers of up to 18 digits;
//! - single-quoted and double-quoted strings on one line (double-quoted with the common
//!   escapes);
//! - `{}` and `[]`;
//!
//! and no comments, blank lines, tabs, anchors, tags, flow collections, multi-line scalars,
//! empty values, duplicate keys, keys over 1,000 bytes or nesting over 32 levels or half the
//! configured `max_depth` (the
//! general parser refuses some of these, or reads them in ways not worth repeating here).
//! The tests check it against `serde-saphyr` on generated documents and texts.

use serde_json::{Map, Number, Value};

/// Documents longer than this go to the general parser (far below its node and scalar
/// budgets).
const MAX_BYTES: usize = 64 * 1024;
/// Deeper nesting goes to the general parser (which counts it against `max_depth`; the
/// reader also stops at half of that).
const MAX_DEPTH: usize = 32;
/// Longer keys go to the general parser (it refuses keys over 1,024 characters).
const MAX_KEY_BYTES: usize = 1000;

/// One line: its indentation and the text after it.
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// Reads `text` if it is in the canonical subset (see the module docs); `None` otherwise.
pub(super) fn read(text: &str, max_depth: usize) -> Option<Value> {
    if text.len() > MAX_BYTES || text.chars().any(refused_char) {
        return None;
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut lines = Vec::new();
    for raw in body.split('\n') {
        let rest = raw.trim_start_matches(' ');
        if rest.is_empty() || rest.starts_with('#') || raw.ends_with(' ') {
            return None;
        }
        lines.push(Line {
            indent: raw.len() - rest.len(),
            text: rest,
        });
    }
    if lines.first()?.indent != 0 {
        return None;
    }
    let mut parser = Parser {
        lines,
        at: 0,
        max_depth: (max_depth / 2).min(MAX_DEPTH),
    };
    let value = parser.node(0, 0, true)?;
    (parser.at == parser.lines.len()).then_some(value)
}

/// Characters the reader leaves to the general parser wherever they are: tabs, carriage
/// returns and other control characters, YAML's other line breaks and the byte-order mark.
fn refused_char(c: char) -> bool {
    (c.is_control() && c != '\n') || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    /// The next line to read.
    at: usize,
    /// Deeper nesting is left to the general parser.
    max_depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Line<'a>> {
        self.lines.get(self.at).copied()
    }

    /// Reads the node starting at the current line, which is at `indent`. A lone scalar is
    /// accepted only where `scalar_ok` (the document itself or a list item).
    fn node(&mut self, indent: usize, depth: usize, scalar_ok: bool) -> Option<Value> {
        if depth > self.max_depth {
            return None;
        }
        let line = self.peek()?;
        if is_item(line.text) {
            return self.sequence(indent, depth);
        }
        if split_key(line.text)?.is_some() {
            return self.mapping(indent, depth);
        }
        if !scalar_ok {
            return None;
        }
        self.at += 1;
        inline_value(line.text)
    }

    /// Reads the list items at `indent`.
    fn sequence(&mut self, indent: usize, depth: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent != indent || !is_item(line.text) {
                break;
            }
            // The item's content starts after `- ` (and any further spaces): read it as a
            // node at that column, which is where the lines that continue it must be.
            let rest = line.text.get(2..)?;
            let content = rest.trim_start_matches(' ');
            if content.is_empty() {
                return None;
            }
            let column = indent + 2 + (rest.len() - content.len());
            self.lines[self.at] = Line {
                indent: column,
                text: content,
            };
            items.push(self.node(column, depth + 1, true)?);
            if self.peek().is_some_and(|l| l.indent > indent) {
                return None;
            }
        }
        Some(Value::Array(items))
    }

    /// Reads the `key: value` entries at `indent`.
    fn mapping(&mut self, indent: usize, depth: usize) -> Option<Value> {
        let mut map = Map::new();
        while let Some(line) = self.peek() {
            if line.indent != indent {
                break;
            }
            let (key, rest) = split_key(line.text)??;
            if key.len() > MAX_KEY_BYTES || map.contains_key(&key) {
                return None;
            }
            self.at += 1;
            let value = if rest.is_empty() {
                // The value is the block on the next lines: deeper, or a list at this
                // column. Anything else (an empty value) goes to the general parser.
                match self.peek() {
                    Some(next) if next.indent > indent => {
                        self.node(next.indent, depth + 1, false)?
                    }
                    Some(next) if next.indent == indent && is_item(next.text) => {
                        self.sequence(indent, depth + 1)?
                    }
                    _ => return None,
                }
            } else {
                let text = rest.strip_prefix(' ')?;
                if text.starts_with(' ') {
                    return None;
                }
                inline_value(text)?
            };
            map.insert(key, value);
            if self.peek().is_some_and(|l| l.indent > indent) {
                return None;
            }
        }
        Some(Value::Object(map))
    }
}

/// Whether a line's text is a list item (`- …`; a bare `-` is left to the general parser).
fn is_item(text: &str) -> bool {
    text.starts_with("- ") || text == "-"
}

/// Splits `key: rest` (`rest` empty or starting with a space). `Some(None)`: not a mapping
/// entry; `None`: something the reader does not decide (a key it does not accept).
fn split_key(text: &str) -> Option<Option<(String, &str)>> {
    if text.starts_with(['\'', '"']) {
        let (key, after) = quoted(text)?;
        if after.is_empty() {
            return Some(None);
        }
        let rest = after.strip_prefix(':')?;
        return (rest.is_empty() || rest.starts_with(' ')).then_some(Some((key, rest)));
    }
    let bytes = text.as_bytes();
    let colon =
        (0..bytes.len()).find(|&i| bytes[i] == b':' && bytes.get(i + 1).is_none_or(|&b| b == b' '));
    let Some(colon) = colon else {
        // A plain scalar, unless a space before a `#` starts a comment: leave that out.
        return (!text.contains(" #")).then_some(None);
    };
    let key = &text[..colon];
    if !plain_string(key, false) {
        return None;
    }
    Some(Some((key.to_owned(), &text[colon + 1..])))
}

/// A value written on the line of its key or list dash.
fn inline_value(text: &str) -> Option<Value> {
    match text {
        "{}" => return Some(Value::Object(Map::new())),
        "[]" => return Some(Value::Array(Vec::new())),
        "null" => return Some(Value::Null),
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    if text.starts_with(['\'', '"']) {
        let (s, after) = quoted(text)?;
        return after.is_empty().then_some(Value::String(s));
    }
    if let Some(n) = integer(text) {
        return Some(Value::Number(n));
    }
    (plain_string(text, true) || digit_string(text)).then(|| Value::String(text.to_owned()))
}

/// YAML's words for null, booleans and the special floats, which are not strings however
/// they are spelled; compared in lower case.
const WORDS: &[&str] = &[
    "null", "true", "false", "yes", "no", "on", "off", "y", "n", "inf", "infinity", "nan",
];

/// The characters of the plain scalars the reader accepts (and a space, inside values).
fn plain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '@' | '+' | '=' | '#' | ':' | '-')
}

/// Whether `text`, written plain, is a string: it starts with a letter, `_` or `/`, holds
/// only [`plain_char`]s (and, if `spaces`, single inner spaces not before a `#`), has no `:`
/// before a space or at its end, and is not one of YAML's [`WORDS`].
fn plain_string(text: &str, spaces: bool) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == '_' || first == '/') {
        return false;
    }
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let c = b as char;
        let ok = if c == ' ' {
            spaces && bytes.get(i + 1).is_some_and(|&n| n != b' ' && n != b'#')
        } else {
            plain_char(c)
        };
        if !ok || (c == ':' && bytes.get(i + 1).is_none_or(|&n| n == b' ')) {
            return false;
        }
    }
    let lower = text.to_ascii_lowercase();
    !WORDS.contains(&lower.as_str())
}

/// Whether `text` starts with a digit and is still a string for certain: it holds a letter
/// that no integer or float spelling has (anything but `e`, and the `a`–`f`, `x`, `o`, `b`
/// of hexadecimal, octal and binary integers), such as the `g`–`z` of a time or the hex
/// digits of a commit id that does not start with `0x`, `0o` or `0b`.
fn digit_string(text: &str) -> bool {
    let bytes = text.as_bytes();
    if !bytes.first().is_some_and(u8::is_ascii_digit)
        || !bytes.iter().all(|&b| plain_char(b as char))
        || text.ends_with(':')
    {
        return false;
    }
    if bytes.len() >= 2
        && bytes[0] == b'0'
        && matches!(bytes[1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B')
    {
        return false;
    }
    bytes
        .iter()
        .any(|&b| b.is_ascii_alphabetic() && !matches!(b, b'e' | b'E'))
}

/// A decimal integer without sign or leading zero (or with `-`), at most 18 digits.
fn integer(text: &str) -> Option<Number> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty()
        || digits.len() > 18
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.starts_with('0') && (digits.len() > 1 || text.starts_with('-')))
    {
        return None;
    }
    text.parse::<i64>().ok().map(Number::from)
}

/// Reads a quoted string at the start of `text`: the string and what follows the closing
/// quote.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.char_indices();
    let (_, quote) = chars.next()?;
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            ('\'', '\'') => {
                if text[i + 1..].starts_with('\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return Some((out, &text[i + 1..]));
                }
            }
            ('"', '"') => return Some((out, &text[i + 1..])),
            ('"', '\\') => {
                let (_, e) = chars.next()?;
                let hex = |chars: &mut std::str::CharIndices<'_>, n: usize| -> Option<char> {
                    let mut v = 0u32;
                    for _ in 0..n {
                        v = v * 16 + chars.next()?.1.to_digit(16)?;
                    }
                    char::from_u32(v)
                };
                out.push(match e {
                    '\\' => '\\',
                    '"' => '"',
                    '/' => '/',
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'e' => '\u{1b}',
                    'f' => '\u{c}',
                    'v' => '\u{b}',
                    'x' => hex(&mut chars, 2)?,
                    'u' => hex(&mut chars, 4)?,
                    'U' => hex(&mut chars, 8)?,
                    _ => return None,
                });
            }
            _ => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::yaml::{from_str, to_canonical};

    /// The general parser's reading.
    fn general(text: &str) -> Option<Value> {
        from_str::<Value>(text).ok()
    }

    // Documents as a store holds them (from `gen_store`): each is read here, as the general
    // parser reads it.
    #[test]
    fn store_documents_are_read_directly() {
        let release = "commit: 00000000a0e12ffc0563257affc5facf4bf843a4\npackage:\n  phases:\n  - name: build\n    tasks:\n    - task:\n        fn:\n          name: build\n          pos: package.ocu.star:10:5\n        inputs: {}\n        name: build\n  - name: staging\n    tasks:\n    - deploy:\n        down:\n          name: down\n          pos: package.ocu.star:30:5\n        environment: staging\n        up:\n          name: up\n          pos: package.ocu.star:20:5\n";
        let summary = "input: {}\noutput:\n  digest: 00000000935172286182d7afeb54502f9bf0a0e7\n  image: registry.example.com/svc7:36\nrelease: bench/-/team07/svc0007/package.ocu.star/@r36\nrun_ref: bench/-/team07/svc0007/package.ocu.star/@r36/deploy/production/1\ntype: up\n";
        let logs = "- message: step 0 of production for r36\n  stream: 0\n  timestamp: \"2026-01-01T00:00:00Z\"\n- message: step 1 of production for r36\n  stream: -1\n  timestamp: '2026-01-01T00:00:00Z'\n";
        let intent = "input:\n  replicas:\n    value: 3\nrelease: bench/-/team07/svc0007/package.ocu.star/@r35\n";
        for text in [release, summary, logs, intent] {
            let direct = read(text, 128);
            assert!(direct.is_some(), "{text}");
            assert_eq!(direct, general(text), "{text}");
        }
        assert_eq!(
            read(summary, 128).expect("read")["output"]["digest"],
            json!("00000000935172286182d7afeb54502f9bf0a0e7")
        );
    }

    #[test]
    fn what_the_reader_does_not_decide_goes_to_the_general_parser() {
        for text in [
            "a: 1\na: 2\n",               // duplicate key: an error there
            "a: yes\n",                   // a YAML 1.1 word
            "a:\n",                       // an empty value
            "a: 1 # note\n",              // a comment
            "a: &x 1\nb: *x\n",           // anchors
            "a: [1, 2]\n",                // flow
            "a: |\n  text\n",             // a block scalar
            "a: b\n  c\n",                // a continued plain scalar
            "a: 0x1F\n",                  // a hexadecimal integer
            "a: 1.5\n",                   // a float
            "a: 123456789012345678901\n", // a long integer
            "a:\tb\n",                    // a tab
            "\n",
            "",
        ] {
            assert_eq!(read(text, 128), None, "{text:?}");
        }
        // Nesting: at most half of `max_depth`.
        let deep = "a:\n  b:\n    c: 1\n";
        assert!(read(deep, 128).is_some());
        assert_eq!(read(deep, 2), None);
    }

    /// Strings that are easy to get wrong: YAML's words, numbers, indicators, escapes.
    fn tricky_string() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "yes",
                "No",
                "NULL",
                "null",
                "True",
                "~",
                "1",
                "-1",
                "0",
                "007",
                "-0",
                "1.5",
                "1e5",
                "0x1F",
                "0o7",
                "0b1",
                "12:30",
                "1:",
                "2026-01-01T00:00:00Z",
                "00000000a0e12ffc",
                "deadbeef",
                "1_000",
                "inf",
                ".inf",
                "nan",
                "a b",
                "a #b",
                "a#b",
                "a:b",
                "a: b",
                "http://x/y",
                "@r1",
                "/x",
                "_y",
                "a=b",
                "+1",
                "it's",
                "\"q\"",
                "back\\slash",
                "tab\there",
                "line\nbreak",
                "é",
                " lead",
                "trail ",
                "- x",
                "-",
                "?",
                "%x",
                "*a",
                "&a",
                "!t",
                "|",
                ">",
                "{}",
                "[]",
                "",
            ])
            .prop_map(str::to_owned),
            "[a-z0-9:/@#. _-]{0,12}",
            any::<String>(),
        ]
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            (-1.0e9f64..1.0e9).prop_map(|f| json!(f)),
            tricky_string().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(tricky_string(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Line-shaped YAML from pieces: indentation, list dashes, keys and values drawn from
    /// tricky strings, written plain or quoted.
    fn yamlish() -> impl Strategy<Value = String> {
        let scalar = prop_oneof![
            tricky_string(),
            tricky_string().prop_map(|s| format!("'{}'", s.replace('\'', "''"))),
            tricky_string().prop_map(|s| format!("{s:?}")),
        ];
        let line = (
            0usize..6,
            any::<bool>(),
            prop::option::of(scalar.clone()),
            prop::option::of(scalar),
        )
            .prop_map(|(indent, dash, key, value)| {
                let mut l = " ".repeat(indent);
                if dash {
                    l.push_str("- ");
                }
                if let Some(k) = key {
                    l.push_str(&k);
                    l.push(':');
                    if value.is_some() {
                        l.push(' ');
                    }
                }
                if let Some(v) = value {
                    l.push_str(&v);
                }
                l
            });
        prop::collection::vec(line, 1..8).prop_map(|lines| lines.join("\n") + "\n")
    }

    proptest! {
        #[test]
        fn canonical_documents_read_as_written(v in arb_json()) {
            if let Ok(text) = to_canonical(&v) {
                if let Some(direct) = read(&text, 128) {
                    prop_assert_eq!(&direct, &v, "{:?}", text);
                }
                prop_assert_eq!(read(&text, 128).or_else(|| general(&text)), Some(v));
            }
        }

        #[test]
        fn texts_read_as_the_general_parser_reads_them(text in yamlish()) {
            if let Some(direct) = read(&text, 128) {
                prop_assert_eq!(Some(direct), general(&text), "{:?}", text);
            }
        }

        #[test]
        fn store_shaped_documents_are_read_directly(
            entries in prop::collection::btree_map("[a-z_]{1,8}", "[a-z0-9/@._-]{0,20}", 1..6),
            n in -1000i64..1000,
        ) {
            // A document of plain keys, refs and numbers (what state holds) is never left
            // to the general parser.
            let mut v = json!({ "n": n, "list": [ { "k": "v" } ], "empty": {} });
            for (k, s) in entries {
                v[format!("x{k}")] = Value::String(format!("r{s}"));
            }
            let text = to_canonical(&v).expect("render");
            if !text.contains('"') && !text.contains('\'') {
                prop_assert_eq!(read(&text, 128), Some(v), "{:?}", text);
            }
        }
    }
}
