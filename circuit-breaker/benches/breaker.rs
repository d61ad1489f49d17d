//! Circuit-breaker overhead against `recloser` and `failsafe`, doing the same work in the
//! same run.
//!
//! ```text
//! cargo bench -p portcullis-circuit-breaker --bench breaker -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every future here is ready at its first poll, so it is driven with `now_or_never`
//! (one poll, no runtime): what is measured is the breaker's own bookkeeping, plus the
//! harness moving each call's future into `now_or_never` and its result out. For
//! portcullis (a 56-byte future, a 40-byte result) both moves stall on store-to-load
//! forwarding, and that is where most of the samples of a `perf` profile of either group
//! land.
//!
//! `open_rejection/portcullis` trips its breaker inside a runtime, as a service does, so
//! the open period is timed by the runtime and rejections read no clock; the
//! `_no_runtime`, `_system_clock` and `_forced_open` variants show the clock path and the
//! forced state.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use failsafe::futures::CircuitBreaker as _;
use futures_util::FutureExt;
use portcullis_circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, SystemClock};
use recloser::{AsyncRecloser, Recloser};
use tower::{Layer, Service, service_fn};

const HOUR: Duration = Duration::from_secs(3600);

fn portcullis() -> CircuitBreaker {
    CircuitBreaker::builder()
        .max_failures(5)
        .reset_timeout(HOUR)
        .build()
        .expect("valid settings")
}

fn recloser() -> AsyncRecloser {
    AsyncRecloser::from(Recloser::custom().closed_len(5).open_wait(HOUR).build())
}

type Failsafe = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
>;

fn failsafe() -> Failsafe {
    failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            5,
            failsafe::backoff::constant(HOUR),
        ))
        .build()
}

fn ok() -> Ready<Result<u64, ()>> {
    ready(Ok(black_box(1)))
}

fn err() -> Ready<Result<u64, ()>> {
    ready(Err(()))
}

fn closed_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("closed_call");
    group.bench_function("direct_future", |b| {
        b.iter(|| black_box(ok().now_or_never()));
    });
    let breaker = portcullis();
    group.bench_function("portcullis", |b| {
        b.iter(|| black_box(breaker.call(ok).now_or_never()));
    });
    let recloser = recloser();
    group.bench_function("recloser", |b| {
        b.iter(|| black_box(recloser.call(ok()).now_or_never()));
    });
    let failsafe = failsafe();
    group.bench_function("failsafe", |b| {
        b.iter(|| black_box(failsafe.call(ok()).now_or_never()));
    });
    group.finish();
}

/// What observing a breaker costs a closed call: a subscriber to its events that never
/// reads, and (feature `metrics`) metrics through a no-op recorder and a Prometheus one.
/// Compare `unobserved` here, built with and without the feature, for what the feature
/// alone costs.
///
/// ```text
/// cargo bench -p portcullis-circuit-breaker --bench breaker -- closed_call_observed
/// cargo bench -p portcullis-circuit-breaker --bench breaker --features metrics -- closed_call_observed
/// ```
fn closed_call_observed(c: &mut Criterion) {
    let mut group = c.benchmark_group("closed_call_observed");
    let breaker = portcullis();
    group.bench_function("unobserved", |b| {
        b.iter(|| black_box(breaker.call(ok).now_or_never()));
    });
    let subscribed = portcullis();
    let _idle = subscribed.subscribe();
    group.bench_function("idle_subscriber", |b| {
        b.iter(|| black_box(subscribed.call(ok).now_or_never()));
    });
    #[cfg(feature = "metrics")]
    {
        let noop = metrics::with_local_recorder(&metrics::NoopRecorder, portcullis);
        group.bench_function("metrics_noop_recorder", |b| {
            b.iter(|| black_box(noop.call(ok).now_or_never()));
        });
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let prometheus = metrics::with_local_recorder(&recorder, portcullis);
        group.bench_function("metrics_prometheus_recorder", |b| {
            b.iter(|| black_box(prometheus.call(ok).now_or_never()));
        });
        assert!(
            recorder.handle().render().contains(
                "portcullis_breaker_calls_total{breaker=\"unnamed\",outcome=\"success\"}"
            )
        );
    }
    group.finish();
}

/// What a fully observed closed call was made of before its durations were sampled, part
/// by part: a clock reading (the breaker's default clock, two a timed call), a counter
/// increment and a histogram record on a Prometheus recorder.
///
/// ```text
/// cargo bench -p portcullis-circuit-breaker --bench breaker --features metrics -- metrics_parts
/// ```
#[cfg(feature = "metrics")]
fn metrics_parts(c: &mut Criterion) {
    use portcullis_circuit_breaker::{Clock, TokioClock};
    let mut group = c.benchmark_group("metrics_parts");
    group.bench_function("clock_read", |b| {
        b.iter(|| black_box(TokioClock.now()));
    });
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let (counter, histogram) = metrics::with_local_recorder(&recorder, || {
        (
            metrics::counter!("parts_total", "breaker" => "b", "outcome" => "success"),
            metrics::histogram!("parts_seconds", "breaker" => "b"),
        )
    });
    group.bench_function("prometheus_counter_increment", |b| {
        b.iter(|| counter.increment(black_box(1)));
    });
    group.bench_function("prometheus_histogram_record", |b| {
        b.iter(|| histogram.record(black_box(0.001)));
    });
    group.finish();
}

#[cfg(not(feature = "metrics"))]
fn metrics_parts(_: &mut Criterion) {}

fn open_rejection(c: &mut Criterion) {
    let mut group = c.benchmark_group("open_rejection");
    // Tripped inside a runtime, the breaker times its open period on the runtime's timer
    // (a task on the worker thread), so rejections read no clock: the default set-up of a
    // service.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .expect("a runtime");
    let breaker = portcullis();
    {
        let _context = runtime.enter();
        for _ in 0..5 {
            let _ = breaker.call(err).now_or_never();
        }
    }
    // Set-up only: let the worker run the timer's first tick.
    thread::sleep(Duration::from_millis(50));
    assert!(breaker.remaining_open().is_some());
    group.bench_function("portcullis", |b| {
        b.iter(|| black_box(breaker.call(ok).now_or_never()));
    });
    // Tripped outside any runtime: every rejection reads the (tokio) clock.
    let clock_path = portcullis();
    for _ in 0..5 {
        let _ = clock_path.call(err).now_or_never();
    }
    group.bench_function("portcullis_no_runtime", |b| {
        b.iter(|| black_box(clock_path.call(ok).now_or_never()));
    });
    // A clock that does not follow tokio's timer: every rejection reads it, runtime or not.
    let system_clock = CircuitBreaker::builder()
        .max_failures(1)
        .reset_timeout(HOUR)
        .clock(SystemClock)
        .build()
        .expect("valid settings");
    {
        let _context = runtime.enter();
        let _ = system_clock.call(err).now_or_never();
    }
    group.bench_function("portcullis_system_clock", |b| {
        b.iter(|| black_box(system_clock.call(ok).now_or_never()));
    });
    let forced = portcullis();
    forced.force_open();
    group.bench_function("portcullis_forced_open", |b| {
        b.iter(|| black_box(forced.call(ok).now_or_never()));
    });
    let recloser = recloser();
    for _ in 0..6 {
        let _ = recloser.call(err()).now_or_never();
    }
    assert!(matches!(
        recloser.call(ok()).now_or_never(),
        Some(Err(recloser::Error::Rejected))
    ));
    group.bench_function("recloser", |b| {
        b.iter(|| black_box(recloser.call(ok()).now_or_never()));
    });
    let failsafe = failsafe();
    for _ in 0..5 {
        let _ = failsafe.call(err()).now_or_never();
    }
    assert!(!failsafe.is_call_permitted());
    group.bench_function("failsafe", |b| {
        b.iter(|| black_box(failsafe.call(ok()).now_or_never()));
    });
    group.finish();
}

/// The same calls polled where they are built (`pin!`), with no move into
/// `now_or_never`: closer to an `.await` inside a larger future, and a measure of how much
/// of the groups above is the harness's moves.
fn in_place(c: &mut Criterion) {
    fn poll<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }
    let mut group = c.benchmark_group("closed_call_in_place");
    group.bench_function("direct_future", |b| {
        b.iter(|| black_box(poll(pin!(ok()))));
    });
    let breaker = portcullis();
    group.bench_function("portcullis", |b| {
        b.iter(|| black_box(poll(pin!(breaker.call(ok)))));
    });
    let closed_recloser = recloser();
    group.bench_function("recloser", |b| {
        b.iter(|| black_box(poll(pin!(closed_recloser.call(ok())))));
    });
    let closed_failsafe = failsafe();
    group.bench_function("failsafe", |b| {
        b.iter(|| black_box(poll(pin!(closed_failsafe.call(ok())))));
    });
    group.finish();

    let mut group = c.benchmark_group("open_rejection_in_place");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .expect("a runtime");
    let open = portcullis();
    {
        let _context = runtime.enter();
        for _ in 0..5 {
            let _ = open.call(err).now_or_never();
        }
    }
    thread::sleep(Duration::from_millis(50));
    group.bench_function("portcullis", |b| {
        b.iter(|| black_box(poll(pin!(open.call(ok)))));
    });
    let forced = portcullis();
    forced.force_open();
    group.bench_function("portcullis_forced_open", |b| {
        b.iter(|| black_box(poll(pin!(forced.call(ok)))));
    });
    let open_recloser = recloser();
    for _ in 0..6 {
        let _ = open_recloser.call(err()).now_or_never();
    }
    group.bench_function("recloser", |b| {
        b.iter(|| black_box(poll(pin!(open_recloser.call(ok())))));
    });
    let open_failsafe = failsafe();
    for _ in 0..5 {
        let _ = open_failsafe.call(err()).now_or_never();
    }
    group.bench_function("failsafe", |b| {
        b.iter(|| black_box(poll(pin!(open_failsafe.call(ok())))));
    });
    group.finish();
}

/// Two threads each make `iters` closed-state calls on one shared breaker; the time is
/// for both, so criterion's element throughput is calls per second overall.
fn two_threads(c: &mut Criterion) {
    fn hammer(iters: u64, call: impl Fn() + Sync) -> Duration {
        let start = Instant::now();
        thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..iters {
                        call();
                    }
                });
            }
        });
        start.elapsed()
    }
    let mut group = c.benchmark_group("two_threads");
    group.throughput(Throughput::Elements(2));
    let breaker = portcullis();
    group.bench_function("portcullis", |b| {
        b.iter_custom(|iters| {
            hammer(iters, || {
                black_box(breaker.call(ok).now_or_never());
            })
        });
    });
    let recloser = recloser();
    group.bench_function("recloser", |b| {
        b.iter_custom(|iters| {
            hammer(iters, || {
                black_box(recloser.call(ok()).now_or_never());
            })
        });
    });
    let failsafe = failsafe();
    group.bench_function("failsafe", |b| {
        b.iter_custom(|iters| {
            hammer(iters, || {
                black_box(failsafe.call(ok()).now_or_never());
            })
        });
    });
    group.finish();
}

fn tower_layer(c: &mut Criterion) {
    fn noop()
    -> impl Service<(), Response = (), Error = Infallible, Future = Ready<Result<(), Infallible>>>
    + Clone {
        service_fn(|()| ready(Ok::<_, Infallible>(())))
    }
    fn drive<S: Service<()>>(service: &mut S, cx: &mut Context<'_>) {
        let _ = black_box(service.poll_ready(cx));
        black_box(service.call(()).now_or_never());
    }
    let mut group = c.benchmark_group("tower_layer");
    let mut cx = Context::from_waker(Waker::noop());
    let mut bare = noop();
    group.bench_function("noop_service", |b| {
        b.iter(|| drive(&mut bare, &mut cx));
    });
    let mut layered = CircuitBreakerLayer::new(portcullis()).layer(noop());
    group.bench_function("portcullis_layer", |b| {
        b.iter(|| drive(&mut layered, &mut cx));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = closed_call, closed_call_observed, metrics_parts, open_rejection, in_place, two_threads, tower_layer
}
criterion_main!(benches);
