//! The IAM over real HTTP: login, the guard through the JWKS route, rotation, user routes,
//! concurrency and throttling.

mod common;

use std::time::Duration;

use common::{ADMIN_PASSWORD, client, fast_builder, login_form, start, token};
use portcullis_iam::{ConfigError, SigningKey, ThrottlePolicy};
use portcullis_resource_guard::Guard;
use serde_json::{Value, json};

#[tokio::test]
async fn login_with_a_form_or_json_returns_a_bearer_token() {
    let (_, base) = start(fast_builder()).await;
    let (status, body, headers) = login_form(&base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 3600);
    assert_eq!(body["token"].as_str().unwrap().split('.').count(), 3);
    assert_eq!(headers["cache-control"], "no-store");

    let response = client()
        .post(format!("{base}/api/v1/admin/auth"))
        .json(&json!({"user": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["tokenType"], "Bearer");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_fail_alike() {
    let (_, base) = start(fast_builder()).await;
    let (status, wrong, _) = login_form(&base, "admin", "not the password").await;
    assert_eq!(status, 401);
    let (status, unknown, _) = login_form(&base, "nobody", "not the password").await;
    assert_eq!(status, 401);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["code"], 1014);

    let response = client()
        .post(format!("{base}/api/v1/admin/auth"))
        .header("content-type", "text/plain")
        .body("user=admin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let (status, _, _) = login_form(&base, "", "").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn tokens_verify_with_the_guard_through_the_jwks_route() {
    let (iam, base) = start(fast_builder()).await;
    let response = client()
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let jwks: Value = response.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"], iam.keys().current().kid());
    assert!(
        key.get("d").is_none(),
        "the private key must not be published"
    );

    let token = token(&base, "admin", ADMIN_PASSWORD).await;
    let guard = Guard::builder()
        .issuer("seedotech")
        .audience("movies")
        .jwks_url(format!("{base}/.well-known/jwks.json"))
        .build()
        .await
        .unwrap();
    let claims = guard
        .verify::<()>(&token)
        .await
        .expect("the guard accepts the token");
    assert!(claims.has_role("admin"));
    assert_eq!(claims.name, "admin");

    let other_audience = Guard::builder()
        .issuer("seedotech")
        .audience("billing")
        .jwks_url(format!("{base}/.well-known/jwks.json"))
        .build()
        .await
        .unwrap();
    assert!(other_audience.verify::<()>(&token).await.is_err());
}

#[tokio::test]
async fn rotation_keeps_tokens_of_the_former_key_valid() {
    let (iam, base) = start(fast_builder()).await;
    let old_token = token(&base, "admin", ADMIN_PASSWORD).await;
    let old_kid = iam.keys().current().kid().to_owned();
    iam.rotate_key(SigningKey::generate_ed25519()).unwrap();
    let new_token = token(&base, "admin", ADMIN_PASSWORD).await;
    let new_kid = iam.keys().current().kid().to_owned();
    assert_ne!(old_kid, new_kid);

    let jwks: Value = client()
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![new_kid.as_str(), old_kid.as_str()]);

    let guard = Guard::builder()
        .issuer("seedotech")
        .audience("movies")
        .jwks_url(format!("{base}/.well-known/jwks.json"))
        .build()
        .await
        .unwrap();
    guard.verify::<()>(&old_token).await.expect("old token");
    guard.verify::<()>(&new_token).await.expect("new token");
    // And the IAM's own routes accept both (in-process key source).
    for token in [&old_token, &new_token] {
        let status = client()
            .get(format!("{base}/api/v1/users/list"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn user_routes_need_a_token_with_the_admin_role() {
    let (_, base) = start(fast_builder()).await;
    let http = client();
    let admin = token(&base, "admin", ADMIN_PASSWORD).await;
    let users = format!("{base}/api/v1/users");

    // No token: 401 with a challenge.
    let response = http.get(format!("{users}/list")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let response = http
        .post(&users)
        .json(&json!({"name": "x", "password": "long enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = http
        .get(format!("{users}/list"))
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // Admin creates a plain user.
    let created: Value = http
        .post(&users)
        .bearer_auth(&admin)
        .json(&json!({"name": "carol", "password": "carol's long password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["message"], "Successfully");
    let carol_id = created["id"].as_str().unwrap().to_owned();

    // The plain user is authenticated but not allowed: 403.
    let carol = token(&base, "carol", "carol's long password").await;
    for request in [
        http.get(format!("{users}/list")),
        http.get(format!("{users}/detail/{carol_id}")),
        http.delete(format!("{users}/{carol_id}")),
        http.patch(&users)
            .json(&json!({"id": carol_id, "roles": ["admin"]})),
    ] {
        let response = request.bearer_auth(&carol).send().await.unwrap();
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], 1007);
    }

    // Admin reads, updates and deletes.
    let list: Value = http
        .get(format!("{users}/list"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["admin", "carol"]);
    for user in list.as_array().unwrap() {
        let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
        assert_eq!(keys, vec!["id", "name", "role", "roles"]);
    }
    let page: Value = http
        .get(format!("{users}/list?offset=1&limit=1"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page[0]["name"], "carol");
    assert_eq!(page.as_array().unwrap().len(), 1);

    let detail: Value = http
        .get(format!("{users}/detail/{carol_id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["name"], "carol");
    assert_eq!(detail["role"], "");
    let by_query: Value = http
        .get(format!("{users}?id={carol_id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_query, detail);

    let response = http
        .patch(&users)
        .bearer_auth(&admin)
        .json(&json!({"id": carol_id, "roles": ["editor"], "password": "a new long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _, _) = login_form(&base, "carol", "carol's long password").await;
    assert_eq!(status, 401);
    let (status, body, _) = login_form(&base, "carol", "a new long password").await;
    assert_eq!(status, 200, "{body}");

    // Client mistakes are 4xx, never 500.
    let status = |response: reqwest::Response| response.status().as_u16();
    let unknown = "0123456789abcdef01234567";
    assert_eq!(
        status(
            http.get(format!("{users}/detail/{unknown}"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
        ),
        404
    );
    assert_eq!(
        status(
            http.get(format!("{users}/detail/not-an-id"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(http.get(&users).bearer_auth(&admin).send().await.unwrap()),
        400
    );
    assert_eq!(
        status(
            http.delete(format!("{users}/not-an-id"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            http.patch(&users)
                .bearer_auth(&admin)
                .json(&json!({"id": unknown, "name": "z"}))
                .send()
                .await
                .unwrap()
        ),
        404
    );
    assert_eq!(
        status(
            http.patch(&users)
                .bearer_auth(&admin)
                .json(&json!({"id": carol_id, "name": "admin"}))
                .send()
                .await
                .unwrap()
        ),
        409
    );
    // Client mistakes on create: a taken name, and the password policy.
    for (expected, body) in [
        (409, json!({"name": "carol", "password": "long enough pw"})),
        (400, json!({"name": "", "password": "long enough pw"})),
        (400, json!({"name": "dave", "password": "short"})),
        (400, json!({"name": "davedave", "password": "davedave"})),
    ] {
        let response = http
            .post(&users)
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(status(response), expected, "{body}");
    }
    assert_eq!(
        status(
            http.post(&users)
                .bearer_auth(&admin)
                .header("content-type", "application/json")
                .body("{not json")
                .send()
                .await
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            http.get(format!("{users}/list?limit=-1"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
        ),
        400
    );

    let response = http
        .delete(format!("{users}/{carol_id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        status(
            http.get(format!("{users}/detail/{carol_id}"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
        ),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_creates_of_one_name_give_one_200_and_49_409() {
    let (_, base) = start(fast_builder()).await;
    let admin = token(&base, "admin", ADMIN_PASSWORD).await;
    let http = client();
    let requests: Vec<_> = (0..50)
        .map(|_| {
            let request = http
                .post(format!("{base}/api/v1/users"))
                .bearer_auth(&admin)
                .json(&json!({"name": "same", "password": "a long enough password"}));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        49,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_wrong_logins_check_exactly_the_limit() {
    let (_, base) = start(
        fast_builder().throttle(
            ThrottlePolicy::default()
                .max_failures_per_name(5)
                .max_failures_per_address(1000)
                .window(Duration::from_secs(600)),
        ),
    )
    .await;
    let attempts: Vec<_> = (0..50)
        .map(|i| {
            let base = base.clone();
            tokio::spawn(
                async move { login_form(&base, "admin", &format!("wrong password {i}")).await },
            )
        })
        .collect();
    let (mut checked, mut throttled) = (0, 0);
    for attempt in attempts {
        let (status, body, headers) = attempt.await.unwrap();
        match status {
            401 => checked += 1,
            429 => {
                throttled += 1;
                assert_eq!(body["code"], 1010);
                let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=600).contains(&retry), "{retry}");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((checked, throttled), (5, 45));
    // Now even the right password is refused for this name, but not for others.
    let (status, _, _) = login_form(&base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, 429);
    let (status, _, _) = login_form(&base, "someone", "whatever pw").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn one_client_address_is_throttled_across_names() {
    let (_, base) = start(
        fast_builder().throttle(
            ThrottlePolicy::default()
                .max_failures_per_name(100)
                .max_failures_per_address(3),
        ),
    )
    .await;
    for name in ["a", "b", "c"] {
        let (status, _, _) = login_form(&base, name, "wrong password").await;
        assert_eq!(status, 401);
    }
    let (status, _, headers) = login_form(&base, "d", "wrong password").await;
    assert_eq!(status, 429);
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn hs256_mode_signs_with_the_shared_secret_and_publishes_no_key() {
    let secret = b"a shared secret of at least 32 bytes!";
    let (_, base) = start(fast_builder().signing_key(SigningKey::hmac(secret).unwrap())).await;
    let jwks: Value = client()
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks, json!({"keys": []}));
    let token = token(&base, "admin", ADMIN_PASSWORD).await;
    let guard = Guard::builder()
        .issuer("seedotech")
        .audience("movies")
        .hmac_secret(secret)
        .build()
        .await
        .unwrap();
    let claims = guard.verify::<()>(&token).await.unwrap();
    assert_eq!(claims.role, "admin");
    let status = client()
        .get(format!("{base}/api/v1/users/list"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[test]
fn an_hs256_secret_under_32_bytes_is_a_config_error() {
    let err = SigningKey::hmac("secret").unwrap_err();
    assert!(matches!(err, ConfigError::Key(_)), "{err:?}");
}

#[tokio::test]
async fn the_short_secret_opt_out_still_signs() {
    // The IAM checks its own tokens with the guard built from the same secret.
    let key = SigningKey::hmac_allow_short_secret_dangerous("secret");
    let (_, base) = start(fast_builder().signing_key(key)).await;
    let (status, body, _) = login_form(&base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_correct_logins_all_get_200() {
    let (_, base) = start(fast_builder()).await;
    let logins: Vec<_> = (0..16)
        .map(|_| {
            let base = base.clone();
            tokio::spawn(async move { login_form(&base, "admin", ADMIN_PASSWORD).await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for login in logins {
        statuses.push(login.await.unwrap());
    }
    assert_eq!(statuses, vec![200; 16]);
}

/// Logs in with a form body as if a proxy had forwarded it for `client_address`.
async fn login_forwarded(base: &str, forwarded_for: &str, user: &str, password: &str) -> u16 {
    client()
        .post(format!("{base}/api/v1/admin/auth"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[("user", user), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn per_address_limit_of_3() -> ThrottlePolicy {
    ThrottlePolicy::default()
        .max_failures_per_name(100)
        .max_failures_per_address(3)
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_attacker_is_throttled_and_the_victim_is_not() {
    // The test client stands in for the proxy on 127.0.0.1 and appends the client address.
    let (_, base) = start(
        fast_builder()
            .throttle(per_address_limit_of_3().trusted_proxies(["127.0.0.0/8".parse().unwrap()])),
    )
    .await;
    let attacker = "1.1.1.1, 198.51.100.66";
    for name in ["a", "b", "c"] {
        assert_eq!(
            login_forwarded(&base, attacker, name, "wrong pw!").await,
            401
        );
    }
    assert_eq!(
        login_forwarded(&base, attacker, "d", "wrong pw!").await,
        429
    );
    let victim = "198.51.100.77";
    assert_eq!(
        login_forwarded(&base, victim, "admin", ADMIN_PASSWORD).await,
        200
    );
}

#[tokio::test]
async fn an_untrusted_peers_x_forwarded_for_is_ignored() {
    let (_, base) = start(
        fast_builder()
            .throttle(per_address_limit_of_3().trusted_proxies(["10.0.0.0/8".parse().unwrap()])),
    )
    .await;
    // A client that forges a fresh address on every try is still one client.
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let forged = format!("203.0.113.{i}");
        assert_eq!(
            login_forwarded(&base, &forged, name, "wrong pw!").await,
            401
        );
    }
    assert_eq!(
        login_forwarded(&base, "203.0.113.200", "d", "wrong pw!").await,
        429
    );
}

#[tokio::test]
async fn ipv6_clients_in_one_slash_64_share_a_bucket() {
    let (_, base) = start(
        fast_builder()
            .throttle(per_address_limit_of_3().trusted_proxies(["127.0.0.1".parse().unwrap()])),
    )
    .await;
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let address = format!("2001:db8:aaaa:1::{i:x}");
        assert_eq!(
            login_forwarded(&base, &address, name, "wrong pw!").await,
            401
        );
    }
    assert_eq!(
        login_forwarded(&base, "2001:db8:aaaa:1:ffff::9", "d", "wrong pw!").await,
        429
    );
    assert_eq!(
        login_forwarded(&base, "2001:db8:aaaa:2::1", "admin", ADMIN_PASSWORD).await,
        200
    );
}

#[tokio::test]
async fn control_characters_in_a_name_get_400_at_login_and_creation() {
    let (_, base) = start(fast_builder()).await;
    for name in [
        "ad\nmin",
        "admin\r",
        "ad\u{1b}min",
        "ad\u{7f}min",
        "admin\n",
    ] {
        let (status, body, _) = login_form(&base, name, ADMIN_PASSWORD).await;
        assert_eq!(status, 400, "{name:?}: {body}");
        assert_eq!(body["code"], 1001, "{body}");
    }
    let admin = token(&base, "admin", ADMIN_PASSWORD).await;
    for name in ["eve\n", "e\rve", "e\u{0}ve", "eve\u{7f}"] {
        let response = client()
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(&admin)
            .json(&json!({"name": name, "password": "a long enough password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{name:?}");
    }
}

#[tokio::test]
async fn the_last_admin_cannot_be_deleted_or_demoted() {
    let (iam, base) = start(fast_builder()).await;
    let admin = token(&base, "admin", ADMIN_PASSWORD).await;
    let admin_id = iam.store().find_by_name("admin").await.unwrap().unwrap().id;
    let http = client();
    let demote = |id: String| {
        http.patch(format!("{base}/api/v1/users"))
            .bearer_auth(&admin)
            .json(&json!({"id": id, "roles": ["viewer"]}))
            .send()
    };
    let response = demote(admin_id.clone()).await.unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 1009, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("last admin"),
        "{body}"
    );
    let response = http
        .delete(format!("{base}/api/v1/users/{admin_id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);

    // With a second admin, the first may step down.
    let created: Value = http
        .post(format!("{base}/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"name": "second", "password": "a long enough password", "roles": ["admin"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(created["id"].is_string(), "{created}");
    assert_eq!(demote(admin_id).await.unwrap().status().as_u16(), 200);
}

#[tokio::test]
async fn login_reads_a_multipart_form_as_curl_dash_f_sends_it() {
    let (_, base) = start(fast_builder()).await;
    let boundary = "portcullis-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nadmin\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n{ADMIN_PASSWORD}\r\n\
         --{boundary}--\r\n"
    );
    let response = client()
        .post(format!("{base}/api/v1/admin/auth"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["tokenType"], "Bearer");
}

#[tokio::test]
async fn a_json_array_is_not_taken_for_the_documented_object() {
    let (iam, base) = start(fast_builder()).await;
    let admin = token(&base, "admin", ADMIN_PASSWORD).await;
    let response = client()
        .post(format!("{base}/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!(["arrayuser", "correct horse battery staple"]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(
        iam.store()
            .find_by_name("arrayuser")
            .await
            .unwrap()
            .is_none(),
        "no user may be created from an array"
    );

    let response = client()
        .post(format!("{base}/api/v1/admin/auth"))
        .json(&json!(["admin", ADMIN_PASSWORD]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
}

#[tokio::test]
async fn role_and_roles_together_get_400_and_change_nothing() {
    let (iam, base) = start(fast_builder()).await;
    let admin = token(&base, "admin", ADMIN_PASSWORD).await;
    let http = client();
    // A bad `role` beside good `roles` was once ignored: now the pair is refused, whatever
    // the values.
    for body in [
        json!({"name": "dora", "password": "a long enough password", "roles": ["editor"], "role": "bad role\n"}),
        json!({"name": "dora", "password": "a long enough password", "roles": ["editor"], "role": "editor"}),
    ] {
        let response = http
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{body}");
        let reply: Value = response.json().await.unwrap();
        assert_eq!(reply["code"], 1001, "{reply}");
    }
    assert!(iam.store().find_by_name("dora").await.unwrap().is_none());

    let admin_id = iam.store().find_by_name("admin").await.unwrap().unwrap().id;
    let response = http
        .patch(format!("{base}/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"id": admin_id, "roles": ["admin"], "role": " "}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    // Either one alone is still accepted.
    for body in [
        json!({"name": "erin", "password": "a long enough password", "roles": ["editor"]}),
        json!({"name": "finn", "password": "a long enough password", "role": "editor"}),
    ] {
        let response = http
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{body}");
    }
}
