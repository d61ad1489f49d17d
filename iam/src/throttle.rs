//! Login throttling: failed logins counted per user name and per client address.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::ConfigError;
use crate::client_address::{AddressPolicy, IpRange};

/// Limits on failed logins, and where the client address comes from.
///
/// A login attempt is counted *before* its password is checked, so with a limit of 5, 50
/// parallel wrong attempts lead to exactly 5 checks and 45 refusals (429 with
/// `Retry-After`). A successful login gives its attempt back. Attempts beyond the
/// remaining budget while others are still being checked wait for them to settle (at most
/// [`in_flight_wait`](Self::in_flight_wait)) instead of being refused, so correct logins
/// are never refused for being concurrent.
///
/// Behind a reverse proxy, name the proxies with
/// [`trusted_proxies`](Self::trusted_proxies), or every client shares the proxy's address:
///
/// ```
/// use portcullis_iam::ThrottlePolicy;
///
/// let policy = ThrottlePolicy::default()
///     .trusted_proxies(["10.0.0.0/8".parse()?, "127.0.0.1".parse()?])
///     .forwarded_hops(1)
///     .ipv6_prefix_len(64);
/// # Ok::<(), portcullis_iam::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    max_failures_per_name: u32,
    max_failures_per_address: u32,
    window: Duration,
    in_flight_wait: Duration,
    pub(crate) address: AddressPolicy,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            max_failures_per_name: 5,
            max_failures_per_address: 20,
            window: Duration::from_secs(15 * 60),
            in_flight_wait: Duration::from_secs(5),
            address: AddressPolicy::default(),
        }
    }
}

/// The longest window [`ThrottlePolicy::window`] accepts.
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

impl ThrottlePolicy {
    /// Failed logins allowed for one user name within the window (at least 1). Default is
    /// 5.
    #[must_use]
    pub fn max_failures_per_name(mut self, failures: u32) -> Self {
        self.max_failures_per_name = failures;
        self
    }

    /// Failed logins allowed from one client address within the window (at least 1).
    /// Default is 20.
    #[must_use]
    pub fn max_failures_per_address(mut self, failures: u32) -> Self {
        self.max_failures_per_address = failures;
        self
    }

    /// The window, counted from the first attempt in it: 1 second to 24 hours. Default is
    /// 15 minutes.
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// How long an attempt beyond the remaining budget waits for attempts still being
    /// checked to settle before it is refused with 429 (at most 1 minute). Default is 5
    /// seconds.
    #[must_use]
    pub fn in_flight_wait(mut self, wait: Duration) -> Self {
        self.in_flight_wait = wait;
        self
    }

    /// The reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` entries are
    /// believed. Only when the TCP peer is one of them is the header read, and then only
    /// the rightmost [`forwarded_hops`](Self::forwarded_hops) entries, each only while the
    /// address before it is trusted too: proxies append (RFC 7239 practice), so entries
    /// further left were written by the client and prove nothing. Default is none: the
    /// header is ignored and the TCP peer (axum's `ConnectInfo`) is the client.
    #[must_use]
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpRange>) -> Self {
        self.address.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// How many trusted proxies stand in front of the IAM, i.e. at most how many
    /// `X-Forwarded-For` entries are taken from the right. Default is 1 (one nginx).
    #[must_use]
    pub fn forwarded_hops(mut self, hops: usize) -> Self {
        self.address.forwarded_hops = hops;
        self
    }

    /// IPv6 clients are counted per prefix of this length (0 to 128), since one client
    /// usually holds a whole /64; IPv4 clients per address. Default is 64.
    #[must_use]
    pub fn ipv6_prefix_len(mut self, bits: u8) -> Self {
        self.address.ipv6_prefix_len = bits;
        self
    }

    /// Checks the ranges the setters cannot.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_failures_per_name == 0 || self.max_failures_per_address == 0 {
            return Err(ConfigError::Invalid(
                "the login throttle's failure limits must be at least 1".to_owned(),
            ));
        }
        if self.window < Duration::from_secs(1) || self.window > MAX_WINDOW {
            return Err(ConfigError::Invalid(format!(
                "the login throttle's window is {:?}; it must be 1 second to 24 hours",
                self.window
            )));
        }
        if self.in_flight_wait > Duration::from_secs(60) {
            return Err(ConfigError::Invalid(format!(
                "the login throttle's in-flight wait is {:?}; it must be at most 1 minute",
                self.in_flight_wait
            )));
        }
        self.address.validate()
    }

    /// The throttle's key for the client address of a request (see
    /// [`trusted_proxies`](Self::trusted_proxies) and
    /// [`ipv6_prefix_len`](Self::ipv6_prefix_len)).
    pub(crate) fn client_bucket(
        &self,
        headers: &http::HeaderMap,
        peer: Option<IpAddr>,
    ) -> Option<IpAddr> {
        self.address
            .client_address(headers, peer)
            .map(|address| self.address.bucket(address))
    }
}

/// Above this many tracked names (or addresses), entries that do not block anything are
/// forgotten, so a spray of random names cannot grow memory without bound.
const MAX_TRACKED: usize = 100_000;

/// How long a refused caller is told to wait when its attempt timed out waiting for
/// others to settle (the budget may well free up sooner than the window ends).
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct LoginThrottle {
    policy: ThrottlePolicy,
    state: Mutex<State>,
    settled: Notify,
}

#[derive(Debug, Default)]
struct State {
    by_name: HashMap<String, Window>,
    by_address: HashMap<IpAddr, Window>,
    reservations: u64,
}

/// Failures counted in the current window, and attempts being checked right now (which
/// belong to no window until they settle).
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
    in_flight: u32,
}

impl Window {
    fn new(now: Instant) -> Self {
        Self {
            started: now,
            failures: 0,
            in_flight: 0,
        }
    }

    fn refresh(&mut self, now: Instant, length: Duration) {
        if self.started + length <= now {
            self.started = now;
            self.failures = 0;
        }
    }

    fn is_idle(&self) -> bool {
        self.failures == 0 && self.in_flight == 0
    }
}

/// What an attempt may do now.
enum Admission {
    Go,
    /// The budget is spent: refuse, with how long until the window ends.
    Refuse(Duration),
    /// The budget is taken by attempts in flight: wait for one to settle.
    Wait,
}

fn admission(window: &Window, limit: u32, length: Duration, now: Instant) -> Admission {
    if window.failures >= limit {
        Admission::Refuse(window.started + length - now)
    } else if window.failures.saturating_add(window.in_flight) >= limit {
        Admission::Wait
    } else {
        Admission::Go
    }
}

/// A counted login attempt. Dropping it gives the attempt back (the login succeeded or
/// never got to the password check); [`Reservation::failed`] keeps it counted.
#[derive(Debug)]
pub(crate) struct Reservation {
    throttle: Arc<LoginThrottle>,
    name: String,
    address: Option<IpAddr>,
    failed: bool,
}

impl Reservation {
    /// The password was wrong (or the user unknown): the attempt stays counted.
    pub(crate) fn failed(mut self) {
        self.failed = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let throttle = &self.throttle;
        {
            let now = Instant::now();
            let length = throttle.policy.window;
            let mut state = throttle.lock();
            settle(&mut state.by_name, &self.name, self.failed, now, length);
            if let Some(address) = self.address {
                settle(&mut state.by_address, &address, self.failed, now, length);
            }
        }
        throttle.settled.notify_waiters();
    }
}

fn settle<K: Eq + Hash + Clone>(
    windows: &mut HashMap<K, Window>,
    key: &K,
    failed: bool,
    now: Instant,
    length: Duration,
) {
    let window = windows
        .entry(key.clone())
        .or_insert_with(|| Window::new(now));
    window.in_flight = window.in_flight.saturating_sub(1);
    if failed {
        window.refresh(now, length);
        window.failures = window.failures.saturating_add(1);
    }
    if window.is_idle() {
        // Nothing left to remember: successful logins leave no entry behind.
        windows.remove(key);
    }
}

impl LoginThrottle {
    pub(crate) fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    pub(crate) fn new(policy: ThrottlePolicy) -> Result<Self, ConfigError> {
        policy.validate()?;
        Ok(Self {
            policy,
            state: Mutex::default(),
            settled: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Counters only: a poisoned lock holds nothing half-written that matters.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts an attempt for `name` and `address`, or refuses it with how long to wait.
    /// While the remaining budget is taken by attempts in flight, waits (at most the
    /// policy's in-flight wait) for them to settle.
    pub(crate) async fn reserve(
        self: &Arc<Self>,
        name: &str,
        address: Option<IpAddr>,
    ) -> Result<Reservation, Duration> {
        let deadline = Instant::now() + self.policy.in_flight_wait;
        loop {
            // Registered before looking, so that a settle between the look and the wait
            // is not missed.
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            match self.try_reserve(name, address) {
                Ok(reservation) => return Ok(reservation),
                Err(Some(wait)) => return Err(wait),
                Err(None) => {
                    if tokio::time::timeout_at(deadline, settled).await.is_err() {
                        return Err(BUSY_RETRY_AFTER);
                    }
                }
            }
        }
    }

    /// `Err(Some(wait))`: refused; `Err(None)`: wait for an attempt in flight.
    fn try_reserve(
        self: &Arc<Self>,
        name: &str,
        address: Option<IpAddr>,
    ) -> Result<Reservation, Option<Duration>> {
        let now = Instant::now();
        let length = self.policy.window;
        let mut state = self.lock();
        state.reservations += 1;
        if state.reservations.is_multiple_of(1024) {
            let live = |w: &mut Window| w.started + length > now || w.in_flight > 0;
            state.by_name.retain(|_, w| live(w));
            state.by_address.retain(|_, w| live(w));
        }
        if state.by_name.len() > MAX_TRACKED {
            let limit = self.policy.max_failures_per_name;
            state
                .by_name
                .retain(|_, w| w.failures >= limit || w.in_flight > 0);
        }
        if state.by_address.len() > MAX_TRACKED {
            let limit = self.policy.max_failures_per_address;
            state
                .by_address
                .retain(|_, w| w.failures >= limit || w.in_flight > 0);
        }
        let name_window = *state
            .by_name
            .entry(name.to_owned())
            .and_modify(|w| w.refresh(now, length))
            .or_insert_with(|| Window::new(now));
        let address_window = address.map(|address| {
            *state
                .by_address
                .entry(address)
                .and_modify(|w| w.refresh(now, length))
                .or_insert_with(|| Window::new(now))
        });
        let mut admissions = vec![admission(
            &name_window,
            self.policy.max_failures_per_name,
            length,
            now,
        )];
        if let Some(w) = &address_window {
            admissions.push(admission(
                w,
                self.policy.max_failures_per_address,
                length,
                now,
            ));
        }
        let refused = admissions
            .iter()
            .filter_map(|a| match a {
                Admission::Refuse(wait) => Some(*wait),
                _ => None,
            })
            .max();
        if refused.is_some() || admissions.iter().any(|a| matches!(a, Admission::Wait)) {
            // Forget the entries this look created, so that refusals leave nothing behind.
            if name_window.is_idle() {
                state.by_name.remove(name);
            }
            if let (Some(a), Some(w)) = (address, address_window)
                && w.is_idle()
            {
                state.by_address.remove(&a);
            }
            return Err(refused);
        }
        if let Some(w) = state.by_name.get_mut(name) {
            w.in_flight += 1;
        }
        if let Some(w) = address.and_then(|a| state.by_address.get_mut(&a)) {
            w.in_flight += 1;
        }
        Ok(Reservation {
            throttle: Arc::clone(self),
            name: name.to_owned(),
            address,
            failed: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_name: u32, per_address: u32) -> Arc<LoginThrottle> {
        Arc::new(
            LoginThrottle::new(
                ThrottlePolicy::default()
                    .max_failures_per_name(per_name)
                    .max_failures_per_address(per_address)
                    .window(Duration::from_secs(60)),
            )
            .unwrap(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_after_max_failures_until_the_window_ends() {
        let throttle = throttle(3, 100);
        for _ in 0..3 {
            throttle.reserve("alice", None).await.unwrap().failed();
        }
        let wait = throttle.reserve("alice", None).await.unwrap_err();
        assert_eq!(wait, Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(45)).await;
        assert_eq!(
            throttle.reserve("alice", None).await.unwrap_err(),
            Duration::from_secs(15)
        );
        assert!(throttle.reserve("bob", None).await.is_ok());
        tokio::time::advance(Duration::from_secs(15)).await;
        assert!(throttle.reserve("alice", None).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn successes_give_their_attempt_back() {
        let throttle = throttle(2, 100);
        for _ in 0..10 {
            drop(throttle.reserve("alice", None).await.unwrap());
        }
        throttle.reserve("alice", None).await.unwrap().failed();
        assert!(throttle.reserve("alice", None).await.is_ok());
        assert!(throttle.lock().by_name.contains_key("alice"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_beyond_the_budget_waits_for_one_in_flight_to_settle() {
        let throttle = throttle(5, 100);
        let mut held: Vec<_> = Vec::new();
        for _ in 0..5 {
            held.push(throttle.reserve("alice", None).await.unwrap());
        }
        let waiting = tokio::spawn({
            let throttle = Arc::clone(&throttle);
            async move { throttle.reserve("alice", None).await.map(drop) }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished(), "refused instead of waiting");
        drop(held.pop()); // a success settles
        assert!(waiting.await.unwrap().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_attempt_is_refused_once_the_in_flight_ones_fail() {
        let throttle = throttle(2, 100);
        let held = [
            throttle.reserve("alice", None).await.unwrap(),
            throttle.reserve("alice", None).await.unwrap(),
        ];
        let waiting = tokio::spawn({
            let throttle = Arc::clone(&throttle);
            async move { throttle.reserve("alice", None).await.map(drop) }
        });
        tokio::task::yield_now().await;
        for reservation in held {
            reservation.failed();
        }
        assert_eq!(waiting.await.unwrap(), Err(Duration::from_secs(60)));
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_is_bounded() {
        let throttle = throttle(1, 100);
        let _held = throttle.reserve("alice", None).await.unwrap();
        let started = Instant::now();
        assert_eq!(
            throttle.reserve("alice", None).await.unwrap_err(),
            BUSY_RETRY_AFTER
        );
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_spray_of_names_keeps_memory_bounded_but_blocks_stay() {
        let throttle = throttle(2, u32::MAX);
        for _ in 0..2 {
            throttle.reserve("victim", None).await.unwrap().failed();
        }
        for i in 0..=MAX_TRACKED {
            throttle
                .reserve(&format!("spray{i}"), None)
                .await
                .unwrap()
                .failed();
        }
        assert!(throttle.lock().by_name.len() <= MAX_TRACKED);
        assert!(throttle.reserve("victim", None).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn one_address_is_limited_across_names() {
        let throttle = throttle(100, 3);
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        for name in ["a", "b", "c"] {
            throttle
                .reserve(name, Some(address))
                .await
                .unwrap()
                .failed();
        }
        assert!(throttle.reserve("d", Some(address)).await.is_err());
        assert!(
            throttle
                .reserve("d", Some("192.0.2.8".parse().unwrap()))
                .await
                .is_ok()
        );
        // A refused attempt does not count against the name either.
        assert!(throttle.reserve("d", None).await.is_ok());
    }

    #[test]
    fn out_of_range_settings_are_config_errors() {
        for policy in [
            ThrottlePolicy::default().max_failures_per_name(0),
            ThrottlePolicy::default().max_failures_per_address(0),
            ThrottlePolicy::default().window(Duration::ZERO),
            ThrottlePolicy::default().window(Duration::MAX),
            ThrottlePolicy::default().in_flight_wait(Duration::from_secs(3600)),
            ThrottlePolicy::default().ipv6_prefix_len(129),
        ] {
            let err = LoginThrottle::new(policy.clone()).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid(_)), "{policy:?}");
        }
    }
}
