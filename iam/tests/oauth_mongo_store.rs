//! The OAuth store suite against [`MongoOAuthStore`] on a real server speaking the
//! `MongoDB` wire protocol (`MONGODB_URI`, as in `mongo_store.rs`), plus two IAM instances
//! sharing one database: one issues, the other refreshes and revokes.
#![cfg(feature = "mongodb")]

mod common;
mod oauth_store_suite;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use mongodb::{Client, Database};
use portcullis_iam::MongoOAuthStore;

fn mongodb_uri() -> String {
    match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.trim().is_empty() => uri,
        _ => panic!(
            "MONGODB_URI is not set. Start a server with `scripts/mongo-test-server start` \
             and export the MONGODB_URI=... line it prints (see docs/mongodb.md)."
        ),
    }
}

/// A fresh database for one test; dropped by [`drop_database`].
async fn fresh_database(purpose: &str) -> Database {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let client = Client::with_uri_str(mongodb_uri())
        .await
        .expect("a valid MONGODB_URI");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    client.database(&format!(
        "portcullis_oauth_{purpose}_{}_{}_{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

async fn drop_database(database: Database) {
    database.drop().await.expect("drop the test database");
}

async fn store(database: &Database) -> oauth_store_suite::SharedOAuthStore {
    Arc::new(
        MongoOAuthStore::new(database.clone())
            .await
            .expect("open the store"),
    )
}

macro_rules! suite_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test]
        #[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
        async fn $check() {
            let database = fresh_database("check").await;
            oauth_store_suite::$check(store(&database).await).await;
            drop_database(database).await;
        }
    )*};
}

suite_checks!(
    creates_gets_and_lists_clients,
    refuses_a_duplicate_client_id,
    updates_and_replaces_clients,
    rotates_a_refresh_token_once,
    concurrent_rotations_of_one_token_let_exactly_one_win,
    revokes_by_family_user_and_client,
    a_family_revoked_during_a_rotation_takes_the_new_token_too,
    a_user_or_client_revoked_during_a_rotation_takes_the_new_token_too,
    deletes_expired_refresh_tokens_and_keeps_the_rest,
    deletes_expired_refresh_tokens_in_bounded_batches,
);

/// The databases of one test, dropped together at its end.
#[derive(Default)]
struct Databases(Mutex<Vec<Database>>);

impl Databases {
    async fn store(&self) -> oauth_store_suite::SharedOAuthStore {
        let database = fresh_database("suite").await;
        self.0.lock().unwrap().push(database.clone());
        store(&database).await
    }

    async fn drop_all(self) {
        for database in self.0.into_inner().unwrap() {
            drop_database(database).await;
        }
    }
}

#[tokio::test]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn passes_the_whole_suite() {
    let databases = Databases::default();
    oauth_store_suite::run_all(|| databases.store()).await;
    databases.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn concurrent_rotations_let_exactly_one_win_on_many_threads() {
    let database = fresh_database("race").await;
    oauth_store_suite::concurrent_rotations_of_one_token_let_exactly_one_win(
        store(&database).await,
    )
    .await;
    drop_database(database).await;
}

#[tokio::test]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn is_persistent() {
    let database = fresh_database("persistent").await;
    assert!(store(&database).await.is_persistent());
    drop_database(database).await;
}

/// A rotation whose successor cannot be stored (here: its hash is taken) fails with an
/// error and changes nothing: the claim it made is released, so the token can still be
/// rotated, and the record that held the hash is untouched.
#[tokio::test]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn a_rotation_whose_successor_cannot_be_stored_leaves_the_token_usable() {
    use oauth_store_suite::token;
    use portcullis_iam::RefreshTokenState;

    let database = fresh_database("failed_rotation").await;
    let store = store(&database).await;
    store
        .insert_refresh_token(token("t0", "f", "u", "app"))
        .await
        .unwrap();
    store
        .insert_refresh_token(token("taken", "g", "u", "app"))
        .await
        .unwrap();
    let failed = store
        .rotate_refresh_token("t0", token("taken", "f", "u", "app"))
        .await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(
        store.find_refresh_token("t0").await.unwrap().unwrap().state,
        RefreshTokenState::Active
    );
    assert_eq!(
        store.find_refresh_token("taken").await.unwrap(),
        Some(token("taken", "g", "u", "app"))
    );
    assert!(
        store
            .rotate_refresh_token("t0", token("t1", "f", "u", "app"))
            .await
            .unwrap()
    );
    drop_database(database).await;
}

/// Two IAM instances on one database, as a fleet runs: same signing key, same hash key.
async fn two_instances(database: &Database) -> [String; 2] {
    let key = portcullis_iam::SigningKey::generate_ed25519();
    let mut bases = Vec::new();
    for _ in 0..2 {
        let users = portcullis_iam::MongoUserStore::new(database.clone())
            .await
            .expect("open the user store");
        let settings = portcullis_iam::OAuthSettings::default()
            .store(MongoOAuthStore::new(database.clone()).await.expect("open"))
            .hash_key([42u8; 32])
            .bootstrap_client(portcullis_iam::BootstrapClient::new(
                "fleet-cli",
                "a fleet client secret, long enough",
                ["read"],
            ));
        let builder = common::fast_builder()
            .signing_key(key.clone())
            .store(users)
            .oauth(settings);
        let (_, base) = common::start(builder).await;
        bases.push(base);
    }
    [bases.remove(0), bases.remove(0)]
}

async fn token_call(base: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let response = common::client()
        .post(format!("{base}/oauth2/token"))
        .basic_auth("fleet-cli", Some("a fleet client secret, long enough"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn password_grant(base: &str) -> String {
    let (status, body) = token_call(
        base,
        &[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", common::ADMIN_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn one_instance_refreshes_and_revokes_what_another_issued() {
    let database = fresh_database("fleet").await;
    let [a, b] = two_instances(&database).await;

    let issued_by_a = password_grant(&a).await;
    let (status, body) = token_call(
        &b,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &issued_by_a),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rotated_by_b = body["refresh_token"].as_str().unwrap().to_owned();
    // A sees the reuse B's rotation made of the first token, and kills the family.
    let (status, _) = token_call(
        &a,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &issued_by_a),
        ],
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = token_call(
        &b,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rotated_by_b),
        ],
    )
    .await;
    assert_eq!(status, 400, "the family is revoked on every instance");

    // Revoked at B, refused at A.
    let fresh = password_grant(&a).await;
    let revoked = common::client()
        .post(format!("{b}/oauth2/revoke"))
        .basic_auth("fleet-cli", Some("a fleet client secret, long enough"))
        .form(&[("token", fresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, _) = token_call(
        &a,
        &[("grant_type", "refresh_token"), ("refresh_token", &fresh)],
    )
    .await;
    assert_eq!(status, 400);
    drop_database(database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn concurrent_refreshes_on_two_instances_never_both_win() {
    let database = fresh_database("fleet_race").await;
    let [a, b] = two_instances(&database).await;
    let token = password_grant(&a).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token.as_str()),
    ];
    let (first, second) = tokio::join!(token_call(&a, &form), token_call(&b, &form));
    let statuses = [first.0, second.0];
    // Never two winners. One wins unless the loser's reuse revocation reaches the token
    // between the winner's claim and its own state change (docs/security.md): then both
    // are refused, the safe way to lose the race.
    assert!(
        statuses.iter().filter(|s| **s == 200).count() <= 1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
    // The token is spent at both instances either way.
    for instance in [&a, &b] {
        assert_eq!(token_call(instance, &form).await.0, 400);
    }
    drop_database(database).await;
}

/// The expiry fields are indexed (as TTL indexes where the server takes them, else plain
/// ones for the sweep's queries), and the sweep also deletes claims older than an hour.
#[tokio::test]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn indexes_the_expiry_fields_and_sweeps_stale_claims() {
    use mongodb::bson::{DateTime, Document, doc};

    let database = fresh_database("expiry").await;
    let store = store(&database).await;
    for (collection, field) in [
        ("oauthRefreshTokens", "activeUntil"),
        ("oauthRefreshTokens", "familyUntil"),
        ("oauthRefreshTokenUses", "claimedAt"),
    ] {
        let indexes: Vec<_> = futures_util::TryStreamExt::try_collect(
            database
                .collection::<Document>(collection)
                .list_indexes()
                .await
                .unwrap(),
        )
        .await
        .unwrap();
        let index = indexes
            .iter()
            .find(|index| index.keys.contains_key(field))
            .unwrap_or_else(|| panic!("no index on {collection}.{field}: {indexes:?}"));
        let options = index.options.as_ref();
        eprintln!(
            "{collection}.{field}: index {:?}, expireAfter {:?}",
            options.and_then(|o| o.name.as_ref()),
            options.and_then(|o| o.expire_after)
        );
    }

    let uses = database.collection::<Document>("oauthRefreshTokenUses");
    let old = DateTime::from_millis(DateTime::now().timestamp_millis() - 2 * 3600 * 1000);
    uses.insert_one(doc! { "_id": "stale", "claimedAt": old })
        .await
        .unwrap();
    uses.insert_one(doc! { "_id": "recent", "claimedAt": DateTime::now() })
        .await
        .unwrap();
    store.delete_expired_refresh_tokens(0, 10).await.unwrap();
    assert_eq!(uses.find_one(doc! { "_id": "stale" }).await.unwrap(), None);
    assert!(
        uses.find_one(doc! { "_id": "recent" })
            .await
            .unwrap()
            .is_some()
    );
    drop_database(database).await;
}
