//! Counters for the hot paths, each on its own cache line.

use std::sync::atomic::{AtomicU64, Ordering};

use thread_local::ThreadLocal;

/// A value kept on its own cache line, so that writes to its neighbours do not slow its
/// readers.
#[repr(align(64))]
#[derive(Default)]
pub(super) struct Padded<T>(pub(super) T);

/// A counter for the hot paths: each thread adds to its own cell, on its own cache line,
/// which only that thread writes, so counting takes a plain load and store (no atomic
/// read-modify-write) and threads counting at once share nothing.
#[derive(Default)]
pub(super) struct LocalCounter {
    cells: ThreadLocal<Padded<AtomicU64>>,
}

impl LocalCounter {
    /// This thread's cell.
    #[inline]
    pub(super) fn cell(&self) -> &AtomicU64 {
        match self.cells.get() {
            Some(cell) => &cell.0,
            None => self.new_cell(),
        }
    }

    #[cold]
    #[inline(never)]
    fn new_cell(&self) -> &AtomicU64 {
        &self.cells.get_or(Padded::default).0
    }

    /// Adds one to this thread's cell; returns the cell's new count.
    #[inline]
    pub(super) fn increment(&self) -> u64 {
        let cell = self.cell();
        let count = cell.load(Ordering::Relaxed).wrapping_add(1);
        cell.store(count, Ordering::Relaxed);
        count
    }

    /// The total over every thread's cell.
    pub(super) fn sum(&self) -> u64 {
        self.cells
            .iter()
            .map(|cell| cell.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_counter_sums_the_counts_of_every_thread() {
        let counter = LocalCounter::default();
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        counter.increment();
                    }
                });
            }
        });
        counter.increment();
        assert_eq!(counter.sum(), 3001);
    }
}
