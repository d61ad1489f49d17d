use std::fmt;

/// How a source of instances is doing: whether its view is live or the last known set.
///
/// A source never empties its view because the registry is unreachable: while it is
/// [`Stale`](Self::Stale) the last known instances stay in use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceHealth {
    /// Not yet listed once.
    Connecting,
    /// Following the registry live.
    Healthy,
    /// The registry could not be reached or answered badly; the view keeps the last known
    /// set until it recovers.
    Stale {
        /// What went wrong last.
        error: String,
    },
}

impl SourceHealth {
    /// Whether the view is following the registry live.
    pub fn is_healthy(&self) -> bool {
        matches!(self, Self::Healthy)
    }
}

impl fmt::Display for SourceHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connecting => f.write_str("connecting"),
            Self::Healthy => f.write_str("healthy"),
            Self::Stale { error } => write!(f, "stale ({error})"),
        }
    }
}
