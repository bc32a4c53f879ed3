//! `ocuroot-core`: the library behind the `ocuroot` CLI.
//!
//! Ocuroot records what a CI/CD system did as **state** and what people want as **intent**,
//! both as YAML documents in Git, and computes the work that closes the gap.
//!
//! Modules, lowest layer first (each uses only those above it in this list; see
//! `docs/architecture.md` and the layering test `tests/test_layers.rs`):
//! - [`clock`], [`limits`], [`redact`], [`git_subprocess`]: the clock trait, limits on
//!   outside input, removing credentials from URLs, and every `git` process core starts
//!   (with a hermetic environment).
//! - [`refs`]: the ref grammar (parse, render, relative refs, globs, reduce), typed subpath
//!   types and run statuses, and the builders of the refs around a run.
//! - [`yaml`]: canonical YAML, the only user of the YAML crate; [`model`]: the document
//!   types.
//! - [`store`]: the Git-backed document store with transactions, and the configurations a
//!   store checkout records.
//! - [`intent`]: intent validation; [`plan`]: the intent pipeline (trees in, effects out).
//! - [`sdk`]: the Starlark SDK (dialect, globals, host access, loading, packages);
//!   [`config`]: `repo.ocu.star` evaluation and settings; [`init`]: starter files.
//! - [`workspace`]: a checkout with its configuration and stores, and checkouts of other
//!   commits; [`find_deploys`]: which deployments were made from a range of commits.
//! - [`engine`]: releases, runs, intent application, work, cascade and push over a
//!   [`engine::Context`].
//! - [`import`]: importing stores written by the original Ocuroot.
//! - `ui` (cargo feature `ui`): the web UI, the state viewer and the preview server.
//!
//! The library never prints and never reads the process environment or clock: callers pass
//! settings, an environment map and a [`clock::Clock`] in.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod engine;
pub mod find_deploys;
pub mod git_subprocess;
pub mod import;
pub mod init;
pub mod intent;
pub mod limits;
pub mod model;
pub mod plan;
pub mod redact;
pub mod refs;
pub mod sdk;
pub mod store;
#[cfg(feature = "ui")]
pub mod ui;
pub mod workspace;
pub mod yaml;
