#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod fixed;
mod health;
mod instance;
mod registration;
mod view;

#[cfg(feature = "dns")]
#[cfg_attr(docsrs, doc(cfg(feature = "dns")))]
mod dns;
#[cfg(feature = "etcd")]
#[cfg_attr(docsrs, doc(cfg(feature = "etcd")))]
pub mod etcd;
#[cfg(feature = "dns-srv")]
#[cfg_attr(docsrs, doc(cfg(feature = "dns-srv")))]
mod srv;

pub use error::{BuildError, RegistryError};
pub use health::SourceHealth;
pub use instance::{Instance, InstanceHealth};
pub use registration::Registration;
pub use view::{Changes, DiscoverChanges, ServiceView};

/// tower's change type, re-exported: `Insert(id, instance)` (also for an update) or
/// `Remove(id)`.
pub use tower::discover::Change;

#[cfg(feature = "dns")]
pub use dns::{DEFAULT_DNS_INTERVAL, DnsSource};
#[cfg(feature = "etcd")]
pub use etcd::{EtcdRegistry, EtcdRegistryBuilder};
#[cfg(feature = "dns-srv")]
pub use srv::SrvSource;
pub use url::Url;
