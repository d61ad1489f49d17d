//! [`MongoUserStore`], users in a `MongoDB` collection (feature `mongodb`).

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc, oid::ObjectId};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::{NewUser, PageRequest, User, UserStore, UserUpdate, parse_object_id};
use crate::routes::ADMIN_ROLE;
use crate::{ConfigError, IamError};

/// `MongoDB`'s error code for a duplicate key in a unique index.
const DUPLICATE_KEY: i32 = 11000;

/// Users in the `MongoDB` collection `users`: camelCase fields, `_id` an `ObjectId`, a unique
/// index on `name` created at start-up (so that concurrent creates of one name, from any
/// number of instances, leave exactly one user).
///
/// # The last admin
/// An update that drops the role `admin` from the only admin, or a delete of the only
/// admin, is refused ([`IamError::LastAdmin`]). `MongoDB`-compatible servers without
/// multi-document transactions (`FerretDB`) cannot check and write in one step, so the store
/// checks before writing, writes, checks again, and undoes its own write if no admin is
/// left. Two admins demoting or deleting each other at the same moment therefore end with
/// at least one admin (both may be refused); only a crash of this process between the
/// write and the undo could leave none.
///
/// ```no_run
/// # async fn demo() -> Result<(), portcullis_iam::ConfigError> {
/// use portcullis_iam::MongoUserStore;
///
/// let store = MongoUserStore::connect("mongodb://127.0.0.1:27017", "usermanagement").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MongoUserStore {
    users: Collection<UserDocument>,
    database: Database,
}

/// Builds a [`MongoUserStore`] with bounded driver timeouts.
#[derive(Debug, Clone)]
pub struct MongoUserStoreBuilder {
    server_selection_timeout: Duration,
    connect_timeout: Duration,
    collection: String,
}

impl Default for MongoUserStoreBuilder {
    fn default() -> Self {
        Self {
            server_selection_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            collection: "users".to_owned(),
        }
    }
}

impl MongoUserStoreBuilder {
    /// How long an operation waits for a usable server before failing with
    /// [`IamError::Unavailable`] (a 503). Applies only when the URI does not set
    /// `serverSelectionTimeoutMS`. Default is 5 seconds (the driver's own is 30).
    #[must_use]
    pub fn server_selection_timeout(mut self, timeout: Duration) -> Self {
        self.server_selection_timeout = timeout;
        self
    }

    /// How long opening one connection may take. Applies only when the URI does not set
    /// `connectTimeoutMS`. Default is 5 seconds.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The collection name. Default is `"users"`.
    #[must_use]
    pub fn collection(mut self, name: impl Into<String>) -> Self {
        self.collection = name.into();
        self
    }

    /// Connects to `uri`, uses database `database` and creates the unique index on `name`.
    ///
    /// Fails with [`ConfigError::Store`] holding [`IamError::Unavailable`] when the server
    /// cannot be reached within the server-selection timeout, and
    /// [`ConfigError::Invalid`] when the URI is invalid.
    pub async fn connect(self, uri: &str, database: &str) -> Result<MongoUserStore, ConfigError> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| ConfigError::Invalid(format!("invalid MongoDB URI: {}", e.kind)))?;
        options
            .server_selection_timeout
            .get_or_insert(self.server_selection_timeout);
        options.connect_timeout.get_or_insert(self.connect_timeout);
        let client = Client::with_options(options).map_err(|e| ConfigError::Store(map_error(e)))?;
        self.open(client.database(database)).await
    }

    /// Uses an already configured database handle and creates the unique index on `name`.
    /// The driver timeouts are the client's own.
    pub async fn open(self, database: Database) -> Result<MongoUserStore, ConfigError> {
        let users = database.collection::<UserDocument>(&self.collection);
        let index = IndexModel::builder()
            .keys(doc! { "name": 1 })
            .options(
                IndexOptions::builder()
                    .unique(true)
                    .name("name_unique".to_owned())
                    .build(),
            )
            .build();
        users
            .create_index(index)
            .await
            .map_err(|e| ConfigError::Store(map_error(e)))?;
        Ok(MongoUserStore { users, database })
    }
}

impl MongoUserStore {
    /// A builder to set timeouts or the collection name.
    pub fn builder() -> MongoUserStoreBuilder {
        MongoUserStoreBuilder::default()
    }

    /// Connects to `uri` with the default timeouts (see [`MongoUserStoreBuilder`]).
    pub async fn connect(uri: &str, database: &str) -> Result<Self, ConfigError> {
        Self::builder().connect(uri, database).await
    }

    /// Uses `database` (configured by the caller) and creates the unique index on `name`.
    pub async fn new(database: Database) -> Result<Self, ConfigError> {
        Self::builder().open(database).await
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserDocument {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    password_hash: String,
    #[serde(default)]
    roles: Vec<String>,
}

impl From<UserDocument> for User {
    fn from(doc: UserDocument) -> Self {
        Self {
            id: doc.id.to_hex(),
            name: doc.name,
            password_hash: doc.password_hash,
            roles: doc.roles,
        }
    }
}

fn object_id(id: &str) -> Result<ObjectId, IamError> {
    let id = parse_object_id(id)?;
    ObjectId::parse_str(&id).map_err(|_| IamError::MalformedId)
}

/// A unique-index violation. `MongoDB` reports E11000; `FerretDB` 1.x does too on inserts,
/// but on updates answers `InternalError` (code 1) with `SQLite`'s "UNIQUE constraint failed",
/// which two renames racing past the name check in `update` reach.
pub(crate) fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    const FERRETDB_INTERNAL_ERROR: i32 = 1;
    let (code, message) = match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => (e.code, e.message.as_str()),
        ErrorKind::Command(e) => (e.code, e.message.as_str()),
        _ => return false,
    };
    code == DUPLICATE_KEY
        || (code == FERRETDB_INTERNAL_ERROR && message.contains("UNIQUE constraint failed"))
}

pub(crate) fn map_error(err: mongodb::error::Error) -> IamError {
    match err.kind.as_ref() {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Authentication { .. } => IamError::unavailable(err),
        _ => IamError::store(err),
    }
}

fn map_write_error(err: mongodb::error::Error, name: &str) -> IamError {
    if is_duplicate_key(&err) {
        IamError::DuplicateName {
            name: name.to_owned(),
        }
    } else {
        map_error(err)
    }
}

impl MongoUserStore {
    /// How many users hold the role `admin`, `except` one.
    async fn admins_other_than(&self, except: ObjectId) -> Result<u64, IamError> {
        self.users
            .count_documents(doc! { "roles": ADMIN_ROLE, "_id": { "$ne": except } })
            .await
            .map_err(map_error)
    }

    async fn admins(&self) -> Result<u64, IamError> {
        self.users
            .count_documents(doc! { "roles": ADMIN_ROLE })
            .await
            .map_err(map_error)
    }

    /// Refuses before writing when `oid` is an admin and the only one; otherwise tells
    /// whether it is an admin.
    async fn refuse_last_admin(&self, oid: ObjectId) -> Result<bool, IamError> {
        let is_admin = self
            .users
            .find_one(doc! { "_id": oid, "roles": ADMIN_ROLE })
            .await
            .map_err(map_error)?
            .is_some();
        if is_admin && self.admins_other_than(oid).await? == 0 {
            return Err(IamError::LastAdmin);
        }
        Ok(is_admin)
    }
}

fn is_admin(document: &UserDocument) -> bool {
    document.roles.iter().any(|r| r == ADMIN_ROLE)
}

#[async_trait]
impl UserStore for MongoUserStore {
    async fn create(&self, user: NewUser) -> Result<User, IamError> {
        let document = UserDocument {
            id: ObjectId::new(),
            name: user.name,
            password_hash: user.password_hash,
            roles: user.roles,
        };
        self.users
            .insert_one(&document)
            .await
            .map_err(|e| map_write_error(e, &document.name))?;
        Ok(document.into())
    }

    async fn get(&self, id: &str) -> Result<User, IamError> {
        let oid = object_id(id)?;
        self.users
            .find_one(doc! { "_id": oid })
            .await
            .map_err(map_error)?
            .map(User::from)
            .ok_or_else(|| IamError::UnknownUser { id: oid.to_hex() })
    }

    async fn find_by_name(&self, name: &str) -> Result<Option<User>, IamError> {
        Ok(self
            .users
            .find_one(doc! { "name": name })
            .await
            .map_err(map_error)?
            .map(User::from))
    }

    async fn list(&self, page: PageRequest) -> Result<Vec<User>, IamError> {
        let filter = match page.after {
            Some(after) => doc! { "_id": { "$gt": object_id(&after)? } },
            None => Document::new(),
        };
        if page.limit == 0 {
            // The driver reads a limit of 0 as "no limit".
            return Ok(Vec::new());
        }
        let cursor = self
            .users
            .find(filter)
            .sort(doc! { "_id": 1 })
            .skip(page.offset)
            .limit(i64::from(page.limit))
            .await
            .map_err(map_error)?;
        let documents: Vec<UserDocument> = cursor.try_collect().await.map_err(map_error)?;
        Ok(documents.into_iter().map(User::from).collect())
    }

    async fn update(&self, id: &str, update: UserUpdate) -> Result<User, IamError> {
        let oid = object_id(id)?;
        if update.is_empty() {
            return self.get(id).await;
        }
        if let Some(name) = &update.name {
            // FerretDB 1.x answers a unique-index violation on update with InternalError
            // (code 1), not E11000: look first, so that both servers give DuplicateName.
            let taken = self
                .users
                .find_one(doc! { "name": name, "_id": { "$ne": oid } })
                .await
                .map_err(map_error)?;
            if taken.is_some() {
                return Err(IamError::DuplicateName { name: name.clone() });
            }
        }
        let demotes = update
            .roles
            .as_ref()
            .is_some_and(|roles| !roles.iter().any(|r| r == ADMIN_ROLE));
        let mut set = Document::new();
        if let Some(name) = &update.name {
            set.insert("name", name.clone());
        }
        if let Some(hash) = update.password_hash {
            set.insert("passwordHash", hash);
        }
        if let Some(roles) = update.roles {
            set.insert("roles", roles);
        }
        let demotes_an_admin = demotes && self.refuse_last_admin(oid).await?;
        let name = update.name.unwrap_or_default();
        let updated = self
            .users
            .find_one_and_update(doc! { "_id": oid }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| map_write_error(e, &name))?
            .ok_or_else(|| IamError::UnknownUser { id: oid.to_hex() })?;
        if demotes_an_admin && self.admins().await? == 0 {
            // Lost a race with another demotion or delete: undo ours.
            self.users
                .update_one(
                    doc! { "_id": oid },
                    doc! { "$addToSet": { "roles": ADMIN_ROLE } },
                )
                .await
                .map_err(map_error)?;
            return Err(IamError::LastAdmin);
        }
        Ok(updated.into())
    }

    async fn delete(&self, id: &str) -> Result<(), IamError> {
        let oid = object_id(id)?;
        self.refuse_last_admin(oid).await?;
        let deleted = self
            .users
            .find_one_and_delete(doc! { "_id": oid })
            .await
            .map_err(map_error)?
            .ok_or_else(|| IamError::UnknownUser { id: oid.to_hex() })?;
        if is_admin(&deleted) && self.admins().await? == 0 {
            // Lost a race with another demotion or delete: put the user back.
            self.users
                .insert_one(&deleted)
                .await
                .map_err(|e| map_write_error(e, &deleted.name))?;
            return Err(IamError::LastAdmin);
        }
        Ok(())
    }

    fn is_persistent(&self) -> bool {
        true
    }

    async fn is_empty(&self) -> Result<bool, IamError> {
        Ok(self
            .users
            .find_one(Document::new())
            .await
            .map_err(map_error)?
            .is_none())
    }

    async fn check(&self) -> Result<(), IamError> {
        self.database
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(map_error)
    }
}
