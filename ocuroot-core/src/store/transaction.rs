//! Transactions: the operations a command groups into one commit, and what the commit did.
//!
//! A [`Transaction`] records operations ([`Op`](super::Op): set, raw set, create-only, delete, link,
//! unlink, expect) rather than a finished tree, so that [`Store::commit`](super::Store::commit)
//! can apply them again on a newer tip after a lost race; create-only and expect operations
//! re-check there. Its commit message is the caller's message followed by one line per
//! operation. [`CommitOutcome`] and [`CommitTimings`] report what a commit did and where its
//! time went. Applying operations to a tree is the backend's (`git/overlay.rs`).

use std::fmt;

use serde_json::Value;

use super::layout::Area;
use crate::refs::Ref;

/// One operation of a [`Transaction`].
///
/// Serializes (as JSON, refs as their text) so that a writer can publish a transaction for
/// another writer to land (`docs/remote-stores.md`, "Folding").
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// Writes a document, resolving links in the records area first.
    Set {
        /// Records or the applied mirror.
        area: Area,
        /// The ref (no fragment).
        #[serde(with = "ref_text")]
        r: Ref,
        /// The document.
        value: Value,
    },
    /// Writes a document's exact text (already valid YAML), without re-rendering it.
    ///
    /// Used for the applied-intent mirror, which must hold the very bytes of the intent
    /// document (however a person formatted it) so that "in sync" stays "identical blob".
    SetRaw {
        /// Records or the applied mirror.
        area: Area,
        /// The ref (no fragment).
        #[serde(with = "ref_text")]
        r: Ref,
        /// The YAML text.
        text: String,
    },
    /// Writes a document that must not exist yet (checked again on every retry).
    Create {
        /// Records or the applied mirror.
        area: Area,
        /// The ref (no fragment).
        #[serde(with = "ref_text")]
        r: Ref,
        /// The document.
        value: Value,
    },
    /// Deletes a document, resolving links first.
    Delete {
        /// Records or the applied mirror.
        area: Area,
        /// The ref (no fragment).
        #[serde(with = "ref_text")]
        r: Ref,
        /// When false, a missing document is an error.
        if_exists: bool,
    },
    /// Points `r` at `target` (records area only).
    Link {
        /// The link's ref.
        #[serde(with = "ref_text")]
        r: Ref,
        /// The ref it points at.
        #[serde(with = "ref_text")]
        target: Ref,
    },
    /// Removes the link at `r` if there is one.
    Unlink {
        /// The link's ref.
        #[serde(with = "ref_text")]
        r: Ref,
    },
    /// Writes nothing: the commit fails with [`StoreError::Changed`](super::StoreError::Changed) unless the document at
    /// `r` is exactly `value` when the operations are applied (`None`: no document). Checked
    /// again on every retry after a lost race, this makes a transaction a compare-and-swap
    /// on documents it read, which is how a job claims a run (see `engine`).
    Expect {
        /// Records or the applied mirror.
        area: Area,
        /// The ref (no fragment; links are not resolved).
        #[serde(with = "ref_text")]
        r: Ref,
        /// The document it must hold.
        value: Option<Value>,
    },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let area = |a: &Area| match a {
            Area::Records => "",
            Area::Applied => " (applied)",
            Area::Repos => " (repos)",
        };
        match self {
            Op::Set { area: a, r, .. } | Op::SetRaw { area: a, r, .. } => {
                write!(f, "update {r}{}", area(a))
            }
            Op::Create { area: a, r, .. } => write!(f, "create {r}{}", area(a)),
            Op::Delete { area: a, r, .. } => write!(f, "delete {r}{}", area(a)),
            Op::Link { r, target } => write!(f, "link {r} to {target}"),
            Op::Unlink { r } => write!(f, "unlink {r}"),
            Op::Expect { area: a, r, .. } => write!(f, "check {r}{}", area(a)),
        }
    }
}

/// A group of operations committed together as one Git commit.
///
/// Serializes with its operations, message and trailers (see [`Op`]).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Transaction {
    message: String,
    ops: Vec<Op>,
    /// Git trailers (`Requested-by: …`), the last paragraph of the message.
    trailers: Vec<(String, String)>,
}

impl Transaction {
    /// Starts a transaction whose commit message begins with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Transaction {
            message: message.into(),
            ops: Vec::new(),
            trailers: Vec::new(),
        }
    }

    /// Returns the operations recorded so far.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Returns the message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Returns true if no operation was recorded.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Records an arbitrary operation.
    pub fn push(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }

    /// Records a document write in the records area.
    pub fn set(&mut self, r: &Ref, value: Value) -> &mut Self {
        self.push(Op::Set {
            area: Area::Records,
            r: r.clone(),
            value,
        })
    }

    /// Records a document write in `area`.
    pub fn set_in(&mut self, area: Area, r: &Ref, value: Value) -> &mut Self {
        self.push(Op::Set {
            area,
            r: r.clone(),
            value,
        })
    }

    /// Records a create-only document write in the records area.
    pub fn create(&mut self, r: &Ref, value: Value) -> &mut Self {
        self.push(Op::Create {
            area: Area::Records,
            r: r.clone(),
            value,
        })
    }

    /// Records a delete in the records area (an error at commit if the document is missing).
    pub fn delete(&mut self, r: &Ref) -> &mut Self {
        self.push(Op::Delete {
            area: Area::Records,
            r: r.clone(),
            if_exists: false,
        })
    }

    /// Records a delete in the records area that tolerates a missing document.
    pub fn delete_if_exists(&mut self, r: &Ref) -> &mut Self {
        self.push(Op::Delete {
            area: Area::Records,
            r: r.clone(),
            if_exists: true,
        })
    }

    /// Records a link from `r` to `target`.
    pub fn link(&mut self, r: &Ref, target: &Ref) -> &mut Self {
        self.push(Op::Link {
            r: r.clone(),
            target: target.clone(),
        })
    }

    /// Records the removal of the link at `r`.
    pub fn unlink(&mut self, r: &Ref) -> &mut Self {
        self.push(Op::Unlink { r: r.clone() })
    }

    /// Records a precondition: the commit fails with [`StoreError::Changed`](super::StoreError::Changed) unless the
    /// records document at `r` is `value` (`None`: absent) when the operations are applied.
    pub fn expect(&mut self, r: &Ref, value: Option<Value>) -> &mut Self {
        self.push(Op::Expect {
            area: Area::Records,
            r: r.clone(),
            value,
        })
    }

    /// Records a write to the applied-intent mirror.
    pub fn set_applied(&mut self, r: &Ref, value: Value) -> &mut Self {
        self.push(Op::Set {
            area: Area::Applied,
            r: r.clone(),
            value,
        })
    }

    /// Records a write of the exact intent text to the applied-intent mirror.
    pub fn set_applied_raw(&mut self, r: &Ref, text: String) -> &mut Self {
        self.push(Op::SetRaw {
            area: Area::Applied,
            r: r.clone(),
            text,
        })
    }

    /// Records a removal from the applied-intent mirror (tolerates a missing document).
    pub fn delete_applied(&mut self, r: &Ref) -> &mut Self {
        self.push(Op::Delete {
            area: Area::Applied,
            r: r.clone(),
            if_exists: true,
        })
    }

    /// Appends the operations of `other` after this transaction's, so both land in one
    /// commit. The commit message's first line names both (`a; b`), and `other`'s further
    /// lines follow this transaction's.
    pub fn append(&mut self, other: Transaction) -> &mut Self {
        let (head, body) = split_message(&self.message);
        let (other_head, other_body) = split_message(&other.message);
        let head = match (head.is_empty(), other_head.is_empty()) {
            (_, true) => head.to_string(),
            (true, false) => other_head.to_string(),
            (false, false) => format!("{head}; {other_head}"),
        };
        let body: Vec<&str> = [body, other_body]
            .into_iter()
            .filter(|b| !b.is_empty())
            .collect();
        self.message = if body.is_empty() {
            head
        } else {
            format!("{head}\n\n{}", body.join("\n\n"))
        };
        self.ops.extend(other.ops);
        for t in other.trailers {
            if !self.trailers.contains(&t) {
                self.trailers.push(t);
            }
        }
        self
    }

    /// Adds a Git trailer (`key: value`, for example `Requested-by: Ada <ada@example.com>`)
    /// to the commit message's last paragraph. Line breaks in `value` become spaces.
    pub fn trailer(&mut self, key: &str, value: &str) -> &mut Self {
        let value = value.replace(['\n', '\r'], " ");
        self.trailers
            .push((key.to_string(), value.trim().to_string()));
        self
    }

    /// The trailers added with [`Transaction::trailer`].
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    /// Renders the commit message: the message, a blank line, one line per operation.
    pub fn commit_message(&self) -> String {
        const MAX_LINES: usize = 100;
        let mut msg = self.message.trim_end().to_string();
        if !self.ops.is_empty() {
            msg.push_str("\n\n");
            for op in self.ops.iter().take(MAX_LINES) {
                msg.push_str(&op.to_string());
                msg.push('\n');
            }
            if self.ops.len() > MAX_LINES {
                msg.push_str(&format!("... and {} more\n", self.ops.len() - MAX_LINES));
            }
        }
        if !self.trailers.is_empty() {
            msg = msg.trim_end().to_string();
            msg.push_str("\n\n");
            for (k, v) in &self.trailers {
                msg.push_str(&format!("{k}: {v}\n"));
            }
        }
        msg
    }
}

/// Refs serialize as their text, which parses back to the same ref.
mod ref_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::refs::Ref;

    pub(super) fn serialize<S: Serializer>(r: &Ref, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(r)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ref, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Splits a message into its first line and the rest (trimmed).
fn split_message(message: &str) -> (&str, &str) {
    let message = message.trim();
    match message.split_once('\n') {
        Some((head, body)) => (head.trim(), body.trim()),
        None => (message, ""),
    }
}

/// What a successful [`Store::commit`](super::Store::commit) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitOutcome {
    /// The new commit id (hex), or `None` when the operations changed nothing.
    pub commit: Option<String>,
    /// How many compare-and-swap races were lost before the commit landed.
    pub retries: u32,
    /// Where the time of a remote commit went (all zero for a local store).
    pub timings: CommitTimings,
}

/// Where the time of one remote [`Store::commit`](super::Store::commit) went, summed over its attempts.
///
/// For benchmarks and diagnostics (`docs/benchmarks.md`, "Remote stores").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitTimings {
    /// Waiting for the cache's commit lock (writers sharing `$OCUROOT_HOME` take turns).
    pub lock_wait: std::time::Duration,
    /// Fetching the branch (`git fetch`) or asking for its tip (`git ls-remote`).
    pub fetch: std::time::Duration,
    /// Reading the tip and building the commit (re-applying the operations).
    pub build: std::time::Duration,
    /// Pushing (`git push`), accepted or rejected.
    pub push: std::time::Duration,
    /// Sleeping between attempts (back-off after a rejected push, or waiting for others'
    /// turns in a remote's waiting queue).
    pub backoff: std::time::Duration,
    /// `git push` runs: accepted, rejected and the waiting queue's marker pushes.
    pub pushes: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_end_the_message_and_survive_append() {
        let r: Ref = "@/custom/x".parse().expect("ref");
        let mut tx = Transaction::new("set intent @/custom/x");
        tx.set(&r, Value::from(1));
        tx.trailer("Requested-by", "Ada\nLovelace <ada@example.com>");
        assert_eq!(
            tx.commit_message(),
            "set intent @/custom/x\n\nupdate @/custom/x\n\nRequested-by: Ada Lovelace <ada@example.com>\n"
        );
        let mut other = Transaction::new("more");
        other.append(tx);
        assert!(
            other
                .commit_message()
                .ends_with("\n\nRequested-by: Ada Lovelace <ada@example.com>\n")
        );
        assert_eq!(other.trailers().len(), 1);
    }
    use serde_json::Value;

    #[test]
    fn appended_transactions_name_both_in_the_summary_and_keep_every_op() {
        let a: Ref = "@/custom/a".parse().expect("ref");
        let b: Ref = "@/custom/b".parse().expect("ref");
        let mut first = Transaction::new("execution finished\n\nrun 1 complete");
        first.set(&a, Value::Null);
        let mut second = Transaction::new("execution started\n\nrelease r1");
        second.delete(&b);
        first.append(second);
        assert_eq!(
            first.message(),
            "execution finished; execution started\n\nrun 1 complete\n\nrelease r1"
        );
        assert_eq!(first.ops().len(), 2);
        assert!(matches!(&first.ops()[1], Op::Delete { r, .. } if *r == b));
        let mut bare = Transaction::new("");
        bare.append(Transaction::new("only"));
        assert_eq!(bare.message(), "only");
    }
}
