//! etcd's v3 JSON gateway: the few calls a registry needs, over reqwest.
//!
//! The gateway speaks the gRPC API's messages as JSON: keys and values in base64, 64-bit
//! integers as strings, fields at their zero value left out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use url::Url;

use crate::RegistryError;

/// The endpoints and the HTTP client; calls go to the last endpoint that answered, then to
/// the others in turn.
#[derive(Debug)]
pub(crate) struct Gateway {
    http: reqwest::Client,
    endpoints: Vec<Url>,
    current: AtomicUsize,
    request_timeout: Duration,
}

/// One key-value pair.
#[derive(Debug, Deserialize)]
pub(crate) struct KeyValue {
    #[serde(default, deserialize_with = "base64_bytes")]
    pub(crate) key: Vec<u8>,
    #[serde(default, deserialize_with = "base64_bytes")]
    pub(crate) value: Vec<u8>,
    #[serde(default, deserialize_with = "int64")]
    pub(crate) mod_revision: i64,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Header {
    #[serde(default, deserialize_with = "int64")]
    pub(crate) revision: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RangeResponse {
    #[serde(default)]
    pub(crate) header: Header,
    #[serde(default)]
    pub(crate) kvs: Vec<KeyValue>,
}

#[derive(Debug, Deserialize)]
struct LeaseGrant {
    #[serde(rename = "ID", deserialize_with = "int64")]
    id: i64,
}

#[derive(Debug, Deserialize)]
struct KeepAlive {
    #[serde(default)]
    result: Option<KeepAliveResult>,
}

#[derive(Debug, Deserialize)]
struct KeepAliveResult {
    #[serde(rename = "TTL", default, deserialize_with = "int64")]
    ttl: i64,
}

/// One message of a watch stream.
#[derive(Debug, Deserialize)]
pub(crate) struct WatchMessage {
    #[serde(default)]
    pub(crate) result: Option<WatchResult>,
    #[serde(default)]
    pub(crate) error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct WatchResult {
    #[serde(default)]
    pub(crate) created: bool,
    #[serde(default)]
    pub(crate) canceled: bool,
    #[serde(default, deserialize_with = "int64")]
    pub(crate) compact_revision: i64,
    #[serde(default)]
    pub(crate) events: Vec<Event>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Event {
    /// `PUT` is the zero value and left out.
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) kv: KeyValue,
}

impl Event {
    pub(crate) fn is_delete(&self) -> bool {
        self.kind.as_deref() == Some("DELETE")
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

fn int64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Text(String),
        Number(i64),
    }
    match Int::deserialize(deserializer)? {
        Int::Number(number) => Ok(number),
        Int::Text(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

fn base64_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    STANDARD.decode(text).map_err(serde::de::Error::custom)
}

pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The end of the range of every key that starts with `prefix`.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff: the range runs to the end of the key space.
    vec![0]
}

impl Gateway {
    pub(crate) fn new(
        http: reqwest::Client,
        endpoints: Vec<Url>,
        request_timeout: Duration,
    ) -> Self {
        Self {
            http,
            endpoints,
            current: AtomicUsize::new(0),
            request_timeout,
        }
    }

    /// Sends `body` to `path` on the first endpoint that answers; `stream` calls have no
    /// overall timeout.
    async fn send(
        &self,
        path: &str,
        body: &Value,
        stream: bool,
    ) -> Result<reqwest::Response, RegistryError> {
        let start = self.current.load(Ordering::Relaxed);
        let mut last = None;
        for step in 0..self.endpoints.len() {
            let index = (start + step) % self.endpoints.len();
            let Ok(url) = self.endpoints[index].join(path) else {
                continue;
            };
            let mut request = self.http.post(url).json(body);
            if !stream {
                request = request.timeout(self.request_timeout);
            }
            match request.send().await {
                Ok(response) => {
                    self.current.store(index, Ordering::Relaxed);
                    if response.status().is_success() {
                        return Ok(response);
                    }
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    return Err(match serde_json::from_str::<ErrorBody>(&text) {
                        Ok(error) => RegistryError::Registry {
                            code: error.code,
                            message: error.message,
                        },
                        Err(_) => RegistryError::InvalidAnswer(format!("HTTP {status}")),
                    });
                }
                Err(error) => last = Some(error),
            }
        }
        Err(RegistryError::Unreachable(last.map_or_else(
            || "no usable endpoint".to_owned(),
            |error| error_chain(&error),
        )))
    }

    async fn call<T: DeserializeOwned>(&self, path: &str, body: Value) -> Result<T, RegistryError> {
        let response = self.send(path, &body, false).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|error| RegistryError::Unreachable(error_chain(&error)))?;
        serde_json::from_slice(&bytes)
            .map_err(|error| RegistryError::InvalidAnswer(error.to_string()))
    }

    /// Every key under `prefix`, and the store's revision at that moment.
    pub(crate) async fn range_prefix(&self, prefix: &[u8]) -> Result<RangeResponse, RegistryError> {
        self.call(
            "v3/kv/range",
            json!({ "key": encode(prefix), "range_end": encode(&prefix_end(prefix)) }),
        )
        .await
    }

    /// A cheap call that proves the registry answers (counts the keys under `prefix`).
    pub(crate) async fn ping(&self, prefix: &[u8]) -> Result<(), RegistryError> {
        self.call::<Value>(
            "v3/kv/range",
            json!({ "key": encode(prefix), "range_end": encode(&prefix_end(prefix)), "count_only": true }),
        )
        .await
        .map(drop)
    }

    pub(crate) async fn put(
        &self,
        key: &[u8],
        value: &[u8],
        lease: i64,
    ) -> Result<(), RegistryError> {
        self.call::<Value>(
            "v3/kv/put",
            json!({ "key": encode(key), "value": encode(value), "lease": lease.to_string() }),
        )
        .await
        .map(drop)
    }

    pub(crate) async fn grant(&self, ttl_seconds: u64) -> Result<i64, RegistryError> {
        let grant: LeaseGrant = self
            .call("v3/lease/grant", json!({ "TTL": ttl_seconds.to_string() }))
            .await?;
        Ok(grant.id)
    }

    /// Renews a lease once; `false` when the lease no longer exists (it expired).
    pub(crate) async fn keep_alive(&self, lease: i64) -> Result<bool, RegistryError> {
        let answer: KeepAlive = self
            .call("v3/lease/keepalive", json!({ "ID": lease.to_string() }))
            .await?;
        Ok(answer.result.is_some_and(|result| result.ttl > 0))
    }

    /// Revokes a lease, which deletes its keys.
    pub(crate) async fn revoke(&self, lease: i64) -> Result<(), RegistryError> {
        match self
            .call::<Value>("v3/lease/revoke", json!({ "ID": lease.to_string() }))
            .await
        {
            // Already gone (expired): what revoking wanted.
            Err(RegistryError::Registry { code: 5, .. }) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Opens a watch on every key under `prefix` from `start_revision` on.
    pub(crate) async fn watch(
        &self,
        prefix: &[u8],
        start_revision: i64,
    ) -> Result<reqwest::Response, RegistryError> {
        let body = json!({ "create_request": {
            "key": encode(prefix),
            "range_end": encode(&prefix_end(prefix)),
            "start_revision": start_revision.to_string(),
        }});
        self.send("v3/watch", &body, true).await
    }
}

/// An error and its sources on one line (reqwest's own message says little).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_range_ends_after_every_key_that_starts_with_it() {
        assert_eq!(prefix_end(b"/a/"), b"/a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), b"\0");
    }

    #[test]
    fn watch_messages_read_with_zero_values_left_out() {
        let message: WatchMessage = serde_json::from_str(
            r#"{"result":{"header":{"revision":"3"},"events":[{"type":"DELETE","kv":{"key":"eA==","mod_revision":"3"}},{"kv":{"key":"eA==","value":"eQ==","mod_revision":"4"}}]}}"#,
        )
        .unwrap();
        let result = message.result.unwrap();
        assert!(result.events[0].is_delete());
        assert!(!result.events[1].is_delete());
        assert_eq!(result.events[1].kv.value, b"y");
        let compacted: WatchMessage = serde_json::from_str(
            r#"{"result":{"header":{},"canceled":true,"compact_revision":"2"}}"#,
        )
        .unwrap();
        assert_eq!(compacted.result.unwrap().compact_revision, 2);
    }
}
