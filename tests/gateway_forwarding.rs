//! The client address through the shipped `docs/deploy/nginx/nginx.conf`: nginx appends the
//! client to `X-Forwarded-For`, the IAM believes it from nginx (`trustedProxies`), so an
//! attacker on 127.0.0.2 is throttled and a victim on 127.0.0.3, behind the same nginx, is
//! not.
//!
//! Needs nginx (`scripts/install-nginx`): ignored by default, run with `--include-ignored`
//! (as `.ci/run` does); without nginx it then fails and says how to install it.

mod gateway {
    pub(crate) mod nginx;
}

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use gateway::nginx::{Nginx, find_nginx};
use portcullis_examples::testing::{
    ADMIN_PASSWORD, Service, TempDir, example_command, free_port, login,
};

/// Failed logins one client address is allowed (the IAM's default throttle).
const ADDRESS_BUDGET: usize = 20;
const LOGIN: &str = "/seedotech.usermanagement/api/v1/admin/auth";

fn client_from(source: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(source))
        .timeout(Duration::from_secs(15))
        .no_proxy()
        .build()
        .expect("build a client bound to a source address")
}

#[tokio::test]
#[ignore = "needs nginx (scripts/install-nginx)"]
async fn behind_nginx_the_attacker_is_throttled_and_the_victim_is_not() {
    let binary = find_nginx().expect(
        "nginx is not installed: install it with scripts/install-nginx (or put it on PATH)",
    );
    let dir = TempDir::new("gateway-forwarding");
    // nginx reaches the IAM from 127.0.0.1: the one proxy the IAM believes.
    let mut command = example_command("user_service");
    command
        .env("PORTCULLIS_PORT", "0")
        .env("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1")
        .env("PORTCULLIS_FORWARDED_HOPS", "1");
    let users = Service::start("user_service", command);
    // The shipped file names 2 IAM and 3 movie instances; all point at the one IAM (no
    // movie route is used here).
    let nginx = Nginx::start(
        &binary,
        free_port(),
        &[users.addr(), users.addr()],
        &[users.addr(), users.addr(), users.addr()],
        &dir,
    );
    let url = format!("{}{LOGIN}", nginx.base_url());
    let attacker = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let victim = client_from(Ipv4Addr::new(127, 0, 0, 3));

    // A forged X-Forwarded-For from the attacker changes nothing: nginx appends the real
    // address, and the IAM takes only the entry nginx wrote.
    let attempt = |name: String| {
        let attacker = attacker.clone();
        let url = url.clone();
        async move {
            attacker
                .post(&url)
                .header("x-forwarded-for", "203.0.113.7")
                .form(&[("user", name.as_str()), ("password", "wrong")])
                .send()
                .await
                .expect("nginx answers")
        }
    };
    for n in 1..=ADDRESS_BUDGET {
        let response = attempt(format!("guess-{n}")).await;
        assert_eq!(response.status(), 401, "attempt {n}\n{}", nginx.error_log());
    }
    let response = attempt("guess-x".to_owned()).await;
    assert_eq!(response.status(), 429, "{}", nginx.error_log());
    assert!(response.headers().contains_key("retry-after"));

    let token = login(&victim, &url, "admin", ADMIN_PASSWORD).await;
    assert_eq!(token.split('.').count(), 3);
}
