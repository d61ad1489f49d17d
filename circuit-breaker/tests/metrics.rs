//! Feature `metrics`: the families, their labels and values, read from metrics-util's
//! debugging recorder on tokio's paused clock.
#![cfg(feature = "metrics")]
// The gauge holds small integers and the histogram whole seconds: exact in an f64.
#![allow(clippy::float_cmp)]

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use portcullis_circuit_breaker::{CircuitBreaker, Outcome};

/// One call in this many is timed, after each thread's first.
const SAMPLE_INTERVAL: u64 = 128;

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
    // Durations are sampled: a thread's first call through the breaker, then
    // one in 128; so of these six calls on one thread, only the first.
    assert_eq!(
        seen.histograms["portcullis_breaker_call_duration_seconds{breaker=iam}"],
        [1.0],
        "the thread's first call, in seconds"
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

fn ok() -> std::future::Ready<Result<(), ()>> {
    std::future::ready(Ok(()))
}

/// The output of a future that is ready at its first poll (these calls need no runtime).
fn now<F: std::future::Future>(future: F) -> F::Output {
    futures_util::FutureExt::now_or_never(future).expect("ready at once")
}

/// Taken by the tests that read counts before a flush and by those that flush every
/// breaker of the process (the tests of this file run at once, each with its own recorder).
static FLUSHES: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn no_other_flush() -> std::sync::MutexGuard<'static, ()> {
    FLUSHES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

const SUCCESSES: &str = "portcullis_breaker_calls_total{breaker=b,outcome=success}";
const REJECTED: &str = "portcullis_breaker_calls_total{breaker=b,outcome=rejected}";
const FAILURES: &str = "portcullis_breaker_calls_total{breaker=b,outcome=failure}";
const DURATIONS: &str = "portcullis_breaker_call_duration_seconds{breaker=b}";

/// A thread's first success and then one in 128 are timed and flush the counts: in
/// between, the exported successes lag by less than 128; a flush makes them exact.
#[test]
fn successes_are_exported_at_each_sampled_call_and_exactly_after_a_flush() {
    let _serial = no_other_flush();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let breaker = CircuitBreaker::builder().name("b").build().unwrap();
    let mut seen = Seen::default();
    for _ in 0..200 {
        now(breaker.call(ok)).unwrap();
    }
    seen.read(&snapshotter);
    assert_eq!(
        seen.counters[SUCCESSES],
        SAMPLE_INTERVAL + 1,
        "as of call 129"
    );
    assert_eq!(seen.histograms[DURATIONS].len(), 2, "calls 1 and 129");
    breaker.flush_metrics();
    seen.read(&snapshotter);
    assert_eq!(seen.counters[SUCCESSES], 200);
    portcullis_circuit_breaker::flush_metrics();
    seen.read(&snapshotter);
    assert_eq!(seen.counters[SUCCESSES], 200, "a second flush adds nothing");
    assert_eq!(
        seen.histograms[DURATIONS].len(),
        2,
        "a flush samples nothing"
    );
}

/// Threads that made their calls and exited lose none: their counts live in the
/// breaker, each exported at most 127 behind, and exact after a process-wide flush.
#[test]
fn the_calls_of_exited_threads_are_exact_after_a_flush() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 1000;
    let _serial = no_other_flush();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let breaker = CircuitBreaker::builder().name("b").build().unwrap();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..CALLS {
                    now(breaker.call(ok)).unwrap();
                }
            });
        }
    });
    let mut seen = Seen::default();
    seen.read(&snapshotter);
    let exported = seen.counters[SUCCESSES];
    assert!(
        (THREADS * (CALLS - (SAMPLE_INTERVAL - 1))..=THREADS * CALLS).contains(&exported),
        "{exported}"
    );
    // Each thread's first call, then one in 128; a thread that starts after another exited
    // may take over its counting cell (thread ids are reused), and with it its countdown.
    let samples = seen.histograms[DURATIONS].len() as u64;
    assert!(
        ((THREADS * CALLS).div_ceil(SAMPLE_INTERVAL)..=THREADS * CALLS.div_ceil(SAMPLE_INTERVAL))
            .contains(&samples),
        "{samples}"
    );
    portcullis_circuit_breaker::flush_metrics();
    seen.read(&snapshotter);
    assert_eq!(seen.counters[SUCCESSES], THREADS * CALLS);
}

/// A state change flushes: a breaker seen open shows every call before it, and one
/// dropped shows its last calls.
#[tokio::test(start_paused = true)]
async fn opening_and_dropping_the_breaker_flush_the_counts() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let breaker = CircuitBreaker::builder()
        .name("b")
        .max_failures(3)
        .build()
        .unwrap();
    let mut seen = Seen::default();
    for _ in 0..10 {
        breaker.call(ok).await.unwrap();
    }
    for _ in 0..3 {
        breaker
            .call(|| async { Err::<(), _>(()) })
            .await
            .unwrap_err();
    }
    seen.read(&snapshotter);
    assert_eq!(seen.counters[SUCCESSES], 10, "flushed by the opening");
    assert_eq!(seen.counters[FAILURES], 3);
    breaker.reset();
    for _ in 0..5 {
        breaker.call(ok).await.unwrap();
    }
    drop(breaker);
    seen.read(&snapshotter);
    assert_eq!(seen.counters[SUCCESSES], 15, "flushed by the drop");
}

/// Rejections are exported every 256th of a thread, and exactly after a flush.
#[test]
fn rejections_are_exported_every_256_and_exactly_after_a_flush() {
    let _serial = no_other_flush();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let breaker = CircuitBreaker::builder().name("b").build().unwrap();
    breaker.force_open();
    for _ in 0..300 {
        now(breaker.call(ok)).unwrap_err();
    }
    let mut seen = Seen::default();
    seen.read(&snapshotter);
    assert_eq!(seen.counters[REJECTED], 256);
    breaker.flush_metrics();
    seen.read(&snapshotter);
    assert_eq!(seen.counters[REJECTED], 300);
    assert!(
        seen.histograms.get(DURATIONS).is_none_or(Vec::is_empty),
        "rejections are not timed"
    );
}
