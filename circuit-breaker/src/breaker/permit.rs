//! Admission: the ticket the state machine hands out, and the permit that holds it until
//! the call is settled.

use std::fmt;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::time::Duration;

use super::state_machine::Shared;
use super::word::Word;
use crate::config::Outcome;

/// In which state a call was admitted, which decides how its outcome is counted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(super) enum TicketKind {
    /// Admitted by a closed breaker: counted by the failure policy.
    Closed = 1,
    /// A half-open trial: settles the breaker's state.
    Probe = 2,
    /// Admitted by a breaker forced closed: counted nowhere.
    Bypass = 3,
}

/// Proof that a call was admitted, and in which state generation.
///
/// Two scalars, so that it travels in registers: the kind (never zero), whether the call
/// is timed, and the generation packed in `tag`, which also gives `Option<Ticket>` its
/// niche.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    started_nanos: u64,
    tag: NonZeroU32,
}

/// The bit of a ticket's tag that says `started_nanos` was read (the generation takes 14).
const TIMED: u32 = 1 << 15;
/// The bit of a ticket's tag that says the metrics sampled the call's duration.
const SAMPLED: u32 = 1 << 14;
/// The tag of a closed-state ticket, untimed and unsampled, shifted down to its flags.
const PLAIN_CLOSED: u32 = (TicketKind::Closed as u32) << 2;

impl Ticket {
    #[inline]
    pub(super) fn new(kind: TicketKind, word: Word, started_nanos: Option<u64>) -> Self {
        let timed = if started_nanos.is_some() { TIMED } else { 0 };
        let tag = ((kind as u32) << 16) | timed | word.generation() as u32;
        Self {
            started_nanos: started_nanos.unwrap_or(0),
            tag: NonZeroU32::new(tag).unwrap_or(NonZeroU32::MAX),
        }
    }

    /// The same ticket, marked as sampled by the metrics (see `metrics`).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    #[inline]
    pub(super) fn sampled(self) -> Self {
        Self {
            started_nanos: self.started_nanos,
            tag: self.tag | SAMPLED,
        }
    }

    /// Whether the metrics sampled the call's duration.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    #[inline]
    pub(super) fn is_sampled(self) -> bool {
        self.tag.get() & SAMPLED != 0
    }

    /// Whether the ticket is a closed-state one that nothing times: one test for the fast
    /// path of a success.
    #[inline]
    pub(super) fn is_plain_closed(self) -> bool {
        self.tag.get() >> 14 == PLAIN_CLOSED
    }

    /// When the call was admitted, if it is timed.
    #[inline]
    pub(super) fn started_nanos(self) -> Option<u64> {
        (self.tag.get() & TIMED != 0).then_some(self.started_nanos)
    }

    #[inline]
    pub(super) fn kind(self) -> TicketKind {
        match self.tag.get() >> 16 {
            1 => TicketKind::Closed,
            2 => TicketKind::Probe,
            _ => TicketKind::Bypass,
        }
    }

    #[inline]
    pub(super) fn generation(self) -> u64 {
        u64::from(self.tag.get() & (SAMPLED - 1))
    }
}

/// The right of one call to run through a breaker, from admission until it is settled.
///
/// Settled once, with the call's [`Outcome`] or as a timeout. Dropped unsettled (the call
/// was cancelled or panicked), it gives its half-open trial permit back and counts
/// nothing. `S` is how the breaker is reached: `&Shared` for a borrowed breaker,
/// `Arc<Shared>` for a future that must own it.
pub(crate) struct Permit<S: Deref<Target = Shared>> {
    shared: S,
    ticket: Option<Ticket>,
}

impl<S: Deref<Target = Shared>> Permit<S> {
    /// Asks the breaker to admit a call; the error is how long until it half-opens.
    #[cfg_attr(not(any(feature = "tower", feature = "reqwest")), allow(dead_code))]
    #[inline]
    pub(crate) fn admit(shared: S) -> Result<Self, Duration> {
        let ticket = shared.admit()?;
        Ok(Self {
            shared,
            ticket: Some(ticket),
        })
    }

    /// A permit not asked for yet: see [`admit_here`](Self::admit_here).
    #[inline]
    pub(super) fn unadmitted(shared: S) -> Self {
        Self {
            shared,
            ticket: None,
        }
    }

    /// Asks the breaker to admit the call of an [`unadmitted`](Self::unadmitted) permit.
    ///
    /// A closed-state ticket has nothing to give back if the call is dropped or panics, so
    /// it is returned for the caller to hold (in registers) rather than stored; the caller
    /// passes it back to [`settle`](Self::settle) or [`hold`](Self::hold).
    #[allow(clippy::inline_always)] // the closed-state fast path, measured in benches/
    #[inline(always)]
    pub(super) fn admit_here(&mut self) -> Result<Option<Ticket>, Duration> {
        let ticket = self.shared.admit()?;
        if ticket.kind() == TicketKind::Closed {
            Ok(Some(ticket))
        } else {
            self.ticket = Some(ticket);
            Ok(None)
        }
    }

    /// Keeps a ticket returned by [`admit_here`](Self::admit_here): the call is still
    /// running.
    #[inline]
    pub(super) fn hold(&mut self, held: Option<Ticket>) {
        if held.is_some() {
            self.ticket = held;
        }
    }

    /// Settles the call with `outcome`; its ticket may be `held` by the caller (see
    /// [`admit_here`](Self::admit_here)).
    #[allow(clippy::inline_always)] // the closed-state fast path, measured in benches/
    #[inline(always)]
    pub(crate) fn settle(&mut self, held: Option<Ticket>, outcome: Outcome) {
        if let Some(ticket) = held.or_else(|| self.ticket.take()) {
            self.shared.complete(ticket, outcome);
        }
    }

    /// Settles the call as cancelled by the call timeout after `elapsed`.
    pub(crate) fn settle_timeout(&mut self, elapsed: Duration) {
        if let Some(ticket) = self.ticket.take() {
            self.shared.complete_timeout(ticket, elapsed);
        }
    }

    /// The breaker's call timeout.
    #[inline]
    pub(crate) fn call_timeout(&self) -> Option<Duration> {
        self.shared.call_timeout
    }
}

impl<S: Deref<Target = Shared>> Drop for Permit<S> {
    #[inline]
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.shared.release(ticket);
        }
    }
}

impl<S: Deref<Target = Shared>> fmt::Debug for Permit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::super::word::{GENERATION_MASK, PHASE_HALF_OPEN};
    use super::*;

    #[test]
    fn a_ticket_keeps_its_kind_and_generation() {
        for kind in [TicketKind::Closed, TicketKind::Probe, TicketKind::Bypass] {
            for generation in [0, 1, GENERATION_MASK] {
                let word = Word::new(PHASE_HALF_OPEN, generation, 0, 0);
                let ticket = Ticket::new(kind, word, Some(42));
                assert_eq!(ticket.kind(), kind);
                assert_eq!(ticket.generation(), generation);
                assert_eq!(ticket.started_nanos(), Some(42));
                let untimed = Ticket::new(kind, word, None);
                assert_eq!(untimed.generation(), generation);
                assert_eq!(untimed.started_nanos(), None);
                assert_eq!(untimed.is_plain_closed(), kind == TicketKind::Closed);
                assert!(!ticket.is_plain_closed() && !ticket.is_sampled());
                let sampled = ticket.sampled();
                assert!(sampled.is_sampled() && !sampled.is_plain_closed());
                assert_eq!(
                    (
                        sampled.kind(),
                        sampled.generation(),
                        sampled.started_nanos()
                    ),
                    (kind, generation, Some(42))
                );
            }
        }
        assert_eq!(
            size_of::<Option<Ticket>>(),
            size_of::<Ticket>(),
            "the tag is the niche"
        );
    }
}
