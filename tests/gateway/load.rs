//! Request loops against the gateway: share per instance, and a bounded burst with a
//! failure injected part-way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which instance answered (the `x-instance-id` response header).
pub(crate) fn instance_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-instance-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("<no x-instance-id>")
        .to_owned()
}

/// Sends `count` sequential GETs and counts the answers per instance; every answer must
/// be a 200.
pub(crate) async fn shares(
    client: &reqwest::Client,
    url: &str,
    count: usize,
) -> BTreeMap<String, usize> {
    let mut per_instance = BTreeMap::new();
    for _ in 0..count {
        let response = client.get(url).send().await.expect("gateway answers");
        assert_eq!(response.status(), 200, "GET {url}");
        *per_instance.entry(instance_of(&response)).or_default() += 1;
    }
    per_instance
}

/// Asserts each instance's share of `counts` is within `tolerance` (a fraction of the
/// total, e.g. 0.05 for five percentage points) of its weight's share.
pub(crate) fn assert_shares(
    counts: &BTreeMap<String, usize>,
    weights: &[(&str, usize)],
    tolerance: f64,
) {
    let total: usize = counts.values().sum();
    let weight_sum: usize = weights.iter().map(|(_, w)| w).sum();
    assert_eq!(
        counts.len(),
        weights.len(),
        "answers came from unexpected instances: {counts:?}"
    );
    for (instance, weight) in weights {
        let got = counts.get(*instance).copied().unwrap_or(0) as f64 / total as f64;
        let want = *weight as f64 / weight_sum as f64;
        assert!(
            (got - want).abs() <= tolerance,
            "{instance}: share {got:.3}, want {want:.3} +/- {tolerance} (counts {counts:?})"
        );
    }
}

/// The outcome of a burst.
#[derive(Debug, Default)]
pub(crate) struct BurstReport {
    pub(crate) sent: usize,
    pub(crate) succeeded: usize,
    /// Failures: status or transport error, with how often each happened.
    pub(crate) failures: BTreeMap<String, usize>,
    /// Answers per instance before and after the failure was injected.
    pub(crate) before: BTreeMap<String, usize>,
    pub(crate) after: BTreeMap<String, usize>,
}

/// Sends `total` GETs to `url` from `concurrency` tasks; when `inject_at` requests have
/// been started, runs `inject` (e.g. kills an instance) while the others keep going.
pub(crate) async fn burst(
    client: &reqwest::Client,
    url: &str,
    total: usize,
    concurrency: usize,
    inject_at: usize,
    inject: impl FnOnce() + Send + 'static,
) -> BurstReport {
    let next = Arc::new(AtomicUsize::new(0));
    let injected = Arc::new(AtomicUsize::new(0));
    let inject = Arc::new(Mutex::new(Some(inject)));
    let report = Arc::new(Mutex::new(BurstReport::default()));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url) = (client.clone(), url.to_owned());
        let (next, injected, inject, report) = (
            next.clone(),
            injected.clone(),
            inject.clone(),
            report.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                if index >= total {
                    break;
                }
                if index == inject_at {
                    let action = inject.lock().expect("inject lock").take();
                    if let Some(action) = action {
                        action();
                    }
                    injected.store(1, Ordering::SeqCst);
                }
                let after = injected.load(Ordering::SeqCst) == 1;
                let outcome = client.get(&url).send().await;
                let mut report = report.lock().expect("report lock");
                report.sent += 1;
                match outcome {
                    Ok(response) if response.status() == 200 => {
                        report.succeeded += 1;
                        let side = if after {
                            &mut report.after
                        } else {
                            &mut report.before
                        };
                        *side.entry(instance_of(&response)).or_default() += 1;
                    }
                    Ok(response) => {
                        *report
                            .failures
                            .entry(format!("status {}", response.status()))
                            .or_default() += 1;
                    }
                    Err(error) => {
                        *report.failures.entry(format!("{error}")).or_default() += 1;
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("burst task");
    }
    Arc::try_unwrap(report)
        .expect("tasks done")
        .into_inner()
        .expect("report lock")
}
