//! `ocuroot-core`: the library behind the `ocuroot` CLI.
//!
//! Ocuroot records what a CI/CD system did as **state** and what people want as **intent**,
//! both as YAML documents in Git, and computes the work that closes the gap.
//!
//! Modules:
//! - [`refs`]: the ref grammar (parse, render, relative refs, globs, reduce).
//! - [`yaml`]: canonical YAML, the only user of the YAML crate.
//! - [`limits`]: depth and size limits on outside input.
//! - [`store`]: the Git-backed document store with transactions.
//! - [`config`]: `repo.ocu.star` evaluation and settings.
//! - [`sdk`]: the Starlark SDK foundation (dialect, globals, host access, loading).
//! - [`git_subprocess`]: every `git` process core starts, with a hermetic environment.
//! - [`find_deploys`]: which current deployments were made from a range of commits.
//! - [`import`]: importing stores written by the original Ocuroot.
//! - [`init`]: starter files (`repo.ocu.star`, an example release, CI configuration).
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
pub mod refs;
pub mod sdk;
pub mod store;
pub mod workspace;
pub mod yaml;
