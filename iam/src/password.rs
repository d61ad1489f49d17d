//! Password hashing with argon2id, off the async runtime and bounded in number.

use std::fmt;
use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::IamError;

/// How passwords are hashed and which passwords are accepted.
///
/// Defaults follow the OWASP minimum for argon2id (m = 19456 KiB, t = 2, p = 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    min_length: usize,
    max_length: usize,
    max_concurrent: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            min_length: 8,
            max_length: 1024,
            max_concurrent: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

impl PasswordPolicy {
    /// The OWASP minimum (the default).
    pub fn owasp() -> Self {
        Self::default()
    }

    /// Cheap parameters (m = 64 KiB, t = 1) for tests only: never in production.
    pub fn insecure_fast_for_tests() -> Self {
        Self {
            memory_kib: 64,
            iterations: 1,
            ..Self::default()
        }
    }

    /// argon2id memory cost in KiB. Default is 19456 (19 MiB).
    #[must_use]
    pub fn memory_kib(mut self, kib: u32) -> Self {
        self.memory_kib = kib;
        self
    }

    /// argon2id iterations (time cost). Default is 2.
    #[must_use]
    pub fn iterations(mut self, iterations: u32) -> Self {
        self.iterations = iterations;
        self
    }

    /// argon2id lanes (parallelism). Default is 1.
    #[must_use]
    pub fn parallelism(mut self, lanes: u32) -> Self {
        self.parallelism = lanes;
        self
    }

    /// The shortest password accepted, in characters. Default is 8.
    #[must_use]
    pub fn min_length(mut self, chars: usize) -> Self {
        self.min_length = chars;
        self
    }

    /// The longest password accepted, in bytes (bounds the hashing work). Default is 1024.
    #[must_use]
    pub fn max_length(mut self, bytes: usize) -> Self {
        self.max_length = bytes;
        self
    }

    /// How many hashes or verifications run at once; more wait their turn, so the async
    /// runtime stays responsive. Default is the number of CPU cores.
    #[must_use]
    pub fn max_concurrent(mut self, hashes: usize) -> Self {
        self.max_concurrent = hashes.max(1);
        self
    }

    fn params(&self) -> Result<Params, IamError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| IamError::Hashing(format!("invalid argon2 parameters: {e}")))
    }
}

/// The outcome of [`Passwords::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// Whether the password matches.
    pub matches: bool,
    /// Whether the stored hash was made with other parameters than the current policy's
    /// (so it should be replaced after a successful login).
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords with argon2id on tokio's blocking pool, at most
/// `max_concurrent` at a time. Cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    policy: PasswordPolicy,
    params: Params,
    permits: Semaphore,
    dummy_hash: String,
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passwords")
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// Checks the policy's parameters and prepares the dummy hash used for unknown users.
    pub async fn new(policy: PasswordPolicy) -> Result<Self, IamError> {
        let params = policy.params()?;
        let mut secret = [0u8; 24];
        getrandom::fill(&mut secret).map_err(|e| IamError::Hashing(e.to_string()))?;
        let dummy_password = base64_url(&secret);
        let dummy_hash = {
            let params = params.clone();
            tokio::task::spawn_blocking(move || hash_blocking(&params, &dummy_password))
                .await
                .map_err(|e| IamError::Hashing(e.to_string()))??
        };
        Ok(Self {
            inner: Arc::new(Inner {
                permits: Semaphore::new(policy.max_concurrent),
                policy,
                params,
                dummy_hash,
            }),
        })
    }

    /// The policy in force.
    pub fn policy(&self) -> &PasswordPolicy {
        &self.inner.policy
    }

    pub(crate) fn max_password_bytes(&self) -> usize {
        self.inner.policy.max_length
    }

    /// Refuses passwords that are too short, too long, or equal to the user name.
    pub fn check(&self, name: &str, password: &str) -> Result<(), IamError> {
        let policy = &self.inner.policy;
        if password.chars().count() < policy.min_length {
            return Err(IamError::Validation(format!(
                "Password must have at least {} characters",
                policy.min_length
            )));
        }
        if password.len() > policy.max_length {
            return Err(IamError::Validation(format!(
                "Password must have at most {} bytes",
                policy.max_length
            )));
        }
        if password.eq_ignore_ascii_case(name) {
            return Err(IamError::Validation(
                "Password must not be the user name".to_owned(),
            ));
        }
        Ok(())
    }

    /// Hashes `password` into a PHC string with a fresh random salt.
    pub async fn hash(&self, password: &str) -> Result<String, IamError> {
        let params = self.inner.params.clone();
        let password = password.to_owned();
        self.run(move || hash_blocking(&params, &password)).await?
    }

    /// Verifies `password` against `hash`, or against a dummy hash when `hash` is `None`
    /// (an unknown user), so that both cases take the same time and both fail alike.
    pub async fn verify(
        &self,
        password: &str,
        hash: Option<&str>,
    ) -> Result<Verification, IamError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or(&self.inner.dummy_hash).to_owned();
        let password = password.to_owned();
        let params = self.inner.params.clone();
        let result = self
            .run(move || verify_blocking(&params, &password, &hash))
            .await?;
        Ok(Verification {
            matches: known && result.matches,
            needs_rehash: known && result.matches && result.needs_rehash,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, IamError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|e| IamError::Hashing(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| IamError::Hashing(e.to_string()))
    }
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, IamError> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| IamError::Hashing(e.to_string()))
}

fn verify_blocking(params: &Params, password: &str, hash: &str) -> Verification {
    let Ok(parsed) = PasswordHash::new(hash) else {
        // A corrupt stored hash can never match; it is not the caller's fault either way.
        tracing::warn!("a stored password hash could not be parsed");
        return Verification {
            matches: false,
            needs_rehash: false,
        };
    };
    let matches = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    let needs_rehash = parsed.algorithm.as_str() != "argon2id"
        || Params::try_from(&parsed).map_or(true, |stored| {
            stored.m_cost() != params.m_cost()
                || stored.t_cost() != params.t_cost()
                || stored.p_cost() != params.p_cost()
        });
    Verification {
        matches,
        needs_rehash,
    }
}

pub(crate) fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fast() -> Passwords {
        Passwords::new(PasswordPolicy::insecure_fast_for_tests())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = fast().await;
        let hash = passwords.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(!hash.contains("correct horse"));
        let ok = passwords
            .verify("correct horse", Some(&hash))
            .await
            .unwrap();
        assert!(ok.matches && !ok.needs_rehash);
        let bad = passwords.verify("wrong horse", Some(&hash)).await.unwrap();
        assert!(!bad.matches);
    }

    #[tokio::test]
    async fn unknown_users_never_match() {
        let passwords = fast().await;
        let outcome = passwords.verify("anything", None).await.unwrap();
        assert!(!outcome.matches);
    }

    #[tokio::test]
    async fn a_hash_with_old_parameters_needs_rehash() {
        let old = fast().await;
        let hash = old.hash("correct horse").await.unwrap();
        let new = Passwords::new(PasswordPolicy::insecure_fast_for_tests().iterations(2))
            .await
            .unwrap();
        let outcome = new.verify("correct horse", Some(&hash)).await.unwrap();
        assert!(outcome.matches && outcome.needs_rehash);
    }

    #[tokio::test]
    async fn policy_refuses_short_passwords_and_the_user_name() {
        let passwords = fast().await;
        assert!(passwords.check("alice", "short").is_err());
        assert!(passwords.check("alice1234", "Alice1234").is_err());
        assert!(passwords.check("alice", &"x".repeat(2000)).is_err());
        assert!(passwords.check("alice", "long enough").is_ok());
    }

    #[tokio::test]
    async fn a_corrupt_hash_does_not_match() {
        let passwords = fast().await;
        let outcome = passwords
            .verify("whatever1", Some("not a phc string"))
            .await
            .unwrap();
        assert!(!outcome.matches);
    }
}
