use std::fmt;
use std::sync::Arc;

use reqwest::Response;

use crate::{Classifier, Outcome};

/// What a response or a transport error means to its instance's breaker, by default:
/// only what says the instance is unhealthy is a failure.
///
/// - A transport error (refused or failed connection, timeout, connection lost
///   mid-request) and a 5xx response are failures.
/// - Every other response, every 4xx included, is a success: the instance is working and
///   answered about this request. A 429 in particular is the upstream throttling one
///   client (say a login locked for one name); counting it would let a few requests open
///   the breaker for every caller.
/// - A request reqwest could not build, or a redirect its policy refused, is ignored.
///
/// Pass a different rule to [`BalancedClientBuilder::classifier`], and call this one from
/// it for the cases you do not change.
///
/// [`BalancedClientBuilder::classifier`]: super::BalancedClientBuilder::classifier
pub fn default_classifier(result: &Result<Response, reqwest::Error>) -> Outcome {
    match result {
        Ok(response) if response.status().is_server_error() => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(error) if error.is_builder() || error.is_redirect() => Outcome::Ignored,
        Err(_) => Outcome::Failure,
    }
}

type ClassifierFn = dyn Fn(&Result<Response, reqwest::Error>) -> Outcome + Send + Sync;

/// The client's classifier: [`default_classifier`] unless one was configured.
#[derive(Clone, Default)]
pub(super) enum ResponseClassifier {
    #[default]
    Health,
    Custom(Arc<ClassifierFn>),
}

impl ResponseClassifier {
    pub(super) fn custom<F>(classify: F) -> Self
    where
        F: Fn(&Result<Response, reqwest::Error>) -> Outcome + Send + Sync + 'static,
    {
        Self::Custom(Arc::new(classify))
    }
}

impl Classifier<Response, reqwest::Error> for &ResponseClassifier {
    fn classify(&self, result: &Result<Response, reqwest::Error>) -> Outcome {
        match self {
            ResponseClassifier::Health => default_classifier(result),
            ResponseClassifier::Custom(classify) => classify(result),
        }
    }
}

impl fmt::Debug for ResponseClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Health => "default_classifier",
            Self::Custom(_) => "custom",
        })
    }
}
