//! Telling the world what a breaker did: the listeners of state changes.

use super::state::State;
use super::state_machine::Shared;
use crate::listener::{fire, fire_change};

impl Shared {
    /// Tells everyone concerned that the breaker moved from `from` to `to`; runs after the
    /// move is committed, outside the transition mutex. The listener of the state entered
    /// runs even for a manual move to the same state; the others only for a change.
    pub(super) fn changed(&self, from: State, to: State) {
        let entered = match to {
            State::Open | State::ForcedOpen => &self.listeners.on_open,
            State::HalfOpen => &self.listeners.on_half_open,
            State::Closed | State::ForcedClosed => &self.listeners.on_close,
        };
        fire(entered.as_ref(), &self.name);
        if from == to {
            return;
        }
        fire_change(
            self.listeners.on_state_change.as_ref(),
            &self.name,
            from,
            to,
        );
    }
}
