//! Users and where they are kept: the [`UserStore`] trait and its implementations.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::IamError;

mod id;
mod memory;
#[cfg(feature = "mongodb")]
pub(crate) mod mongo;

pub use id::{new_object_id, parse_object_id};
pub use memory::MemoryUserStore;
#[cfg(feature = "mongodb")]
pub use mongo::{MongoUserStore, MongoUserStoreBuilder};

/// A stored user. Its `Debug` output redacts the password hash; it is not `Serialize`
/// on purpose: routes send a [`UserView`], which has no hash.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The id: 24 lowercase hexadecimal digits (an `ObjectId`).
    pub id: String,
    /// The unique login name.
    pub name: String,
    /// The argon2id PHC string (`$argon2id$v=19$m=...`).
    pub password_hash: String,
    /// The roles, e.g. `["admin"]`.
    pub roles: Vec<String>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("roles", &self.roles)
            .finish()
    }
}

/// What the routes send for a user: never a password or hash.
///
/// `role` is the first role, or `""`: the single role of the original go-microservices
/// project, kept for compatibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = User))]
pub struct UserView {
    /// The id (24 hexadecimal digits).
    pub id: String,
    /// The login name.
    pub name: String,
    /// The first role, or `""`.
    pub role: String,
    /// Every role.
    pub roles: Vec<String>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.clone(),
            name: user.name.clone(),
            role: user.roles.first().cloned().unwrap_or_default(),
            roles: user.roles.clone(),
        }
    }
}

/// A user to create. The store assigns the id.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The login name; must be unique.
    pub name: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// The roles.
    pub roles: Vec<String>,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("roles", &self.roles)
            .finish()
    }
}

/// A change to a user: each `Some` field is replaced, each `None` kept.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// A new name; must be unique.
    pub name: Option<String>,
    /// A new argon2id PHC string.
    pub password_hash: Option<String>,
    /// New roles.
    pub roles: Option<Vec<String>>,
}

impl UserUpdate {
    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.password_hash.is_none() && self.roles.is_none()
    }
}

impl fmt::Debug for UserUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserUpdate")
            .field("name", &self.name)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field("roles", &self.roles)
            .finish()
    }
}

/// Which users [`UserStore::list`] returns: ordered by id (creation order), starting after
/// the `after` cursor (an id) if given, then skipping `offset`, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Start after this id (exclusive): a cursor, the last id of the previous page.
    /// Default is none (from the start).
    pub after: Option<String>,
    /// How many users to skip. Default is 0.
    pub offset: u64,
    /// At most this many users. Default is 100.
    pub limit: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            after: None,
            offset: 0,
            limit: 100,
        }
    }
}

impl PageRequest {
    /// The first `limit` users.
    pub fn first(limit: u32) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }
}

/// Where users are kept.
///
/// Implementations must keep names unique even under concurrent creates (exactly one of
/// several creates of one name succeeds, the rest fail with
/// [`IamError::DuplicateName`]), accept ids only as 24 hexadecimal digits (else
/// [`IamError::MalformedId`]), report unknown ids as [`IamError::UnknownUser`], and an
/// unreachable backend as [`IamError::Unavailable`].
///
/// They must also never take the last user with the role [`ADMIN_ROLE`](crate::ADMIN_ROLE)
/// away: an [`update`](Self::update) that drops the role from the only admin, or a
/// [`delete`](Self::delete) of the only admin, fails with [`IamError::LastAdmin`] and
/// changes nothing. (A store without any admin may delete and update freely.)
///
/// The behavioural test suite in `iam/tests/store_suite/mod.rs` checks all of this for any
/// implementation.
#[async_trait]
pub trait UserStore: Send + Sync + fmt::Debug + 'static {
    /// Creates a user and returns it with its new id.
    async fn create(&self, user: NewUser) -> Result<User, IamError>;

    /// The user with this id.
    async fn get(&self, id: &str) -> Result<User, IamError>;

    /// The user with this name, if any.
    async fn find_by_name(&self, name: &str) -> Result<Option<User>, IamError>;

    /// A page of users, ordered by id.
    async fn list(&self, page: PageRequest) -> Result<Vec<User>, IamError>;

    /// Applies `update` to the user with this id and returns the result.
    async fn update(&self, id: &str, update: UserUpdate) -> Result<User, IamError>;

    /// Deletes the user with this id.
    async fn delete(&self, id: &str) -> Result<(), IamError>;

    /// Whether users outlive the process (a database) or not (memory). The admin
    /// bootstrap refuses `admin`/`admin` for a persistent store.
    fn is_persistent(&self) -> bool;

    /// Whether the store has no user at all.
    async fn is_empty(&self) -> Result<bool, IamError> {
        Ok(self.list(PageRequest::first(1)).await?.is_empty())
    }

    /// Checks that the store is reachable (for readiness probes). Default is `Ok`.
    async fn check(&self) -> Result<(), IamError> {
        Ok(())
    }
}
