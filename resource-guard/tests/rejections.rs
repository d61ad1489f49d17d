//! Every rejection the guard promises, over its axum layer, with status, challenge and body.

mod support;

use http::StatusCode;
use portcullis_resource_guard::jsonwebtoken::{Algorithm, EncodingKey};
use portcullis_resource_guard::{Guard, TypPolicy};
use serde_json::json;
use support::*;

async fn hmac_guard() -> Guard {
    Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret(SECRET)
        .build()
        .await
        .unwrap()
}

/// Static public keys, each with a kid, plus PS256 on the RSA key.
async fn public_guard() -> Guard {
    Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .public_key_pem_with_kid(Algorithm::EdDSA, ED25519_PUB, "ed")
        .public_key_pem_with_kid(Algorithm::ES256, EC_PUB, "ec")
        .public_key_pem_with_kid(Algorithm::RS256, RSA_PUB, "rsa")
        .public_key_pem_with_kid(Algorithm::PS256, RSA_PUB, "rsa-pss")
        .build()
        .await
        .unwrap()
}

async fn rejected(guard: &Guard, token: &str, description: &str) {
    let reply = call_with(&app(guard), "/me", token).await;
    assert_invalid_token(&reply, description);
}

async fn accepted(guard: &Guard, token: &str) -> serde_json::Value {
    let reply = call_with(&app(guard), "/me", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()
}

#[tokio::test]
async fn valid_tokens_of_every_algorithm_are_accepted() {
    let claims = iam_claims();
    let guard = hmac_guard().await;
    let me = accepted(
        &guard,
        &sign(Algorithm::HS256, header("HS256", None), &claims),
    )
    .await;
    assert_eq!(me["name"], "ann");
    assert_eq!(me["sub"], "656f0c7e9b1e8a0012345678");
    assert_eq!(me["aud"], json!(["movies"]));

    let guard = public_guard().await;
    for (alg, name, kid) in [
        (Algorithm::EdDSA, "EdDSA", "ed"),
        (Algorithm::ES256, "ES256", "ec"),
        (Algorithm::RS256, "RS256", "rsa"),
        (Algorithm::PS256, "PS256", "rsa-pss"),
    ] {
        let me = accepted(&guard, &sign(alg, header(name, Some(kid)), &claims)).await;
        assert_eq!(me["roles"], json!(["admin", "editor"]), "{name}");
    }
}

#[tokio::test]
async fn hs384_and_hs512_secrets_are_bound_to_their_algorithm() {
    let guard = Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret_with(Algorithm::HS512, SECRET)
        .build()
        .await
        .unwrap();
    accepted(
        &guard,
        &sign(Algorithm::HS512, header("HS512", None), &iam_claims()),
    )
    .await;
    rejected(
        &guard,
        &sign(Algorithm::HS256, header("HS256", None), &iam_claims()),
        "The token algorithm does not match its key",
    )
    .await;
}

#[tokio::test]
async fn alg_none_in_any_spelling_is_rejected() {
    let guard = hmac_guard().await;
    let payload = b64(iam_claims().to_string().as_bytes());
    for none in ["none", "None", "NONE", "nOnE"] {
        let head = b64(json!({ "alg": none, "typ": "JWT" }).to_string().as_bytes());
        // The classic unsigned form: an empty signature.
        rejected(
            &guard,
            &format!("{head}.{payload}."),
            "The token is malformed",
        )
        .await;
        // With some signature attached, the algorithm itself is refused.
        let signed = sign_raw(
            &json!({ "alg": none }).to_string(),
            &iam_claims().to_string(),
            &EncodingKey::from_secret(SECRET),
            Algorithm::HS256,
        );
        rejected(&guard, &signed, "The token algorithm is not supported").await;
    }
}

#[tokio::test]
async fn hs256_signed_with_a_public_key_as_secret_is_rejected() {
    let guard = public_guard().await;
    for (public_pem, kid) in [(RSA_PUB, "rsa"), (EC_PUB, "ec"), (ED25519_PUB, "ed")] {
        let forged_key = EncodingKey::from_secret(public_pem.as_bytes());
        let claims = iam_claims().to_string();
        let with_kid = sign_raw(
            &header("HS256", Some(kid)).to_string(),
            &claims,
            &forged_key,
            Algorithm::HS256,
        );
        rejected(
            &guard,
            &with_kid,
            "The token algorithm does not match its key",
        )
        .await;
        let without_kid = sign_raw(
            &header("HS256", None).to_string(),
            &claims,
            &forged_key,
            Algorithm::HS256,
        );
        rejected(
            &guard,
            &without_kid,
            "The token algorithm does not match its key",
        )
        .await;
    }
}

#[tokio::test]
async fn a_wrong_signature_is_rejected() {
    let guard = public_guard().await;
    let other_key = EncodingKey::from_ed_pem(ED25519_B.as_bytes()).unwrap();
    let token = sign_raw(
        &header("EdDSA", Some("ed")).to_string(),
        &iam_claims().to_string(),
        &other_key,
        Algorithm::EdDSA,
    );
    rejected(&guard, &token, "The token signature is invalid").await;

    let guard = hmac_guard().await;
    let token = sign_raw(
        &header("HS256", None).to_string(),
        &iam_claims().to_string(),
        &EncodingKey::from_secret(b"another secret, also long enough!!"),
        Algorithm::HS256,
    );
    rejected(&guard, &token, "The token signature is invalid").await;
}

#[tokio::test]
async fn a_tampered_payload_is_rejected() {
    let guard = public_guard().await;
    for (alg, name, kid) in [
        (Algorithm::EdDSA, "EdDSA", "ed"),
        (Algorithm::ES256, "ES256", "ec"),
        (Algorithm::RS256, "RS256", "rsa"),
    ] {
        let mut claims = iam_claims();
        claims["role"] = "".into();
        claims["roles"] = json!([]);
        let token = sign(alg, header(name, Some(kid)), &claims);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        claims["role"] = "admin".into();
        parts[1] = b64(claims.to_string().as_bytes());
        rejected(&guard, &parts.join("."), "The token signature is invalid").await;
    }
}

#[tokio::test]
async fn expired_tokens_are_rejected_after_the_leeway() {
    let guard = hmac_guard().await;
    let mut claims = iam_claims();
    claims["exp"] = (now() - 3600).into();
    let reply = call_with(
        &app(&guard),
        "/me",
        &sign(Algorithm::HS256, header("HS256", None), &claims),
    )
    .await;
    assert_invalid_token(&reply, "The token has expired");
    assert_eq!(reply.error().code, 1006);

    // Within the default 60 s leeway the token still passes.
    claims["exp"] = (now() - 30).into();
    accepted(
        &guard,
        &sign(Algorithm::HS256, header("HS256", None), &claims),
    )
    .await;
}

#[tokio::test]
async fn nbf_and_iat_in_the_future_are_rejected() {
    let guard = hmac_guard().await;
    let mut claims = iam_claims();
    claims["nbf"] = (now() + 3600).into();
    rejected(
        &guard,
        &sign(Algorithm::HS256, header("HS256", None), &claims),
        "The token is not valid yet",
    )
    .await;
    let mut claims = iam_claims();
    claims["iat"] = (now() + 3600).into();
    rejected(
        &guard,
        &sign(Algorithm::HS256, header("HS256", None), &claims),
        "The token is issued in the future",
    )
    .await;
    let mut claims = iam_claims();
    claims["nbf"] = (now() + 30).into();
    accepted(
        &guard,
        &sign(Algorithm::HS256, header("HS256", None), &claims),
    )
    .await;
}

#[tokio::test]
async fn the_issuer_must_match_exactly() {
    let guard = hmac_guard().await;
    for iss in [
        json!("seedotech/"),
        json!("SeedoTech"),
        json!("other"),
        json!(["seedotech"]),
    ] {
        let mut claims = iam_claims();
        claims["iss"] = iss.clone();
        let token = sign(Algorithm::HS256, header("HS256", None), &claims);
        let reply = call_with(&app(&guard), "/me", &token).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{iss}");
        assert!(
            reply
                .challenge()
                .starts_with("Bearer error=\"invalid_token\""),
            "{iss}"
        );
    }
    let mut claims = iam_claims();
    claims.as_object_mut().unwrap().remove("iss");
    rejected(
        &guard,
        &sign(Algorithm::HS256, header("HS256", None), &claims),
        "The token issuer is not accepted",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_or_missing_audience_is_rejected() {
    let guard = hmac_guard().await;
    for aud in [
        Some(json!("films")),
        Some(json!(["films", "music"])),
        Some(json!([])),
        None,
    ] {
        let mut claims = iam_claims();
        match &aud {
            Some(aud) => claims["aud"] = aud.clone(),
            None => {
                claims.as_object_mut().unwrap().remove("aud");
            }
        }
        rejected(
            &guard,
            &sign(Algorithm::HS256, header("HS256", None), &claims),
            "The token audience is not accepted",
        )
        .await;
    }
    let mut claims = iam_claims();
    claims["aud"] = json!(["films", "movies"]);
    accepted(
        &guard,
        &sign(Algorithm::HS256, header("HS256", None), &claims),
    )
    .await;

    // A guard without an audience refuses tokens meant for some audience (RFC 7519 4.1.3).
    let no_audience = Guard::builder()
        .issuer(ISSUER)
        .hmac_secret(SECRET)
        .build()
        .await
        .unwrap();
    rejected(
        &no_audience,
        &sign(Algorithm::HS256, header("HS256", None), &iam_claims()),
        "The token audience is not accepted",
    )
    .await;
}

#[tokio::test]
async fn a_missing_exp_is_rejected() {
    let guard = hmac_guard().await;
    let mut claims = iam_claims();
    claims.as_object_mut().unwrap().remove("exp");
    rejected(
        &guard,
        &sign(Algorithm::HS256, header("HS256", None), &claims),
        "The token has no expiry",
    )
    .await;
}

#[tokio::test]
async fn exp_of_the_wrong_json_type_is_rejected() {
    let guard = hmac_guard().await;
    let soon = now() + 3600;
    let payloads = [
        format!(r#"{{"iss":"seedotech","aud":"movies","exp":"{soon}"}}"#),
        format!(r#"{{"iss":"seedotech","aud":"movies","exp":{soon}.5}}"#),
        format!(r#"{{"iss":"seedotech","aud":"movies","exp":{soon}.0}}"#),
        r#"{"iss":"seedotech","aud":"movies","exp":1e30}"#.to_owned(),
        r#"{"iss":"seedotech","aud":"movies","exp":18446744073709551615}"#.to_owned(),
        r#"{"iss":"seedotech","aud":"movies","exp":99999999999999999999999}"#.to_owned(),
        r#"{"iss":"seedotech","aud":"movies","exp":-1}"#.to_owned(),
        r#"{"iss":"seedotech","aud":"movies","exp":null}"#.to_owned(),
        r#"{"iss":"seedotech","aud":"movies","exp":[1]}"#.to_owned(),
        format!(r#"{{"iss":"seedotech","aud":"movies","exp":{soon},"nbf":"0"}}"#),
    ];
    for payload in payloads {
        let token = sign_raw(
            r#"{"alg":"HS256"}"#,
            &payload,
            &EncodingKey::from_secret(SECRET),
            Algorithm::HS256,
        );
        let reply = call_with(&app(&guard), "/me", &token).await;
        assert_invalid_token(&reply, "The token has a malformed time claim");
    }
}

#[tokio::test]
async fn duplicated_claims_are_rejected() {
    let guard = hmac_guard().await;
    let payload = format!(
        r#"{{"iss":"seedotech","aud":"movies","exp":1,"exp":{}}}"#,
        now() + 3600
    );
    let token = sign_raw(
        r#"{"alg":"HS256"}"#,
        &payload,
        &EncodingKey::from_secret(SECRET),
        Algorithm::HS256,
    );
    rejected(&guard, &token, "The token claims are malformed").await;
}

#[tokio::test]
async fn an_unknown_kid_is_rejected_by_a_static_guard() {
    let guard = public_guard().await;
    rejected(
        &guard,
        &sign(
            Algorithm::EdDSA,
            header("EdDSA", Some("nobody")),
            &iam_claims(),
        ),
        "The token is signed by an unknown key",
    )
    .await;
}

#[tokio::test]
async fn kids_with_path_or_injection_text_are_rejected() {
    let guard = public_guard().await;
    for kid in ["../../../../dev/null", "/etc/passwd", "http:/x"] {
        rejected(
            &guard,
            &sign(Algorithm::EdDSA, header("EdDSA", Some(kid)), &iam_claims()),
            "The token is signed by an unknown key",
        )
        .await;
    }
    for kid in [
        "' OR '1'='1",
        "ed\"; DROP TABLE keys; --",
        "ed\u{0}",
        "a b",
        "$(reboot)",
    ] {
        rejected(
            &guard,
            &sign(Algorithm::EdDSA, header("EdDSA", Some(kid)), &iam_claims()),
            "The token key id is malformed",
        )
        .await;
    }
    let mut h = header("EdDSA", None);
    h["kid"] = json!(42);
    rejected(
        &guard,
        &sign(Algorithm::EdDSA, h, &iam_claims()),
        "The token header is malformed",
    )
    .await;
}

#[tokio::test]
async fn unknown_crit_headers_are_rejected() {
    let guard = hmac_guard().await;
    for crit in [json!(["exp"]), json!(["b64"]), json!([]), json!("x")] {
        let mut h = header("HS256", None);
        h["crit"] = crit;
        if h["crit"] == json!(["exp"]) {
            h["exp"] = 1.into();
        }
        rejected(
            &guard,
            &sign(Algorithm::HS256, h, &iam_claims()),
            "The token has an unsupported critical header",
        )
        .await;
    }
}

#[tokio::test]
async fn key_and_key_url_headers_are_rejected() {
    let guard = public_guard().await;
    let jwk = public_jwk(ED25519, Algorithm::EdDSA, "ed");
    for (name, value) in [
        ("jku", json!("http://127.0.0.1:9/jwks.json")),
        ("x5u", json!("http://127.0.0.1:9/cert.pem")),
        ("jwk", serde_json::to_value(&jwk).unwrap()),
        ("x5c", json!(["MIIB"])),
        // A key member of the wrong type is refused for what it is, not as malformed.
        ("jwk", json!({ "kty": "?" })),
        ("x5c", json!("MIIB")),
    ] {
        let mut h = header("EdDSA", Some("ed"));
        h[name] = value;
        rejected(
            &guard,
            &sign(Algorithm::EdDSA, h, &iam_claims()),
            "The token header carries a key or key URL",
        )
        .await;
    }
}

#[tokio::test]
async fn tokens_over_the_size_cap_are_rejected_before_parsing() {
    let guard = hmac_guard().await;
    let mut claims = iam_claims();
    claims["padding"] = "x".repeat(9 * 1024).into();
    rejected(
        &guard,
        &sign(Algorithm::HS256, header("HS256", None), &claims),
        "The token is too large",
    )
    .await;
    // Garbage that never parses is refused on size alone.
    rejected(&guard, &"A".repeat(8 * 1024 + 1), "The token is too large").await;

    let small = Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret(SECRET)
        .max_token_size(100)
        .build()
        .await
        .unwrap();
    rejected(
        &small,
        &sign(Algorithm::HS256, header("HS256", None), &iam_claims()),
        "The token is too large",
    )
    .await;
}

#[tokio::test]
async fn malformed_tokens_are_rejected() {
    let guard = hmac_guard().await;
    let token = sign(Algorithm::HS256, header("HS256", None), &iam_claims());
    let parts: Vec<&str> = token.split('.').collect();
    let cases = [
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}.{}", parts[2]),
        format!(
            "{}.{}.{}.{}.{}",
            parts[0], parts[1], parts[2], parts[2], parts[2]
        ),
        format!("{token}."),
        format!("{token}="),
        format!("{token}%"),
        format!("{token} trailing"),
        format!("{}x.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}x.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}x", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], parts[1].replace('e', "+"), parts[2]),
        "not-a-token".to_owned(),
        "..".to_owned(),
    ];
    for bad in cases {
        let reply = call_with(&app(&guard), "/me", &bad).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert!(
            reply
                .challenge()
                .starts_with("Bearer error=\"invalid_token\""),
            "{bad}: {}",
            reply.challenge()
        );
        assert_eq!(reply.error().code, 1005);
    }
    // A header that is valid base64url but not a JSON object.
    let not_json = format!("{}.{}.{}", b64(b"[1,2]"), parts[1], parts[2]);
    rejected(&guard, &not_json, "The token header is malformed").await;
}

#[tokio::test]
async fn authorization_header_problems_follow_rfc_6750() {
    let guard = hmac_guard().await;
    let app = app(&guard);
    let token = sign(Algorithm::HS256, header("HS256", None), &iam_claims());

    // Missing: bare challenge, 1004.
    let reply = call(&app, "/me", &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenge(), "Bearer");
    assert_eq!(reply.error().code, 1004);

    // Another scheme is no bearer credentials: bare challenge too.
    let reply = call(&app, "/me", &["Basic YWRtaW46YWRtaW4="]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenge(), "Bearer");
    assert_eq!(reply.error().code, 1004);

    // Empty, duplicated, or a scheme without a token: 400 invalid_request, 1015.
    let bearer = format!("Bearer {token}");
    for values in [
        vec![""],
        vec!["   "],
        vec![bearer.as_str(), bearer.as_str()],
        vec![bearer.as_str(), "Basic YTpi"],
        vec!["Bearer"],
        vec!["Bearer    "],
    ] {
        let reply = call(&app, "/me", &values).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{values:?}");
        assert!(
            reply
                .challenge()
                .starts_with("Bearer error=\"invalid_request\", error_description="),
            "{values:?}: {}",
            reply.challenge()
        );
        assert_eq!(reply.error().code, 1015);
    }

    // The scheme is case-insensitive.
    let reply = call(&app, "/me", &[&format!("bEaReR {token}")]).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn the_typ_policy_is_applied() {
    let lenient = hmac_guard().await;
    let strict = Guard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret(SECRET)
        .typ_policy(TypPolicy::Strict)
        .build()
        .await
        .unwrap();
    let with_typ = |typ: Option<&str>| {
        let mut h = json!({ "alg": "HS256" });
        if let Some(typ) = typ {
            h["typ"] = typ.into();
        }
        sign(Algorithm::HS256, h, &iam_claims())
    };
    for typ in [
        Some("at+jwt"),
        Some("application/at+jwt"),
        Some("JWT"),
        None,
    ] {
        accepted(&lenient, &with_typ(typ)).await;
    }
    rejected(
        &lenient,
        &with_typ(Some("dpop+jwt")),
        "The token type is not accepted",
    )
    .await;
    accepted(&strict, &with_typ(Some("at+jwt"))).await;
    for typ in [Some("JWT"), None, Some("id+jwt")] {
        rejected(&strict, &with_typ(typ), "The token type is not accepted").await;
    }
}

#[tokio::test]
async fn the_realm_appears_in_challenges() {
    let guard = Guard::builder()
        .issuer(ISSUER)
        .hmac_secret(SECRET)
        .realm("movies")
        .build()
        .await
        .unwrap();
    let reply = call(&app(&guard), "/me", &[]).await;
    assert_eq!(reply.challenge(), "Bearer realm=\"movies\"");
    let reply = call_with(&app(&guard), "/me", "a.b.c").await;
    assert!(
        reply
            .challenge()
            .starts_with("Bearer realm=\"movies\", error=\"invalid_token\"")
    );
}
