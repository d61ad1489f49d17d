//! [`MongoOAuthStore`], clients and refresh tokens in `MongoDB` (feature `mongodb`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};

use super::mongo_documents::{ClientDocument, RefreshTokenDocument, to_date};
use super::{ClientUpdate, OAuthClient, OAuthStore, RefreshTokenRecord, RefreshTokenState};
use crate::store::mongo::{is_duplicate_key, map_error};
use crate::{ConfigError, IamError};

/// Clients in the collection `oauthClients` (`_id` the client id) and refresh tokens in
/// `oauthRefreshTokens` (`_id` the token's keyed hash, indexes on `familyId`, `userId` and
/// `clientId`), beside the users in the same database.
///
/// # Expired refresh tokens
/// Each token document carries two BSON dates: `activeUntil` (the token's own expiry, the
/// earlier of its idle and absolute limits) and `familyUntil` (the family's absolute
/// expiry). Two TTL indexes (`expireAfterSeconds: 0`) let the server delete a document
/// at `activeUntil` while it is `active` (a partial index on `state: "active"`: an
/// unused expired token can no longer matter) and at `familyUntil` whatever its state.
/// A `used` or `revoked` token thus stays until its family ends, so presenting it again
/// is still detected as a reuse while a newer token of the family may be alive. The
/// claims in `oauthRefreshTokenUses` (below) go an hour after they were made.
///
/// `MongoDB` runs its TTL monitor about once a minute. Servers that refuse TTL or partial
/// indexes get plain indexes on the same fields instead (`FerretDB` 1.x refuses TTL
/// indexes), and on every server the IAM also deletes
/// expired tokens itself, in bounded batches, every
/// [`refresh_sweep_interval`](crate::OAuthSettings::refresh_sweep_interval), through
/// [`OAuthStore::delete_expired_refresh_tokens`].
///
/// # Rotating a refresh token
/// Of two instances presenting one token at the same moment exactly one must win. A
/// `findAndModify` on `{_id, state: "active"}` does that on `MongoDB`, but `FerretDB` 1.x
/// reads and writes in two steps there, and the store suite's race test saw several
/// winners. So the store first inserts `{_id: <hash>}` into `oauthRefreshTokenUses`: the
/// unique `_id` lets exactly one insert succeed on every server, and only that caller
/// goes on to the `findAndModify` that marks the token used. That one filters on `_id`
/// alone and judges the state it returns: `FerretDB` 1.x answers only an `_id`-alone
/// filter from an index, and reads the whole collection for any other. The successor is
/// inserted beside the claim, and the family's revocation record read beside the
/// `findAndModify`: two round trips one after the other instead of five. A rotation that
/// loses revokes the successor it stored, which nobody has seen.
///
/// # Revoking a family
/// A revocation is an `update_many`, which is not atomic across documents: it can select
/// a family before a concurrent rotation inserts the family's new token, so that token
/// would stay active. So every revocation first upserts `{_id: <family id>, expiresAt}`
/// into `oauthRevokedFamilies` for each family it reaches, a single-document fact, and
/// only then updates the tokens. Every lookup and rotation reads that record, a rotation
/// after inserting its successor: either it sees the record, or its
/// insert came before the update began and the update revoked it (RFC 9700 section
/// 4.14.2: after a reuse, no token of the family survives). `expiresAt` is the latest
/// expiry among the family's tokens, so a sweep of expired records may remove it.
///
/// ```no_run
/// # async fn demo() -> Result<(), portcullis_iam::ConfigError> {
/// use portcullis_iam::MongoOAuthStore;
///
/// let store = MongoOAuthStore::connect("mongodb://127.0.0.1:27017", "usermanagement").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MongoOAuthStore {
    clients: Collection<ClientDocument>,
    refresh_tokens: Collection<RefreshTokenDocument>,
    uses: Collection<Document>,
    revoked_families: Collection<Document>,
}

impl MongoOAuthStore {
    /// Connects to `uri` (5-second server-selection and connect timeouts unless the URI
    /// sets them), uses database `database` and creates the indexes.
    pub async fn connect(uri: &str, database: &str) -> Result<Self, ConfigError> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| ConfigError::Invalid(format!("invalid MongoDB URI: {}", e.kind)))?;
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(5));
        options
            .connect_timeout
            .get_or_insert(Duration::from_secs(5));
        let client = Client::with_options(options).map_err(|e| ConfigError::Store(map_error(e)))?;
        Self::new(client.database(database)).await
    }

    /// Uses `database` (configured by the caller) and creates the indexes.
    pub async fn new(database: Database) -> Result<Self, ConfigError> {
        let clients = database.collection::<ClientDocument>("oauthClients");
        let refresh_tokens = database.collection::<RefreshTokenDocument>("oauthRefreshTokens");
        for field in ["familyId", "userId", "clientId"] {
            let index = IndexModel::builder()
                .keys(doc! { field: 1 })
                .options(IndexOptions::builder().name(format!("{field}_1")).build())
                .build();
            refresh_tokens
                .create_index(index)
                .await
                .map_err(|e| ConfigError::Store(map_error(e)))?;
        }
        let uses = database.collection::<Document>("oauthRefreshTokenUses");
        let tokens = refresh_tokens.clone_with_type::<Document>();
        expiry_index(
            &tokens,
            "activeUntil",
            Duration::ZERO,
            Some(doc! { "state": "active" }),
        )
        .await?;
        expiry_index(&tokens, "familyUntil", Duration::ZERO, None).await?;
        expiry_index(&uses, "claimedAt", CLAIM_TTL, None).await?;
        Ok(Self {
            clients,
            refresh_tokens,
            uses,
            revoked_families: database.collection::<Document>("oauthRevokedFamilies"),
        })
    }

    async fn revoke_where(&self, filter: Document) -> Result<u64, IamError> {
        let mut filter = filter;
        filter.insert("state", doc! { "$ne": "revoked" });
        self.mark_families_revoked(&filter).await?;
        let result = self
            .refresh_tokens
            .update_many(filter, doc! { "$set": { "state": "revoked" } })
            .await
            .map_err(map_error)?;
        Ok(result.modified_count)
    }

    /// Records the family of every token `filter` matches as revoked, before the tokens
    /// themselves are: see "Revoking a family" above.
    async fn mark_families_revoked(&self, filter: &Document) -> Result<(), IamError> {
        let mut until: HashMap<String, i64> = HashMap::new();
        let mut cursor = self
            .refresh_tokens
            .clone_with_type::<Document>()
            .find(filter.clone())
            .projection(doc! { "familyId": 1, "expiresAt": 1 })
            .await
            .map_err(map_error)?;
        while let Some(token) = cursor.try_next().await.map_err(map_error)? {
            let Ok(family) = token.get_str("familyId") else {
                continue;
            };
            let expires_at = token.get_i64("expiresAt").unwrap_or(i64::MAX);
            let latest = until.entry(family.to_owned()).or_insert(expires_at);
            *latest = (*latest).max(expires_at);
        }
        for (family, expires_at) in until {
            self.revoked_families
                .update_one(
                    doc! { "_id": family },
                    doc! { "$max": { "expiresAt": expires_at } },
                )
                .upsert(true)
                .await
                .map_err(map_error)?;
        }
        Ok(())
    }

    async fn mark_token_revoked(&self, hash: &str) -> Result<(), IamError> {
        self.refresh_tokens
            .update_one(
                doc! { "_id": hash },
                doc! { "$set": { "state": "revoked" } },
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    /// Whether a revocation has reached the family.
    async fn family_revoked(&self, family_id: &str) -> Result<bool, IamError> {
        Ok(self
            .revoked_families
            .find_one(doc! { "_id": family_id })
            .await
            .map_err(map_error)?
            .is_some())
    }
}

/// How long a claim in `oauthRefreshTokenUses` is kept. Once the claim's `findAndModify`
/// has run, the token's state alone refuses a second use, so the claim only has to
/// outlive that call; a claim left by a crash between the two frees its token after this.
const CLAIM_TTL: Duration = Duration::from_secs(3600);

/// Creates the TTL index `{field: 1}` (`expireAfterSeconds`, optionally partial), or, when
/// the server refuses it, a plain index on `field` so that the sweep's queries stay cheap.
async fn expiry_index(
    collection: &Collection<Document>,
    field: &str,
    after: Duration,
    partial: Option<Document>,
) -> Result<(), ConfigError> {
    let ttl = IndexModel::builder()
        .keys(doc! { field: 1 })
        .options(
            IndexOptions::builder()
                .name(format!("{field}_ttl"))
                .expire_after(after)
                .partial_filter_expression(partial)
                .build(),
        )
        .build();
    let Err(refused) = collection.create_index(ttl).await else {
        return Ok(());
    };
    tracing::info!(
        collection = collection.name(),
        field,
        error = %refused,
        "the server refused a TTL index: expired refresh tokens are deleted by the IAM's \
         periodic sweep only"
    );
    let plain = IndexModel::builder()
        .keys(doc! { field: 1 })
        .options(IndexOptions::builder().name(format!("{field}_1")).build())
        .build();
    collection
        .create_index(plain)
        .await
        .map_err(|e| ConfigError::Store(map_error(e)))?;
    Ok(())
}

#[async_trait]
impl OAuthStore for MongoOAuthStore {
    async fn create_client(&self, client: OAuthClient) -> Result<(), IamError> {
        let id = client.id.clone();
        self.clients
            .insert_one(ClientDocument::from(client))
            .await
            .map_err(|e| {
                if is_duplicate_key(&e) {
                    IamError::DuplicateClient { id }
                } else {
                    map_error(e)
                }
            })?;
        Ok(())
    }

    async fn put_client(&self, client: OAuthClient) -> Result<(), IamError> {
        let document = ClientDocument::from(client);
        self.clients
            .replace_one(doc! { "_id": &document.id }, &document)
            .upsert(true)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn get_client(&self, id: &str) -> Result<Option<OAuthClient>, IamError> {
        Ok(self
            .clients
            .find_one(doc! { "_id": id })
            .await
            .map_err(map_error)?
            .map(OAuthClient::from))
    }

    async fn list_clients(&self) -> Result<Vec<OAuthClient>, IamError> {
        let cursor = self
            .clients
            .find(Document::new())
            .sort(doc! { "_id": 1 })
            .await
            .map_err(map_error)?;
        let documents: Vec<ClientDocument> = cursor.try_collect().await.map_err(map_error)?;
        Ok(documents.into_iter().map(OAuthClient::from).collect())
    }

    async fn update_client(&self, id: &str, update: ClientUpdate) -> Result<OAuthClient, IamError> {
        let mut set = Document::new();
        if let Some(disabled) = update.disabled {
            set.insert("disabled", disabled);
        }
        if let Some(hash) = update.secret_hash {
            set.insert("secretHash", hash);
        }
        let unknown = || IamError::UnknownClient { id: id.to_owned() };
        if set.is_empty() {
            return self.get_client(id).await?.ok_or_else(unknown);
        }
        self.clients
            .find_one_and_update(doc! { "_id": id }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_error)?
            .map(OAuthClient::from)
            .ok_or_else(unknown)
    }

    async fn insert_refresh_token(&self, record: RefreshTokenRecord) -> Result<(), IamError> {
        self.refresh_tokens
            .insert_one(RefreshTokenDocument::from(record))
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn find_refresh_token(&self, hash: &str) -> Result<Option<RefreshTokenRecord>, IamError> {
        let Some(mut record) = self
            .refresh_tokens
            .find_one(doc! { "_id": hash })
            .await
            .map_err(map_error)?
            .map(RefreshTokenRecord::from)
        else {
            return Ok(None);
        };
        if record.state != RefreshTokenState::Revoked
            && self.family_revoked(&record.family_id).await?
        {
            record.state = RefreshTokenState::Revoked;
        }
        Ok(Some(record))
    }

    async fn rotate_refresh_token(
        &self,
        hash: &str,
        successor: RefreshTokenRecord,
    ) -> Result<bool, IamError> {
        let family_id = successor.family_id.clone();
        let successor_hash = successor.hash.clone();
        // The claim (exactly one insert of this `_id` succeeds, whatever the server) and
        // the successor's insert side by side: a successor whose rotation loses is revoked
        // below, before anyone could learn it.
        let claim = doc! { "_id": hash, "claimedAt": DateTime::now() };
        let (claimed, stored) = tokio::join!(
            self.uses.insert_one(claim),
            self.refresh_tokens
                .insert_one(RefreshTokenDocument::from(successor))
        );
        match (claimed, stored) {
            (Ok(_), Ok(_)) => {}
            (Ok(_), Err(e)) => {
                // Nothing changed the token: release the claim so that a retry can still
                // rotate it (if this fails too, the claim expires after CLAIM_TTL).
                let _ = self.uses.delete_one(doc! { "_id": hash }).await;
                return Err(map_error(e));
            }
            (Err(e), stored) => {
                if stored.is_ok() {
                    self.mark_token_revoked(&successor_hash).await?;
                }
                return if is_duplicate_key(&e) {
                    Ok(false)
                } else {
                    Err(map_error(e))
                };
            }
        }
        // The claim made this caller the token's only consumer, so the filter is `_id`
        // alone: the one filter `FerretDB` 1.x answers from an index (any other scans the
        // collection). Whatever state the token was in stays decided by the copy from
        // before the write. The family is asked only now that the successor is stored:
        // see "Revoking a family" above.
        let (before, family_revoked) = tokio::join!(
            self.refresh_tokens
                .find_one_and_update(doc! { "_id": hash }, doc! { "$set": { "state": "used" } }),
            self.family_revoked(&family_id)
        );
        let before = before.map_err(map_error)?;
        let family_revoked = family_revoked?;
        let rotated = match before.map(|before| before.state) {
            Some(RefreshTokenState::Active) if family_revoked => {
                // Its family was revoked, and the revocation's update missed this token
                // (inserted after it began) or has not reached it yet: revoked too.
                self.mark_token_revoked(hash).await?;
                false
            }
            Some(RefreshTokenState::Active) => true,
            // A revocation wrote this; the write above must not undo it.
            Some(RefreshTokenState::Revoked) => {
                self.mark_token_revoked(hash).await?;
                false
            }
            // A claim older than CLAIM_TTL was swept: the token was used, and still is.
            Some(RefreshTokenState::Used) | None => false,
        };
        if !rotated {
            self.mark_token_revoked(&successor_hash).await?;
        }
        Ok(rotated)
    }

    async fn revoke_refresh_family(&self, family_id: &str) -> Result<u64, IamError> {
        self.revoke_where(doc! { "familyId": family_id }).await
    }

    async fn revoke_user_refresh_tokens(&self, user_id: &str) -> Result<u64, IamError> {
        self.revoke_where(doc! { "userId": user_id }).await
    }

    async fn revoke_client_refresh_tokens(&self, client_id: &str) -> Result<u64, IamError> {
        self.revoke_where(doc! { "clientId": client_id }).await
    }

    async fn delete_expired_refresh_tokens(&self, now: u64, limit: u64) -> Result<u64, IamError> {
        // A family's revocation record outlives every token it covered: then it is done.
        self.revoked_families
            .delete_many(doc! { "expiresAt": { "$lte": i64::try_from(now).unwrap_or(i64::MAX) } })
            .await
            .map_err(map_error)?;
        let now = to_date(now);
        let expired = doc! { "$or": [
            { "state": "active", "activeUntil": { "$lte": now } },
            { "familyUntil": { "$lte": now } },
        ] };
        // Bounded: the ids of at most `limit` documents, then one delete of those that
        // still match (a token may have changed in between).
        let ids: Vec<Bson> = self
            .refresh_tokens
            .clone_with_type::<Document>()
            .find(expired.clone())
            .projection(doc! { "_id": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(map_error)?
            .try_collect::<Vec<Document>>()
            .await
            .map_err(map_error)?
            .into_iter()
            .filter_map(|document| document.get("_id").cloned())
            .collect();
        let deleted = if ids.is_empty() {
            0
        } else {
            self.refresh_tokens
                .delete_many(doc! { "$and": [expired, { "_id": { "$in": ids } }] })
                .await
                .map_err(map_error)?
                .deleted_count
        };
        // Claims age by this process's wall clock: they were stamped with it.
        let stale = SystemTime::now()
            .checked_sub(CLAIM_TTL)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.uses
            .delete_many(doc! { "claimedAt": { "$lte": DateTime::from_system_time(stale) } })
            .await
            .map_err(map_error)?;
        Ok(deleted)
    }

    fn is_persistent(&self) -> bool {
        true
    }
}
