//! The benchmark's baseline: a bare axum handler that serves the movie list, with no
//! guard, no request ids, no timeouts, no tracing: nothing but the route.
//!
//! `scripts/bench-movies-wrk` starts it beside the real movie service and loads both with
//! wrk; the ratio of their throughputs is what the Portcullis layers cost.
//!
//! ```sh
//! cargo run --release --example bare_movies -- --port 8810 [--body movies.json]
//! curl http://127.0.0.1:8810/api/v1/movies/list
//! ```
//!
//! `--with-defaults` adds the response crate's `ServiceDefaults` layers (request id,
//! timeout, body limit, panic catching, tracing span, error fallbacks) and nothing else, to
//! tell their cost apart from the guard's and the full router's.
//!
//! `--body FILE` serves the movies in FILE (a JSON array in the seed's shape, e.g. the
//! movie service's own list, so both servers send the same JSON); without it, 20
//! generated movies. Like the real handler, each request reads the in-memory list under a
//! lock, clones it and serialises it. Prints `listening on http://127.0.0.1:<port>`.

use std::sync::{Arc, RwLock};

use axum::{Json, Router, extract::State, routing::get};
use portcullis::response::{RouterExt, ServiceDefaults};
use serde::{Deserialize, Serialize};

/// A movie in the seed's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Movie {
    id: String,
    name: String,
    url: String,
    cover_image: String,
    description: String,
}

/// The "store": a list behind a lock, as an in-memory store keeps it.
type Movies = Arc<RwLock<Vec<Movie>>>;

async fn list(State(movies): State<Movies>) -> Json<Vec<Movie>> {
    Json(movies.read().expect("the lock is never poisoned").clone())
}

fn generated_movies() -> Vec<Movie> {
    (1..=20)
        .map(|i| Movie {
            id: format!("{i:024x}"),
            name: format!("Movie {i}"),
            url: format!("https://movies.example.org/{i}"),
            cover_image: format!("https://movies.example.org/{i}/cover.jpg"),
            description: format!("The {i}th movie of the benchmark list."),
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = String::from("0");
    let mut body_file = None;
    let mut with_defaults = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?,
            "--body" => body_file = Some(args.next().ok_or("--body needs a value")?),
            "--with-defaults" => with_defaults = true,
            _ => return Err(format!("unknown argument {arg:?}; see the file's header").into()),
        }
    }
    let movies = match body_file {
        Some(path) => serde_json::from_slice(&std::fs::read(&path)?)?,
        None => generated_movies(),
    };

    let mut app = Router::new()
        .route("/api/v1/movies/list", get(list))
        .with_state(Arc::new(RwLock::new(movies)));
    if with_defaults {
        app = app.with_portcullis_defaults(ServiceDefaults::new());
    }
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
