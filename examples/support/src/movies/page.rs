//! [`Page`]: which slice of a list to return, checked against what every store can do.

/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u64 = 100;
/// The largest page size.
pub const MAX_LIMIT: u64 = 1000;
/// The largest offset: `MongoDB` counts `skip` in a signed 64-bit integer.
pub const MAX_OFFSET: u64 = i64::MAX.unsigned_abs();

/// A checked page request: `offset` at most [`MAX_OFFSET`], `limit` from 1 to
/// [`MAX_LIMIT`]. A store given a `Page` never meets a value out of its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    offset: u64,
    limit: u64,
}

/// Why a page request was refused; its `Display` is safe to send to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// `offset` is over [`MAX_OFFSET`].
    #[error("offset must be at most 9223372036854775807")]
    OffsetTooLarge,
    /// `limit` is 0 or over [`MAX_LIMIT`].
    #[error("limit must be between 1 and 1000")]
    LimitOutOfRange,
}

impl Page {
    /// The first [`DEFAULT_LIMIT`] records.
    pub const FIRST: Self = Self {
        offset: 0,
        limit: DEFAULT_LIMIT,
    };

    /// Skips `offset` records and returns at most `limit`, if both are in range.
    pub fn new(offset: u64, limit: u64) -> Result<Self, PageError> {
        if offset > MAX_OFFSET {
            return Err(PageError::OffsetTooLarge);
        }
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(PageError::LimitOutOfRange);
        }
        Ok(Self { offset, limit })
    }

    /// Records to skip, at most [`MAX_OFFSET`].
    pub fn offset(self) -> u64 {
        self.offset
    }

    /// Records to return at most, from 1 to [`MAX_LIMIT`].
    pub fn limit(self) -> u64 {
        self.limit
    }

    /// [`Page::offset`] as the signed count `MongoDB` takes; never fails.
    pub fn offset_i64(self) -> i64 {
        i64::try_from(self.offset).unwrap_or(i64::MAX)
    }

    /// [`Page::limit`] as the signed count `MongoDB` takes; never fails.
    pub fn limit_i64(self) -> i64 {
        i64::try_from(self.limit).unwrap_or(i64::MAX)
    }

    /// The page of `items` (for stores that hold everything in memory).
    pub fn slice<T: Clone>(self, items: &[T]) -> Vec<T> {
        let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        items.iter().skip(offset).take(limit).cloned().collect()
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::FIRST
    }
}

/// One page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    /// The page's records, oldest first.
    pub items: Vec<T>,
    /// How many records the whole list holds.
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_up_to_i64_max_and_limits_from_1_to_1000_are_pages() {
        assert!(Page::new(MAX_OFFSET, MAX_LIMIT).is_ok());
        assert_eq!(Page::new(0, 1).unwrap().limit_i64(), 1);
        assert_eq!(Page::new(MAX_OFFSET, 1).unwrap().offset_i64(), i64::MAX);
    }

    #[test]
    fn values_out_of_range_are_refused() {
        assert_eq!(Page::new(MAX_OFFSET + 1, 1), Err(PageError::OffsetTooLarge));
        assert_eq!(Page::new(u64::MAX, 1), Err(PageError::OffsetTooLarge));
        assert_eq!(Page::new(0, 0), Err(PageError::LimitOutOfRange));
        assert_eq!(Page::new(0, 1001), Err(PageError::LimitOutOfRange));
        assert_eq!(Page::new(0, 2_147_483_648), Err(PageError::LimitOutOfRange));
    }

    #[test]
    fn a_slice_skips_and_takes() {
        let items: Vec<u32> = (0..10).collect();
        assert_eq!(Page::new(8, 5).unwrap().slice(&items), [8, 9]);
        assert_eq!(Page::new(MAX_OFFSET, 5).unwrap().slice(&items), [0_u32; 0]);
    }
}
