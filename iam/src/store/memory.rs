//! [`MemoryUserStore`], the embedded default.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::RwLock;

use async_trait::async_trait;

use super::{NewUser, PageRequest, User, UserStore, UserUpdate, new_object_id, parse_object_id};
use crate::IamError;
use crate::routes::ADMIN_ROLE;

/// Users in memory, lost when the process ends: the embedded default, for tests and
/// single-instance demos.
///
/// Safe under concurrency: one lock guards both the users and the name index, so a name is
/// checked and taken in one step, and the last admin is checked and kept in one step too
/// (two admins demoting each other at once leave exactly one).
#[derive(Debug, Default)]
pub struct MemoryUserStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: BTreeMap<String, User>,
    id_by_name: HashMap<String, String>,
}

impl MemoryUserStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated (every write
        // below checks first, then mutates), so a poisoned lock is still consistent.
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    /// Whether `id` is an admin and no other user is.
    fn is_last_admin(&self, id: &str) -> bool {
        let is_admin = |user: &User| user.roles.iter().any(|r| r == ADMIN_ROLE);
        self.by_id.get(id).is_some_and(is_admin)
            && !self
                .by_id
                .values()
                .any(|user| user.id != id && is_admin(user))
    }
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn create(&self, user: NewUser) -> Result<User, IamError> {
        let mut inner = self.write();
        if inner.id_by_name.contains_key(&user.name) {
            return Err(IamError::DuplicateName { name: user.name });
        }
        let stored = User {
            id: new_object_id(),
            name: user.name,
            password_hash: user.password_hash,
            roles: user.roles,
        };
        inner
            .id_by_name
            .insert(stored.name.clone(), stored.id.clone());
        inner.by_id.insert(stored.id.clone(), stored.clone());
        Ok(stored)
    }

    async fn get(&self, id: &str) -> Result<User, IamError> {
        let id = parse_object_id(id)?;
        self.read()
            .by_id
            .get(&id)
            .cloned()
            .ok_or(IamError::UnknownUser { id })
    }

    async fn find_by_name(&self, name: &str) -> Result<Option<User>, IamError> {
        let inner = self.read();
        Ok(inner
            .id_by_name
            .get(name)
            .and_then(|id| inner.by_id.get(id))
            .cloned())
    }

    async fn list(&self, page: PageRequest) -> Result<Vec<User>, IamError> {
        let lower = match page.after {
            Some(after) => Bound::Excluded(parse_object_id(&after)?),
            None => Bound::Unbounded,
        };
        let inner = self.read();
        Ok(inner
            .by_id
            .range((lower, Bound::Unbounded))
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(page.limit as usize)
            .map(|(_, user)| user.clone())
            .collect())
    }

    async fn update(&self, id: &str, update: UserUpdate) -> Result<User, IamError> {
        let id = parse_object_id(id)?;
        let mut inner = self.write();
        let Some(current) = inner.by_id.get(&id) else {
            return Err(IamError::UnknownUser { id });
        };
        let old_name = current.name.clone();
        if let Some(roles) = &update.roles
            && !roles.iter().any(|r| r == ADMIN_ROLE)
            && inner.is_last_admin(&id)
        {
            return Err(IamError::LastAdmin);
        }
        if let Some(name) = &update.name
            && *name != old_name
            && inner.id_by_name.contains_key(name)
        {
            return Err(IamError::DuplicateName { name: name.clone() });
        }
        let Some(user) = inner.by_id.get_mut(&id) else {
            return Err(IamError::UnknownUser { id });
        };
        if let Some(name) = update.name {
            user.name = name;
        }
        if let Some(hash) = update.password_hash {
            user.password_hash = hash;
        }
        if let Some(roles) = update.roles {
            user.roles = roles;
        }
        let updated = user.clone();
        if updated.name != old_name {
            inner.id_by_name.remove(&old_name);
            inner.id_by_name.insert(updated.name.clone(), id);
        }
        Ok(updated)
    }

    async fn delete(&self, id: &str) -> Result<(), IamError> {
        let id = parse_object_id(id)?;
        let mut inner = self.write();
        if inner.is_last_admin(&id) {
            return Err(IamError::LastAdmin);
        }
        match inner.by_id.remove(&id) {
            Some(user) => {
                inner.id_by_name.remove(&user.name);
                Ok(())
            }
            None => Err(IamError::UnknownUser { id }),
        }
    }

    fn is_persistent(&self) -> bool {
        false
    }

    async fn is_empty(&self) -> Result<bool, IamError> {
        Ok(self.read().by_id.is_empty())
    }
}
