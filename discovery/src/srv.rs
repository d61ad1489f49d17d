//! A live view from periodic SRV lookups: each target and port is an instance, weighted as
//! the record says; only the records of the lowest priority are used.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use url::Url;

use crate::view::{ServiceView, ViewWriter};
use crate::{DEFAULT_DNS_INTERVAL, Instance};

/// Looks up SRV records (`_http._tcp.movies.default.svc.cluster.local`, Consul's
/// `movies.service.consul`) every interval; each record of the lowest priority is an
/// instance with id `target:port`, URL `{scheme}://target:port/` and the record's weight
/// (at least 1).
///
/// A failed or empty lookup keeps the last known set and marks the view stale.
#[derive(Debug, Clone)]
pub struct SrvSource {
    service: String,
    name: String,
    scheme: &'static str,
    interval: Duration,
    nameserver: Option<SocketAddr>,
}

impl SrvSource {
    /// Looks up `name`'s SRV records for `service`'s instances, called over `http`.
    pub fn new(service: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            name: name.into(),
            scheme: "http",
            interval: DEFAULT_DNS_INTERVAL,
            nameserver: None,
        }
    }

    /// Calls the instances over HTTPS.
    #[must_use]
    pub fn https(mut self) -> Self {
        self.scheme = "https";
        self
    }

    /// The time between two lookups (at least 100 ms). Default is
    /// [`DEFAULT_DNS_INTERVAL`].
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(100));
        self
    }

    /// Asks this name server (over UDP) instead of the system's.
    #[must_use]
    pub fn nameserver(mut self, address: SocketAddr) -> Self {
        self.nameserver = Some(address);
        self
    }

    /// Starts looking up in the background (within the current tokio runtime) until the
    /// view and its change streams are dropped.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn watch(self) -> ServiceView {
        let slot: Arc<OnceLock<AbortOnDrop>> = Arc::new(OnceLock::new());
        let (view, writer) = ServiceView::new(&self.service, slot.clone());
        let task = tokio::spawn(self.look_up_forever(writer));
        let _ = slot.set(AbortOnDrop(task.abort_handle()));
        view
    }

    fn resolver(&self) -> Result<TokioResolver, String> {
        let builder = match self.nameserver {
            Some(address) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = address.port();
                let server = NameServerConfig::new(address.ip(), true, vec![udp]);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio().map_err(|error| error.to_string())?,
        };
        builder.build().map_err(|error| error.to_string())
    }

    async fn look_up_forever(self, writer: ViewWriter) {
        let resolver = loop {
            match self.resolver() {
                Ok(resolver) => break resolver,
                Err(error) => {
                    writer.stale(format!("DNS resolver: {error}"));
                    tokio::time::sleep(self.interval).await;
                }
            }
        };
        loop {
            match resolver.srv_lookup(self.name.as_str()).await {
                Ok(lookup) => {
                    let records: Vec<_> = lookup
                        .answers()
                        .iter()
                        .filter_map(|record| match &record.data {
                            RData::SRV(srv) => Some(srv.clone()),
                            _ => None,
                        })
                        .collect();
                    let first = records.iter().map(|srv| srv.priority).min();
                    let instances: Vec<Instance> = records
                        .iter()
                        .filter(|srv| Some(srv.priority) == first)
                        .filter_map(|srv| {
                            let target = srv.target.to_utf8();
                            let target = target.trim_end_matches('.');
                            self.instance(target, srv.port, srv.weight)
                        })
                        .collect();
                    if instances.is_empty() {
                        writer.stale(format!("{} has no SRV record", self.name));
                    } else {
                        writer.replace_all(instances);
                        writer.healthy();
                    }
                }
                Err(error) => writer.stale(format!("SRV lookup of {}: {error}", self.name)),
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    fn instance(&self, target: &str, port: u16, weight: u16) -> Option<Instance> {
        let url = Url::parse(&format!("{}://{target}:{port}/", self.scheme)).ok()?;
        Some(
            Instance::new(self.service.clone(), format!("{target}:{port}"), url)
                .with_weight(u32::from(weight.max(1))),
        )
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
    use hickory_resolver::proto::rr::rdata::SRV;
    use hickory_resolver::proto::rr::{Name, Record};
    use tokio::net::UdpSocket;
    use tower::discover::Change;

    use super::*;

    /// A name server on loopback that answers every query with `records` (priority,
    /// weight, port, target), or NXDOMAIN when there are none.
    async fn name_server(records: Vec<(u16, u16, u16, &'static str)>) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buffer = [0_u8; 1500];
            loop {
                let (length, peer) = socket.recv_from(&mut buffer).await.unwrap();
                let query = Message::from_vec(&buffer[..length]).unwrap();
                let mut answer = Message::new(
                    query.metadata.id,
                    MessageType::Response,
                    query.metadata.op_code,
                );
                answer.metadata.recursion_desired = query.metadata.recursion_desired;
                answer.metadata.recursion_available = true;
                answer.add_queries(query.queries.clone());
                let name = query.queries[0].name().clone();
                if records.is_empty() {
                    answer.metadata.response_code = ResponseCode::NXDomain;
                }
                for (priority, weight, port, target) in &records {
                    let srv =
                        SRV::new(*priority, *weight, *port, Name::from_ascii(target).unwrap());
                    answer.add_answer(Record::from_rdata(name.clone(), 1, RData::SRV(srv)));
                }
                socket
                    .send_to(&answer.to_vec().unwrap(), peer)
                    .await
                    .unwrap();
            }
        });
        address
    }

    #[tokio::test]
    async fn srv_records_of_the_lowest_priority_become_weighted_instances() {
        let server = name_server(vec![
            (10, 3, 8081, "localhost."),
            (10, 0, 8082, "127.0.0.1."),
            (20, 5, 8083, "backup.example."),
        ])
        .await;
        let view = SrvSource::new("movies", "_http._tcp.movies.example.")
            .nameserver(server)
            .watch();
        let mut changes = view.changes();
        let mut seen = Vec::new();
        for _ in 0..2 {
            match changes.next().await.unwrap() {
                Change::Insert(id, instance) => {
                    seen.push((id, instance.weight, instance.url.to_string()));
                }
                Change::Remove(id) => panic!("unexpected removal of {id}"),
            }
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                (
                    "127.0.0.1:8082".to_owned(),
                    1,
                    "http://127.0.0.1:8082/".to_owned()
                ),
                (
                    "localhost:8081".to_owned(),
                    3,
                    "http://localhost:8081/".to_owned()
                ),
            ]
        );
        assert!(view.is_healthy());
    }

    #[tokio::test]
    async fn a_name_without_srv_records_leaves_the_view_stale() {
        let server = name_server(Vec::new()).await;
        let view = SrvSource::new("movies", "_http._tcp.none.example.")
            .nameserver(server)
            .watch();
        let mut health = view.health();
        health
            .wait_for(|health| matches!(health, crate::SourceHealth::Stale { .. }))
            .await
            .unwrap();
        assert!(view.snapshot().is_empty());
    }
}
