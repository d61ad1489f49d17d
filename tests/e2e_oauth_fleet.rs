//! End-to-end: two `user_service` processes on one `MongoDB` database act as one
//! authorization server, as a fleet behind a load balancer must. Driven by the `oauth2`
//! crate, each instance at its own URL:
//!
//! - a refresh token issued by one instance is refreshed at the other, and the rotation
//!   is seen by both;
//! - a revocation (RFC 7009) at one instance is seen at the other: refresh is
//!   `invalid_grant`, introspection (RFC 7662) says inactive;
//! - a reuse detected at one instance (RFC 9700 section 4.14.2) revokes the family for
//!   both, and two instances racing to rotate the same token let exactly one win.
//!
//! The instances share what a fleet shares: the database, the Ed25519 signing key
//! (`signingKeyFile`), the key refresh tokens and client secrets are hashed with
//! (`oauthHashKey`), the issuer and the bootstrap client. Each is reached over
//! `https://` through its own TLS front (the library refuses a plain-HTTP revocation URL).
//!
//! Needs a real `MongoDB` (`FerretDB` will do): ignored by default, run with
//! `--include-ignored` and `MONGODB_URI` set; without it the tests fail and say so.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oauth2::basic::{
    BasicClient, BasicErrorResponse, BasicErrorResponseType, BasicTokenIntrospectionResponse,
    BasicTokenResponse,
};
use oauth2::{
    AccessToken, AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, IntrospectionUrl,
    RefreshToken, RequestTokenError, ResourceOwnerPassword, ResourceOwnerUsername, RevocationUrl,
    StandardRevocableToken, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use portcullis::iam::SigningKey;
use portcullis_examples::testing::{
    ADMIN_PASSWORD, START_TIMEOUT, Service, TempDir, TestCa, TlsFront, example_command,
    send_buffered,
};

const CLIENT_ID: &str = "fleet-e2e";
const CLIENT_SECRET: &str = "the fleet's client secret, 32 bytes or more";
/// The same on every instance, as `oauthHashKey` must be in a fleet (a test value).
const HASH_KEY: &str = "the fleet's OAuth hash key, 32 bytes or more";

/// How many times two instances race to rotate one refresh token.
const RACE_ROUNDS: usize = 16;

/// The oauth2 client of one instance: token, revocation and introspection URLs set.
type Client = BasicClient<EndpointNotSet, EndpointNotSet, EndpointSet, EndpointSet, EndpointSet>;

/// One instance: the process and its TLS front.
struct Instance {
    service: Service,
    front: TlsFront,
}

impl Instance {
    /// Starts instance `n` with the fleet's `shared` configuration, behind a front of `ca`.
    async fn start(n: usize, ca: &TestCa, shared: &[(&str, &str)]) -> Self {
        let mut front = TlsFront::bind(ca).await;
        let mut command = example_command("user_service");
        command
            .env("PORTCULLIS_PORT", "0")
            .env("PORTCULLIS_INSTANCE_ID", format!("iam-{n}"));
        for (key, value) in shared {
            command.env(key, value);
        }
        let service = Service::start(&format!("user_service-{n}"), command);
        // Not the memory store by mistake: every claim of these tests rests on the
        // database. The line is on stderr, read by its own thread: wait for it.
        let deadline = Instant::now() + START_TIMEOUT;
        while !service.process.report().contains("user store: MongoDB") {
            assert!(
                Instant::now() < deadline,
                "instance {n} is not on MongoDB\n{}",
                service.process.report()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        front.forward_to(service.port);
        Self { service, front }
    }
}

/// Two instances on one fresh database, and a client that trusts their fronts.
struct Fleet {
    instances: [Instance; 2],
    http: reqwest::Client,
    _dir: TempDir,
}

fn mongodb_uri() -> String {
    match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.trim().is_empty() => uri,
        _ => panic!(
            "MONGODB_URI is not set: these tests need a real MongoDB shared by two IAM \
             processes: `export \"$(scripts/mongo-test-server start)\"` (after \
             `scripts/mongo-test-server install`)"
        ),
    }
}

impl Fleet {
    async fn start(test: &str) -> Self {
        let uri = mongodb_uri();
        // A database of this test run only: no token or user of an earlier run counts.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let database = format!("e2e_oauth_fleet_{test}_{nanos}");
        let dir = TempDir::new("e2e-oauth-fleet");
        let key_file = dir.path().join("signing-key.pem");
        let key = SigningKey::generate_ed25519();
        std::fs::write(&key_file, key.to_pkcs8_pem().expect("an Ed25519 key")).unwrap();
        let ca = TestCa::new();

        let shared = [
            ("MONGODB_URI", uri.as_str()),
            ("PORTCULLIS_MG_DB_NAME", &database),
            ("PORTCULLIS_SIGNING_KEY_FILE", key_file.to_str().unwrap()),
            ("PORTCULLIS_OAUTH_HASH_KEY", HASH_KEY),
            ("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("PORTCULLIS_BOOTSTRAP_CLIENT_ID", CLIENT_ID),
            ("PORTCULLIS_BOOTSTRAP_CLIENT_SECRET", CLIENT_SECRET),
        ];
        // One after the other: the first creates the admin user, the second finds it.
        let first = Instance::start(1, &ca, &shared).await;
        let second = Instance::start(2, &ca, &shared).await;
        Self {
            instances: [first, second],
            http: ca.http_client(),
            _dir: dir,
        }
    }

    /// The library's client for instance `n` (0 or 1), at that instance's URLs.
    fn client(&self, n: usize) -> Client {
        let base = self.instances[n].front.base_url();
        BasicClient::new(ClientId::new(CLIENT_ID.to_owned()))
            .set_client_secret(ClientSecret::new(CLIENT_SECRET.to_owned()))
            .set_auth_type(AuthType::BasicAuth)
            .set_token_uri(TokenUrl::new(format!("{base}/oauth2/token")).unwrap())
            .set_revocation_url(RevocationUrl::new(format!("{base}/oauth2/revoke")).unwrap())
            .set_introspection_url(
                IntrospectionUrl::new(format!("{base}/oauth2/introspect")).unwrap(),
            )
    }

    /// A password grant for the admin at instance `n`.
    async fn password_grant(&self, n: usize) -> BasicTokenResponse {
        let http = |request| send_buffered(&self.http, request);
        self.client(n)
            .exchange_password(
                &ResourceOwnerUsername::new("admin".to_owned()),
                &ResourceOwnerPassword::new(ADMIN_PASSWORD.to_owned()),
            )
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("password grant at instance {}: {e:?}", n + 1))
    }

    /// A refresh at instance `n`: the new tokens, or the OAuth error the library parsed.
    async fn refresh(
        &self,
        n: usize,
        token: &RefreshToken,
    ) -> Result<BasicTokenResponse, BasicErrorResponseType> {
        let http = |request| send_buffered(&self.http, request);
        self.client(n)
            .exchange_refresh_token(token)
            .request_async(&http)
            .await
            .map_err(server_error)
    }

    /// Revokes a refresh token at instance `n`.
    async fn revoke(&self, n: usize, token: &RefreshToken) {
        let http = |request| send_buffered(&self.http, request);
        self.client(n)
            .revoke_token(StandardRevocableToken::RefreshToken(token.clone()))
            .unwrap()
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("revocation at instance {}: {e:?}", n + 1));
    }

    /// Introspects a token at instance `n`, with `hint` (RFC 7662 section 2.1).
    async fn introspect(
        &self,
        n: usize,
        token: &str,
        hint: &str,
    ) -> BasicTokenIntrospectionResponse {
        let http = |request| send_buffered(&self.http, request);
        let token = AccessToken::new(token.to_owned());
        self.client(n)
            .introspect(&token)
            .set_token_type_hint(hint)
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("introspection at instance {}: {e:?}", n + 1))
    }

    /// Whether a refresh token is active, as instance `n` sees it.
    async fn refresh_active(&self, n: usize, token: &RefreshToken) -> bool {
        self.introspect(n, token.secret(), "refresh_token")
            .await
            .active()
    }

    /// The services' logs, for the secret checks.
    fn logs(&self) -> String {
        self.instances
            .iter()
            .map(|i| i.service.process.report())
            .collect()
    }
}

/// The `error` of a failed token request as the library parsed it; panics on any other
/// failure (transport, unparsable body).
fn server_error<RE: std::error::Error>(
    error: RequestTokenError<RE, BasicErrorResponse>,
) -> BasicErrorResponseType {
    match error {
        RequestTokenError::ServerResponse(response) => response.error().clone(),
        other => panic!("expected an OAuth error response, got {other:?}"),
    }
}

fn refresh_token_of(response: &BasicTokenResponse) -> RefreshToken {
    response
        .refresh_token()
        .expect("a refresh token in the response")
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn a_token_issued_by_one_instance_is_refreshed_and_revoked_at_the_other() {
    let fleet = Fleet::start("rotation").await;
    let (one, two) = (0, 1);

    let first = fleet.password_grant(one).await;
    let r0 = refresh_token_of(&first);
    // The access token verifies at the other instance: the signing key is shared.
    let info = fleet
        .introspect(two, first.access_token().secret(), "access_token")
        .await;
    assert!(info.active(), "{info:?}");
    assert_eq!(info.username(), Some("admin"));
    assert_eq!(info.client_id(), Some(&ClientId::new(CLIENT_ID.to_owned())));

    // Issued by one, refreshed at two; the rotation is seen by both.
    let second = fleet
        .refresh(two, &r0)
        .await
        .expect("instance 2 refreshes instance 1's token");
    let r1 = refresh_token_of(&second);
    assert_ne!(r1.secret(), r0.secret());
    assert!(fleet.refresh_active(one, &r1).await);
    assert!(!fleet.refresh_active(one, &r0).await, "spent at instance 2");

    // And back: issued by two, refreshed at one.
    let third = fleet
        .refresh(one, &r1)
        .await
        .expect("instance 1 refreshes instance 2's token");
    let r2 = refresh_token_of(&third);
    assert!(fleet.refresh_active(two, &r2).await);

    // Revoked at two, refused at one.
    fleet.revoke(two, &r2).await;
    assert_eq!(
        fleet.refresh(one, &r2).await.unwrap_err(),
        BasicErrorResponseType::InvalidGrant
    );
    for n in [one, two] {
        let info = fleet.introspect(n, r2.secret(), "refresh_token").await;
        assert!(!info.active(), "instance {}: {info:?}", n + 1);
    }

    let logs = fleet.logs();
    for secret in [CLIENT_SECRET, HASH_KEY, r0.secret(), r2.secret()] {
        assert!(!logs.contains(secret), "a secret or token is logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (scripts/mongo-test-server)"]
async fn a_reuse_detected_at_one_instance_revokes_the_family_at_both() {
    let fleet = Fleet::start("reuse").await;
    let (one, two) = (0, 1);

    // Rotated at one; the spent token presented at two is a reuse.
    let r0 = refresh_token_of(&fleet.password_grant(one).await);
    let r1 = refresh_token_of(&fleet.refresh(one, &r0).await.unwrap());
    assert_eq!(
        fleet.refresh(two, &r0).await.unwrap_err(),
        BasicErrorResponseType::InvalidGrant
    );
    // The family is over everywhere: the newest token, never used, is refused at both.
    for n in [one, two] {
        assert!(
            !fleet.refresh_active(n, &r1).await,
            "instance {} still reports the family's newest token active",
            n + 1
        );
    }
    assert_eq!(
        fleet.refresh(one, &r1).await.unwrap_err(),
        BasicErrorResponseType::InvalidGrant
    );

    // Both instances rotate the same token at once: at most one wins, the other's use is
    // a reuse, and nothing of the family survives it. A race is a matter of timing, so it
    // is run several times, each on a new family.
    let mut survivors = Vec::new();
    for round in 0..RACE_ROUNDS {
        let s0 = refresh_token_of(&fleet.password_grant(round % 2).await);
        let (at_one, at_two) = tokio::join!(fleet.refresh(one, &s0), fleet.refresh(two, &s0));
        let won = match (at_one, at_two) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => {
                assert_eq!(lost, BasicErrorResponseType::InvalidGrant);
                Some(won)
            }
            (Ok(_), Ok(_)) => panic!("round {round}: both instances rotated the same token"),
            // Both refused is safe (the family is revoked either way): the claim's winner
            // can find the token revoked by the loser's reuse before it marks it used.
            (Err(a), Err(b)) => {
                assert_eq!(
                    (a, b),
                    (
                        BasicErrorResponseType::InvalidGrant,
                        BasicErrorResponseType::InvalidGrant
                    )
                );
                None
            }
        };
        assert!(!fleet.refresh_active(one, &s0).await);
        let Some(s1) = won.as_ref().and_then(TokenResponse::refresh_token) else {
            continue;
        };
        for n in [one, two] {
            if let Ok(next) = fleet.refresh(n, s1).await {
                survivors.push(format!(
                    "round {round}: the winner's refresh token was refreshed at instance {} \
                     after the reuse (a new one: {})",
                    n + 1,
                    next.refresh_token().is_some()
                ));
                break;
            }
        }
    }
    // RFC 9700 section 4.14.2: once a reuse is detected no token of the family survives,
    // the winner's new one included. The reuse's family revocation is an update of many
    // documents, which can select the family before the winner inserts its new token;
    // the store records the revocation first and the winner looks its new token up after
    // the insert, which closes that window (iam/src/oauth/store/mongo.rs).
    assert!(
        survivors.is_empty(),
        "refresh tokens outlived a detected reuse:\n{}",
        survivors.join("\n")
    );
}
