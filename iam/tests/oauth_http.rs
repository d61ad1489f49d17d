//! The OAuth 2.0 endpoints over real HTTP: the token endpoint and every RFC 6749 section
//! 5.2 error, refresh rotation and reuse detection, lifetimes on an injected clock,
//! revocation, introspection, metadata, client management and throttling.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{ADMIN_PASSWORD, client, fast_builder, serve, token};
use portcullis_iam::{
    BootstrapClient, ClientUpdate, GrantType, Iam, IamBuilder, NewClient, OAuthSettings,
    ThrottlePolicy,
};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const CLI: &str = "test-cli";
const CLI_SECRET: &str = "a bootstrap secret that is long enough";
const ISSUER: &str = "https://iam.example.test";

/// A running IAM with a clock the test moves.
struct Env {
    iam: Iam,
    base: String,
    offset: Arc<AtomicU64>,
}

impl Env {
    fn advance(&self, by: Duration) {
        self.offset.fetch_add(by.as_secs(), Ordering::SeqCst);
    }
}

fn settings() -> OAuthSettings {
    OAuthSettings::default()
        .access_token_ttl(Duration::from_secs(300))
        .refresh_idle_ttl(Duration::from_secs(3600))
        .refresh_absolute_ttl(Duration::from_secs(4 * 3600))
        .bootstrap_client(BootstrapClient::new(
            CLI,
            CLI_SECRET,
            ["movies:read", "movies:write"],
        ))
}

async fn start_with(configure: impl FnOnce(IamBuilder) -> IamBuilder) -> Env {
    let offset = Arc::new(AtomicU64::new(0));
    let clock_offset = Arc::clone(&offset);
    let builder = fast_builder()
        .issuer(ISSUER)
        .oauth(settings())
        .clock(move || {
            SystemTime::now() + Duration::from_secs(clock_offset.load(Ordering::SeqCst))
        });
    let iam = configure(builder).build().await.expect("build the IAM");
    let base = serve(iam.router()).await;
    Env { iam, base, offset }
}

async fn start() -> Env {
    start_with(|b| b).await
}

struct Reply {
    status: u16,
    body: Value,
    headers: HeaderMap,
}

async fn post_form(url: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
    let mut request = client().post(url).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Reply {
        status,
        body,
        headers,
    }
}

async fn token_request(env: &Env, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
    post_form(&format!("{}/oauth2/token", env.base), form, basic).await
}

/// The claims of a JWT, read without checking it (the tests check the IAM's answer).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn assert_error(reply: &Reply, status: u16, error: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error"], error, "{}", reply.body);
    assert_eq!(reply.headers["cache-control"], "no-store");
    // The family's own error model rides along.
    assert!(reply.body["code"].is_i64(), "{}", reply.body);
    assert_eq!(reply.body["message"], reply.body["error_description"]);
}

/// A password-grant login of the admin through the bootstrap client.
async fn password_login(env: &Env, scope: Option<&str>) -> Reply {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", "admin"),
        ("password", ADMIN_PASSWORD),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    token_request(env, &form, Some((CLI, CLI_SECRET))).await
}

async fn refresh(env: &Env, refresh_token: &str, scope: Option<&str>) -> Reply {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    token_request(env, &form, Some((CLI, CLI_SECRET))).await
}

fn refresh_token_of(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
}

/// Registers a client allowed only `client_credentials` and `read`.
async fn reader_client(env: &Env) -> (String, String) {
    let (client, secret) = env
        .iam
        .register_client(NewClient {
            id: Some("reader".to_owned()),
            name: "Reader".to_owned(),
            scopes: vec!["read".to_owned()],
            grant_types: vec![GrantType::ClientCredentials],
            access_token_ttl: Some(Duration::from_secs(60)),
        })
        .await
        .unwrap();
    (client.id, secret.0)
}

#[tokio::test]
async fn client_credentials_works_with_basic_and_post_and_carries_client_and_scope() {
    let env = start().await;
    let (id, secret) = reader_client(&env).await;
    for reply in [
        token_request(
            &env,
            &[("grant_type", "client_credentials")],
            Some((&id, &secret)),
        )
        .await,
        token_request(
            &env,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
            None,
        )
        .await,
    ] {
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.headers["cache-control"], "no-store");
        assert_eq!(reply.headers["pragma"], "no-cache");
        assert_eq!(reply.body["token_type"], "Bearer");
        assert_eq!(reply.body["expires_in"], 60);
        assert_eq!(reply.body["scope"], "read");
        assert!(reply.body.get("refresh_token").is_none(), "RFC 6749 4.4.3");
        let claims = claims(reply.body["access_token"].as_str().unwrap());
        assert_eq!(claims["sub"], "reader");
        assert_eq!(claims["client_id"], "reader");
        assert_eq!(claims["scope"], "read");
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            60
        );
    }
    // The access token is accepted by the IAM's own guard.
    let reply = token_request(
        &env,
        &[("grant_type", "client_credentials")],
        Some((&id, &secret)),
    )
    .await;
    let access = reply.body["access_token"].as_str().unwrap();
    assert!(env.iam.guard().verify::<()>(access).await.is_ok());
}

#[tokio::test]
async fn every_section_5_2_error_is_answered_as_the_rfc_says() {
    let env = start().await;
    let (reader, reader_secret) = reader_client(&env).await;
    let cli = Some((CLI, CLI_SECRET));
    let url = format!("{}/oauth2/token", env.base);

    // invalid_request: a missing grant_type, a repeated parameter, two methods, not a form.
    assert_error(
        &token_request(&env, &[("scope", "read")], cli).await,
        400,
        "invalid_request",
    );
    let repeated = client()
        .post(&url)
        .basic_auth(CLI, Some(CLI_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=password")
        .send()
        .await
        .unwrap();
    assert_eq!(repeated.status(), 400);
    assert_eq!(
        repeated.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let both = token_request(
        &env,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLI),
            ("client_secret", CLI_SECRET),
        ],
        cli,
    )
    .await;
    assert_error(&both, 400, "invalid_request");
    let as_json = client()
        .post(&url)
        .json(&json!({"grant_type": "client_credentials"}))
        .basic_auth(CLI, Some(CLI_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(as_json.status(), 400);
    assert_eq!(
        as_json.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let missing_password = token_request(
        &env,
        &[("grant_type", "password"), ("username", "admin")],
        cli,
    )
    .await;
    assert_error(&missing_password, 400, "invalid_request");

    // invalid_client: 401 with a Basic challenge; unknown client and wrong secret alike.
    let unknown = token_request(
        &env,
        &[("grant_type", "client_credentials")],
        Some(("ghost", CLI_SECRET)),
    )
    .await;
    let wrong = token_request(
        &env,
        &[("grant_type", "client_credentials")],
        Some((CLI, "wrong secret")),
    )
    .await;
    let wrong_post = token_request(
        &env,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLI),
            ("client_secret", "wrong"),
        ],
        None,
    )
    .await;
    let none = token_request(&env, &[("grant_type", "client_credentials")], None).await;
    for reply in [&unknown, &wrong, &wrong_post, &none] {
        assert_error(reply, 401, "invalid_client");
        assert!(
            reply.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic ")
        );
    }
    assert_eq!(
        unknown.body, wrong.body,
        "an unknown client and a wrong secret look alike"
    );

    // invalid_grant: a wrong password, an unknown refresh token.
    let bad_password = token_request(
        &env,
        &[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "not it"),
        ],
        cli,
    )
    .await;
    assert_error(&bad_password, 400, "invalid_grant");
    let unknown_user = token_request(
        &env,
        &[
            ("grant_type", "password"),
            ("username", "nobody"),
            ("password", "not it"),
        ],
        cli,
    )
    .await;
    assert_eq!(unknown_user.body, bad_password.body);
    assert_error(&refresh(&env, "made-up", None).await, 400, "invalid_grant");

    // unauthorized_client: the reader may not use the password grant.
    let not_allowed = token_request(
        &env,
        &[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
        ],
        Some((&reader, &reader_secret)),
    )
    .await;
    assert_error(&not_allowed, 400, "unauthorized_client");

    // unsupported_grant_type.
    let code = token_request(
        &env,
        &[("grant_type", "authorization_code"), ("code", "x")],
        cli,
    )
    .await;
    assert_error(&code, 400, "unsupported_grant_type");

    // invalid_scope: beyond the client's scopes, or malformed.
    for scope in ["movies:read admin", "movies\\read"] {
        let reply = token_request(
            &env,
            &[("grant_type", "client_credentials"), ("scope", scope)],
            cli,
        )
        .await;
        assert_error(&reply, 400, "invalid_scope");
    }
}

#[tokio::test]
async fn a_disabled_client_cannot_authenticate_and_loses_its_refresh_tokens() {
    let env = start().await;
    let refresh_token = refresh_token_of(&password_login(&env, None).await);
    env.iam.disable_client(CLI).await.unwrap();
    let reply = token_request(
        &env,
        &[("grant_type", "client_credentials")],
        Some((CLI, CLI_SECRET)),
    )
    .await;
    assert_error(&reply, 401, "invalid_client");
    // Enabled again, it finds its refresh tokens revoked.
    env.iam
        .oauth_store()
        .update_client(
            CLI,
            ClientUpdate {
                disabled: Some(false),
                ..ClientUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_error(
        &refresh(&env, &refresh_token, None).await,
        400,
        "invalid_grant",
    );
}

#[tokio::test]
async fn the_password_grant_gives_a_refresh_token_that_rotates_on_every_use() {
    let env = start().await;
    let login = password_login(&env, None).await;
    let first = refresh_token_of(&login);
    assert_eq!(login.body["scope"], "movies:read movies:write");
    let user_claims = claims(login.body["access_token"].as_str().unwrap());
    assert_eq!(user_claims["name"], "admin");
    assert_eq!(user_claims["roles"], json!(["admin"]));
    assert_eq!(user_claims["client_id"], CLI);
    assert_eq!(first.len(), 43, "256 bits, base64url");

    let second = refresh(&env, &first, None).await;
    let second_token = refresh_token_of(&second);
    assert_ne!(second_token, first);
    assert_eq!(second.headers["cache-control"], "no-store");
    assert_eq!(
        claims(second.body["access_token"].as_str().unwrap())["sub"],
        user_claims["sub"]
    );
    let third = refresh_token_of(&refresh(&env, &second_token, None).await);
    assert_ne!(third, second_token);
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_its_whole_family() {
    let env = start().await;
    let first = refresh_token_of(&password_login(&env, None).await);
    let other_family = refresh_token_of(&password_login(&env, None).await);
    let second = refresh_token_of(&refresh(&env, &first, None).await);
    // The first token again: a reuse.
    assert_error(&refresh(&env, &first, None).await, 400, "invalid_grant");
    // Its family is dead, the newest token included; another family lives on.
    assert_error(&refresh(&env, &second, None).await, 400, "invalid_grant");
    assert_eq!(refresh(&env, &other_family, None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uses_of_one_refresh_token_let_exactly_one_win() {
    let env = Arc::new(start().await);
    let token = refresh_token_of(&password_login(&env, None).await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (env, token) = (Arc::clone(&env), token.clone());
        tasks.push(tokio::spawn(
            async move { refresh(&env, &token, None).await },
        ));
    }
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
    // The losers' uses are reuses: the family is over, whatever the winner was given.
    let winner = replies.iter().find(|r| r.status == 200).unwrap();
    if let Some(rotated) = winner.body["refresh_token"].as_str() {
        assert_error(&refresh(&env, rotated, None).await, 400, "invalid_grant");
    }
}

#[tokio::test]
async fn refresh_tokens_expire_when_idle_and_at_the_family_s_absolute_end() {
    let env = start().await;
    // Idle: 1 hour without use.
    let idle = refresh_token_of(&password_login(&env, None).await);
    env.advance(Duration::from_secs(3601));
    assert_error(&refresh(&env, &idle, None).await, 400, "invalid_grant");

    // Absolute: 4 hours from the first token, however often it is rotated.
    let mut current = refresh_token_of(&password_login(&env, None).await);
    for _ in 0..3 {
        env.advance(Duration::from_secs(50 * 60));
        current = refresh_token_of(&refresh(&env, &current, None).await);
    }
    env.advance(Duration::from_secs(50 * 60)); // 3 h 20 min: still inside.
    current = refresh_token_of(&refresh(&env, &current, None).await);
    env.advance(Duration::from_secs(41 * 60)); // 4 h 1 min: past the absolute end.
    assert_error(&refresh(&env, &current, None).await, 400, "invalid_grant");
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let env = start().await;
    let narrowed_login = password_login(&env, Some("movies:read")).await;
    assert_eq!(narrowed_login.body["scope"], "movies:read");
    let narrow = refresh_token_of(&narrowed_login);
    assert_error(
        &refresh(&env, &narrow, Some("movies:write")).await,
        400,
        "invalid_scope",
    );

    let full = refresh_token_of(&password_login(&env, None).await);
    let narrowed = refresh(&env, &full, Some("movies:read")).await;
    assert_eq!(narrowed.body["scope"], "movies:read");
    assert_eq!(
        claims(narrowed.body["access_token"].as_str().unwrap())["scope"],
        "movies:read"
    );
    // The new refresh token keeps the original grant (RFC 6749 section 6).
    let again = refresh(&env, &refresh_token_of(&narrowed), None).await;
    assert_eq!(again.body["scope"], "movies:read movies:write");
}

#[tokio::test]
async fn another_client_cannot_use_or_burn_a_refresh_token() {
    let env = start().await;
    let token = refresh_token_of(&password_login(&env, None).await);
    let (_, secret) = env
        .iam
        .register_client(NewClient {
            id: Some("other".to_owned()),
            name: "Other".to_owned(),
            scopes: vec!["movies:read".to_owned()],
            grant_types: vec![GrantType::RefreshToken],
            access_token_ttl: None,
        })
        .await
        .unwrap();
    let stolen = token_request(
        &env,
        &[("grant_type", "refresh_token"), ("refresh_token", &token)],
        Some(("other", &secret.0)),
    )
    .await;
    assert_error(&stolen, 400, "invalid_grant");
    // Revoking it is refused too (RFC 7009 section 2.1), and changes nothing.
    let revoke = format!("{}/oauth2/revoke", env.base);
    let reply = post_form(&revoke, &[("token", &token)], Some(("other", &secret.0))).await;
    assert_error(&reply, 400, "unauthorized_client");
    // An unknown token is still answered 200 (RFC 7009 section 2.2).
    let reply = post_form(
        &revoke,
        &[("token", "not a token")],
        Some(("other", &secret.0)),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        refresh(&env, &token, None).await.status,
        200,
        "still usable by its client"
    );
}

#[tokio::test]
async fn revocation_answers_200_and_kills_the_family() {
    let env = start().await;
    let revoke = format!("{}/oauth2/revoke", env.base);
    let first = refresh_token_of(&password_login(&env, None).await);
    let second = refresh_token_of(&refresh(&env, &first, None).await);
    let reply = post_form(&revoke, &[("token", &second)], Some((CLI, CLI_SECRET))).await;
    assert_eq!(reply.status, 200);
    assert_error(&refresh(&env, &second, None).await, 400, "invalid_grant");
    // Unknown tokens and access tokens: 200 too (RFC 7009 section 2.2).
    for token in ["not a token", "a.b.c"] {
        let reply = post_form(&revoke, &[("token", token)], Some((CLI, CLI_SECRET))).await;
        assert_eq!(reply.status, 200);
    }
    // Without client authentication: 401.
    let reply = post_form(&revoke, &[("token", &second)], None).await;
    assert_error(&reply, 401, "invalid_client");
    let reply = post_form(&revoke, &[], Some((CLI, CLI_SECRET))).await;
    assert_error(&reply, 400, "invalid_request");
}

#[tokio::test]
async fn introspection_reports_active_tokens_and_nothing_else() {
    let env = start().await;
    let introspect = format!("{}/oauth2/introspect", env.base);
    let (reader, reader_secret) = reader_client(&env).await;
    let login = password_login(&env, None).await;
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let refresh_token = refresh_token_of(&login);

    let reply = post_form(
        &introspect,
        &[("token", &access)],
        Some((&reader, &reader_secret)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["active"], true);
    assert_eq!(reply.body["client_id"], CLI);
    assert_eq!(reply.body["username"], "admin");
    assert_eq!(reply.body["scope"], "movies:read movies:write");
    assert_eq!(reply.body["iss"], ISSUER);

    let reply = post_form(
        &introspect,
        &[
            ("token", &refresh_token),
            ("token_type_hint", "refresh_token"),
        ],
        Some((CLI, CLI_SECRET)),
    )
    .await;
    assert_eq!(reply.body["active"], true, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "refresh_token");
    // Another client learns nothing about it.
    let reply = post_form(
        &introspect,
        &[("token", &refresh_token)],
        Some((&reader, &reader_secret)),
    )
    .await;
    assert_eq!(reply.body, json!({"active": false}));
    for token in ["garbage", "a.b.c"] {
        let reply = post_form(&introspect, &[("token", token)], Some((CLI, CLI_SECRET))).await;
        assert_eq!(reply.body, json!({"active": false}));
    }
    // Expired access token: inactive.
    env.advance(Duration::from_secs(301 + 60));
    let reply = post_form(&introspect, &[("token", &access)], Some((CLI, CLI_SECRET))).await;
    assert_eq!(reply.body, json!({"active": false}));
    // Unauthenticated: 401.
    let reply = post_form(&introspect, &[("token", &access)], None).await;
    assert_error(&reply, 401, "invalid_client");
}

#[tokio::test]
async fn deleting_a_user_or_changing_their_role_or_password_revokes_their_refresh_tokens() {
    let env = start().await;
    let admin = token(&env.base, "admin", ADMIN_PASSWORD).await;
    let users = format!("{}/api/v1/users", env.base);
    let login_as = |name: &'static str| {
        let env = &env;
        async move {
            token_request(
                env,
                &[
                    ("grant_type", "password"),
                    ("username", name),
                    ("password", "a long password 1"),
                ],
                Some((CLI, CLI_SECRET)),
            )
            .await
        }
    };
    let mut ids = Vec::new();
    for name in ["erin", "frank", "grace"] {
        let reply = client()
            .post(&users)
            .bearer_auth(&admin)
            .json(&json!({"name": name, "password": "a long password 1", "roles": ["viewer"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        ids.push(
            reply.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let erin = refresh_token_of(&login_as("erin").await);
    let frank = refresh_token_of(&login_as("frank").await);
    let grace = refresh_token_of(&login_as("grace").await);
    let untouched = refresh_token_of(&password_login(&env, None).await);

    let patch = |body: Value| {
        let (users, admin) = (users.clone(), admin.clone());
        async move {
            let reply = client()
                .patch(&users)
                .bearer_auth(&admin)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200);
        }
    };
    patch(json!({"id": ids[0], "roles": ["editor"]})).await;
    patch(json!({"id": ids[1], "password": "another long password"})).await;
    let deleted = client()
        .delete(format!("{users}/{}", ids[2]))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    for token in [&erin, &frank, &grace] {
        assert_error(&refresh(&env, token, None).await, 400, "invalid_grant");
    }
    assert_eq!(refresh(&env, &untouched, None).await.status, 200);
}

#[tokio::test]
async fn metadata_names_exactly_the_issuer_and_the_endpoints() {
    let env = start().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let body: Value = client()
            .get(format!("{}{path}", env.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["issuer"], ISSUER, "{path}");
        assert_eq!(body["token_endpoint"], format!("{ISSUER}/oauth2/token"));
        assert_eq!(
            body["revocation_endpoint"],
            format!("{ISSUER}/oauth2/revoke")
        );
        assert_eq!(
            body["introspection_endpoint"],
            format!("{ISSUER}/oauth2/introspect")
        );
        assert_eq!(body["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
        assert_eq!(
            body["grant_types_supported"],
            json!(["client_credentials", "password", "refresh_token"])
        );
        assert_eq!(
            body["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post"])
        );
        assert_eq!(
            body["scopes_supported"],
            json!(["movies:read", "movies:write"])
        );
        assert_eq!(body["response_types_supported"], json!([]));
    }
}

#[tokio::test]
async fn an_issuer_that_is_not_a_url_publishes_no_metadata() {
    let env = start_with(|b| b.issuer("seedotech")).await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let response = client()
            .get(format!("{}{path}", env.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    // The token endpoint works all the same.
    let reply = token_request(
        &env,
        &[("grant_type", "client_credentials")],
        Some((CLI, CLI_SECRET)),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        claims(reply.body["access_token"].as_str().unwrap())["iss"],
        "seedotech"
    );
}

#[tokio::test]
async fn admins_create_list_disable_and_rotate_clients() {
    let env = start().await;
    let admin = token(&env.base, "admin", ADMIN_PASSWORD).await;
    let clients = format!("{}/api/v1/oauth/clients", env.base);
    let created = client()
        .post(&clients)
        .bearer_auth(&admin)
        .json(&json!({"clientId": "billing", "name": "Billing", "scopes": ["invoices"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let created: Value = created.json().await.unwrap();
    let secret = created["clientSecret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43);
    assert_eq!(created["grantTypes"], json!(["client_credentials"]));
    let cc = [("grant_type", "client_credentials")];
    assert_eq!(
        token_request(&env, &cc, Some(("billing", &secret)))
            .await
            .status,
        200
    );

    let duplicate = client()
        .post(&clients)
        .bearer_auth(&admin)
        .json(&json!({"clientId": "billing", "name": "Again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 409);

    let listed = client()
        .get(&clients)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let text = listed.text().await.unwrap();
    assert!(
        !text.contains(&secret) && !text.to_lowercase().contains("secret"),
        "{text}"
    );
    let listed: Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["clientId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["billing", CLI]);

    let rotated: Value = client()
        .post(format!("{clients}/billing/secret"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_secret = rotated["clientSecret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_error(
        &token_request(&env, &cc, Some(("billing", &secret))).await,
        401,
        "invalid_client",
    );
    assert_eq!(
        token_request(&env, &cc, Some(("billing", new_secret)))
            .await
            .status,
        200
    );

    let disabled = client()
        .post(format!("{clients}/billing/disable"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    assert_eq!(disabled.json::<Value>().await.unwrap()["disabled"], true);
    assert_error(
        &token_request(&env, &cc, Some(("billing", new_secret))).await,
        401,
        "invalid_client",
    );
    let missing = client()
        .post(format!("{clients}/nobody/disable"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Without the admin role: 401 without a token, 403 with a client's token.
    assert_eq!(client().get(&clients).send().await.unwrap().status(), 401);
    let client_token = token_request(&env, &cc, Some((CLI, CLI_SECRET))).await;
    let forbidden = client()
        .get(&clients)
        .bearer_auth(client_token.body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
}

#[tokio::test]
async fn failed_client_authentications_are_throttled_per_client() {
    let env = start_with(|b| {
        b.throttle(
            ThrottlePolicy::default()
                .max_failures_per_name(3)
                .max_failures_per_address(1000),
        )
    })
    .await;
    let cc = [("grant_type", "client_credentials")];
    for _ in 0..3 {
        assert_error(
            &token_request(&env, &cc, Some((CLI, "wrong"))).await,
            401,
            "invalid_client",
        );
    }
    let throttled = token_request(&env, &cc, Some((CLI, CLI_SECRET))).await;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert!(throttled.headers.contains_key("retry-after"));
    // Another client is not affected.
    let (reader, secret) = reader_client(&env).await;
    assert_eq!(
        token_request(&env, &cc, Some((&reader, &secret)))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn failed_client_authentications_are_throttled_per_address() {
    let env = start_with(|b| {
        b.throttle(
            ThrottlePolicy::default()
                .max_failures_per_name(1000)
                .max_failures_per_address(2),
        )
    })
    .await;
    let cc = [("grant_type", "client_credentials")];
    assert_error(
        &token_request(&env, &cc, Some(("ghost-1", "x"))).await,
        401,
        "invalid_client",
    );
    assert_error(
        &token_request(&env, &cc, Some(("ghost-2", "x"))).await,
        401,
        "invalid_client",
    );
    assert_eq!(
        token_request(&env, &cc, Some((CLI, CLI_SECRET)))
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn the_login_route_is_unchanged() {
    let env = start().await;
    let (status, body, headers) = common::login_form(&env.base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    let fields: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["token", "tokenType", "expiresIn"]);
    let claims = claims(body["token"].as_str().unwrap());
    assert!(claims.get("client_id").is_none() && claims.get("scope").is_none());
}

#[cfg(feature = "openapi")]
#[tokio::test]
async fn the_openapi_document_offers_the_oauth2_flows_at_the_issuer_s_token_endpoint() {
    let env = start().await;
    let doc = serde_json::to_value(env.iam.openapi()).unwrap();
    let flows = &doc["components"]["securitySchemes"]["oauth2"]["flows"];
    assert_eq!(
        flows["clientCredentials"]["tokenUrl"],
        format!("{ISSUER}/oauth2/token")
    );
    assert!(flows["clientCredentials"]["scopes"]["movies:read"].is_string());
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} is served, so documented"
        );
    }
}

#[tokio::test]
async fn a_client_s_lifetime_never_exceeds_the_iam_s_token_lifetime() {
    let env = start().await;
    let (id, secret) = reader_client(&env).await;
    // Stored under a longer setting (say, before the IAM's lifetime was lowered).
    let store = env.iam.oauth_store();
    let mut stored = store.get_client(&id).await.unwrap().unwrap();
    stored.access_token_ttl = Some(10 * 3600);
    store.put_client(stored).await.unwrap();
    let reply = token_request(
        &env,
        &[("grant_type", "client_credentials")],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(reply.body["expires_in"], 3600, "{}", reply.body);
}
