//! `from_issuer`: the issuer's metadata (RFC 8414) read once at build from a real server on
//! 127.0.0.1, its `jwks_uri` used for the keys, and every way it can fail the build.

mod support;

use std::time::Duration;

use http::StatusCode;
use portcullis_resource_guard::jsonwebtoken::Algorithm;
use portcullis_resource_guard::{Guard, GuardBuildError, MetadataProblem};
use portcullis_response::TraceContext;
use support::*;

const RFC8414: &str = "/.well-known/oauth-authorization-server";

async fn jwks() -> JwksServer {
    JwksServer::start(vec![public_jwk(ED25519, Algorithm::EdDSA, "k1")]).await
}

async fn build(issuer: &str) -> Result<Guard, GuardBuildError> {
    Guard::builder()
        .from_issuer(issuer)
        .audience(AUDIENCE)
        .fetch_timeout(Duration::from_secs(5))
        .build()
        .await
}

/// The problem of a failed build, after checking it is a metadata error at `url`.
#[track_caller]
fn problem(result: Result<Guard, GuardBuildError>, url: &str) -> MetadataProblem {
    match result {
        Err(GuardBuildError::Metadata {
            url: at, problem, ..
        }) => {
            assert_eq!(at, url);
            problem
        }
        other => panic!("not a metadata error: {other:?}"),
    }
}

#[tokio::test]
async fn the_keys_come_from_the_metadata_and_tokens_must_carry_the_issuer() {
    let keys = jwks().await;
    let server = DocumentServer::start().await;
    let issuer = server.base.clone();
    server.serve(RFC8414, metadata(&issuer, &keys.url));

    let guard = build(&issuer).await.unwrap();
    assert_eq!(server.requested(), [RFC8414]);
    assert_eq!(keys.hits(), 1, "the JWKS of the metadata was fetched");
    let app = app(&guard);
    let token = ed_token(ED25519, Some("k1"), &claims_of(&issuer, AUDIENCE));
    let reply = call_with(&app, "/me", &token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["iss"], issuer.as_str());

    // The expected `iss` is the issuer URL exactly: not another name, not another spelling.
    for other in [ISSUER.to_owned(), format!("{issuer}/")] {
        let token = ed_token(ED25519, Some("k1"), &claims_of(&other, AUDIENCE));
        let reply = call_with(&app, "/me", &token).await;
        assert_invalid_token(&reply, "The token issuer is not accepted");
    }
    assert_eq!(server.requested().len(), 1, "the metadata is read once");
}

#[tokio::test]
async fn an_issuer_with_a_path_is_read_where_rfc_8414_puts_it() {
    let keys = jwks().await;
    let server = DocumentServer::start().await;
    // RFC 8414 section 3.1: the suffix goes between the host and the path, and a
    // terminating "/" of the issuer is dropped first.
    let issuer = format!("{}/tenants/a/", server.base);
    let at = format!("{RFC8414}/tenants/a");
    server.serve(&at, metadata(&issuer, &keys.url));

    let guard = build(&issuer).await.unwrap();
    assert_eq!(server.requested(), [at]);
    let token = ed_token(ED25519, Some("k1"), &claims_of(&issuer, AUDIENCE));
    assert_eq!(
        call_with(&app(&guard), "/me", &token).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn openid_configuration_is_read_only_when_rfc_8414_answers_404() {
    let keys = jwks().await;
    let server = DocumentServer::start().await;
    let issuer = format!("{}/tenants/b", server.base);
    let openid = "/tenants/b/.well-known/openid-configuration";
    server.serve(openid, metadata(&issuer, &keys.url));
    build(&issuer).await.unwrap();
    assert_eq!(
        server.requested(),
        [format!("{RFC8414}/tenants/b"), openid.to_owned()]
    );

    // Any other failure is reported as it is, without trying elsewhere.
    let server = DocumentServer::start().await;
    let issuer = server.base.clone();
    server.serve_with(RFC8414, StatusCode::INTERNAL_SERVER_ERROR, "{}");
    server.serve(
        "/.well-known/openid-configuration",
        metadata(&issuer, &keys.url),
    );
    let url = format!("{issuer}{RFC8414}");
    assert_eq!(
        problem(build(&issuer).await, &url),
        MetadataProblem::Status(500)
    );
    assert_eq!(server.requested(), [RFC8414]);

    // Neither location: the error names the last one tried.
    let server = DocumentServer::start().await;
    let url = format!("{}/.well-known/openid-configuration", server.base);
    assert_eq!(
        problem(build(&server.base).await, &url),
        MetadataProblem::Status(404)
    );
}

#[tokio::test]
async fn a_document_of_another_issuer_fails_the_build() {
    let keys = jwks().await;
    let server = DocumentServer::start().await;
    let issuer = server.base.clone();
    let url = format!("{issuer}{RFC8414}");
    // RFC 8414 section 3.3: identical, so not even a trailing slash is forgiven.
    for (document, found) in [
        (
            metadata(&format!("{issuer}/"), &keys.url),
            Some(format!("{issuer}/")),
        ),
        (
            metadata("https://evil.example", &keys.url),
            Some("https://evil.example".to_owned()),
        ),
        (format!(r#"{{"jwks_uri":"{}"}}"#, keys.url), None),
        (format!(r#"{{"issuer":7,"jwks_uri":"{}"}}"#, keys.url), None),
    ] {
        server.serve(RFC8414, document);
        let result = build(&issuer).await;
        if let Err(error) = &result {
            assert!(
                error.to_string().contains("RFC 8414 section 3.3"),
                "{error}"
            );
        }
        assert_eq!(
            problem(result, &url),
            MetadataProblem::IssuerMismatch { found }
        );
    }
    assert_eq!(
        keys.hits(),
        0,
        "no key is fetched for a document that does not fit"
    );
}

#[tokio::test]
async fn a_document_without_jwks_uri_or_not_json_fails_the_build() {
    let server = DocumentServer::start().await;
    let issuer = server.base.clone();
    let url = format!("{issuer}{RFC8414}");
    for (body, expected) in [
        (
            format!(r#"{{"issuer":"{issuer}"}}"#),
            MetadataProblem::MissingJwksUri,
        ),
        (
            format!(r#"{{"issuer":"{issuer}","jwks_uri":["x"]}}"#),
            MetadataProblem::MissingJwksUri,
        ),
        ("<html>hello</html>".to_owned(), MetadataProblem::NotJson),
        (format!(r#"["{issuer}"]"#), MetadataProblem::NotJson),
        (
            format!(
                r#"{{"issuer":"{issuer}","pad":"{}"}}"#,
                "x".repeat(1024 * 1024)
            ),
            MetadataProblem::TooLarge,
        ),
    ] {
        server.serve(RFC8414, body);
        assert_eq!(problem(build(&issuer).await, &url), expected);
    }
    // A redirect is not followed.
    server.serve_with(RFC8414, StatusCode::FOUND, "");
    assert_eq!(
        problem(build(&issuer).await, &url),
        MetadataProblem::Status(302)
    );
}

#[tokio::test]
async fn a_silent_metadata_server_fails_the_build_after_the_fetch_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    // Accepts connections and never answers.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let result = Guard::builder()
        .from_issuer(&issuer)
        .fetch_timeout(Duration::from_millis(200))
        .build()
        .await;
    assert_eq!(
        problem(result, &format!("{issuer}{RFC8414}")),
        MetadataProblem::Timeout
    );
    holder.abort();
}

#[tokio::test]
async fn the_jwks_uri_is_held_to_the_plain_http_rule() {
    let server = DocumentServer::start().await;
    let issuer = server.base.clone();
    server.serve(
        RFC8414,
        metadata(&issuer, "http://192.0.2.1:9/.well-known/jwks.json"),
    );
    let error = build(&issuer).await.unwrap_err();
    assert!(
        matches!(&error, GuardBuildError::InsecureHttp { host } if host == "192.0.2.1"),
        "{error:?}"
    );
    server.serve(RFC8414, metadata(&issuer, "file:///etc/jwks.json"));
    assert!(matches!(
        build(&issuer).await,
        Err(GuardBuildError::InvalidJwksUrl { .. })
    ));
}

#[tokio::test]
async fn issuers_that_cannot_have_metadata_are_refused_before_any_fetch() {
    for issuer in [
        ISSUER,
        "http://127.0.0.1:1/?tenant=a",
        "http://127.0.0.1:1/#a",
    ] {
        assert!(
            matches!(
                build(issuer).await,
                Err(GuardBuildError::InvalidIssuerUrl { .. })
            ),
            "{issuer}"
        );
    }
    assert!(matches!(
        build("http://192.0.2.1:9").await,
        Err(GuardBuildError::InsecureHttp { .. })
    ));
    assert!(matches!(
        Guard::builder()
            .from_issuer("http://127.0.0.1:1")
            .jwks_url("http://127.0.0.1:1/.well-known/jwks.json")
            .build()
            .await,
        Err(GuardBuildError::TwoJwksUrls { .. })
    ));
}

#[tokio::test]
async fn metadata_and_jwks_fetches_carry_a_fresh_traceparent() {
    let server = DocumentServer::start().await;
    let issuer = server.base.clone();
    server.serve(RFC8414, metadata(&issuer, &format!("{issuer}/jwks.json")));
    let jwks = serde_json::json!({ "keys": [public_jwk(ED25519, Algorithm::EdDSA, "k1")] });
    server.serve("/jwks.json", jwks.to_string());
    let guard = build(&issuer).await.unwrap();
    let token = ed_token(ED25519, Some("k1"), &claims_of(&issuer, AUDIENCE));
    assert_eq!(
        call_with(&app(&guard), "/me", &token).await.status,
        StatusCode::OK
    );

    assert_eq!(server.requested(), [RFC8414, "/jwks.json"]);
    let contexts: Vec<TraceContext> = server
        .traceparents()
        .into_iter()
        .map(|value| {
            let value = value.expect("every fetch sends a traceparent");
            TraceContext::parse(value.as_bytes()).expect("a valid W3C traceparent")
        })
        .collect();
    // A new root trace for each fetch: made for the guard, not for a request's trace.
    assert_ne!(contexts[0].trace_id(), contexts[1].trace_id());
}
