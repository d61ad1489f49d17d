//! The hook that adds headers to every attempt of the balanced client, e.g. the W3C
//! `traceparent` of the request being served.

use std::fmt;
use std::sync::Arc;

use reqwest::header::HeaderMap;

type Hook = dyn Fn(&mut HeaderMap) + Send + Sync;

/// An optional function run on each attempt's headers just before it is sent.
#[derive(Clone, Default)]
pub(super) struct HeaderHook(Option<Arc<Hook>>);

impl HeaderHook {
    pub(super) fn new(hook: impl Fn(&mut HeaderMap) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(hook)))
    }

    pub(super) fn apply(&self, headers: &mut HeaderMap) {
        if let Some(hook) = &self.0 {
            hook(headers);
        }
    }
}

impl fmt::Debug for HeaderHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(<fn>)"
        } else {
            "None"
        })
    }
}
