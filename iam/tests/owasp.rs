//! Login at the OWASP argon2id parameters, and the upgrade of an older hash on login.

mod common;

use std::sync::Arc;

use common::{login_form, serve};
use portcullis_iam::{
    AdminBootstrap, Iam, MemoryUserStore, NewUser, PasswordPolicy, Passwords, SigningKey, UserStore,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_at_owasp_parameters_upgrades_an_older_hash() {
    let store: Arc<dyn UserStore> = Arc::new(MemoryUserStore::new());
    let old = Passwords::new(PasswordPolicy::insecure_fast_for_tests())
        .await
        .unwrap();
    let old_hash = old.hash("an old long password").await.unwrap();
    assert!(old_hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
    store
        .create(NewUser {
            name: "olivia".into(),
            password_hash: old_hash.clone(),
            roles: vec!["viewer".into()],
        })
        .await
        .unwrap();

    let iam = Iam::builder()
        .shared_store(Arc::clone(&store))
        .signing_key(SigningKey::generate_ed25519())
        .password_policy(PasswordPolicy::owasp())
        .admin_bootstrap(AdminBootstrap::Disabled)
        .build()
        .await
        .unwrap();
    let base = serve(iam.router()).await;

    let (status, body, _) = login_form(&base, "olivia", "an old long password").await;
    assert_eq!(status, 200, "{body}");
    let upgraded = store.find_by_name("olivia").await.unwrap().unwrap();
    assert!(
        upgraded
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "the hash was not upgraded"
    );
    let (status, _, _) = login_form(&base, "olivia", "an old long password").await;
    assert_eq!(status, 200);
    let (status, _, _) = login_form(&base, "olivia", "not the password").await;
    assert_eq!(status, 401);
}
