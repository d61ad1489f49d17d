//! One behavioural suite for the movie service's `MovieStore`, run against the in-memory
//! store and the `MongoDB` store (a fresh database per test, dropped afterwards).
//!
//! The `MongoDB` half needs a server: it is ignored by default and runs with
//! `--include-ignored` (as `.ci/run` does) against `MONGODB_URI`; without it, it fails
//! and says how to start one (`scripts/mongo-test-server`).

mod suite;

use std::sync::Arc;

use portcullis_examples::movies::{MemoryMovieStore, MongoMovieStore, MovieStore, Page};

#[tokio::test]
async fn memory_store_passes_the_suite() {
    suite::run_all(|| async { Arc::new(MemoryMovieStore::new()) as Arc<dyn MovieStore> }).await;
}

#[tokio::test]
async fn seeded_memory_store_lists_its_seed_movies() {
    let store = MemoryMovieStore::seeded();
    let movies = store.list_movies(Page::default()).await.unwrap().items;
    assert!(
        movies.len() >= 3,
        "seeded store holds {} movies",
        movies.len()
    );
    assert!(
        movies
            .iter()
            .all(|m| !m.name.is_empty() && m.url.starts_with("https://"))
    );
    assert!(
        !store
            .list_genres(Page::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Fixed ids: instances and restarts agree on them.
    assert_eq!(
        movies,
        MemoryMovieStore::seeded()
            .list_movies(Page::default())
            .await
            .unwrap()
            .items
    );
    for movie in &movies {
        let id = mongodb::bson::oid::ObjectId::parse_str(&movie.id).unwrap();
        assert_eq!(store.get_movie(id).await.unwrap(), *movie);
    }
}

#[tokio::test]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn mongodb_store_passes_the_suite() {
    let uri = mongodb_uri();
    let client = mongodb::Client::with_uri_str(&uri)
        .await
        .expect("MONGODB_URI does not parse");
    let databases = Arc::new(std::sync::Mutex::new(Vec::<mongodb::Database>::new()));
    let made = Arc::clone(&databases);
    let outcome = tokio::spawn(async move {
        suite::run_all(move || {
            let db = client.database(&format!(
                "movie_store_{}",
                mongodb::bson::oid::ObjectId::new()
            ));
            made.lock().unwrap().push(db.clone());
            async move { Arc::new(MongoMovieStore::new(db)) as Arc<dyn MovieStore> }
        })
        .await;
    })
    .await;
    // Drop every database the suite made, pass or fail.
    let made: Vec<_> = databases.lock().unwrap().drain(..).collect();
    for db in made {
        let name = db.name().to_owned();
        if let Err(error) = db.drop().await {
            eprintln!("could not drop test database {name}: {error}");
        }
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}

#[tokio::test]
async fn mongodb_store_reports_an_unreachable_server_on_ping() {
    // A port nothing listens on, and a short selection timeout: the driver must give up
    // with an error instead of hanging (what `/readyz` relies on).
    let mut options = mongodb::options::ClientOptions::parse(
        "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200&connectTimeoutMS=200",
    )
    .await
    .unwrap();
    options.app_name = Some("movie_store_test".to_owned());
    let client = mongodb::Client::with_options(options).unwrap();
    let store = MongoMovieStore::new(client.database("unreachable"));
    assert!(store.ping().await.is_err());
    assert!(store.list_movies(Page::default()).await.is_err());
}

/// The URI of the test server; a missing one fails the test with how to start a server.
fn mongodb_uri() -> String {
    match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.trim().is_empty() => uri,
        _ => panic!(
            "MONGODB_URI is not set: start a test server with \
             `export \"$(scripts/mongo-test-server start)\"` (after \
             `scripts/mongo-test-server install`), or leave out `--include-ignored`"
        ),
    }
}
