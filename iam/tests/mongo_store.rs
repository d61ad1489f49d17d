//! The store suite against [`MongoUserStore`] on a real server speaking the `MongoDB` wire
//! protocol, plus durability across processes and an unreachable database.
//!
//! The server comes from `MONGODB_URI` (`scripts/mongo-test-server start` prints one; a
//! developer's own `MongoDB` works too). The tests that need it are ignored unless asked
//! for (`cargo test -- --include-ignored`, as CI does), and fail when it is missing. Each
//! test works in its own database, dropped at the end, so the tests run in parallel
//! without interfering.
#![cfg(feature = "mongodb")]

mod common;
mod store_suite;

use std::future::Future;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use portcullis_iam::{IamError, MongoUserStore, NewUser, PageRequest, UserStore};
use portcullis_response::ApiError;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Set in the child process of [`users_written_by_one_process_are_read_by_the_next`]: the
/// database it writes to.
const DURABILITY_DB_VAR: &str = "PORTCULLIS_TEST_DURABILITY_DB";

/// Short driver timeouts for the unreachable-database tests.
const SHORT: Duration = Duration::from_millis(500);

/// Far above what any operation takes with [`SHORT`] timeouts; only there to turn a hang
/// into a failure.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// `MONGODB_URI`; a test that needs it fails without it.
fn mongodb_uri() -> String {
    match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.trim().is_empty() => uri,
        _ => panic!(
            "MONGODB_URI is not set. Start a server with `scripts/mongo-test-server start` \
             and export the MONGODB_URI=... line it prints (see docs/mongodb.md)."
        ),
    }
}

/// A database name nobody else uses: this process, a counter and the clock.
fn unique_database_name(purpose: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "portcullis_{purpose}_{}_{}_{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The databases one test creates. [`TestDatabases::drop_all`] drops them and checks that
/// it worked; if the test panics first, `Drop` still drops them, best effort.
struct TestDatabases {
    uri: String,
    client: Client,
    names: Mutex<Vec<String>>,
}

impl TestDatabases {
    async fn new(uri: &str) -> Self {
        let client = Client::with_uri_str(uri)
            .await
            .expect("a valid MONGODB_URI");
        Self {
            uri: uri.to_owned(),
            client,
            names: Mutex::new(Vec::new()),
        }
    }

    fn fresh(&self, purpose: &str) -> Database {
        let name = unique_database_name(purpose);
        self.names.lock().unwrap().push(name.clone());
        self.client.database(&name)
    }

    async fn store(&self, purpose: &str) -> store_suite::SharedStore {
        let store = MongoUserStore::new(self.fresh(purpose))
            .await
            .expect("open the store");
        Arc::new(store)
    }

    async fn drop_all(self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap());
        for name in names {
            self.client
                .database(&name)
                .drop()
                .await
                .unwrap_or_else(|e| panic!("dropping test database {name}: {e}"));
            let left = self.client.list_database_names().await.unwrap();
            assert!(!left.contains(&name), "{name} still listed after its drop");
        }
    }
}

impl Drop for TestDatabases {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap());
        if names.is_empty() {
            return;
        }
        // The test panicked before `drop_all`. Its runtime is blocked in this `drop`, so
        // clean up from a new thread with a runtime and a client of its own.
        let uri = self.uri.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let Ok(client) = Client::with_uri_str(&uri).await else {
                    return;
                };
                for name in names {
                    if let Err(e) = client.database(&name).drop().await {
                        eprintln!("could not drop test database {name}: {e}");
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Fails the test if `operation` does not finish within [`HANG_GUARD`].
async fn bounded<T>(operation: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, operation)
        .await
        .expect("the operation hung instead of failing within its driver timeouts")
}

fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, IamError>, what: &str) {
    let err = result.expect_err(what);
    assert!(matches!(err, IamError::Unavailable(_)), "{what}: {err:?}");
    let api = ApiError::from(err);
    assert_eq!(
        api.status(),
        http::StatusCode::SERVICE_UNAVAILABLE,
        "{what}"
    );
    let body = serde_json::to_string(&api.body()).unwrap();
    assert!(
        !body.contains("127.0.0.1") && !body.to_lowercase().contains("selection"),
        "{what}: driver details leaked into the body {body}"
    );
}

#[tokio::test]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn passes_the_whole_suite() {
    let uri = mongodb_uri();
    let databases = TestDatabases::new(&uri).await;
    store_suite::run_all(|| databases.store("suite")).await;
    databases.drop_all().await;
}

/// One test per suite check, each in its own database, so that a failure names the
/// behaviour (and the checks run in parallel). `passes_the_whole_suite` also catches
/// checks added to the suite later.
macro_rules! suite_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test]
        #[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
        async fn $check() {
            let uri = mongodb_uri();
            let databases = TestDatabases::new(&uri).await;
            store_suite::$check(databases.store("check").await).await;
            databases.drop_all().await;
        }
    )*};
}

suite_checks!(
    creates_then_gets_and_finds,
    refuses_a_duplicate_name,
    concurrent_creates_of_one_name_leave_exactly_one,
    concurrent_renames_to_one_name_leave_exactly_one,
    lists_in_pages_by_offset_and_cursor,
    updates_name_password_and_roles,
    deletes_and_frees_the_name,
    tells_malformed_ids_from_unknown_ones,
    reports_emptiness,
    keeps_the_last_admin,
    two_admins_demoting_each_other_leave_at_least_one,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn concurrent_creates_of_one_name_leave_exactly_one_on_many_threads() {
    let uri = mongodb_uri();
    let databases = TestDatabases::new(&uri).await;
    store_suite::concurrent_creates_of_one_name_leave_exactly_one(databases.store("race").await)
        .await;
    databases.drop_all().await;
}

#[tokio::test]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn is_persistent() {
    let uri = mongodb_uri();
    let databases = TestDatabases::new(&uri).await;
    assert!(databases.store("persistent").await.is_persistent());
    databases.drop_all().await;
}

fn durable_user(i: usize) -> NewUser {
    NewUser {
        name: format!("durable-{i}"),
        password_hash: format!("$argon2id$v=19$m=64,t=1,p=1$c2FsdA$durable-{i}"),
        roles: vec!["viewer".to_owned(), format!("role-{i}")],
    }
}

/// The writer half of [`users_written_by_one_process_are_read_by_the_next`], run in a
/// child process (the same test, re-run with [`DURABILITY_DB_VAR`] set): writes users
/// through its own client and prints their ids.
async fn write_durable_users(uri: &str, database: &str) {
    let store = MongoUserStore::connect(uri, database)
        .await
        .expect("connect");
    for i in 0..5 {
        let user = store.create(durable_user(i)).await.expect("create");
        println!("created {} {}", user.id, user.name);
    }
}

#[tokio::test]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn users_written_by_one_process_are_read_by_the_next() {
    let uri = mongodb_uri();
    if let Ok(database) = std::env::var(DURABILITY_DB_VAR) {
        // This is the child process: write, and let the parent read.
        write_durable_users(&uri, &database).await;
        return;
    }
    let databases = TestDatabases::new(&uri).await;
    let database = databases.fresh("durable");

    let child = tokio::task::spawn_blocking({
        let uri = uri.clone();
        let name = database.name().to_owned();
        move || {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "users_written_by_one_process_are_read_by_the_next",
                    "--exact",
                    "--include-ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("MONGODB_URI", uri)
                .env(DURABILITY_DB_VAR, name)
                .output()
                .expect("run the child test process")
        }
    });
    let output = bounded(child).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the writer process failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let written: Vec<(String, String)> = stdout
        .lines()
        // The test harness prints its own text on the first line, before ours.
        .filter_map(|line| line.split_once("created ").map(|(_, rest)| rest))
        .map(|rest| {
            let (id, name) = rest.split_once(' ').unwrap();
            (id.to_owned(), name.to_owned())
        })
        .collect();
    assert_eq!(
        written.len(),
        5,
        "the writer reported {written:?}\n{stdout}"
    );

    // The writer's process, client and connections are gone; a new client reads it all.
    let reader = MongoUserStore::connect(&uri, database.name())
        .await
        .expect("connect again");
    for (i, (id, name)) in written.iter().enumerate() {
        let user = reader.get(id).await.expect("written before the restart");
        assert_eq!(&user.name, name);
        assert_eq!(user.password_hash, durable_user(i).password_hash);
        assert_eq!(user.roles, durable_user(i).roles);
    }
    assert_eq!(reader.list(PageRequest::first(100)).await.unwrap().len(), 5);
    // The unique index survived too.
    assert!(matches!(
        reader.create(durable_user(0)).await,
        Err(IamError::DuplicateName { .. })
    ));
    drop(reader);
    databases.drop_all().await;
}

#[tokio::test]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn users_written_through_one_client_are_read_through_a_new_one() {
    let uri = mongodb_uri();
    let databases = TestDatabases::new(&uri).await;
    let name = databases.fresh("reconnect").name().to_owned();

    let writer = MongoUserStore::connect(&uri, &name).await.expect("connect");
    let created = writer.create(durable_user(1)).await.unwrap();
    drop(writer);

    let reader = MongoUserStore::connect(&uri, &name)
        .await
        .expect("connect again");
    assert_eq!(reader.get(&created.id).await.unwrap(), created);
    assert_eq!(
        reader.find_by_name(&created.name).await.unwrap(),
        Some(created)
    );
    drop(reader);
    databases.drop_all().await;
}

/// A free loopback port with nothing listening on it.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn connecting_to_a_closed_port_fails_fast_with_503() {
    // No MONGODB_URI needed: nothing listens on this port.
    let uri = format!("mongodb://127.0.0.1:{}/", closed_port().await);
    let result = bounded(
        MongoUserStore::builder()
            .server_selection_timeout(SHORT)
            .connect_timeout(SHORT)
            .connect(&uri, "unreachable"),
    )
    .await;
    match result {
        Err(portcullis_iam::ConfigError::Store(err)) => {
            assert_unavailable::<()>(Err(err), "connect");
        }
        other => panic!("connect: {other:?}"),
    }
}

/// Forwards loopback connections to `target` until stopped, then drops them all: the
/// database "goes away" under a running store.
struct Outage {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Outage {
    async fn forward_to(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { address, task }
    }

    /// Closes the listening port and every forwarded connection.
    async fn begin(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// `uri` pointed at `proxy` (one host, direct connection), or `None` for URIs a plain TCP
/// forwarder cannot stand in for (several hosts, SRV, TLS).
async fn through(uri: &str, proxy: SocketAddr) -> Option<(SocketAddr, String)> {
    let rest = uri.strip_prefix("mongodb://")?;
    let (credentials, rest) = match rest.rsplit_once('@') {
        Some((credentials, rest)) => (format!("{credentials}@"), rest),
        None => (String::new(), rest),
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    if host.contains(',') || tail.contains("tls=true") || tail.contains("ssl=true") {
        return None;
    }
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:27017")
    };
    let target = tokio::net::lookup_host(host).await.ok()?.next()?;
    let tail = if tail.is_empty() { "/" } else { tail };
    let separator = if tail.contains('?') { '&' } else { '?' };
    Some((
        target,
        format!("mongodb://{credentials}{proxy}{tail}{separator}directConnection=true"),
    ))
}

#[tokio::test]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn a_database_that_goes_away_fails_operations_fast_with_503() {
    let uri = mongodb_uri();
    let databases = TestDatabases::new(&uri).await;
    let name = databases.fresh("outage").name().to_owned();
    let placeholder: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let Some((target, _)) = through(&uri, placeholder).await else {
        eprintln!("skipping the outage test: MONGODB_URI is not a single plain host");
        databases.drop_all().await;
        return;
    };
    let outage = Outage::forward_to(target).await;
    let (_, proxied) = through(&uri, outage.address).await.unwrap();
    let mut options = ClientOptions::parse(&proxied).await.unwrap();
    options.server_selection_timeout = Some(SHORT);
    options.connect_timeout = Some(SHORT);
    let store = MongoUserStore::new(Client::with_options(options).unwrap().database(&name))
        .await
        .expect("open the store through the forwarder");
    let alice = store
        .create(durable_user(0))
        .await
        .expect("create while up");
    assert!(store.check().await.is_ok());

    outage.begin().await;

    assert_unavailable(bounded(store.check()).await, "check");
    assert_unavailable(bounded(store.get(&alice.id)).await, "get");
    assert_unavailable(bounded(store.find_by_name("alice")).await, "find_by_name");
    assert_unavailable(bounded(store.list(PageRequest::first(10))).await, "list");
    assert_unavailable(bounded(store.create(durable_user(1))).await, "create");
    assert_unavailable(bounded(store.delete(&alice.id)).await, "delete");
    drop(store);
    databases.drop_all().await;
}

#[tokio::test]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn login_answers_503_when_the_database_goes_away() {
    let uri = mongodb_uri();
    let databases = TestDatabases::new(&uri).await;
    let name = databases.fresh("outage_http").name().to_owned();
    let placeholder: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let Some((target, _)) = through(&uri, placeholder).await else {
        eprintln!("skipping the outage test: MONGODB_URI is not a single plain host");
        databases.drop_all().await;
        return;
    };
    let outage = Outage::forward_to(target).await;
    let (_, proxied) = through(&uri, outage.address).await.unwrap();
    let store = MongoUserStore::builder()
        .server_selection_timeout(SHORT)
        .connect_timeout(SHORT)
        .connect(&proxied, &name)
        .await
        .expect("open the store through the forwarder");
    let (_, base) = common::start(common::fast_builder().store(store)).await;
    let (status, body, _) = common::login_form(&base, "admin", common::ADMIN_PASSWORD).await;
    assert_eq!(status, 200, "login while the database is up: {body}");

    outage.begin().await;

    let (status, body, _) =
        bounded(common::login_form(&base, "admin", common::ADMIN_PASSWORD)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["message"].is_string(), "{body}");
    let text = body.to_string();
    assert!(!text.contains("127.0.0.1"), "driver details leaked: {text}");
    databases.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn concurrent_renames_to_one_name_leave_exactly_one_on_many_threads() {
    let uri = mongodb_uri();
    let databases = TestDatabases::new(&uri).await;
    store_suite::concurrent_renames_to_one_name_leave_exactly_one(databases.store("rename").await)
        .await;
    databases.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn two_admins_demoting_each_other_leave_at_least_one_on_many_threads() {
    let uri = mongodb_uri();
    let databases = TestDatabases::new(&uri).await;
    store_suite::two_admins_demoting_each_other_leave_at_least_one(
        databases.store("last_admin").await,
    )
    .await;
    databases.drop_all().await;
}
