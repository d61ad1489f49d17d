//! Password hashing with argon2id, on a small pool of dedicated threads.
//!
//! Each hashing thread keeps its argon2 memory arena (19 MiB at the OWASP parameters)
//! between calls, so a login does not map, fault in and unmap that memory again, and runs
//! at a lower scheduling priority than the async runtime, so that a burst of logins does
//! not delay the service's other requests.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use argon2_rust::params::Memory;
use argon2_rust::{Algorithm, Argon2, Hasher, Params, Version};
use tokio::sync::{Semaphore, oneshot};

use crate::{ConfigError, IamError, metrics};

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
    idle_priority: bool,
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
            idle_priority: true,
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

    /// How many hashes or verifications run at once (at least 1), which is also the number of hashing
    /// threads; more wait their turn, so the async runtime stays responsive. Each thread
    /// keeps an arena of `memory_kib` while the [`Passwords`] lives. Default is the number
    /// of CPU cores.
    #[must_use]
    pub fn max_concurrent(mut self, hashes: usize) -> Self {
        self.max_concurrent = hashes;
        self
    }

    /// Whether the hashing threads run at idle priority (`SCHED_IDLE` on Linux, the lowest
    /// priority elsewhere), so that the async runtime's threads take the CPU from them at
    /// once. Default is `true`. The price: on a host where other processes keep every core
    /// busy, idle-priority hashing waits until a core is free, so logins slow down first;
    /// turn it off there to hash at normal priority.
    #[must_use]
    pub fn idle_priority(mut self, idle: bool) -> Self {
        self.idle_priority = idle;
        self
    }

    /// Checks the settings that the setters cannot: lengths in order, at least one hashing
    /// thread, argon2 parameters argon2 accepts.
    fn params(&self) -> Result<Params, ConfigError> {
        if self.max_concurrent == 0 {
            return Err(ConfigError::Invalid(
                "the password policy's max_concurrent must be at least 1".to_owned(),
            ));
        }
        if self.min_length == 0 || self.min_length > self.max_length {
            return Err(ConfigError::Invalid(format!(
                "the password policy's lengths are out of order: min_length {} must be \
                 between 1 and max_length {}",
                self.min_length, self.max_length
            )));
        }
        Params::builder()
            .memory(Memory::kib(u64::from(self.memory_kib)))
            .passes(self.iterations)
            .lanes(self.parallelism)
            .build()
            .map_err(|e| ConfigError::Invalid(format!("invalid argon2 parameters: {e}")))
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

/// Hashes and verifies passwords with argon2id on `max_concurrent` dedicated threads,
/// which run below the async runtime's priority and keep their memory between calls.
/// Cheap to clone; the threads end when the last clone is dropped.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    policy: PasswordPolicy,
    pool: HashingPool,
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
    /// Checks the policy's parameters, starts the hashing threads and prepares the dummy
    /// hash used for unknown users. Parameters out of range are a
    /// [`ConfigError::Invalid`].
    pub async fn new(policy: PasswordPolicy) -> Result<Self, ConfigError> {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, policy.params()?);
        let pool = HashingPool::start(argon2, policy.max_concurrent, policy.idle_priority)?;
        let mut secret = [0u8; 24];
        getrandom::fill(&mut secret).map_err(|e| ConfigError::Hashing(e.to_string()))?;
        let dummy_password = base64_url(&secret);
        let dummy_hash = pool
            .run(move |hasher| hash_blocking(hasher, &dummy_password))
            .await
            .and_then(|hashed| hashed)
            .map_err(|e| ConfigError::Hashing(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                permits: Semaphore::new(policy.max_concurrent),
                policy,
                pool,
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
        let password = password.to_owned();
        self.run(move |hasher| hash_blocking(hasher, &password))
            .await?
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
        let policy = self.inner.policy.clone();
        let result = self
            .run(move |hasher| verify_blocking(hasher, &policy, &password, &hash))
            .await?;
        Ok(Verification {
            matches: known && result.matches,
            needs_rehash: known && result.matches && result.needs_rehash,
        })
    }

    /// Runs `work` on a hashing thread. Waiting for a permit first (rather than queueing
    /// on the pool) means a caller that gives up, such as a client that disconnects,
    /// leaves the queue without costing a hash.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Hasher) -> T + Send + 'static,
    ) -> Result<T, IamError> {
        let queued = metrics::QueuedHash::enter();
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|e| IamError::Hashing(e.to_string()))?;
        drop(queued);
        let started = Instant::now();
        let result = self.inner.pool.run(work).await;
        metrics::hash_duration(started.elapsed());
        result
    }
}

type Job = Box<dyn FnOnce(&mut Hasher) + Send>;

/// A fixed set of threads, each owning an argon2 [`Hasher`] whose memory arena stays
/// mapped between calls. The threads end when the pool is dropped.
struct HashingPool {
    jobs: Sender<Job>,
}

impl HashingPool {
    fn start(argon2: Argon2, threads: usize, idle_priority: bool) -> Result<Self, ConfigError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("portcullis-argon2-{index}"))
                .spawn(move || hashing_thread(&argon2, &queue, idle_priority))
                .map_err(|e| ConfigError::Hashing(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Hasher) -> T + Send + 'static,
    ) -> Result<T, IamError> {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |hasher| {
            let _ = reply.send(work(hasher));
        });
        self.jobs
            .send(job)
            .map_err(|_| IamError::Hashing("the hashing threads have stopped".to_owned()))?;
        result
            .await
            .map_err(|_| IamError::Hashing("a hashing job failed".to_owned()))
    }
}

fn hashing_thread(argon2: &Argon2, queue: &Mutex<Receiver<Job>>, idle_priority: bool) {
    if idle_priority {
        lower_this_thread_priority();
    }
    let mut hasher = argon2.hasher();
    loop {
        // The lock is held only while waiting for the next job, not while hashing.
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else {
            return; // the pool was dropped
        };
        if catch_unwind(AssertUnwindSafe(|| job(&mut hasher))).is_err() {
            // The caller sees a failed job; start again from a fresh arena.
            hasher = argon2.hasher();
        }
    }
}

/// Hashing is CPU-bound for tens of milliseconds: below normal priority, the runtime's
/// threads win the CPU whenever they have a request to serve. On Linux the threads use
/// `SCHED_IDLE`, which the kernel preempts at once when a normal thread wakes up (a low
/// nice value alone still lets a hash finish its time slice first, milliseconds); elsewhere
/// they take the lowest priority. Failing to lower it (a platform that does not allow it)
/// only costs that preference, so it is not an error.
fn lower_this_thread_priority() {
    use thread_priority::ThreadPriority;
    #[cfg(target_os = "linux")]
    let lowered = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        ThreadPriority::Min,
        thread_priority::ThreadSchedulePolicy::Normal(
            thread_priority::NormalThreadSchedulePolicy::Idle,
        ),
    );
    #[cfg(not(target_os = "linux"))]
    let lowered = thread_priority::set_current_thread_priority(ThreadPriority::Min);
    if let Err(e) = lowered {
        tracing::debug!(error = ?e, "could not lower the hashing thread's priority");
    }
}

fn hash_blocking(hasher: &mut Hasher, password: &str) -> Result<String, IamError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| IamError::Hashing(e.to_string()))?;
    hasher
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| IamError::Hashing(e.to_string()))
}

/// The most memory a stored hash may ask for (1 GiB): a hash beyond it did not come from
/// a sane policy, and verifying it would let one stored value exhaust the server.
const MAX_STORED_MEMORY_KIB: u32 = 1 << 20;

fn verify_blocking(
    hasher: &mut Hasher,
    policy: &PasswordPolicy,
    password: &str,
    hash: &str,
) -> Verification {
    let no_match = Verification {
        matches: false,
        needs_rehash: false,
    };
    let stored = match argon2_rust::decode_phc(hash) {
        Ok(stored) if stored.params.memory_kib() <= MAX_STORED_MEMORY_KIB => stored,
        _ => {
            // A corrupt stored hash can never match; it is not the caller's fault either way.
            tracing::warn!("a stored password hash could not be parsed");
            return no_match;
        }
    };
    let matches = hasher
        .verify_encoded(hash, password.as_bytes(), stored.algorithm)
        .is_ok();
    let needs_rehash = stored.algorithm != Algorithm::Argon2id
        || stored.version != Version::V0x13
        || stored.params.memory_kib() != policy.memory_kib
        || stored.params.passes() != policy.iterations
        || stored.params.lanes() != policy.parallelism;
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
    async fn hashes_made_by_another_argon2_implementation_still_verify() {
        // Made by RustCrypto's `argon2` 0.6, which hashed this project's passwords before
        // `argon2-rust`: users stored then must still log in.
        const STORED: &str = "$argon2id$v=19$m=64,t=1,p=1$Zml4ZWQgc2FsdCAxNiBieQ$hVxO71R1VSsUl2ER+4txrN22vphfzS9QY6+rV1xUQu8";
        let passwords = fast().await;
        let ok = passwords
            .verify("correct horse", Some(STORED))
            .await
            .unwrap();
        assert!(ok.matches && !ok.needs_rehash);
        let bad = passwords
            .verify("correct horsf", Some(STORED))
            .await
            .unwrap();
        assert!(!bad.matches);
    }

    #[tokio::test]
    async fn a_hash_asking_for_absurd_memory_is_refused_unverified() {
        let passwords = fast().await;
        let hostile = "$argon2id$v=19$m=4294967295,t=1,p=1$Zml4ZWQgc2FsdCAxNiBieQ$hVxO71R1VSsUl2ER+4txrN22vphfzS9QY6+rV1xUQu8";
        let outcome = passwords
            .verify("correct horse", Some(hostile))
            .await
            .unwrap();
        assert!(!outcome.matches);
    }

    /// The scheduling policy of the calling thread: field 41 of /proc/thread-self/stat
    /// (the name, in parentheses, comes before it and may hold spaces).
    #[cfg(target_os = "linux")]
    fn this_thread_policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let (_, rest) = stat.rsplit_once(") ").unwrap();
        rest.split_whitespace().nth(38).unwrap().parse().unwrap()
    }

    /// Runs one job on every thread of the pool at once (each job waits at a barrier that
    /// only opens when all threads hold one) and returns their scheduling policies. Reading
    /// them from inside this pool's own threads keeps other tests' pools, which may be
    /// starting at the same moment, out of the answer.
    #[cfg(target_os = "linux")]
    async fn policies_of_every_hashing_thread(passwords: &Passwords) -> Vec<u32> {
        let threads = passwords.inner.policy.max_concurrent;
        let barrier = Arc::new(std::sync::Barrier::new(threads));
        let mut jobs = tokio::task::JoinSet::new();
        for _ in 0..threads {
            let (passwords, barrier) = (passwords.clone(), Arc::clone(&barrier));
            jobs.spawn(async move {
                passwords
                    .inner
                    .pool
                    .run(move |_| {
                        barrier.wait();
                        this_thread_policy()
                    })
                    .await
                    .unwrap()
            });
        }
        jobs.join_all().await
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_idle_priority() {
        const SCHED_IDLE: u32 = 5;
        let policies = policies_of_every_hashing_thread(&fast().await).await;
        assert_eq!(policies, vec![SCHED_IDLE; policies.len()]);
        assert!(!policies.is_empty());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn idle_priority_can_be_turned_off() {
        const SCHED_OTHER: u32 = 0;
        let passwords =
            Passwords::new(PasswordPolicy::insecure_fast_for_tests().idle_priority(false))
                .await
                .unwrap();
        let policies = policies_of_every_hashing_thread(&passwords).await;
        assert_eq!(policies, vec![SCHED_OTHER; policies.len()]);
    }

    #[tokio::test]
    async fn out_of_range_parameters_are_a_config_error_not_a_hang_or_panic() {
        for policy in [
            PasswordPolicy::insecure_fast_for_tests().max_concurrent(0),
            PasswordPolicy::insecure_fast_for_tests()
                .min_length(20)
                .max_length(10),
            PasswordPolicy::insecure_fast_for_tests().min_length(0),
            PasswordPolicy::insecure_fast_for_tests().iterations(0),
            PasswordPolicy::insecure_fast_for_tests().memory_kib(1),
        ] {
            let result = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                Passwords::new(policy.clone()),
            )
            .await
            .expect("building must not hang");
            assert!(
                matches!(result, Err(ConfigError::Invalid(_))),
                "{policy:?}: {result:?}"
            );
        }
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
