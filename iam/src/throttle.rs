//! Login throttling: failed logins counted per user name and per client address.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Limits on failed logins. A login attempt is counted *before* its password is checked,
/// so with a limit of 5, 50 parallel wrong attempts lead to exactly 5 checks and 45
/// refusals (429 with `Retry-After`). A successful login gives its attempt back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    max_failures_per_name: u32,
    max_failures_per_address: u32,
    window: Duration,
    forwarded_header: Option<http::HeaderName>,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            max_failures_per_name: 5,
            max_failures_per_address: 20,
            window: Duration::from_secs(15 * 60),
            forwarded_header: None,
        }
    }
}

impl ThrottlePolicy {
    /// Failed logins allowed for one user name within the window. Default is 5.
    #[must_use]
    pub fn max_failures_per_name(mut self, failures: u32) -> Self {
        self.max_failures_per_name = failures;
        self
    }

    /// Failed logins allowed from one client address within the window. Default is 20.
    #[must_use]
    pub fn max_failures_per_address(mut self, failures: u32) -> Self {
        self.max_failures_per_address = failures;
        self
    }

    /// The window, counted from the first attempt in it. Default is 15 minutes.
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Takes the client address from the last entry of this header (e.g.
    /// `x-forwarded-for`) instead of the TCP peer. Set it only when the IAM is reachable
    /// solely through a proxy that appends the header (nginx's
    /// `$proxy_add_x_forwarded_for`): otherwise clients could pick their own address, and
    /// behind a proxy without it every client shares the proxy's address. Default is none
    /// (the TCP peer from axum's `ConnectInfo`).
    #[must_use]
    pub fn forwarded_header(mut self, header: http::HeaderName) -> Self {
        self.forwarded_header = Some(header);
        self
    }

    /// The client address of a request: the last entry of the forwarded header when one
    /// is configured and present, else `peer`.
    pub(crate) fn client_address(
        &self,
        headers: &http::HeaderMap,
        peer: Option<IpAddr>,
    ) -> Option<IpAddr> {
        self.forwarded_header
            .as_ref()
            .and_then(|name| headers.get_all(name).iter().next_back())
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next())
            .and_then(|last| last.trim().parse().ok())
            .or(peer)
    }
}

/// Above this many tracked names (or addresses), entries that do not block anything are
/// forgotten, so a spray of random names cannot grow memory without bound.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug)]
pub(crate) struct LoginThrottle {
    policy: ThrottlePolicy,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    by_name: HashMap<String, Window>,
    by_address: HashMap<IpAddr, Window>,
    reservations: u64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    attempts: u32,
}

/// A counted login attempt. Dropping it gives the attempt back (the login succeeded or
/// never got to the password check); [`Reservation::failed`] keeps it counted.
#[derive(Debug)]
pub(crate) struct Reservation {
    throttle: Arc<LoginThrottle>,
    name: Option<(String, Instant)>,
    address: Option<(IpAddr, Instant)>,
}

impl Reservation {
    /// The password was wrong (or the user unknown): the attempt stays counted.
    pub(crate) fn failed(mut self) {
        self.name = None;
        self.address = None;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.name.is_none() && self.address.is_none() {
            return;
        }
        let mut state = self.throttle.lock();
        if let Some((name, started)) = self.name.take() {
            give_back(&mut state.by_name, &name, started);
        }
        if let Some((address, started)) = self.address.take() {
            give_back(&mut state.by_address, &address, started);
        }
    }
}

fn give_back<K: Eq + Hash>(windows: &mut HashMap<K, Window>, key: &K, started: Instant) {
    if let Some(window) = windows.get_mut(key) {
        // Only the window the attempt was counted in may be decremented.
        if window.started == started {
            window.attempts = window.attempts.saturating_sub(1);
            if window.attempts == 0 {
                // Nothing left to remember: successful logins leave no entry behind.
                windows.remove(key);
            }
        }
    }
}

impl LoginThrottle {
    pub(crate) fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    pub(crate) fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Counters only: a poisoned lock holds nothing half-written that matters.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts an attempt for `name` and `address`, or refuses it with how long to wait.
    pub(crate) fn reserve(
        self: &Arc<Self>,
        name: &str,
        address: Option<IpAddr>,
    ) -> Result<Reservation, Duration> {
        let now = Instant::now();
        let window = self.policy.window;
        let mut state = self.lock();
        state.reservations += 1;
        if state.reservations.is_multiple_of(1024) {
            state.by_name.retain(|_, w| w.started + window > now);
            state.by_address.retain(|_, w| w.started + window > now);
        }
        if state.by_name.len() > MAX_TRACKED {
            let limit = self.policy.max_failures_per_name;
            state.by_name.retain(|_, w| w.attempts >= limit);
        }
        if state.by_address.len() > MAX_TRACKED {
            let limit = self.policy.max_failures_per_address;
            state.by_address.retain(|_, w| w.attempts >= limit);
        }
        let name_window = *state
            .by_name
            .entry(name.to_owned())
            .and_modify(|w| refresh(w, now, window))
            .or_insert(Window {
                started: now,
                attempts: 0,
            });
        let address_window = address.map(|address| {
            *state
                .by_address
                .entry(address)
                .and_modify(|w| refresh(w, now, window))
                .or_insert(Window {
                    started: now,
                    attempts: 0,
                })
        });
        let mut wait = Duration::ZERO;
        if name_window.attempts >= self.policy.max_failures_per_name {
            wait = wait.max(name_window.started + window - now);
        }
        if let Some(w) = address_window
            && w.attempts >= self.policy.max_failures_per_address
        {
            wait = wait.max(w.started + window - now);
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        if let Some(w) = state.by_name.get_mut(name) {
            w.attempts += 1;
        }
        if let Some(w) = address.and_then(|a| state.by_address.get_mut(&a)) {
            w.attempts += 1;
        }
        Ok(Reservation {
            throttle: Arc::clone(self),
            name: Some((name.to_owned(), name_window.started)),
            address: address.zip(address_window).map(|(a, w)| (a, w.started)),
        })
    }
}

fn refresh(window: &mut Window, now: Instant, length: Duration) {
    if window.started + length <= now {
        *window = Window {
            started: now,
            attempts: 0,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_name: u32, per_address: u32) -> Arc<LoginThrottle> {
        Arc::new(LoginThrottle::new(
            ThrottlePolicy::default()
                .max_failures_per_name(per_name)
                .max_failures_per_address(per_address)
                .window(Duration::from_secs(60)),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_after_max_failures_until_the_window_ends() {
        let throttle = throttle(3, 100);
        for _ in 0..3 {
            throttle.reserve("alice", None).unwrap().failed();
        }
        let wait = throttle.reserve("alice", None).unwrap_err();
        assert_eq!(wait, Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(45)).await;
        assert_eq!(
            throttle.reserve("alice", None).unwrap_err(),
            Duration::from_secs(15)
        );
        assert!(throttle.reserve("bob", None).is_ok());
        tokio::time::advance(Duration::from_secs(15)).await;
        assert!(throttle.reserve("alice", None).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn successes_give_their_attempt_back() {
        let throttle = throttle(2, 100);
        for _ in 0..10 {
            drop(throttle.reserve("alice", None).unwrap());
        }
        throttle.reserve("alice", None).unwrap().failed();
        assert!(throttle.reserve("alice", None).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_attempts_count_against_the_limit() {
        let throttle = throttle(5, 100);
        let held: Vec<_> = (0..5)
            .map(|_| throttle.reserve("alice", None).unwrap())
            .collect();
        assert!(throttle.reserve("alice", None).is_err());
        drop(held);
        assert!(throttle.reserve("alice", None).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_spray_of_names_keeps_memory_bounded_but_blocks_stay() {
        let throttle = throttle(2, u32::MAX);
        for _ in 0..2 {
            throttle.reserve("victim", None).unwrap().failed();
        }
        for i in 0..=MAX_TRACKED {
            throttle
                .reserve(&format!("spray{i}"), None)
                .unwrap()
                .failed();
        }
        assert!(throttle.lock().by_name.len() <= MAX_TRACKED);
        assert!(throttle.reserve("victim", None).is_err());
    }

    #[test]
    fn the_forwarded_header_is_used_only_when_configured() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.4".parse().unwrap(),
        );
        let plain = ThrottlePolicy::default();
        assert_eq!(plain.client_address(&headers, Some(peer)), Some(peer));
        let proxied = ThrottlePolicy::default()
            .forwarded_header(http::HeaderName::from_static("x-forwarded-for"));
        assert_eq!(
            proxied.client_address(&headers, Some(peer)),
            Some("198.51.100.4".parse().unwrap())
        );
        assert_eq!(
            proxied.client_address(&http::HeaderMap::new(), Some(peer)),
            Some(peer)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_address_is_limited_across_names() {
        let throttle = throttle(100, 3);
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        for name in ["a", "b", "c"] {
            throttle.reserve(name, Some(address)).unwrap().failed();
        }
        assert!(throttle.reserve("d", Some(address)).is_err());
        assert!(
            throttle
                .reserve("d", Some("192.0.2.8".parse().unwrap()))
                .is_ok()
        );
        // A refused attempt does not count against the name either.
        assert!(throttle.reserve("d", None).is_ok());
    }
}
