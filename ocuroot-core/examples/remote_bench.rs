//! Benchmark (a) of `docs/benchmarks.md`, "Remote stores": concurrent writers against one
//! remote store.
//!
//! `cargo run --release -p ocuroot-core --example remote_bench -- <url> [writers=8]
//! [writes=25]`: each writer opens the store with its own cache (as a CI job on its own
//! runner would) and commits `writes` transactions of one document each. Prints writes per
//! second, rejected pushes (retries) per write and latency percentiles per write.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ocuroot_core::clock::SystemClock;
use ocuroot_core::refs::Ref;
use ocuroot_core::store::{
    RemoteOptions, RemoteSettings, Store, StoreKind, StoreOptions, Transaction,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: remote_bench <url> [writers] [writes]");
    let writers: usize = args.next().map_or(8, |v| v.parse().expect("writers"));
    let writes: usize = args.next().map_or(25, |v| v.parse().expect("writes"));
    let home = std::env::temp_dir().join(format!("ocuroot-remote-bench-{}", std::process::id()));
    let started = Instant::now();
    let results: Vec<(Duration, u32)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let home = home.join(format!("job{w}"));
                let url = url.clone();
                s.spawn(move || {
                    let remote = RemoteOptions {
                        url,
                        create_branch: true,
                        support_files: Default::default(),
                        settings: RemoteSettings::default(),
                    };
                    let opts = StoreOptions::for_remote(
                        &home,
                        remote,
                        "state",
                        StoreKind::State,
                        Arc::new(SystemClock),
                    );
                    let store = Store::open(opts).expect("open store");
                    let mut out = Vec::new();
                    for i in 0..writes {
                        let r: Ref = format!("@/custom/w{w}/n{i}").parse().expect("ref");
                        let mut tx = Transaction::new(format!("writer {w} write {i}"));
                        tx.set(&r, serde_json::json!(i));
                        let t = Instant::now();
                        let outcome = store.commit(&tx).expect("commit");
                        out.push((t.elapsed(), outcome.retries));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("writer"))
            .collect()
    });
    let total = started.elapsed();
    let _ = std::fs::remove_dir_all(&home);
    let mut lat: Vec<Duration> = results.iter().map(|r| r.0).collect();
    lat.sort();
    let n = lat.len();
    let pct = |p: f64| lat[((n as f64 * p).ceil() as usize).clamp(1, n) - 1];
    let retries: u32 = results.iter().map(|r| r.1).sum();
    println!("writers: {writers}, writes each: {writes}, total writes: {n}");
    println!("wall time: {:.2} s", total.as_secs_f64());
    println!("writes per second: {:.1}", n as f64 / total.as_secs_f64());
    println!("retries per write: {:.2}", f64::from(retries) / n as f64);
    println!(
        "latency per write: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        lat[n - 1].as_secs_f64() * 1000.0
    );
}
