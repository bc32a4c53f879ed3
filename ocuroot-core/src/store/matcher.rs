//! Glob-guided tree walking: prunes subtrees that no ref matching a glob can live in.
//!
//! A glob is split into `/`-separated segment patterns; a segment that is exactly `**`
//! stands for one or more ref segments. While walking the tree, the matcher keeps the set of
//! pattern positions that the path so far can be at, and a subtree is skipped once that set
//! is empty. Patterns this cannot describe (a `**` inside a segment such as `**@*`, or a
//! `{a,b/c}` alternative spanning a `/`) fall back to walking everything. The final decision
//! is always the full glob, so pruning only saves work and never changes a result.

use crate::refs::Glob;

enum Seg {
    Many,
    One(Glob),
}

/// A per-segment view of a glob.
pub(crate) struct SegmentMatcher {
    /// `None` when the glob cannot be split and every subtree must be visited.
    segs: Option<Vec<Seg>>,
}

/// The pattern positions a path can be at (sorted, unique); `ANY` when not pruning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct States {
    positions: Vec<usize>,
    any: bool,
}

impl States {
    /// Returns true when no ref below this path can match.
    pub(crate) fn is_dead(&self) -> bool {
        !self.any && self.positions.is_empty()
    }
}

fn split_segments(pattern: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '[' if !in_class => {
                in_class = true;
                cur.push(c);
            }
            ']' if in_class => {
                in_class = false;
                cur.push(c);
            }
            '{' if !in_class => {
                depth += 1;
                cur.push(c);
            }
            '}' if !in_class => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            '/' if depth > 0 || in_class => return None,
            '/' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    Some(out)
}

impl SegmentMatcher {
    pub(crate) fn new(glob: &Glob) -> SegmentMatcher {
        let segs = split_segments(glob.as_str()).and_then(|parts| {
            parts
                .into_iter()
                .map(|p| {
                    if p == "**" {
                        Some(Seg::Many)
                    } else if p.contains("**") || p.is_empty() {
                        None
                    } else {
                        Glob::new(&p).ok().map(Seg::One)
                    }
                })
                .collect::<Option<Vec<_>>>()
        });
        SegmentMatcher { segs }
    }

    fn start(&self) -> States {
        States {
            positions: vec![0],
            any: self.segs.is_none(),
        }
    }

    /// Returns the states after consuming one path segment `name`.
    pub(crate) fn advance(&self, states: &States, name: &str) -> States {
        let Some(segs) = &self.segs else {
            return States {
                positions: Vec::new(),
                any: true,
            };
        };
        let mut next = Vec::new();
        for &i in &states.positions {
            match segs.get(i) {
                Some(Seg::Many) => {
                    next.push(i);
                    next.push(i + 1);
                }
                Some(Seg::One(g)) if g.matches(name) => next.push(i + 1),
                Some(Seg::One(_)) | None => {}
            }
        }
        next.sort_unstable();
        next.dedup();
        States {
            positions: next,
            any: false,
        }
    }

    /// Returns the states after consuming every segment of `path` from the start.
    pub(crate) fn advance_all(&self, path: &[String]) -> States {
        path.iter()
            .fold(self.start(), |s, name| self.advance(&s, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pattern: &str, path: &str) -> bool {
        let m = SegmentMatcher::new(&Glob::new(pattern).expect("glob"));
        let segs: Vec<String> = path.split('/').map(str::to_string).collect();
        !m.advance_all(&segs).is_dead()
    }

    #[test]
    fn prunes_paths_that_cannot_match() {
        assert!(alive("**/@*/deploy/*", "a/b/-/x.ocu.star/@r1/deploy"));
        assert!(!alive("@/environment/*", "a"));
        assert!(alive("@/environment/*", "@/environment"));
        assert!(!alive("a/-/**/@*/commit/c1", "b"));
        assert!(alive("{a,b}/x", "b"));
        // Fallback patterns never prune.
        assert!(alive("**/-/**@*", "zzz"));
        assert!(alive("{a/b,c}/x", "q"));
    }
}
