//! A behavioural test suite for any [`OAuthStore`]: clients and refresh tokens.
//!
//! Include it with `mod oauth_store_suite;` and call [`run_all`] with a factory that
//! returns a fresh, empty store on every call, or the checks one by one.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;

use portcullis_iam::{
    ClientUpdate, GrantType, IamError, OAuthClient, OAuthStore, RefreshTokenRecord,
    RefreshTokenState,
};

/// A shared store, as the checks take it.
pub type SharedOAuthStore = Arc<dyn OAuthStore>;

/// Runs every check, each on a fresh store from `make_store`.
pub async fn run_all<F, Fut>(make_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = SharedOAuthStore>,
{
    creates_gets_and_lists_clients(make_store().await).await;
    refuses_a_duplicate_client_id(make_store().await).await;
    updates_and_replaces_clients(make_store().await).await;
    rotates_a_refresh_token_once(make_store().await).await;
    concurrent_rotations_of_one_token_let_exactly_one_win(make_store().await).await;
    revokes_by_family_user_and_client(make_store().await).await;
    a_family_revoked_during_a_rotation_takes_the_new_token_too(make_store().await).await;
    a_user_or_client_revoked_during_a_rotation_takes_the_new_token_too(make_store().await).await;
    deletes_expired_refresh_tokens_and_keeps_the_rest(make_store().await).await;
    deletes_expired_refresh_tokens_in_bounded_batches(make_store().await).await;
}

pub fn client(id: &str) -> OAuthClient {
    OAuthClient {
        id: id.to_owned(),
        name: format!("the {id} client"),
        secret_hash: format!("hash-of-{id}"),
        scopes: vec!["read".to_owned(), "write".to_owned()],
        grant_types: vec![GrantType::ClientCredentials, GrantType::RefreshToken],
        access_token_ttl: Some(300),
        disabled: false,
        created_at: 1_700_000_000,
    }
}

pub fn token(hash: &str, family: &str, user: &str, client: &str) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: hash.to_owned(),
        family_id: family.to_owned(),
        client_id: client.to_owned(),
        user_id: user.to_owned(),
        scope: "read write".to_owned(),
        issued_at: 1_700_000_000,
        family_issued_at: 1_699_999_000,
        expires_at: 1_700_600_000,
        family_expires_at: 1_702_591_000,
        state: RefreshTokenState::Active,
    }
}

/// A client comes back by id exactly as created; the list is ordered by id.
pub async fn creates_gets_and_lists_clients(store: SharedOAuthStore) {
    store.create_client(client("zeta")).await.expect("create");
    store.create_client(client("alpha")).await.expect("create");
    assert_eq!(
        store.get_client("zeta").await.unwrap(),
        Some(client("zeta"))
    );
    assert_eq!(store.get_client("nobody").await.unwrap(), None);
    let ids: Vec<String> = store
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["alpha", "zeta"]);
}

/// A second client with a taken id is refused and the first is unchanged.
pub async fn refuses_a_duplicate_client_id(store: SharedOAuthStore) {
    store.create_client(client("app")).await.expect("create");
    let mut other = client("app");
    "another".clone_into(&mut other.secret_hash);
    let err = store.create_client(other).await.expect_err("duplicate");
    assert!(
        matches!(err, IamError::DuplicateClient { ref id } if id == "app"),
        "{err:?}"
    );
    assert_eq!(store.get_client("app").await.unwrap(), Some(client("app")));
}

/// Updates change only what they name; an unknown id is `UnknownClient`; `put_client`
/// creates or replaces.
pub async fn updates_and_replaces_clients(store: SharedOAuthStore) {
    store.create_client(client("app")).await.unwrap();
    let disabled = store
        .update_client(
            "app",
            ClientUpdate {
                disabled: Some(true),
                ..ClientUpdate::default()
            },
        )
        .await
        .unwrap();
    assert!(disabled.disabled);
    assert_eq!(disabled.secret_hash, "hash-of-app");
    let rotated = store
        .update_client(
            "app",
            ClientUpdate {
                secret_hash: Some("new-hash".to_owned()),
                ..ClientUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rotated.secret_hash, "new-hash");
    assert!(rotated.disabled);
    assert_eq!(store.get_client("app").await.unwrap(), Some(rotated));
    let err = store
        .update_client("ghost", ClientUpdate::default())
        .await
        .expect_err("unknown");
    assert!(matches!(err, IamError::UnknownClient { .. }), "{err:?}");

    store.put_client(client("boot")).await.unwrap();
    let mut replaced = client("boot");
    replaced.scopes = vec!["admin".to_owned()];
    store.put_client(replaced.clone()).await.unwrap();
    assert_eq!(store.get_client("boot").await.unwrap(), Some(replaced));
}

/// A token is found by hash; rotating it works once and stores its successor; unknown
/// tokens never rotate.
pub async fn rotates_a_refresh_token_once(store: SharedOAuthStore) {
    store
        .insert_refresh_token(token("h1", "f1", "u1", "app"))
        .await
        .unwrap();
    assert_eq!(
        store.find_refresh_token("h1").await.unwrap(),
        Some(token("h1", "f1", "u1", "app"))
    );
    assert_eq!(store.find_refresh_token("h2").await.unwrap(), None);
    assert!(
        store
            .rotate_refresh_token("h1", token("h1-next", "f1", "u1", "app"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.find_refresh_token("h1-next").await.unwrap(),
        Some(token("h1-next", "f1", "u1", "app"))
    );
    let used = store.find_refresh_token("h1").await.unwrap().unwrap();
    assert_eq!(used.state, RefreshTokenState::Used);

    assert!(
        !store
            .rotate_refresh_token("h1", token("h1-again", "f1", "u1", "app"))
            .await
            .unwrap()
    );
    assert_unusable(&store, "h1-again").await;
    assert!(
        !store
            .rotate_refresh_token("h2", token("h2-next", "f2", "u1", "app"))
            .await
            .unwrap()
    );
    assert_unusable(&store, "h2-next").await;
    assert_eq!(
        store
            .find_refresh_token("h1-next")
            .await
            .unwrap()
            .unwrap()
            .state,
        RefreshTokenState::Active,
        "a lost rotation leaves the family's live token alone"
    );
}

/// The successor of a rotation that lost: stored revoked, or not at all.
async fn assert_unusable(store: &SharedOAuthStore, hash: &str) {
    let found = store.find_refresh_token(hash).await.unwrap();
    assert!(
        found
            .as_ref()
            .is_none_or(|r| r.state == RefreshTokenState::Revoked),
        "{hash}: {found:?}"
    );
}

/// Of many concurrent rotations of one token, exactly one wins, and only its successor
/// can be used.
pub async fn concurrent_rotations_of_one_token_let_exactly_one_win(store: SharedOAuthStore) {
    store
        .insert_refresh_token(token("race", "f", "u", "app"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for attempt in 0..16 {
        let store = Arc::clone(&store);
        let successor = format!("race-next-{attempt}");
        tasks.push(tokio::spawn(async move {
            let won = store
                .rotate_refresh_token("race", token(&successor, "f", "u", "app"))
                .await
                .expect("rotate");
            (successor, won)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (successor, won) = task.await.unwrap();
        if won {
            winners.push(successor);
        } else {
            assert_unusable(&store, &successor).await;
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        store
            .find_refresh_token(&winners[0])
            .await
            .unwrap()
            .unwrap()
            .state,
        RefreshTokenState::Active
    );
}

/// Revocations reach exactly the tokens they name, and count only those not yet revoked.
pub async fn revokes_by_family_user_and_client(store: SharedOAuthStore) {
    for record in [
        token("a1", "fa", "alice", "app"),
        token("a2", "fa", "alice", "app"),
        token("a3", "fb", "alice", "cli"),
        token("b1", "fc", "bob", "app"),
        token("c1", "fd", "carol", "cli"),
    ] {
        store.insert_refresh_token(record).await.unwrap();
    }
    let state = |hash: &'static str| {
        let store = Arc::clone(&store);
        async move { store.find_refresh_token(hash).await.unwrap().unwrap().state }
    };
    assert_eq!(store.revoke_refresh_family("fa").await.unwrap(), 2);
    assert_eq!(state("a1").await, RefreshTokenState::Revoked);
    assert_eq!(state("a3").await, RefreshTokenState::Active);
    assert_eq!(store.revoke_refresh_family("fa").await.unwrap(), 0);
    assert!(
        !store
            .rotate_refresh_token("a2", token("a2-next", "fa", "alice", "app"))
            .await
            .unwrap()
    );
    assert_unusable(&store, "a2-next").await;

    assert_eq!(store.revoke_user_refresh_tokens("alice").await.unwrap(), 1);
    assert_eq!(state("a3").await, RefreshTokenState::Revoked);
    assert_eq!(state("b1").await, RefreshTokenState::Active);

    assert_eq!(store.revoke_client_refresh_tokens("cli").await.unwrap(), 1);
    assert_eq!(state("c1").await, RefreshTokenState::Revoked);
    assert_eq!(state("b1").await, RefreshTokenState::Active);
    assert_eq!(store.revoke_user_refresh_tokens("nobody").await.unwrap(), 0);
}

/// A revocation racing a rotation, in the orders a test can drive from outside the store.
/// A token inserted into a family after the family's revocation began (as a rotation's
/// successor may be, when the revocation's multi-document update selected the family
/// before the insert) reads as revoked and cannot be rotated, however its own record
/// reads; and a rotation of a token whose family is revoked loses and leaves no usable
/// successor (RFC 9700 section 4.14.2). Another family of the same user is untouched.
pub async fn a_family_revoked_during_a_rotation_takes_the_new_token_too(store: SharedOAuthStore) {
    store
        .insert_refresh_token(token("t0", "f", "u", "app"))
        .await
        .unwrap();
    assert!(
        store
            .rotate_refresh_token("t0", token("t1", "f", "u", "app"))
            .await
            .unwrap(),
        "A wins"
    );
    assert_eq!(store.revoke_refresh_family("f").await.unwrap(), 2, "B");
    // A successor stored after B's update selected the family.
    let mut late = token("t2", "f", "u", "app");
    late.expires_at += 1000;
    store.insert_refresh_token(late).await.unwrap();
    let seen = store.find_refresh_token("t2").await.unwrap().unwrap();
    assert_eq!(seen.state, RefreshTokenState::Revoked);
    assert!(
        !store
            .rotate_refresh_token("t2", token("t3", "f", "u", "app"))
            .await
            .unwrap()
    );
    assert_unusable(&store, "t3").await;
    for hash in ["t0", "t1", "t2"] {
        assert_eq!(
            store.find_refresh_token(hash).await.unwrap().unwrap().state,
            RefreshTokenState::Revoked,
            "{hash}"
        );
    }

    store
        .insert_refresh_token(token("other", "g", "u", "app"))
        .await
        .unwrap();
    assert_eq!(
        store
            .find_refresh_token("other")
            .await
            .unwrap()
            .unwrap()
            .state,
        RefreshTokenState::Active
    );
    assert!(
        store
            .rotate_refresh_token("other", token("other-next", "g", "u", "app"))
            .await
            .unwrap()
    );
}

/// The same with a revocation of the user's tokens (a deleted user, a new password or
/// role) and of the client's: a token inserted into a family they reached, after they
/// ran, is revoked too. A family started after the revocation (a new sign-in) is not.
pub async fn a_user_or_client_revoked_during_a_rotation_takes_the_new_token_too(
    store: SharedOAuthStore,
) {
    for (hash, family, user, client) in [("u0", "fu", "alice", "app"), ("c0", "fc", "bob", "cli")] {
        store
            .insert_refresh_token(token(hash, family, user, client))
            .await
            .unwrap();
    }
    assert_eq!(store.revoke_user_refresh_tokens("alice").await.unwrap(), 1);
    assert_eq!(store.revoke_client_refresh_tokens("cli").await.unwrap(), 1);
    for (hash, family, user, client) in [("u1", "fu", "alice", "app"), ("c1", "fc", "bob", "cli")] {
        store
            .insert_refresh_token(token(hash, family, user, client))
            .await
            .unwrap();
        assert_eq!(
            store.find_refresh_token(hash).await.unwrap().unwrap().state,
            RefreshTokenState::Revoked,
            "{hash}"
        );
        let successor = format!("{hash}-next");
        assert!(
            !store
                .rotate_refresh_token(hash, token(&successor, family, user, client))
                .await
                .unwrap(),
            "{hash}"
        );
        assert_unusable(&store, &successor).await;
    }

    store
        .insert_refresh_token(token("later", "fresh", "alice", "cli"))
        .await
        .unwrap();
    assert_eq!(
        store
            .find_refresh_token("later")
            .await
            .unwrap()
            .unwrap()
            .state,
        RefreshTokenState::Active
    );
    assert!(
        store
            .rotate_refresh_token("later", token("later-next", "fresh", "alice", "cli"))
            .await
            .unwrap()
    );
}

/// A record with these limits and state.
fn timed(
    hash: &str,
    state: RefreshTokenState,
    expires_at: u64,
    family_expires_at: u64,
) -> RefreshTokenRecord {
    RefreshTokenRecord {
        state,
        expires_at,
        family_expires_at,
        ..token(hash, &format!("family-of-{hash}"), "u", "app")
    }
}

/// The sweep deletes what can no longer matter: an active token past its expiry, any
/// token past its family's end. A used or revoked token past its own expiry stays while
/// its family lives, so a reuse of it is still found (and revokes the family).
pub async fn deletes_expired_refresh_tokens_and_keeps_the_rest(store: SharedOAuthStore) {
    const NOW: u64 = 1_700_000_000;
    let gone = [
        timed(
            "active-expired",
            RefreshTokenState::Active,
            NOW - 1,
            NOW + 1000,
        ),
        timed(
            "active-expires-now",
            RefreshTokenState::Active,
            NOW,
            NOW + 1000,
        ),
        timed(
            "used-family-over",
            RefreshTokenState::Used,
            NOW - 500,
            NOW - 1,
        ),
        timed(
            "revoked-family-over",
            RefreshTokenState::Revoked,
            NOW - 500,
            NOW,
        ),
    ];
    let kept = [
        timed(
            "active-live",
            RefreshTokenState::Active,
            NOW + 1,
            NOW + 1000,
        ),
        timed(
            "used-expired-family-live",
            RefreshTokenState::Used,
            NOW - 1,
            NOW + 1000,
        ),
        timed(
            "revoked-expired-family-live",
            RefreshTokenState::Revoked,
            NOW - 1,
            NOW + 1,
        ),
    ];
    for record in gone.iter().chain(&kept) {
        store.insert_refresh_token(record.clone()).await.unwrap();
    }
    assert_eq!(
        store.delete_expired_refresh_tokens(NOW, 100).await.unwrap(),
        gone.len() as u64
    );
    for record in &gone {
        assert_eq!(
            store.find_refresh_token(&record.hash).await.unwrap(),
            None,
            "{}",
            record.hash
        );
    }
    for record in &kept {
        assert_eq!(
            store
                .find_refresh_token(&record.hash)
                .await
                .unwrap()
                .as_ref(),
            Some(record),
            "{}",
            record.hash
        );
    }
    // Reuse detection still sees the kept used token: it is not consumable again, and
    // its family can be revoked.
    let successor = token(
        "used-expired-successor",
        "family-of-used-expired-family-live",
        "u",
        "app",
    );
    assert!(
        !store
            .rotate_refresh_token("used-expired-family-live", successor)
            .await
            .unwrap()
    );
    assert_unusable(&store, "used-expired-successor").await;
    assert_eq!(
        store
            .revoke_refresh_family("family-of-used-expired-family-live")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.delete_expired_refresh_tokens(NOW, 100).await.unwrap(),
        0
    );
    // Once the family has ended, it goes too.
    assert_eq!(
        store
            .delete_expired_refresh_tokens(NOW + 1000, 100)
            .await
            .unwrap(),
        3
    );
    assert_eq!(store.find_refresh_token("active-live").await.unwrap(), None);
}

/// One call deletes at most `limit` records; the rest go on the next calls.
pub async fn deletes_expired_refresh_tokens_in_bounded_batches(store: SharedOAuthStore) {
    for n in 0..5 {
        store
            .insert_refresh_token(timed(&format!("old{n}"), RefreshTokenState::Active, 10, 20))
            .await
            .unwrap();
    }
    store
        .insert_refresh_token(timed("live", RefreshTokenState::Active, 100, 200))
        .await
        .unwrap();
    assert_eq!(store.delete_expired_refresh_tokens(50, 2).await.unwrap(), 2);
    assert_eq!(store.delete_expired_refresh_tokens(50, 2).await.unwrap(), 2);
    assert_eq!(store.delete_expired_refresh_tokens(50, 2).await.unwrap(), 1);
    assert_eq!(store.delete_expired_refresh_tokens(50, 2).await.unwrap(), 0);
    assert!(store.find_refresh_token("live").await.unwrap().is_some());
}
