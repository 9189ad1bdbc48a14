//! The scale scenario (`--scale 50,100,200`): one `shipgate deploy` of N services in one
//! namespace (N Deployments of 2 replicas, new images `:slow-<ms>` spread over 200–3000 ms),
//! for each N on a fresh server, with what the server counted: requests by verb, watches
//! per namespace and kind, open watches and connections at peak, and shipgate's peak RSS.
//!
//! The test API server must not be the bottleneck: for each N the same rollouts are first run
//! without any deployer (the controllers only), and its max(t_i) is reported next to the one
//! with shipgate, with the probe's waits for the server's state lock. The bench's own watch of
//! the Deployments (one watch, one connection) is left out of the counts.

use super::{
    Cluster, NAMESPACE, Options, Repo, controllers_only, die, max, mib, new_images, observe,
    percentile, run_shipgate, seconds,
};
use kube_test_api::Counts;
use std::fmt::Write as _;

/// The targets of the issue at N = 200.
const TARGET_SSAR: u64 = 5;
const TARGET_WATCHES: u64 = 3;
const TARGET_CONNECTIONS: u64 = 10;
const TARGET_RSS_MIB: f64 = 60.0;
const TARGET_OVERHEAD: f64 = 1.0;

struct Measured {
    n: usize,
    wall: f64,
    slowest: f64,
    controllers_only: f64,
    counts: Counts,
    rss_mib: f64,
    lock_wait_p50_ms: f64,
    lock_wait_max_ms: f64,
}

fn options_for(options: &Options, n: usize) -> Options {
    Options {
        services: n,
        runs: 1,
        kubectl: None,
        shipgate: options.shipgate.clone(),
        label: options.label.clone(),
        scale: Vec::new(),
        manifests: false,
    }
}

fn measure(options: &Options, n: usize) -> Measured {
    let options = options_for(options, n);
    let controllers = controllers_only(&options);
    eprintln!(
        "bench-deploy: scale {n}: controllers only: max(t_i) {:.2} s",
        max(&controllers)
    );
    let repo = Repo::new(n);
    let cluster = Cluster::new(n);
    let images = new_images(n, None);
    cluster.api.reset_counts();
    let (observed, child) = observe(&cluster.api, &images, false, |t0| {
        run_shipgate(&options, &repo, &cluster, &images, t0)
    });
    if !child.status.success() {
        die(&format!(
            "shipgate deploy of {n} services failed ({}):\n{}",
            child.status,
            child.tail()
        ));
    }
    let rollouts: Vec<f64> = images
        .keys()
        .map(|s| {
            observed
                .rollout(s)
                .unwrap_or_else(|| die(&format!("the server never saw {s} rolled out")))
        })
        .collect();
    let mut counts = cluster.api.counts();
    // The bench's own watch of the Deployments.
    counts.watches_peak = counts.watches_peak.saturating_sub(1);
    counts.connections_peak = counts.connections_peak.saturating_sub(1);
    counts.connections = counts.connections.saturating_sub(1);
    if let Some(watches) = counts
        .watches_started
        .get_mut(&(NAMESPACE.to_string(), "deployments".to_string()))
    {
        *watches = watches.saturating_sub(1);
    }
    if let Some(watches) = counts.by_verb.get_mut("watch") {
        *watches = watches.saturating_sub(1);
    }
    eprintln!(
        "bench-deploy: scale {n}: wall {:.2} s, max(t_i) {:.2} s, {} requests",
        child.wall,
        max(&rollouts),
        counts.total()
    );
    Measured {
        n,
        wall: child.wall,
        slowest: max(&rollouts),
        controllers_only: max(&controllers),
        counts,
        rss_mib: child.max_rss_kib.map_or(f64::NAN, |k| k as f64 / 1024.0),
        lock_wait_p50_ms: percentile(&observed.lock_waits, 0.5) * 1000.0,
        lock_wait_max_ms: percentile(&observed.lock_waits, 1.0) * 1000.0,
    }
}

fn verbs(counts: &Counts) -> String {
    counts
        .by_verb
        .iter()
        .map(|(verb, n)| format!("{n} {verb}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

/// Runs the scale scenario for each N and prints its table.
pub(super) fn run(options: &Options, sizes: &[usize]) {
    let measured: Vec<Measured> = sizes.iter().map(|&n| measure(options, n)).collect();
    let mut text = String::from(
        "| N | wall | slowest rollout | wall − slowest | controllers only: slowest | requests by verb | SSARs | watches per kind (max) | open watches (peak) | connections (peak / total) | peak RSS |\n|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for m in &measured {
        let watches = ["deployments", "replicasets", "pods"]
            .iter()
            .map(|r| m.counts.max_watches_per_namespace(r))
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} | {watches} | {} | {} / {} | {} |",
            m.n,
            seconds(m.wall),
            seconds(m.slowest),
            seconds(m.wall - m.slowest),
            seconds(m.controllers_only),
            verbs(&m.counts),
            m.counts.requests("create", "selfsubjectaccessreviews"),
            m.counts.watches_peak,
            m.counts.connections_peak,
            m.counts.connections,
            mib(m.rss_mib),
        );
    }
    println!();
    println!(
        "`shipgate deploy --services all`, N Deployments x 2 replicas in one namespace, new images \
         `:slow-<ms>` over 200-3000 ms, one run per N on a fresh server; shipgate = {}.",
        options.label
    );
    println!();
    print!("{text}");
    if let Some(m) = measured.iter().max_by_key(|m| m.n) {
        let watches = ["deployments", "replicasets", "pods"]
            .iter()
            .map(|r| m.counts.max_watches_per_namespace(r))
            .max()
            .unwrap_or(0);
        let ssar = m.counts.requests("create", "selfsubjectaccessreviews");
        println!();
        println!("Targets at N = {}:", m.n);
        println!(
            "- SelfSubjectAccessReviews ≤ {TARGET_SSAR} per namespace: {ssar}, {}",
            met(ssar <= TARGET_SSAR)
        );
        println!(
            "- watches ≤ {TARGET_WATCHES} per namespace and kind: {watches}, {}",
            met(watches <= TARGET_WATCHES)
        );
        println!(
            "- connections ≤ {TARGET_CONNECTIONS}: {} at peak, {}",
            m.counts.connections_peak,
            met(m.counts.connections_peak <= TARGET_CONNECTIONS)
        );
        println!(
            "- peak RSS ≤ {TARGET_RSS_MIB} MiB: {}, {}",
            mib(m.rss_mib),
            met(m.rss_mib <= TARGET_RSS_MIB)
        );
        println!(
            "- wall ≤ slowest rollout + {TARGET_OVERHEAD} s: {} − {} = {}, {}",
            seconds(m.wall),
            seconds(m.slowest),
            seconds(m.wall - m.slowest),
            met(m.wall - m.slowest <= TARGET_OVERHEAD)
        );
    }
    println!();
    for m in &measured {
        println!(
            "N = {}: the test API server alone rolled the same images out in {} (slowest), {} with \
             shipgate; a probe waited {:.0} ms for its state lock in the median, {:.0} ms at most.",
            m.n,
            seconds(m.controllers_only),
            seconds(m.slowest),
            m.lock_wait_p50_ms,
            m.lock_wait_max_ms
        );
    }
}
