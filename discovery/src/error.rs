/// Why a registry client could not be built: its configuration, never a call's outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No registry endpoint was given.
    #[error("no registry endpoint was given")]
    NoEndpoint,
    /// An endpoint is not an `http(s)://host:port` URL.
    #[error("invalid registry endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A setting is out of range.
    #[error("invalid setting {setting}: {reason}")]
    InvalidSetting {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why a call to the registry failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No endpoint could be reached (or one stopped answering).
    #[error("registry unreachable: {0}")]
    Unreachable(String),
    /// The registry answered with an error.
    #[error("registry error {code}: {message}")]
    Registry {
        /// The registry's error code (a gRPC status code for etcd).
        code: i64,
        /// Its message.
        message: String,
    },
    /// The registry's answer could not be read.
    #[error("unexpected registry answer: {0}")]
    InvalidAnswer(String),
    /// A service name or instance id is empty or contains `/`.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The task that kept the registration alive has stopped (its runtime shut down).
    #[error("the registration is no longer kept alive")]
    Stopped,
}
