//! The IAM's periodic sweep of expired refresh tokens: it runs on the configured interval
//! (tokio's paused time, no sleeping), deletes only what can no longer matter, and stops
//! when the IAM is dropped.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_iam::{
    AdminBootstrap, Iam, MemoryOAuthStore, OAuthSettings, OAuthStore, RefreshTokenRecord,
    RefreshTokenState, SigningKey,
};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn record(
    hash: &str,
    state: RefreshTokenState,
    expires_at: u64,
    family_expires_at: u64,
) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: hash.to_owned(),
        family_id: format!("family-of-{hash}"),
        client_id: "app".to_owned(),
        user_id: "u".to_owned(),
        scope: "read".to_owned(),
        issued_at: expires_at.saturating_sub(600),
        family_issued_at: expires_at.saturating_sub(600),
        expires_at,
        family_expires_at,
        state,
    }
}

async fn present(store: &Arc<dyn OAuthStore>, hash: &str) -> bool {
    store.find_refresh_token(hash).await.unwrap().is_some()
}

#[tokio::test]
async fn sweeps_expired_refresh_tokens_every_interval_until_dropped() {
    let store: Arc<dyn OAuthStore> = Arc::new(MemoryOAuthStore::new());
    let t = now();
    for r in [
        record("expired", RefreshTokenState::Active, t - 10, t + 3600),
        record("live", RefreshTokenState::Active, t + 3600, t + 7200),
        record("used", RefreshTokenState::Used, t - 10, t + 3600),
    ] {
        store.insert_refresh_token(r).await.unwrap();
    }
    let iam = Iam::builder()
        .signing_key(SigningKey::generate_ed25519())
        .admin_bootstrap(AdminBootstrap::Disabled)
        .oauth(
            OAuthSettings::default()
                .shared_store(Arc::clone(&store))
                .refresh_sweep_interval(Duration::from_secs(60)),
        )
        .build()
        .await
        .unwrap();
    // Paused only now: while the build waits on other threads, paused time would jump
    // to the sweep's first tick.
    tokio::time::pause();

    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        present(&store, "expired").await,
        "no sweep before one interval"
    );
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert!(
        !present(&store, "expired").await,
        "swept after one interval"
    );
    assert!(present(&store, "live").await);
    assert!(present(&store, "used").await, "kept for reuse detection");

    drop(iam);
    store
        .insert_refresh_token(record("later", RefreshTokenState::Active, t - 10, t + 3600))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(
        present(&store, "later").await,
        "the sweep stopped with the IAM"
    );
}

#[tokio::test]
async fn refuses_a_sweep_interval_out_of_range() {
    for interval in [Duration::ZERO, Duration::from_secs(2 * 24 * 3600)] {
        let result = Iam::builder()
            .signing_key(SigningKey::generate_ed25519())
            .admin_bootstrap(AdminBootstrap::Disabled)
            .oauth(OAuthSettings::default().refresh_sweep_interval(interval))
            .build()
            .await;
        assert!(result.is_err(), "{interval:?}");
    }
}
