//! Keeps one registration's lease alive, registers it again when the lease was lost, and
//! removes it when asked or when its handle is dropped.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::registration::Control;
use crate::{RegistryError, SourceHealth};

use super::gateway::Gateway;

/// One registered entry: its key, its value, the keys published beside it, and the lease
/// they all live by.
pub(crate) struct Entry {
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Vec<u8>,
    /// Further keys bound to the same lease (for other readers of the registry, such as a
    /// proxy's configuration), written after the entry.
    pub(crate) extra: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) ttl: Duration,
}

impl Entry {
    /// Grants a lease and writes the entry and its extra keys under it.
    pub(crate) async fn register(&self) -> Result<i64, RegistryError> {
        let lease = self.gateway.grant(self.ttl.as_secs()).await?;
        let written = async {
            self.gateway.put(&self.key, &self.value, lease).await?;
            for (key, value) in &self.extra {
                self.gateway.put(key, value, lease).await?;
            }
            Ok(())
        };
        if let Err(error) = written.await {
            // The fresh lease holds at most part of the entry; revoking it removes that
            // part at once rather than when it expires.
            let _ = self.gateway.revoke(lease).await;
            return Err(error);
        }
        Ok(lease)
    }

    /// Renews the lease every third of its time to live until told to stop.
    pub(crate) async fn keep_alive(
        self,
        mut lease: Option<i64>,
        mut control: mpsc::UnboundedReceiver<Control>,
        health: watch::Sender<SourceHealth>,
    ) {
        let interval = self.ttl / 3;
        let key = String::from_utf8_lossy(&self.key).into_owned();
        loop {
            tokio::select! {
                command = control.recv() => {
                    match command {
                        Some(Control::Abandon) => {}
                        Some(Control::Deregister(ack)) => {
                            let _ = ack.send(self.deregister(lease).await);
                        }
                        None => {
                            if let Err(error) = self.deregister(lease).await {
                                tracing::warn!(%key, %error, "could not deregister; the entry expires with its lease");
                            }
                        }
                    }
                    return;
                }
                () = tokio::time::sleep(interval) => {
                    let renewed = match lease {
                        Some(id) => match self.gateway.keep_alive(id).await {
                            Ok(true) => Ok(()),
                            Ok(false) => {
                                tracing::warn!(%key, "registration lease lost; registering again");
                                lease = None;
                                Err(RegistryError::InvalidAnswer("the lease had expired".into()))
                            }
                            Err(error) => Err(error),
                        },
                        None => Err(RegistryError::InvalidAnswer("not registered".into())),
                    };
                    let outcome = match renewed {
                        Ok(()) => Ok(()),
                        Err(_) if lease.is_none() => self.register().await.map(|id| {
                            tracing::info!(%key, "registered again");
                            lease = Some(id);
                        }),
                        Err(error) => Err(error),
                    };
                    report(&health, &key, outcome);
                }
            }
        }
    }

    async fn deregister(&self, lease: Option<i64>) -> Result<(), RegistryError> {
        match lease {
            Some(id) => self.gateway.revoke(id).await,
            None => Ok(()),
        }
    }
}

fn report(health: &watch::Sender<SourceHealth>, key: &str, outcome: Result<(), RegistryError>) {
    match outcome {
        Ok(()) => {
            health.send_if_modified(|now| {
                let changed = !now.is_healthy();
                *now = SourceHealth::Healthy;
                changed
            });
        }
        Err(error) => {
            let error = error.to_string();
            health.send_if_modified(|now| {
                if now.is_healthy() {
                    tracing::warn!(%key, %error, "could not keep the registration alive; retrying");
                }
                *now = SourceHealth::Stale { error };
                true
            });
        }
    }
}
