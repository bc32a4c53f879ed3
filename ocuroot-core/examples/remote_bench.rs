//! Benchmark (a) of `docs/benchmarks.md`, "Remote stores": concurrent writers against one
//! remote store.
//!
//! `cargo run --release -p ocuroot-core --example remote_bench -- <url> [writers=8]
//! [writes=25] [shared] [turn=<n>] [fold=0|1]`: each writer opens the store with its own cache (as a CI job on its
//! own runner would; `shared`: all writers share one `$OCUROOT_HOME`, as parallel jobs on
//! one runner; `turn=<n>`: through the remote's waiting queue with turns of n commits;
//! `fold=0`: without folding, the racing loop of `main` before issue 16 item 4) and
//! commits `writes` transactions of one document each. Prints writes per
//! second, rejected pushes (retries) per write, latency percentiles per write, and where the
//! time went (waiting for the cache's commit lock, fetch, build, push, back-off), for all writes
//! and for the slowest 10%, plus how often a writer landed twice in a row.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ocuroot_core::clock::SystemClock;
use ocuroot_core::refs::Ref;
use ocuroot_core::store::{
    CommitTimings, RemoteOptions, RemoteSettings, Store, StoreKind, StoreOptions, Transaction,
};

struct Write {
    writer: usize,
    latency: Duration,
    retries: u32,
    timings: CommitTimings,
    landed: Instant,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: remote_bench <url> [writers] [writes] [shared] [turn=<n>]");
    let writers: usize = args.next().map_or(8, |v| v.parse().expect("writers"));
    let writes: usize = args.next().map_or(25, |v| v.parse().expect("writes"));
    // The rest: `shared`, and `turn=<n>` (the waiting queue's turn, `RemoteSettings::
    // queue_turn`; `turn=0`: no queue, the default).
    let rest: Vec<String> = args.collect();
    let shared = rest.iter().any(|v| v == "shared");
    let queue_turn: u32 = rest
        .iter()
        .find_map(|v| v.strip_prefix("turn="))
        .map_or(RemoteSettings::default().queue_turn, |v| {
            v.parse().expect("turn=<n>")
        });
    let fold = rest
        .iter()
        .find_map(|v| v.strip_prefix("fold="))
        .map_or(RemoteSettings::default().fold, |v| v != "0");
    let home = std::env::temp_dir().join(format!("ocuroot-remote-bench-{}", std::process::id()));
    let started = Instant::now();
    let results: Vec<Write> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let home = if shared {
                    home.join("shared")
                } else {
                    home.join(format!("job{w}"))
                };
                let url = url.clone();
                s.spawn(move || {
                    let remote = RemoteOptions {
                        url,
                        create_branch: true,
                        support_files: Default::default(),
                        settings: RemoteSettings {
                            queue_turn,
                            fold,
                            ..RemoteSettings::default()
                        },
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
                        out.push(Write {
                            writer: w,
                            latency: t.elapsed(),
                            retries: outcome.retries,
                            timings: outcome.timings,
                            landed: Instant::now(),
                        });
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
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut by_latency: Vec<&Write> = results.iter().collect();
    by_latency.sort_by_key(|w| w.latency);
    let n = by_latency.len();
    let pct = |p: f64| by_latency[((n as f64 * p).ceil() as usize).clamp(1, n) - 1].latency;
    let retries: u32 = results.iter().map(|r| r.retries).sum();
    println!(
        "writers: {writers}{}, writes each: {writes}, total writes: {n}, load average: {}",
        if shared { " (one shared cache)" } else { "" },
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    );
    println!("wall time: {:.2} s", total.as_secs_f64());
    println!("writes per second: {:.1}", n as f64 / total.as_secs_f64());
    println!("retries per write: {:.2}", f64::from(retries) / n as f64);
    let pushes: u32 = results.iter().map(|r| r.timings.pushes).sum();
    println!(
        "pushes per write: {:.2} (queue turn {queue_turn}{}, folding {})",
        f64::from(pushes) / n as f64,
        if queue_turn == 0 { ": no queue" } else { "" },
        if fold && queue_turn == 0 { "on" } else { "off" }
    );
    println!(
        "latency per write: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(by_latency[n - 1].latency)
    );
    let max_retries = results.iter().map(|r| r.retries).max().unwrap_or(0);
    let mut hist = [0usize; 6];
    for r in &results {
        let bucket = match r.retries {
            0 => 0,
            1 => 1,
            2..=3 => 2,
            4..=9 => 3,
            10..=19 => 4,
            _ => 5,
        };
        hist[bucket] += 1;
    }
    println!(
        "retries per write: 0: {}, 1: {}, 2-3: {}, 4-9: {}, 10-19: {}, 20+: {}; max {max_retries}",
        hist[0], hist[1], hist[2], hist[3], hist[4], hist[5]
    );
    let breakdown = |label: &str, set: &[&Write]| {
        let sum = |f: fn(&CommitTimings) -> Duration| -> f64 {
            set.iter().map(|w| ms(f(&w.timings))).sum::<f64>() / set.len().max(1) as f64
        };
        let attempts = set.iter().map(|w| f64::from(w.retries + 1)).sum::<f64>();
        println!(
            "{label}: {:.1} attempts/write; per write: lock wait {:.0} ms, fetch {:.0} ms, \
             build {:.0} ms, push {:.0} ms, back-off {:.0} ms, total {:.0} ms",
            attempts / set.len().max(1) as f64,
            sum(|t| t.lock_wait),
            sum(|t| t.fetch),
            sum(|t| t.build),
            sum(|t| t.push),
            sum(|t| t.backoff),
            set.iter().map(|w| ms(w.latency)).sum::<f64>() / set.len().max(1) as f64,
        );
    };
    breakdown("all writes", &by_latency);
    breakdown("slowest 10%", &by_latency[n - n.div_ceil(10)..]);
    // Fairness: with W writers taking turns, the writer that landed last lands next about
    // 1/W of the time; a much higher share means the last winner keeps winning.
    let mut order: Vec<&Write> = results.iter().collect();
    order.sort_by_key(|w| w.landed);
    let repeats = order
        .windows(2)
        .filter(|p| p[0].writer == p[1].writer)
        .count();
    let mut longest = 1;
    let mut run = 1;
    for p in order.windows(2) {
        run = if p[0].writer == p[1].writer {
            run + 1
        } else {
            1
        };
        longest = longest.max(run);
    }
    println!(
        "same writer landed twice in a row: {:.0}% of writes (fair: {:.0}%), longest streak {longest}",
        100.0 * repeats as f64 / (n - 1).max(1) as f64,
        100.0 / writers as f64
    );
}
