//! The set of instances a client calls now, and the weighted schedule over them; replaced
//! whole when a discovery source changes it, read without a lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::Url;

use crate::CircuitBreaker;
use crate::breaker::Permit;
use crate::breaker::Shared;

/// Schedules longer than this are scaled down; it bounds memory for extreme weights.
const MAX_SCHEDULE: i64 = 4096;

/// One instance and its breaker. An instance that left the set lives on (drains) while
/// requests sent to it are in flight.
pub(super) struct Instance {
    pub(super) base: Url,
    pub(super) breaker: CircuitBreaker,
}

/// The instances in order and the weighted round-robin schedule over them.
pub(super) struct UpstreamSet {
    pub(super) instances: Vec<Arc<Instance>>,
    schedule: Vec<usize>,
}

impl UpstreamSet {
    pub(super) fn new(entries: Vec<(Arc<Instance>, u32)>) -> Self {
        let weights: Vec<u32> = entries.iter().map(|(_, weight)| *weight).collect();
        Self {
            schedule: smooth_weighted_schedule(&weights),
            instances: entries.into_iter().map(|(instance, _)| instance).collect(),
        }
    }

    /// Takes a permit from the next admitting instance not in `tried` (instance
    /// addresses), or says how soon one will admit calls.
    pub(super) fn pick(
        &self,
        cursor: &AtomicUsize,
        tried: &[usize],
    ) -> Result<(usize, Permit<&Shared>), Duration> {
        let mut soonest = Duration::MAX;
        let mut checked: Vec<bool> = self
            .instances
            .iter()
            .map(|instance| tried.contains(&address(instance)))
            .collect();
        let mut try_instance = |index: usize, checked: &mut [bool]| {
            checked[index] = true;
            match Permit::admit(&*self.instances[index].breaker.shared) {
                Ok(permit) => Some(permit),
                Err(remaining) => {
                    soonest = soonest.min(remaining);
                    None
                }
            }
        };
        if checked.iter().all(|done| *done) {
            return Err(soonest);
        }
        // Each skipped position consumes the shared cursor, so the admitted instances keep
        // their proportions instead of the next one in line inheriting a skipped share.
        for _ in 0..self.schedule.len() {
            let position = cursor.fetch_add(1, Ordering::Relaxed) % self.schedule.len();
            let index = self.schedule[position];
            if !checked[index]
                && let Some(permit) = try_instance(index, &mut checked)
            {
                return Ok((index, permit));
            }
            if checked.iter().all(|done| *done) {
                return Err(soonest);
            }
        }
        // Concurrent callers moved the cursor past some instances: look at those too.
        for index in 0..self.instances.len() {
            if !checked[index]
                && let Some(permit) = try_instance(index, &mut checked)
            {
                return Ok((index, permit));
            }
        }
        Err(soonest)
    }
}

/// An instance's identity while a request is being sent (its address).
pub(super) fn address(instance: &Arc<Instance>) -> usize {
    Arc::as_ptr(instance) as usize
}

/// Nginx's smooth weighted round-robin, unrolled into one period: weights 5, 1, 1 give
/// `a a b a c a a`, never long runs of one instance.
fn smooth_weighted_schedule(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|weight| i64::from(*weight)).sum();
    let scaled: Vec<i64> = weights
        .iter()
        .map(|weight| {
            let weight = i64::from(*weight);
            if total > MAX_SCHEDULE {
                (weight * MAX_SCHEDULE / total).max(1)
            } else {
                weight
            }
        })
        .collect();
    let total: i64 = scaled.iter().sum();
    let mut current = vec![0_i64; scaled.len()];
    (0..total)
        .map(|_| {
            for (current, weight) in current.iter_mut().zip(&scaled) {
                *current += *weight;
            }
            let (best, _) = current
                .iter()
                .enumerate()
                .max_by_key(|(index, value)| (**value, std::cmp::Reverse(*index)))
                .expect("at least one instance");
            current[best] -= total;
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weighted_schedule_interleaves_instances_in_proportion() {
        assert_eq!(smooth_weighted_schedule(&[5, 1, 1]), [0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(smooth_weighted_schedule(&[1, 1, 1]), [0, 1, 2]);
        assert!(smooth_weighted_schedule(&[]).is_empty());
        let big = smooth_weighted_schedule(&[1_000_000, 1]);
        assert!(big.len() <= 4097);
        assert!(big.contains(&1));
    }
}
