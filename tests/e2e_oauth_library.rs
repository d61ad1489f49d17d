//! End-to-end: the `oauth2` crate, a widely used OAuth 2.0 client, drives the IAM's flows
//! against the running `user_service` example, so the endpoints are checked against a
//! client that was not written with them.
//!
//! - Discovery: the RFC 8414 metadata names the configured issuer, and the client's token,
//!   revocation and introspection URLs are the ones it publishes.
//! - `client_credentials` (RFC 6749 section 4.4) with `client_secret_basic` and
//!   `client_secret_post` (section 2.3.1), a wrong secret (`invalid_client`), a scope
//!   beyond the client's (`invalid_scope`).
//! - The `password` grant (section 4.3) for the bootstrap admin, the `refresh_token` grant
//!   (section 6) with rotation, reuse detection (RFC 9700 section 4.14.2) and narrowing.
//! - Revocation (RFC 7009) and introspection (RFC 7662).
//!
//! Every outcome is read through the library's types (`BasicTokenResponse`,
//! `BasicErrorResponseType`, `BasicTokenIntrospectionResponse`), as a client sees it.

use std::time::{Duration, SystemTime};

use oauth2::basic::{
    BasicClient, BasicErrorResponse, BasicErrorResponseType, BasicTokenIntrospectionResponse,
    BasicTokenResponse, BasicTokenType,
};
use oauth2::{
    AccessToken, AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, IntrospectionUrl,
    RefreshToken, RequestTokenError, ResourceOwnerPassword, ResourceOwnerUsername,
    RevocationErrorResponseType, RevocationUrl, Scope, StandardRevocableToken,
    TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use portcullis_examples::testing::{
    ADMIN_PASSWORD, Service, TestCa, TlsFront, example_command, login, send_buffered,
};
use serde::Deserialize;
use serde_json::{Value, json};

const CLIENT_ID: &str = "library-e2e";
/// Spaces, `+`, `%` and `:` on purpose: RFC 6749 section 2.3.1 form-encodes the id and the
/// secret before HTTP Basic, and the library does; the server must decode them.
const CLIENT_SECRET: &str = "a library secret: 32 bytes+ with 100% odd chars";
const READ: &str = "movies:read";
const WRITE: &str = "movies:write";

/// The oauth2 client with the three endpoints of the metadata set.
type Client = BasicClient<EndpointNotSet, EndpointNotSet, EndpointSet, EndpointSet, EndpointSet>;

/// The part of the RFC 8414 section 2 metadata the client is built from.
#[derive(Debug, Deserialize, PartialEq)]
struct Metadata {
    issuer: String,
    token_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    grant_types_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
}

/// The IAM behind a TLS front whose URL is its issuer (so it publishes metadata, and the
/// library, which refuses a plain-HTTP revocation endpoint, talks to it over `https://`),
/// with a bootstrap client holding both scopes and the admin password of the tests.
struct Iam {
    service: Service,
    _front: TlsFront,
    issuer: String,
    http: reqwest::Client,
}

impl Iam {
    async fn start() -> Self {
        let ca = TestCa::new();
        // The front's port first: the issuer must be known before the service starts.
        let mut front = TlsFront::bind(&ca).await;
        let issuer = front.base_url();
        let mut command = example_command("user_service");
        command
            .env("PORTCULLIS_PORT", "0")
            .env("PORTCULLIS_ISSUER", &issuer)
            .env("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("PORTCULLIS_BOOTSTRAP_CLIENT_ID", CLIENT_ID)
            .env("PORTCULLIS_BOOTSTRAP_CLIENT_SECRET", CLIENT_SECRET)
            .env(
                "PORTCULLIS_BOOTSTRAP_CLIENT_SCOPES",
                format!("{READ} {WRITE}"),
            );
        let service = Service::start("user_service", command);
        front.forward_to(service.port);
        Self {
            service,
            _front: front,
            issuer,
            http: ca.http_client(),
        }
    }

    /// The public URL of `path`: on the issuer, through the front.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The metadata document at `path`.
    async fn metadata(&self, path: &str) -> Metadata {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// Discovers the endpoints (RFC 8414 section 3) and builds the library's client from
    /// them, authenticating with `auth`.
    async fn client(&self, auth: AuthType) -> Client {
        let id = ClientId::new(CLIENT_ID.to_owned());
        let secret = ClientSecret::new(CLIENT_SECRET.to_owned());
        self.client_as(id, secret, auth).await
    }

    /// As [`Iam::client`], for another registered client.
    async fn client_as(&self, id: ClientId, secret: ClientSecret, auth: AuthType) -> Client {
        let metadata = self
            .metadata("/.well-known/oauth-authorization-server")
            .await;
        BasicClient::new(id)
            .set_client_secret(secret)
            .set_auth_type(auth)
            .set_token_uri(TokenUrl::new(metadata.token_endpoint).unwrap())
            .set_revocation_url(RevocationUrl::new(metadata.revocation_endpoint).unwrap())
            .set_introspection_url(IntrospectionUrl::new(metadata.introspection_endpoint).unwrap())
    }

    /// Registers a second client through the admin API (its secret is shown once).
    async fn register_client(&self, id: &str, scopes: &[&str]) -> (ClientId, ClientSecret) {
        let admin = login(
            &self.http,
            &self.url("/api/v1/admin/auth"),
            "admin",
            ADMIN_PASSWORD,
        )
        .await;
        let response = self
            .http
            .post(self.url("/api/v1/oauth/clients"))
            .bearer_auth(admin)
            .json(&json!({
                "clientId": id, "name": id, "scopes": scopes,
                "grantTypes": ["password", "refresh_token"],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "register {id}");
        let body: Value = response.json().await.unwrap();
        let secret = body["clientSecret"].as_str().expect("the secret, once");
        (
            ClientId::new(id.to_owned()),
            ClientSecret::new(secret.to_owned()),
        )
    }
}

/// The `error` of a failed token request, as the library parsed it; panics on any other
/// failure (transport, unparsable body).
fn server_error<RE: std::error::Error>(
    error: RequestTokenError<RE, BasicErrorResponse>,
) -> BasicErrorResponseType {
    match error {
        RequestTokenError::ServerResponse(response) => response.error().clone(),
        other => panic!("expected an OAuth error response, got {other:?}"),
    }
}

fn scopes(response: &BasicTokenResponse) -> Vec<String> {
    let mut scopes: Vec<String> = response
        .scopes()
        .expect("the token response names its scopes")
        .iter()
        .map(|scope| scope.as_str().to_owned())
        .collect();
    scopes.sort();
    scopes
}

fn unix_now() -> i64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_client_credentials_with_both_client_authentication_methods() {
    let iam = Iam::start().await;
    let http = |request| send_buffered(&iam.http, request);

    // RFC 8414 section 3.3: the issuer in the document is exactly the configured one, and
    // both well-known locations serve the same document.
    let metadata = iam
        .metadata("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(metadata.issuer, iam.issuer);
    assert_eq!(
        iam.metadata("/.well-known/openid-configuration").await,
        metadata
    );
    for endpoint in [
        &metadata.token_endpoint,
        &metadata.revocation_endpoint,
        &metadata.introspection_endpoint,
    ] {
        assert!(endpoint.starts_with(&iam.issuer), "{endpoint}");
    }
    for grant in ["client_credentials", "password", "refresh_token"] {
        assert!(
            metadata.grant_types_supported.iter().any(|g| g == grant),
            "{grant} in {metadata:?}"
        );
    }
    for method in ["client_secret_basic", "client_secret_post"] {
        assert!(
            metadata
                .token_endpoint_auth_methods_supported
                .iter()
                .any(|m| m == method),
            "{method} in {metadata:?}"
        );
    }
    assert!(metadata.scopes_supported.iter().any(|s| s == WRITE));

    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let client = iam.client(auth.clone()).await;
        assert_eq!(client.token_uri().as_str(), metadata.token_endpoint);
        let token = client
            .exchange_client_credentials()
            .add_scope(Scope::new(WRITE.to_owned()))
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("client_credentials with {auth:?}: {e:?}"));
        assert_eq!(*token.token_type(), BasicTokenType::Bearer);
        assert_eq!(scopes(&token), [WRITE]);
        assert!(token.expires_in().is_some_and(|ttl| ttl > Duration::ZERO));
        assert!(
            token.refresh_token().is_none(),
            "none for client_credentials (RFC 6749 section 4.4.3)"
        );

        // RFC 7662 section 2.2: the live token, with its scope and client.
        let info = client
            .introspect(token.access_token())
            .request_async(&http)
            .await
            .unwrap();
        assert!(info.active(), "{auth:?}: {info:?}");
        assert_eq!(info.client_id(), Some(&ClientId::new(CLIENT_ID.to_owned())));
        assert_eq!(info.scopes(), Some(&vec![Scope::new(WRITE.to_owned())]));
        assert_eq!(info.token_type(), Some(&BasicTokenType::Bearer));
        assert_eq!(info.sub(), Some(CLIENT_ID), "a client token's subject");
        assert_eq!(info.iss(), Some(iam.issuer.as_str()));
        assert!(info.exp().is_some_and(|exp| exp.timestamp() > unix_now()));
    }

    // No scope asked: every scope the client holds (RFC 6749 section 3.3 lets the server
    // pick a default; this one documents the client's scopes).
    let client = iam.client(AuthType::BasicAuth).await;
    let all = client
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(scopes(&all), [READ, WRITE]);

    // A scope the client was not given: invalid_scope (section 5.2).
    let error = client
        .exchange_client_credentials()
        .add_scope(Scope::new("movies:admin".to_owned()))
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(server_error(error), BasicErrorResponseType::InvalidScope);

    // A wrong secret, by either method: invalid_client (section 5.2).
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let wrong = iam
            .client(auth.clone())
            .await
            .set_client_secret(ClientSecret::new("not the secret of this client".into()));
        let error = wrong
            .exchange_client_credentials()
            .request_async(&http)
            .await
            .unwrap_err();
        assert_eq!(
            server_error(error),
            BasicErrorResponseType::InvalidClient,
            "{auth:?}"
        );
    }

    // Introspection of something that is no token: inactive, nothing else said.
    let garbage = AccessToken::new("not-a-token.at.all".to_owned());
    let info = client
        .introspect(&garbage)
        .request_async(&http)
        .await
        .unwrap();
    assert!(!info.active());
    assert_eq!(info.client_id(), None);
    assert_eq!(info.scopes(), None);

    let logs = iam.service.process.report();
    assert!(!logs.contains(CLIENT_SECRET), "the client secret is logged");
    assert!(
        !logs.contains(all.access_token().secret()),
        "a token is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_a_reused_one_ends_its_family() {
    let iam = Iam::start().await;
    let http = |request| send_buffered(&iam.http, request);
    let client = iam.client(AuthType::BasicAuth).await;
    let admin = ResourceOwnerUsername::new("admin".to_owned());
    let password = ResourceOwnerPassword::new(ADMIN_PASSWORD.to_owned());

    // A wrong password: invalid_grant (RFC 6749 section 5.2).
    let wrong = ResourceOwnerPassword::new("not the admin password".to_owned());
    let error = client
        .exchange_password(&admin, &wrong)
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(server_error(error), BasicErrorResponseType::InvalidGrant);

    let first = client
        .exchange_password(&admin, &password)
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(*first.token_type(), BasicTokenType::Bearer);
    assert_eq!(scopes(&first), [READ, WRITE]);
    let info = client
        .introspect(first.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(info.active());
    assert_eq!(info.username(), Some("admin"));
    assert_eq!(info.client_id(), Some(&ClientId::new(CLIENT_ID.to_owned())));
    let r0 = first
        .refresh_token()
        .expect("the password grant gives a refresh token")
        .clone();

    // Rotation: a new refresh token each time, the presented one spent.
    let second = client
        .exchange_refresh_token(&r0)
        .request_async(&http)
        .await
        .unwrap();
    let r1 = second
        .refresh_token()
        .expect("a rotated refresh token")
        .clone();
    assert_ne!(r1.secret(), r0.secret());
    assert_eq!(scopes(&second), [READ, WRITE]);
    assert!(introspect_refresh(&iam, &client, &r1).await.active());
    assert!(
        !introspect_refresh(&iam, &client, &r0).await.active(),
        "a used refresh token is no longer active"
    );

    // The old token again: invalid_grant, and the reuse revokes the family, so the newest
    // token, never used, fails as well (RFC 9700 section 4.14.2).
    let error = client
        .exchange_refresh_token(&r0)
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(server_error(error), BasicErrorResponseType::InvalidGrant);
    assert!(!introspect_refresh(&iam, &client, &r1).await.active());
    let error = client
        .exchange_refresh_token(&r1)
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(server_error(error), BasicErrorResponseType::InvalidGrant);

    // Garbage is an unknown grant.
    let error = client
        .exchange_refresh_token(&RefreshToken::new("no such refresh token".into()))
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(server_error(error), BasicErrorResponseType::InvalidGrant);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_narrows_the_scope_and_never_widens_it() {
    let iam = Iam::start().await;
    let http = |request| send_buffered(&iam.http, request);
    let client = iam.client(AuthType::RequestBody).await;
    let read_only = iam
        .client(AuthType::RequestBody)
        .await
        .exchange_password(
            &ResourceOwnerUsername::new("admin".to_owned()),
            &ResourceOwnerPassword::new(ADMIN_PASSWORD.to_owned()),
        )
        .add_scope(Scope::new(READ.to_owned()))
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(scopes(&read_only), [READ]);

    // Beyond the original grant: invalid_scope (RFC 6749 section 6), and the token is not
    // spent by the refused request.
    let r0 = read_only.refresh_token().unwrap().clone();
    let error = client
        .exchange_refresh_token(&r0)
        .add_scope(Scope::new(WRITE.to_owned()))
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(server_error(error), BasicErrorResponseType::InvalidScope);

    let both = client
        .exchange_password(
            &ResourceOwnerUsername::new("admin".to_owned()),
            &ResourceOwnerPassword::new(ADMIN_PASSWORD.to_owned()),
        )
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(scopes(&both), [READ, WRITE]);

    // Narrowed to one scope: the access token carries only it...
    let narrowed = client
        .exchange_refresh_token(both.refresh_token().unwrap())
        .add_scope(Scope::new(READ.to_owned()))
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(scopes(&narrowed), [READ]);
    let info = client
        .introspect(narrowed.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.scopes(), Some(&vec![Scope::new(READ.to_owned())]));
    // ...while the new refresh token keeps the original grant (section 6), so the next
    // refresh without a scope has both again.
    let widened_back = client
        .exchange_refresh_token(narrowed.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(scopes(&widened_back), [READ, WRITE]);

    // The read-only grant's token survived its refused request above.
    let still = client
        .exchange_refresh_token(&r0)
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(scopes(&still), [READ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_refresh_token_is_refused_and_introspects_inactive() {
    let iam = Iam::start().await;
    let http = |request| send_buffered(&iam.http, request);
    let client = iam.client(AuthType::BasicAuth).await;
    let granted = client
        .exchange_password(
            &ResourceOwnerUsername::new("admin".to_owned()),
            &ResourceOwnerPassword::new(ADMIN_PASSWORD.to_owned()),
        )
        .request_async(&http)
        .await
        .unwrap();
    let refresh = granted.refresh_token().unwrap().clone();
    let info = introspect_refresh(&iam, &client, &refresh).await;
    assert!(info.active());
    assert_eq!(
        info.token_type(),
        Some(&BasicTokenType::Extension("refresh_token".to_owned()))
    );
    assert_eq!(info.client_id(), Some(&ClientId::new(CLIENT_ID.to_owned())));

    // Refresh tokens are bound to their client: another registered client can neither
    // use it, nor see it, nor revoke it (RFC 7009 section 2.1: refused, with
    // `unauthorized_client`), and its attempts change nothing.
    let (other_id, other_secret) = iam.register_client("library-e2e-other", &[READ]).await;
    let other = iam
        .client_as(other_id, other_secret, AuthType::BasicAuth)
        .await;
    let error = other
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(server_error(error), BasicErrorResponseType::InvalidGrant);
    assert!(!introspect_refresh(&iam, &other, &refresh).await.active());
    let refused = other
        .revoke_token(StandardRevocableToken::RefreshToken(refresh.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap_err();
    match refused {
        RequestTokenError::ServerResponse(response) => assert_eq!(
            *response.error(),
            RevocationErrorResponseType::Basic(BasicErrorResponseType::UnauthorizedClient)
        ),
        other => panic!("expected unauthorized_client, got {other:?}"),
    }
    assert!(introspect_refresh(&iam, &client, &refresh).await.active());
    // The other client's own password grant works: it is a real client.
    let own = other
        .exchange_password(
            &ResourceOwnerUsername::new("admin".to_owned()),
            &ResourceOwnerPassword::new(ADMIN_PASSWORD.to_owned()),
        )
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(scopes(&own), [READ]);

    // RFC 7009 section 2.2: 200, which the library reports as success.
    client
        .revoke_token(StandardRevocableToken::RefreshToken(refresh.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();

    let error = client
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(server_error(error), BasicErrorResponseType::InvalidGrant);
    let info = introspect_refresh(&iam, &client, &refresh).await;
    assert!(!info.active(), "{info:?}");
    assert_eq!(info.scopes(), None, "an inactive token says nothing more");

    // Revoking it again, or revoking garbage, is still a success (section 2.2).
    client
        .revoke_token(StandardRevocableToken::RefreshToken(refresh.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    client
        .revoke_token(StandardRevocableToken::RefreshToken(RefreshToken::new(
            "garbage".into(),
        )))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();

    // The access token is a JWT that resource services check on their own: it stays
    // valid until it expires (documented on the revocation route; RFC 7009 section 2
    // leaves revoking access tokens to the server).
    let info = client
        .introspect(granted.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(info.active());
}

/// Introspects a refresh token as `client`, with the `refresh_token` hint (RFC 7662
/// section 2.1).
async fn introspect_refresh(
    iam: &Iam,
    client: &Client,
    token: &RefreshToken,
) -> BasicTokenIntrospectionResponse {
    let http = |request| send_buffered(&iam.http, request);
    let as_token = AccessToken::new(token.secret().clone());
    client
        .introspect(&as_token)
        .set_token_type_hint("refresh_token")
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("introspection failed: {e:?}"))
}
