//! What the IAM's benches share: serving a router the way the services do, and printing
//! latency percentiles.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;

/// Serves the router that `make` builds on a runtime of its own with 2 workers, as the
/// example services run, on a free loopback port; returns its base URL. The runtime's
/// thread runs until the bench process ends.
pub(crate) fn serve_on_own_runtime<F>(make: impl FnOnce() -> F + Send + 'static) -> String
where
    F: Future<Output = Router>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app = make().await;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", listener.local_addr().unwrap()))
                .unwrap();
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
    });
    rx.recv().unwrap()
}

/// The nearest-rank percentile `p` (0 to 100) of sorted samples.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Prints one line: the label, the sample count, p50, p95, p99 and the maximum.
pub(crate) fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label:<44} n={:<6} p50={:<10} p95={:<10} p99={:<10} max={}",
        samples.len(),
        ms(percentile(&samples, 50.0)),
        ms(percentile(&samples, 95.0)),
        ms(percentile(&samples, 99.0)),
        ms(*samples.last().unwrap()),
    );
}
