//! Listeners: the closures a breaker runs on state changes and call outcomes, and the
//! traits that let each take the breaker's name or not.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::State;

/// A listener of one kind of breaker event ([`on_open`], [`on_close`], [`on_half_open`],
/// [`on_call_breaker_open`]).
///
/// Implemented for closures `Fn()` and `Fn(&str)`; the `&str` is the breaker's
/// [name](crate::CircuitBreaker::name). Annotate it (`|name: &str| ...`) so that the
/// compiler can tell the two apart. `Args` only tells the two implementations apart.
///
/// [`on_open`]: crate::CircuitBreakerBuilder::on_open
/// [`on_close`]: crate::CircuitBreakerBuilder::on_close
/// [`on_half_open`]: crate::CircuitBreakerBuilder::on_half_open
/// [`on_call_breaker_open`]: crate::CircuitBreakerBuilder::on_call_breaker_open
pub trait EventListener<Args>: Send + Sync + 'static {
    /// Runs the listener for the breaker named `breaker`.
    fn notify(&self, breaker: &str);
}

impl<F> EventListener<()> for F
where
    F: Fn() + Send + Sync + 'static,
{
    fn notify(&self, _breaker: &str) {
        self();
    }
}

impl<F> EventListener<(&'static str,)> for F
where
    F: Fn(&str) + Send + Sync + 'static,
{
    fn notify(&self, breaker: &str) {
        self(breaker);
    }
}

/// A listener of calls that ran ([`on_call_success`], [`on_call_failure`],
/// [`on_call_timeout`]), told how long the call took.
///
/// Implemented for closures `Fn(Duration)` and `Fn(&str, Duration)`; the `&str` is the
/// breaker's [name](crate::CircuitBreaker::name). Annotate it (`|name: &str, elapsed|
/// ...`). `Args` only tells the two implementations apart.
///
/// [`on_call_success`]: crate::CircuitBreakerBuilder::on_call_success
/// [`on_call_failure`]: crate::CircuitBreakerBuilder::on_call_failure
/// [`on_call_timeout`]: crate::CircuitBreakerBuilder::on_call_timeout
pub trait CallListener<Args>: Send + Sync + 'static {
    /// Runs the listener for a call through the breaker named `breaker` that took
    /// `elapsed`.
    fn notify(&self, breaker: &str, elapsed: Duration);
}

impl<F> CallListener<(Duration,)> for F
where
    F: Fn(Duration) + Send + Sync + 'static,
{
    fn notify(&self, _breaker: &str, elapsed: Duration) {
        self(elapsed);
    }
}

impl<F> CallListener<(&'static str, Duration)> for F
where
    F: Fn(&str, Duration) + Send + Sync + 'static,
{
    fn notify(&self, breaker: &str, elapsed: Duration) {
        self(breaker, elapsed);
    }
}

pub(crate) type NamedListener = Arc<dyn Fn(&str) + Send + Sync>;
pub(crate) type TimedListener = Arc<dyn Fn(&str, Duration) + Send + Sync>;
pub(crate) type ChangeListener = Arc<dyn Fn(&str, State, State) + Send + Sync>;

pub(crate) fn named<A>(listener: impl EventListener<A>) -> NamedListener {
    Arc::new(move |breaker: &str| listener.notify(breaker))
}

pub(crate) fn timed<A>(listener: impl CallListener<A>) -> TimedListener {
    Arc::new(move |breaker: &str, elapsed| listener.notify(breaker, elapsed))
}

/// Every listener a breaker runs. Cloned with its builder, so the breakers built from one
/// builder share them.
#[derive(Clone, Default)]
#[allow(clippy::struct_field_names)] // the names are the listeners' public names
pub(crate) struct Listeners {
    pub(crate) on_open: Option<NamedListener>,
    pub(crate) on_close: Option<NamedListener>,
    pub(crate) on_half_open: Option<NamedListener>,
    pub(crate) on_state_change: Option<ChangeListener>,
    pub(crate) on_call_success: Option<TimedListener>,
    pub(crate) on_call_failure: Option<TimedListener>,
    pub(crate) on_call_timeout: Option<TimedListener>,
    pub(crate) on_call_breaker_open: Option<NamedListener>,
}

impl Listeners {
    /// Whether a listener wants each call's duration.
    pub(crate) fn time_calls(&self) -> bool {
        self.on_call_success.is_some() || self.on_call_failure.is_some()
    }
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            ("on_open", self.on_open.is_some()),
            ("on_close", self.on_close.is_some()),
            ("on_half_open", self.on_half_open.is_some()),
            ("on_state_change", self.on_state_change.is_some()),
            ("on_call_success", self.on_call_success.is_some()),
            ("on_call_failure", self.on_call_failure.is_some()),
            ("on_call_timeout", self.on_call_timeout.is_some()),
            ("on_call_breaker_open", self.on_call_breaker_open.is_some()),
        ];
        f.debug_list()
            .entries(names.iter().filter(|(_, set)| *set).map(|(name, _)| name))
            .finish()
    }
}

// A panicking listener must not unwind into the breaker or lose the call's result.

#[inline]
pub(crate) fn fire(listener: Option<&NamedListener>, breaker: &str) {
    if let Some(listener) = listener {
        fire_now(listener, breaker);
    }
}

#[inline(never)]
fn fire_now(listener: &NamedListener, breaker: &str) {
    let _ = catch_unwind(AssertUnwindSafe(|| listener(breaker)));
}

pub(crate) fn fire_timed(listener: Option<&TimedListener>, breaker: &str, elapsed: Duration) {
    if let Some(listener) = listener {
        let _ = catch_unwind(AssertUnwindSafe(|| listener(breaker, elapsed)));
    }
}

pub(crate) fn fire_change(
    listener: Option<&ChangeListener>,
    breaker: &str,
    from: State,
    to: State,
) {
    if let Some(listener) = listener {
        let _ = catch_unwind(AssertUnwindSafe(|| listener(breaker, from, to)));
    }
}
