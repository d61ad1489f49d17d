//! The handle of a registered instance: kept alive by its registry's task while it lives.

use std::fmt;

use tokio::sync::{mpsc, oneshot, watch};

use crate::{Instance, RegistryError, SourceHealth};

/// What a [`Registration`] asks of the task that keeps it alive.
#[derive(Debug)]
#[cfg_attr(not(feature = "etcd"), allow(dead_code))]
pub(crate) enum Control {
    /// Remove the entry now and say how it went.
    Deregister(oneshot::Sender<Result<(), RegistryError>>),
    /// Stop keeping it alive and leave the entry to expire.
    Abandon,
}

/// An instance registered with a registry, kept alive in the background while this
/// handle lives.
///
/// On graceful shutdown call [`deregister`](Self::deregister) first (callers stop sending
/// new requests), then drain and exit. Dropping the handle deregisters too, best effort, in
/// the background; if the process dies instead, the entry expires with its lease.
pub struct Registration {
    instance: Instance,
    control: mpsc::UnboundedSender<Control>,
    health: watch::Receiver<SourceHealth>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("service", &self.instance.service)
            .field("id", &self.instance.id)
            .field("health", &*self.health.borrow())
            .finish_non_exhaustive()
    }
}

impl Registration {
    #[cfg_attr(not(feature = "etcd"), allow(dead_code))]
    pub(crate) fn new(
        instance: Instance,
        control: mpsc::UnboundedSender<Control>,
        health: watch::Receiver<SourceHealth>,
    ) -> Self {
        Self {
            instance,
            control,
            health,
        }
    }

    /// The instance as registered.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Whether the registration is being kept alive: stale while the registry cannot be
    /// reached (it is registered again by itself when the registry is back).
    pub fn health(&self) -> watch::Receiver<SourceHealth> {
        self.health.clone()
    }

    /// Whether the last keep-alive reached the registry.
    pub fn is_healthy(&self) -> bool {
        self.health.borrow().is_healthy()
    }

    /// Removes the entry now, so that callers stop picking this instance; the first step
    /// of a graceful shutdown.
    ///
    /// # Errors
    ///
    /// The registry could not be reached: the entry then expires with its lease.
    pub async fn deregister(self) -> Result<(), RegistryError> {
        let (ack, done) = oneshot::channel();
        self.control
            .send(Control::Deregister(ack))
            .map_err(|_| RegistryError::Stopped)?;
        done.await.map_err(|_| RegistryError::Stopped)?
    }

    /// Stops keeping the entry alive without removing it: it expires after its lease's
    /// time to live, as if the process had crashed. For hand-overs and for tests of expiry.
    pub fn abandon(self) {
        let _ = self.control.send(Control::Abandon);
    }
}
