//! The store suite against [`MemoryUserStore`].

mod store_suite;

use std::sync::Arc;

use portcullis_iam::{MemoryUserStore, UserStore};

fn fresh() -> store_suite::SharedStore {
    Arc::new(MemoryUserStore::new())
}

#[tokio::test]
async fn passes_the_whole_suite() {
    store_suite::run_all(|| async { fresh() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_name_leave_exactly_one_on_many_threads() {
    store_suite::concurrent_creates_of_one_name_leave_exactly_one(fresh()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_demoting_each_other_leave_at_least_one_on_many_threads() {
    store_suite::two_admins_demoting_each_other_leave_at_least_one(fresh()).await;
}

#[test]
fn is_not_persistent() {
    assert!(!MemoryUserStore::new().is_persistent());
}
