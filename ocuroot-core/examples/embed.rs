//! Embedding the store: open a state/intent pair in a temporary Git repository, write and
//! read documents, follow a link, match refs with a glob and compute the intent diff.
//!
//! Run it with `cargo run -p ocuroot-core --example embed`.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::sync::Arc;

use ocuroot_core::clock::SystemClock;
use ocuroot_core::refs::{Glob, Ref};
use ocuroot_core::store::{
    Area, Author, MatchOptions, Store, StoreKind, StoreOptions, Transaction, diff_intent,
};
use serde_json::json;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    // The default layout: one bare repository, a branch per store.
    let hub = dir.path().join("store.git");
    let open = |branch: &str, kind: StoreKind| -> Result<Store, Box<dyn Error>> {
        let mut options = StoreOptions::new(&hub, branch, kind, Arc::new(SystemClock));
        options.author = Author {
            name: "Embed Example".to_string(),
            email: "embed@example.com".to_string(),
        };
        Ok(Store::open(options)?)
    };
    let state = open("state", StoreKind::State)?;
    let intent = open("intent", StoreKind::Intent)?;

    // State: a release, its deployment to staging, and the "current deployment" link.
    let release: Ref = "example/-/app.ocu.star/@r1".parse()?;
    let deployed: Ref = "example/-/app.ocu.star/@r1/deploy/staging".parse()?;
    let current: Ref = "example/-/app.ocu.star/@/deploy/staging".parse()?;
    let staging: Ref = "@/environment/staging".parse()?;
    let staging_doc = json!({"name": "staging", "attributes": {"type": "staging"}});
    let mut tx = Transaction::new("release r1 and deploy it to staging");
    tx.create(&release, json!({"commit": "0123abcd"}))
        .set(
            &deployed,
            json!({"release": release.to_string(), "output": {"url": "https://staging.example.com"}}),
        )
        .link(&current, &deployed)
        // State records that it has applied the staging environment intent.
        .set_applied(&staging, staging_doc.clone());
    let outcome = state.commit(&tx)?;
    println!("state commit: {:?}", outcome.commit);

    // Intent: the same staging environment, plus a new production environment.
    let production: Ref = "@/environment/production".parse()?;
    let mut tx = Transaction::new("ask for environments");
    tx.set(&staging, staging_doc).set(
        &production,
        json!({"name": "production", "attributes": {"type": "prod"}}),
    );
    intent.commit(&tx)?;

    // Reads resolve links and apply fragments.
    let url: Ref = "example/-/app.ocu.star/@/deploy/staging#output/url".parse()?;
    println!("{url} = {}", state.get(&url)?);

    // Globs match existing refs (documents and links).
    let glob = Glob::new("example/-/**/@*/deploy/*")?;
    for r in state.match_refs(Area::Records, &[glob], MatchOptions::default())? {
        println!("match: {r}");
    }

    // Pending intent work: only production differs from what state has applied.
    for entry in diff_intent(&intent, &state)? {
        println!("diff: {} {}", entry.kind, entry.r);
    }

    for h in state.history(Area::Records, &current, 10)? {
        println!(
            "history: {} by {} <{}>: {}",
            h.change, h.author_name, h.author_email, h.summary
        );
    }
    Ok(())
}
