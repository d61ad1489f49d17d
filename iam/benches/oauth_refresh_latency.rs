//! The `refresh_token` grant against stores that answer after a fixed delay: how the
//! grant's latency follows the round-trip time of its store, whatever the server.
//!
//! Run: `cargo bench -p portcullis-iam --bench oauth_refresh_latency`.
//!
//! `oauth_refresh_mongo` measures a refresh against a real server, but the only one this
//! project can run (`FerretDB` on `SQLite`) spends 1 to 2 ms of CPU on every operation, so
//! its figures say more about `FerretDB` than about the grant. Here the memory stores
//! answer after `delay`, waited on the blocking pool as a network round trip would be
//! (not on the runtime's workers, and `std::thread::sleep` is exact to about 0.1 ms where
//! `tokio::time::sleep` rounds up to the next millisecond). A rotation waits two delays,
//! as `MongoOAuthStore`'s does (the claim beside the successor's insert, then the update
//! beside the family check). For each delay: 500 sequential refreshes over HTTP (one
//! rotation chain) -> p50/p95/p99, and the store calls a refresh makes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use portcullis_iam::{
    AdminBootstrap, BootstrapClient, ClientUpdate, Iam, IamError, MemoryOAuthStore,
    MemoryUserStore, NewUser, OAuthClient, OAuthSettings, OAuthStore, PageRequest,
    RefreshTokenRecord, SigningKey, User, UserStore, UserUpdate,
};

mod support;
use support::{report, serve_on_own_runtime};

const CLIENT_ID: &str = "bench-client";
const SECRET: &str = "a benchmark client secret, long enough";
const ADMIN_PASSWORD: &str = "a benchmark admin password, long enough";
const SAMPLES: usize = 500;

/// A store that answers after `delay` per round trip, and counts its calls.
#[derive(Debug)]
struct Delayed<S> {
    inner: S,
    delay: Duration,
    calls: Arc<AtomicU64>,
}

impl<S> Delayed<S> {
    async fn round_trips(&self, count: u32) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let wait = self.delay * count;
        if !wait.is_zero() {
            tokio::task::spawn_blocking(move || std::thread::sleep(wait))
                .await
                .unwrap();
        }
    }
}

#[async_trait]
impl UserStore for Delayed<MemoryUserStore> {
    async fn create(&self, user: NewUser) -> Result<User, IamError> {
        self.round_trips(1).await;
        self.inner.create(user).await
    }
    async fn get(&self, id: &str) -> Result<User, IamError> {
        self.round_trips(1).await;
        self.inner.get(id).await
    }
    async fn find_by_name(&self, name: &str) -> Result<Option<User>, IamError> {
        self.round_trips(1).await;
        self.inner.find_by_name(name).await
    }
    async fn list(&self, page: PageRequest) -> Result<Vec<User>, IamError> {
        self.round_trips(1).await;
        self.inner.list(page).await
    }
    async fn update(&self, id: &str, update: UserUpdate) -> Result<User, IamError> {
        self.round_trips(1).await;
        self.inner.update(id, update).await
    }
    async fn delete(&self, id: &str) -> Result<(), IamError> {
        self.round_trips(1).await;
        self.inner.delete(id).await
    }
    fn is_persistent(&self) -> bool {
        false
    }
}

#[async_trait]
impl OAuthStore for Delayed<MemoryOAuthStore> {
    async fn create_client(&self, client: OAuthClient) -> Result<(), IamError> {
        self.round_trips(1).await;
        self.inner.create_client(client).await
    }
    async fn put_client(&self, client: OAuthClient) -> Result<(), IamError> {
        self.round_trips(1).await;
        self.inner.put_client(client).await
    }
    async fn get_client(&self, id: &str) -> Result<Option<OAuthClient>, IamError> {
        self.round_trips(1).await;
        self.inner.get_client(id).await
    }
    async fn list_clients(&self) -> Result<Vec<OAuthClient>, IamError> {
        self.round_trips(1).await;
        self.inner.list_clients().await
    }
    async fn update_client(&self, id: &str, update: ClientUpdate) -> Result<OAuthClient, IamError> {
        self.round_trips(1).await;
        self.inner.update_client(id, update).await
    }
    async fn insert_refresh_token(&self, record: RefreshTokenRecord) -> Result<(), IamError> {
        self.round_trips(1).await;
        self.inner.insert_refresh_token(record).await
    }
    async fn find_refresh_token(&self, hash: &str) -> Result<Option<RefreshTokenRecord>, IamError> {
        // The token, then its family's revocation record: two, as on `MongoDB`.
        self.round_trips(2).await;
        self.inner.find_refresh_token(hash).await
    }
    async fn rotate_refresh_token(
        &self,
        hash: &str,
        successor: RefreshTokenRecord,
    ) -> Result<bool, IamError> {
        self.round_trips(2).await;
        self.inner.rotate_refresh_token(hash, successor).await
    }
    async fn revoke_refresh_family(&self, family_id: &str) -> Result<u64, IamError> {
        self.round_trips(1).await;
        self.inner.revoke_refresh_family(family_id).await
    }
    async fn revoke_user_refresh_tokens(&self, user_id: &str) -> Result<u64, IamError> {
        self.round_trips(1).await;
        self.inner.revoke_user_refresh_tokens(user_id).await
    }
    async fn revoke_client_refresh_tokens(&self, client_id: &str) -> Result<u64, IamError> {
        self.round_trips(1).await;
        self.inner.revoke_client_refresh_tokens(client_id).await
    }
    async fn delete_expired_refresh_tokens(&self, now: u64, limit: u64) -> Result<u64, IamError> {
        self.round_trips(1).await;
        self.inner.delete_expired_refresh_tokens(now, limit).await
    }
    fn is_persistent(&self) -> bool {
        false
    }
}

/// Starts an IAM whose stores answer after `delay` on its own 2-worker runtime; its base
/// URL and the store calls counter.
fn start_server(delay: Duration) -> (String, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&calls);
    let url = serve_on_own_runtime(move || async move {
        let oauth = OAuthSettings::default()
            .store(Delayed {
                inner: MemoryOAuthStore::new(),
                delay,
                calls: Arc::clone(&counter),
            })
            .bootstrap_client(BootstrapClient::new(CLIENT_ID, SECRET, ["movies:read"]));
        Iam::builder()
            .signing_key(SigningKey::generate_ed25519())
            .store(Delayed {
                inner: MemoryUserStore::new(),
                delay,
                calls: counter,
            })
            .admin_bootstrap(AdminBootstrap::Password(ADMIN_PASSWORD.to_owned()))
            .oauth(oauth)
            .build()
            .await
            .unwrap()
            .router()
    });
    (url, calls)
}

/// Posts `form` with the client's credentials; the new refresh token.
async fn token_call(client: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> String {
    let response = client
        .post(url)
        .basic_auth(CLIENT_ID, Some(SECRET))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["refresh_token"].as_str().unwrap().to_owned()
}

/// One refresh; the rotated token.
async fn refresh(client: &reqwest::Client, url: &str, token: &str) -> String {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    token_call(client, url, &form).await
}

async fn sequential(delay: Duration) {
    let (base, calls) = start_server(delay);
    let url = format!("{base}/oauth2/token");
    let client = reqwest::Client::new();
    let login = [
        ("grant_type", "password"),
        ("username", "admin"),
        ("password", ADMIN_PASSWORD),
    ];
    let mut token = token_call(&client, &url, &login).await;
    for _ in 0..20 {
        token = refresh(&client, &url, &token).await;
    }
    let before = calls.load(Ordering::Relaxed);
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        token = refresh(&client, &url, &token).await;
        samples.push(start.elapsed());
    }
    let per_refresh = (calls.load(Ordering::Relaxed) - before) as f64 / SAMPLES as f64;
    report(
        &format!(
            "refresh_token, store round trip {:.2} ms ({per_refresh:.0} calls/refresh)",
            delay.as_secs_f64() * 1000.0
        ),
        samples,
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for micros in [0, 250, 500, 1000] {
        runtime.block_on(sequential(Duration::from_micros(micros)));
    }
}
