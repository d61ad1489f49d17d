//! The first admin user: random when nothing is configured, `admin`/`admin` only on
//! request and only in memory, from configuration, and exactly one when several instances
//! start at once.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::{fast_builder, login_form, start};
use portcullis_iam::{
    AdminBootstrap, ConfigError, Iam, IamError, MemoryUserStore, NewUser, PageRequest,
    PasswordPolicy, User, UserStore, UserUpdate,
};

/// A memory store that claims to be persistent, standing in for a database.
#[derive(Debug, Default)]
struct PretendPersistent(MemoryUserStore);

#[async_trait]
impl UserStore for PretendPersistent {
    async fn create(&self, user: NewUser) -> Result<User, IamError> {
        // Give concurrent bootstraps every chance to interleave.
        tokio::task::yield_now().await;
        self.0.create(user).await
    }
    async fn get(&self, id: &str) -> Result<User, IamError> {
        self.0.get(id).await
    }
    async fn find_by_name(&self, name: &str) -> Result<Option<User>, IamError> {
        self.0.find_by_name(name).await
    }
    async fn list(&self, page: PageRequest) -> Result<Vec<User>, IamError> {
        self.0.list(page).await
    }
    async fn update(&self, id: &str, update: UserUpdate) -> Result<User, IamError> {
        self.0.update(id, update).await
    }
    async fn delete(&self, id: &str) -> Result<(), IamError> {
        self.0.delete(id).await
    }
    fn is_persistent(&self) -> bool {
        true
    }
}

async fn all_users(store: &dyn UserStore) -> Vec<User> {
    store.list(PageRequest::first(100)).await.unwrap()
}

#[tokio::test]
async fn a_builder_with_no_store_and_no_bootstrap_setting_never_gives_admin_admin() {
    let (iam, base) =
        start(Iam::builder().password_policy(PasswordPolicy::insecure_fast_for_tests())).await;
    let users = all_users(iam.store().as_ref()).await;
    assert_eq!(users.len(), 1, "a random one-time password, printed once");
    assert_eq!(users[0].name, "admin");
    assert_eq!(users[0].roles, vec!["admin"]);
    let (status, body, _) = login_form(&base, "admin", "admin").await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn dev_default_credentials_give_admin_admin_in_memory_only() {
    let (_, base) =
        start(fast_builder().admin_bootstrap(AdminBootstrap::dev_default_credentials())).await;
    let (status, body, _) = login_form(&base, "admin", "admin").await;
    assert_eq!(status, 200, "{body}");

    let persistent = fast_builder()
        .store(PretendPersistent::default())
        .admin_bootstrap(AdminBootstrap::dev_default_credentials())
        .build()
        .await;
    assert!(
        matches!(persistent, Err(ConfigError::AdminBootstrap(_))),
        "{persistent:?}"
    );
}

#[tokio::test]
async fn an_unconfigured_persistent_store_never_gets_admin_admin() {
    let (iam, base) = start(
        fast_builder()
            .store(PretendPersistent::default())
            .admin_bootstrap(AdminBootstrap::Auto),
    )
    .await;
    let users = all_users(iam.store().as_ref()).await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].name, "admin");
    let (status, _, _) = login_form(&base, "admin", "admin").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_admin_password_can_come_from_a_file() {
    let path = std::env::temp_dir().join(format!(
        "portcullis-iam-admin-{}.secret",
        std::process::id()
    ));
    std::fs::write(&path, "a password from a file\n").unwrap();
    let (_, base) = start(
        fast_builder()
            .store(PretendPersistent::default())
            .admin_bootstrap(AdminBootstrap::PasswordFile(path.clone())),
    )
    .await;
    std::fs::remove_file(&path).unwrap();
    let (status, _, _) = login_form(&base, "admin", "a password from a file").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_missing_or_weak_configured_password_fails_the_build() {
    let missing = fast_builder()
        .admin_bootstrap(AdminBootstrap::PasswordEnv(
            "PORTCULLIS_IAM_TEST_SURELY_UNSET_VARIABLE".into(),
        ))
        .build()
        .await;
    assert!(
        matches!(missing, Err(ConfigError::AdminBootstrap(_))),
        "{missing:?}"
    );
    let weak = fast_builder()
        .admin_bootstrap(AdminBootstrap::Password("admin".into()))
        .build()
        .await;
    assert!(
        matches!(weak, Err(ConfigError::AdminBootstrap(_))),
        "{weak:?}"
    );
}

#[tokio::test]
async fn a_store_with_users_or_a_disabled_bootstrap_gets_no_admin() {
    let store: Arc<dyn UserStore> = Arc::new(MemoryUserStore::new());
    store
        .create(NewUser {
            name: "someone".into(),
            password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            roles: vec![],
        })
        .await
        .unwrap();
    fast_builder()
        .shared_store(Arc::clone(&store))
        .admin_bootstrap(AdminBootstrap::Auto)
        .build()
        .await
        .unwrap();
    assert_eq!(all_users(store.as_ref()).await.len(), 1);

    let iam = fast_builder()
        .admin_bootstrap(AdminBootstrap::Disabled)
        .build()
        .await
        .unwrap();
    assert!(iam.store().is_empty().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_instances_starting_at_once_make_one_admin() {
    let store: Arc<dyn UserStore> = Arc::new(PretendPersistent::default());
    let starts: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let bootstrap = if i % 2 == 0 {
                    AdminBootstrap::Auto
                } else {
                    AdminBootstrap::Password("the configured admin password".into())
                };
                fast_builder()
                    .shared_store(store)
                    .admin_bootstrap(bootstrap)
                    .build()
                    .await
            })
        })
        .collect();
    for started in starts {
        started.await.unwrap().expect("every instance starts");
    }
    let users = all_users(store.as_ref()).await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].name, "admin");
}

#[tokio::test]
async fn the_signing_key_can_come_from_a_pem_or_jwk_file() {
    use portcullis_iam::SigningKey;
    let key = SigningKey::generate_ed25519();
    let dir = std::env::temp_dir();
    let pem_path = dir.join(format!("portcullis-iam-{}.pem", std::process::id()));
    std::fs::write(&pem_path, key.to_pkcs8_pem().unwrap()).unwrap();
    let iam = fast_builder().signing_key_file(&pem_path).build().await;
    std::fs::remove_file(&pem_path).unwrap();
    // `fast_builder` sets an explicit key first; a file configured after it is a fallback.
    assert_ne!(iam.unwrap().keys().current().kid(), key.kid());

    let pem_path = dir.join(format!("portcullis-iam-{}-b.pem", std::process::id()));
    std::fs::write(&pem_path, key.to_pkcs8_pem().unwrap()).unwrap();
    let iam = portcullis_iam::Iam::builder()
        .password_policy(portcullis_iam::PasswordPolicy::insecure_fast_for_tests())
        .signing_key_env("PORTCULLIS_IAM_TEST_SURELY_UNSET_KEY")
        .signing_key_file(&pem_path)
        .build()
        .await
        .unwrap();
    std::fs::remove_file(&pem_path).unwrap();
    assert_eq!(iam.keys().current().kid(), key.kid());

    let jwk_path = dir.join(format!("portcullis-iam-{}.jwk", std::process::id()));
    std::fs::write(
        &jwk_path,
        r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}"#,
    )
    .unwrap();
    let iam = portcullis_iam::Iam::builder()
        .password_policy(portcullis_iam::PasswordPolicy::insecure_fast_for_tests())
        .signing_key_file(&jwk_path)
        .build()
        .await
        .unwrap();
    std::fs::remove_file(&jwk_path).unwrap();
    // RFC 8037's example key, with its RFC 7638 thumbprint.
    assert_eq!(
        iam.keys().current().kid(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );

    let broken = portcullis_iam::Iam::builder()
        .signing_key_file(dir.join("portcullis-iam-no-such-key.pem"))
        .build()
        .await;
    assert!(matches!(broken, Err(ConfigError::Key(_))), "{broken:?}");
}

#[tokio::test]
async fn a_previous_key_stays_published_after_a_restart() {
    use portcullis_iam::SigningKey;
    let previous = SigningKey::generate_ed25519();
    let iam = fast_builder()
        .previous_key(previous.clone())
        .build()
        .await
        .unwrap();
    let kids: Vec<String> = iam
        .keys()
        .jwks()
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert_eq!(
        kids,
        vec![
            iam.keys().current().kid().to_owned(),
            previous.kid().to_owned()
        ]
    );
}
