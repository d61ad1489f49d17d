//! The packed state word: phase, generation, half-open permits taken and a count in one
//! `u64`, so that the hot path reads the whole state with one atomic load.
//!
//! Layout: `[phase:2][generation:14][permits taken:16][count:32]`. Phase and generation
//! change only under the transition mutex; counts and permits change by compare-and-swap.

pub(super) const PHASE_CLOSED: u64 = 0;
pub(super) const PHASE_OPEN: u64 = 1;
pub(super) const PHASE_HALF_OPEN: u64 = 2;
pub(super) const PHASE_FORCED: u64 = 3;
const PHASE_SHIFT: u32 = 62;
const GENERATION_SHIFT: u32 = 48;
pub(super) const GENERATION_MASK: u64 = (1 << 14) - 1;
const PERMITS_SHIFT: u32 = 32;
const PERMITS_MASK: u64 = 0xFFFF;
const COUNT_MASK: u64 = 0xFFFF_FFFF;
/// The count of a forced word that rejects every call.
pub(super) const FORCED_OPEN: u32 = 0;
/// The count of a forced word that admits every call and counts nothing.
pub(super) const FORCED_CLOSED: u32 = 1;
/// The count of an open word whose timer keeps `recent_nanos` fresh (see `timer`).
pub(super) const OPEN_TIMED: u32 = 1;
/// Masks a word down to its phase and count, for [`WORD_OPEN_TIMED`] and
/// [`WORD_FORCED_OPEN`].
pub(super) const PHASE_AND_COUNT: u64 = (3 << PHASE_SHIFT) | COUNT_MASK;
/// An open word timed by the runtime: rejects a call without reading the clock.
pub(super) const WORD_OPEN_TIMED: u64 = (PHASE_OPEN << PHASE_SHIFT) | OPEN_TIMED as u64;
/// A forced-open word: rejects a call without reading the clock.
pub(super) const WORD_FORCED_OPEN: u64 = (PHASE_FORCED << PHASE_SHIFT) | FORCED_OPEN as u64;

/// One reading of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Word(pub(super) u64);

impl Word {
    pub(super) fn new(phase: u64, generation: u64, permits: u16, count: u32) -> Self {
        Self(
            (phase << PHASE_SHIFT)
                | ((generation & GENERATION_MASK) << GENERATION_SHIFT)
                | (u64::from(permits) << PERMITS_SHIFT)
                | u64::from(count),
        )
    }

    #[inline]
    pub(super) fn phase(self) -> u64 {
        self.0 >> PHASE_SHIFT
    }

    #[inline]
    pub(super) fn generation(self) -> u64 {
        (self.0 >> GENERATION_SHIFT) & GENERATION_MASK
    }

    #[inline]
    pub(super) fn permits(self) -> u16 {
        ((self.0 >> PERMITS_SHIFT) & PERMITS_MASK) as u16
    }

    #[inline]
    pub(super) fn count(self) -> u32 {
        (self.0 & COUNT_MASK) as u32
    }

    /// Whether the word is still in `phase` at `generation`.
    #[inline]
    pub(super) fn is(self, phase: u64, generation: u64) -> bool {
        self.phase() == phase && self.generation() == generation
    }

    pub(super) fn with_count(self, count: u32) -> Self {
        Self((self.0 & !COUNT_MASK) | u64::from(count))
    }

    pub(super) fn with_permits(self, permits: u16) -> Self {
        Self((self.0 & !(PERMITS_MASK << PERMITS_SHIFT)) | (u64::from(permits) << PERMITS_SHIFT))
    }

    /// The first word of the next generation, in `phase` with `count`.
    pub(super) fn next(self, phase: u64, count: u32) -> Self {
        Self::new(phase, self.generation() + 1, 0, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_word_packs_and_unpacks_every_field() {
        let word = Word::new(PHASE_HALF_OPEN, 5, 3, 7);
        assert_eq!(word.phase(), PHASE_HALF_OPEN);
        assert_eq!(word.generation(), 5);
        assert_eq!(word.permits(), 3);
        assert_eq!(word.count(), 7);
        let changed = word.with_permits(9).with_count(u32::MAX);
        assert_eq!(
            (changed.phase(), changed.generation()),
            (PHASE_HALF_OPEN, 5)
        );
        assert_eq!((changed.permits(), changed.count()), (9, u32::MAX));
    }

    #[test]
    fn the_generation_wraps_without_touching_the_phase() {
        let last = Word::new(PHASE_CLOSED, GENERATION_MASK, 0, 0);
        let next = last.next(PHASE_FORCED, FORCED_CLOSED);
        assert_eq!(next.generation(), 0);
        assert_eq!(next.phase(), PHASE_FORCED);
        assert_eq!(next.count(), FORCED_CLOSED);
    }

    #[test]
    fn the_clock_free_words_match_their_phase_and_count() {
        let timed = Word::new(PHASE_OPEN, 9, 0, OPEN_TIMED);
        assert_eq!(timed.0 & PHASE_AND_COUNT, WORD_OPEN_TIMED);
        let forced = Word::new(PHASE_FORCED, 9, 0, FORCED_OPEN);
        assert_eq!(forced.0 & PHASE_AND_COUNT, WORD_FORCED_OPEN);
    }
}
