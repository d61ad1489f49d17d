//! A behavioural test suite for any [`UserStore`].
//!
//! Include it with `mod store_suite;` and call [`run_all`] with a factory that returns a
//! fresh, empty store on every call (the Mongo tests use a new database each time), or
//! call the checks one by one to get one `#[test]` per behaviour.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use portcullis_iam::{IamError, NewUser, PageRequest, UserStore, UserUpdate};

/// A shared store, as the checks take it.
pub type SharedStore = Arc<dyn UserStore>;

/// Runs every check, each on a fresh store from `make_store`.
pub async fn run_all<F, Fut>(make_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = SharedStore>,
{
    creates_then_gets_and_finds(make_store().await).await;
    refuses_a_duplicate_name(make_store().await).await;
    concurrent_creates_of_one_name_leave_exactly_one(make_store().await).await;
    concurrent_renames_to_one_name_leave_exactly_one(make_store().await).await;
    lists_in_pages_by_offset_and_cursor(make_store().await).await;
    updates_name_password_and_roles(make_store().await).await;
    deletes_and_frees_the_name(make_store().await).await;
    tells_malformed_ids_from_unknown_ones(make_store().await).await;
    reports_emptiness(make_store().await).await;
    keeps_the_last_admin(make_store().await).await;
    two_admins_demoting_each_other_leave_at_least_one(make_store().await).await;
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        name: name.to_owned(),
        password_hash: format!("$argon2id$v=19$m=64,t=1,p=1$c2FsdA$hash-of-{name}"),
        roles: vec!["viewer".to_owned()],
    }
}

fn is_hex24(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A user comes back by id and by name exactly as created.
pub async fn creates_then_gets_and_finds(store: SharedStore) {
    let created = store.create(new_user("alice")).await.expect("create");
    assert!(
        is_hex24(&created.id),
        "id {:?} is not 24 hex digits",
        created.id
    );
    assert_eq!(created.name, "alice");
    assert_eq!(created.roles, vec!["viewer"]);
    assert_eq!(created.password_hash, new_user("alice").password_hash);

    let by_id = store.get(&created.id).await.expect("get");
    assert_eq!(by_id, created);
    let by_upper_id = store
        .get(&created.id.to_uppercase())
        .await
        .expect("get upper");
    assert_eq!(by_upper_id, created);
    let by_name = store.find_by_name("alice").await.expect("find");
    assert_eq!(by_name, Some(created));
    assert_eq!(store.find_by_name("Alice").await.expect("find"), None);
    assert_eq!(store.find_by_name("bob").await.expect("find"), None);
}

/// A second user with a taken name is refused.
pub async fn refuses_a_duplicate_name(store: SharedStore) {
    store.create(new_user("alice")).await.expect("first create");
    let err = store
        .create(new_user("alice"))
        .await
        .expect_err("duplicate");
    assert!(
        matches!(err, IamError::DuplicateName { ref name } if name == "alice"),
        "{err:?}"
    );
    assert_eq!(store.list(PageRequest::first(10)).await.unwrap().len(), 1);
}

/// 50 concurrent creates of one name: exactly one succeeds, 49 are duplicates.
pub async fn concurrent_creates_of_one_name_leave_exactly_one(store: SharedStore) {
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.create(new_user("contended")).await })
        })
        .collect();
    assert_eq!(successes_and_duplicates(tasks).await, (1, 49));
    let all = store.list(PageRequest::first(100)).await.unwrap();
    assert_eq!(all.iter().filter(|u| u.name == "contended").count(), 1);
}

/// 20 users renamed to one name at once: exactly one rename succeeds, the others are
/// duplicates (never a store error), and the name is held once.
pub async fn concurrent_renames_to_one_name_leave_exactly_one(store: SharedStore) {
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(
            store
                .create(new_user(&format!("renamed-{n}")))
                .await
                .unwrap()
                .id,
        );
    }
    let tasks: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let update = UserUpdate {
                    name: Some("contended".to_owned()),
                    ..UserUpdate::default()
                };
                store.update(&id, update).await
            })
        })
        .collect();
    assert_eq!(successes_and_duplicates(tasks).await, (1, 19));
    let all = store.list(PageRequest::first(100)).await.unwrap();
    assert_eq!(all.iter().filter(|u| u.name == "contended").count(), 1);
}

/// Counts the racing tasks that succeeded and those refused as duplicates; any other
/// outcome fails the check.
async fn successes_and_duplicates<T: std::fmt::Debug>(
    tasks: Vec<tokio::task::JoinHandle<Result<T, IamError>>>,
) -> (usize, usize) {
    let (mut successes, mut duplicates) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => successes += 1,
            Err(IamError::DuplicateName { .. }) => duplicates += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    (successes, duplicates)
}

/// Pages by offset and by cursor are ordered by id, disjoint, and cover every user.
pub async fn lists_in_pages_by_offset_and_cursor(store: SharedStore) {
    let mut ids = HashSet::new();
    for i in 0..7 {
        ids.insert(
            store
                .create(new_user(&format!("user{i}")))
                .await
                .unwrap()
                .id,
        );
    }
    let all = store.list(PageRequest::first(100)).await.unwrap();
    assert_eq!(all.len(), 7);
    assert!(
        all.windows(2).all(|w| w[0].id < w[1].id),
        "not ordered by id"
    );

    let page = |offset, limit| PageRequest {
        after: None,
        offset,
        limit,
    };
    let first = store.list(page(0, 3)).await.unwrap();
    let second = store.list(page(3, 3)).await.unwrap();
    let third = store.list(page(6, 3)).await.unwrap();
    assert_eq!((first.len(), second.len(), third.len()), (3, 3, 1));
    let paged: Vec<_> = first.iter().chain(&second).chain(&third).cloned().collect();
    assert_eq!(paged, all);
    assert!(store.list(page(7, 3)).await.unwrap().is_empty());
    assert!(store.list(page(0, 0)).await.unwrap().is_empty());

    let after_first = store
        .list(PageRequest {
            after: Some(first[2].id.clone()),
            offset: 0,
            limit: 3,
        })
        .await
        .unwrap();
    assert_eq!(after_first, second);
    let after_and_offset = store
        .list(PageRequest {
            after: Some(first[0].id.clone()),
            offset: 2,
            limit: 2,
        })
        .await
        .unwrap();
    assert_eq!(after_and_offset, all[3..5].to_vec());
    let returned: HashSet<_> = all.into_iter().map(|u| u.id).collect();
    assert_eq!(returned, ids);
}

/// Updates change only what they name; a rename to a taken name is refused.
pub async fn updates_name_password_and_roles(store: SharedStore) {
    let alice = store.create(new_user("alice")).await.unwrap();
    store.create(new_user("bob")).await.unwrap();

    let renamed = store
        .update(
            &alice.id,
            UserUpdate {
                name: Some("alicia".to_owned()),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("rename");
    assert_eq!(renamed.name, "alicia");
    assert_eq!(renamed.password_hash, alice.password_hash);
    assert_eq!(renamed.roles, alice.roles);
    assert_eq!(store.find_by_name("alice").await.unwrap(), None);
    assert_eq!(
        store.find_by_name("alicia").await.unwrap(),
        Some(renamed.clone())
    );

    let changed = store
        .update(
            &alice.id,
            UserUpdate {
                password_hash: Some("$argon2id$new".to_owned()),
                roles: Some(vec!["admin".to_owned(), "viewer".to_owned()]),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("update hash and roles");
    assert_eq!(changed.name, "alicia");
    assert_eq!(changed.password_hash, "$argon2id$new");
    assert_eq!(changed.roles, vec!["admin", "viewer"]);
    assert_eq!(store.get(&alice.id).await.unwrap(), changed);

    let same_name = store
        .update(
            &alice.id,
            UserUpdate {
                name: Some("alicia".to_owned()),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("renaming to its own name is fine");
    assert_eq!(same_name.name, "alicia");

    let err = store
        .update(
            &alice.id,
            UserUpdate {
                name: Some("bob".to_owned()),
                ..UserUpdate::default()
            },
        )
        .await
        .expect_err("taken name");
    assert!(matches!(err, IamError::DuplicateName { .. }), "{err:?}");
    assert_eq!(store.get(&alice.id).await.unwrap().name, "alicia");

    let unknown = "0123456789abcdef01234567";
    let err = store
        .update(unknown, UserUpdate::default())
        .await
        .expect_err("unknown");
    assert!(matches!(err, IamError::UnknownUser { .. }), "{err:?}");
    let err = store
        .update("nope", UserUpdate::default())
        .await
        .expect_err("malformed");
    assert!(matches!(err, IamError::MalformedId), "{err:?}");
}

/// A deleted user is gone, and its name can be used again.
pub async fn deletes_and_frees_the_name(store: SharedStore) {
    let alice = store.create(new_user("alice")).await.unwrap();
    let bob = store.create(new_user("bob")).await.unwrap();
    store.delete(&alice.id).await.expect("delete");
    assert!(matches!(
        store.get(&alice.id).await,
        Err(IamError::UnknownUser { .. })
    ));
    assert!(matches!(
        store.delete(&alice.id).await,
        Err(IamError::UnknownUser { .. })
    ));
    assert_eq!(store.find_by_name("alice").await.unwrap(), None);
    assert_eq!(store.get(&bob.id).await.unwrap(), bob);
    let again = store
        .create(new_user("alice"))
        .await
        .expect("name is free again");
    assert_ne!(again.id, alice.id);
}

/// Malformed ids are [`IamError::MalformedId`]; well-formed unknown ones are
/// [`IamError::UnknownUser`].
pub async fn tells_malformed_ids_from_unknown_ones(store: SharedStore) {
    store.create(new_user("alice")).await.unwrap();
    for bad in [
        "",
        "42",
        "not-an-id",
        "zzzzzzzzzzzzzzzzzzzzzzzz",
        "0123456789abcdef012345678",
    ] {
        assert!(
            matches!(store.get(bad).await, Err(IamError::MalformedId)),
            "get {bad:?}"
        );
        assert!(
            matches!(store.delete(bad).await, Err(IamError::MalformedId)),
            "delete {bad:?}"
        );
    }
    let err = store
        .list(PageRequest {
            after: Some("bad".to_owned()),
            ..PageRequest::default()
        })
        .await
        .expect_err("malformed cursor");
    assert!(matches!(err, IamError::MalformedId), "{err:?}");
    let unknown = "0123456789abcdef01234567";
    assert!(matches!(
        store.get(unknown).await,
        Err(IamError::UnknownUser { .. })
    ));
    assert!(matches!(
        store.delete(unknown).await,
        Err(IamError::UnknownUser { .. })
    ));
    assert_eq!(store.list(PageRequest::first(10)).await.unwrap().len(), 1);
}

/// A fresh store is empty; after one create it is not.
pub async fn reports_emptiness(store: SharedStore) {
    assert!(store.is_empty().await.unwrap());
    assert!(store.check().await.is_ok());
    store.create(new_user("alice")).await.unwrap();
    assert!(!store.is_empty().await.unwrap());
}

fn new_admin(name: &str) -> NewUser {
    NewUser {
        roles: vec!["admin".to_owned()],
        ..new_user(name)
    }
}

fn roles(roles: &[&str]) -> UserUpdate {
    UserUpdate {
        roles: Some(roles.iter().map(|r| (*r).to_owned()).collect()),
        ..UserUpdate::default()
    }
}

async fn admins(store: &SharedStore) -> usize {
    store
        .list(PageRequest::first(100))
        .await
        .unwrap()
        .iter()
        .filter(|u| u.roles.iter().any(|r| r == "admin"))
        .count()
}

/// The only admin can be neither deleted nor demoted; with a second admin it can.
pub async fn keeps_the_last_admin(store: SharedStore) {
    let root = store.create(new_admin("root")).await.unwrap();
    let viewer = store.create(new_user("viewer")).await.unwrap();
    let err = store
        .delete(&root.id)
        .await
        .expect_err("last admin deleted");
    assert!(matches!(err, IamError::LastAdmin), "{err:?}");
    let err = store
        .update(&root.id, roles(&["viewer"]))
        .await
        .expect_err("last admin demoted");
    assert!(matches!(err, IamError::LastAdmin), "{err:?}");
    assert_eq!(store.get(&root.id).await.unwrap(), root, "unchanged");
    // Other changes to the last admin, and any change to others, are fine.
    store
        .update(&root.id, roles(&["admin", "viewer"]))
        .await
        .expect("keeps admin");
    store.delete(&viewer.id).await.expect("not an admin");

    let second = store.create(new_admin("second")).await.unwrap();
    store
        .update(&root.id, roles(&[]))
        .await
        .expect("another admin is left");
    let err = store.delete(&second.id).await.expect_err("now the last");
    assert!(matches!(err, IamError::LastAdmin), "{err:?}");
    assert_eq!(admins(&store).await, 1);
}

/// Two admins demoting (or deleting and demoting) each other at the same moment leave at
/// least one admin, and at most one of the two changes succeeds.
pub async fn two_admins_demoting_each_other_leave_at_least_one(store: SharedStore) {
    let mut leftover: Option<String> = None;
    for round in 0..10 {
        let a = store.create(new_admin(&format!("a{round}"))).await.unwrap();
        let b = store.create(new_admin(&format!("b{round}"))).await.unwrap();
        if let Some(previous) = leftover.take() {
            store
                .update(&previous, roles(&["viewer"]))
                .await
                .expect("two other admins exist");
        }
        assert_eq!(admins(&store).await, 2, "round {round}: only a and b");
        let demote_b = {
            let (store, id) = (Arc::clone(&store), b.id.clone());
            tokio::spawn(async move { store.update(&id, roles(&["viewer"])).await.map(drop) })
        };
        let against_a = {
            let (store, id) = (Arc::clone(&store), a.id.clone());
            tokio::spawn(async move {
                if round % 2 == 0 {
                    store.update(&id, roles(&["viewer"])).await.map(drop)
                } else {
                    store.delete(&id).await
                }
            })
        };
        let outcomes = [against_a.await.unwrap(), demote_b.await.unwrap()];
        for outcome in &outcomes {
            assert!(
                matches!(outcome, Ok(()) | Err(IamError::LastAdmin)),
                "{outcome:?}"
            );
        }
        assert!(
            outcomes.iter().filter(|o| o.is_ok()).count() <= 1,
            "round {round}: {outcomes:?}"
        );
        assert!(admins(&store).await >= 1, "round {round}: no admin left");
        // Keep exactly one admin for the next round.
        let mut still_admin = Vec::new();
        for id in [&a.id, &b.id] {
            if let Ok(user) = store.get(id).await
                && user.roles.iter().any(|r| r == "admin")
            {
                still_admin.push(id.clone());
            }
        }
        if still_admin.len() == 2 {
            store
                .update(&still_admin[1], roles(&["viewer"]))
                .await
                .expect("the other is still admin");
        }
        leftover = still_admin.into_iter().next();
    }
}
