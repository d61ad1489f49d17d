//! The OAuth store suite against [`MemoryOAuthStore`].

mod oauth_store_suite;

use std::sync::Arc;

use portcullis_iam::{MemoryOAuthStore, OAuthStore};

fn fresh() -> oauth_store_suite::SharedOAuthStore {
    Arc::new(MemoryOAuthStore::new())
}

#[tokio::test]
async fn passes_the_whole_suite() {
    oauth_store_suite::run_all(|| async { fresh() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotations_let_exactly_one_win_on_many_threads() {
    oauth_store_suite::concurrent_rotations_of_one_token_let_exactly_one_win(fresh()).await;
}

#[test]
fn is_not_persistent() {
    assert!(!MemoryOAuthStore::new().is_persistent());
}
