//! Feature `metrics`: the families, their labels and values, read from metrics-util's
//! debugging recorder on tokio's paused clock.
#![cfg(feature = "metrics")]
// The gauge holds small integers and the histogram whole seconds: exact in an f64.
#![allow(clippy::float_cmp)]

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use portcullis_circuit_breaker::{CircuitBreaker, Outcome};

/// What the recorder saw, by `name{label=value,...}`: counters summed over snapshots (a
/// snapshot resets them), the value of gauges at the last snapshot (which resets them
/// too: read one only after it was set), every value of histograms.
#[derive(Default)]
struct Seen {
    counters: BTreeMap<String, u64>,
    gauges: BTreeMap<String, f64>,
    histograms: BTreeMap<String, Vec<f64>>,
}

impl Seen {
    fn read(&mut self, snapshotter: &Snapshotter) {
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            match value {
                DebugValue::Counter(count) => *self.counters.entry(name).or_default() += count,
                DebugValue::Gauge(value) => {
                    self.gauges.insert(name, value.0);
                }
                DebugValue::Histogram(values) => self
                    .histograms
                    .entry(name)
                    .or_default()
                    .extend(values.iter().map(|value| value.0)),
            }
        }
    }
}

async fn sleep_then<T>(seconds: u64, result: T) -> T {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    result
}

#[tokio::test(start_paused = true)]
async fn every_family_appears_with_its_labels_and_values() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let breaker = CircuitBreaker::builder()
        .name("iam")
        .max_failures(2)
        .call_timeout(Duration::from_secs(3))
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut seen = Seen::default();
    seen.read(&snapshotter);
    assert_eq!(seen.gauges["portcullis_breaker_state{breaker=iam}"], 0.0);

    breaker
        .call(|| sleep_then(1, Ok::<_, &str>(())))
        .await
        .unwrap();
    breaker
        .call(|| sleep_then(2, Err::<(), _>("down")))
        .await
        .unwrap_err();
    breaker
        .call_with(
            |_: &Result<(), &str>| Outcome::Ignored,
            || async { Err("gone") },
        )
        .await
        .unwrap_err();
    breaker
        .call(|| sleep_then(60, Ok::<_, &str>(())))
        .await
        .unwrap_err();
    seen.read(&snapshotter);
    assert_eq!(
        seen.gauges["portcullis_breaker_state{breaker=iam}"], 2.0,
        "open"
    );
    breaker
        .call(|| async { Ok::<_, &str>(()) })
        .await
        .unwrap_err();
    // Past the reset timeout, so that the breaker's timer has half-opened it.
    tokio::time::sleep(Duration::from_secs(11)).await;
    seen.read(&snapshotter);
    assert_eq!(
        seen.gauges["portcullis_breaker_state{breaker=iam}"], 1.0,
        "half-open"
    );
    breaker
        .call(|| sleep_then(1, Ok::<_, &str>(())))
        .await
        .unwrap();
    seen.read(&snapshotter);

    let calls = |outcome: &str| {
        seen.counters[&format!("portcullis_breaker_calls_total{{breaker=iam,outcome={outcome}}}")]
    };
    assert_eq!(calls("success"), 2);
    assert_eq!(calls("failure"), 1);
    assert_eq!(calls("timeout"), 1);
    assert_eq!(calls("rejected"), 1);
    assert_eq!(calls("ignored"), 1);
    assert_eq!(
        seen.histograms["portcullis_breaker_call_duration_seconds{breaker=iam}"],
        [1.0, 2.0, 0.0, 3.0, 1.0],
        "every call that ran, in seconds; not the rejected one"
    );
    let transitions = |seen: &Seen, from: &str, to: &str| {
        seen.counters
            .get(&format!(
                "portcullis_breaker_transitions_total{{breaker=iam,from={from},to={to}}}"
            ))
            .copied()
    };
    assert_eq!(transitions(&seen, "closed", "open"), Some(1));
    assert_eq!(transitions(&seen, "open", "half_open"), Some(1));
    assert_eq!(transitions(&seen, "half_open", "closed"), Some(1));
    assert_eq!(
        transitions(&seen, "half_open", "open"),
        None,
        "never happened"
    );
    assert_eq!(seen.gauges["portcullis_breaker_state{breaker=iam}"], 0.0);

    breaker.force_open();
    seen.read(&snapshotter);
    assert_eq!(transitions(&seen, "closed", "forced_open"), Some(1));
    assert_eq!(seen.gauges["portcullis_breaker_state{breaker=iam}"], 2.0);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_built_before_any_recorder_records_nothing() {
    let early = CircuitBreaker::builder().name("early").build().unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    early.call(|| async { Ok::<_, ()>(()) }).await.unwrap();
    early.force_open();
    assert!(snapshotter.snapshot().into_vec().is_empty());
}
