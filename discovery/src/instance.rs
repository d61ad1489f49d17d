use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use url::Url;

/// One running instance of a service, as registered and as discovered.
///
/// The key that identifies it in a change stream is its [`id`](Self::id), unique within
/// its service. Serialized as JSON with camelCase field names (the value stored in etcd).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Instance {
    /// The service this instance belongs to (`movies`, `iam`).
    pub service: String,
    /// This instance's identifier, unique within its service (a host name, a UUID).
    pub id: String,
    /// The base URL that other services call (`http://10.0.0.5:8809`).
    pub url: Url,
    /// Its share of the traffic relative to its peers; at least 1.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Free-form labels (zone, version).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Whether the instance takes new traffic.
    #[serde(default)]
    pub health: InstanceHealth,
}

fn default_weight() -> u32 {
    1
}

/// What an instance says about itself: whether callers should send it new requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum InstanceHealth {
    /// Ready for traffic.
    #[default]
    Serving,
    /// Finishing its requests before it stops; send it no new ones.
    Draining,
}

impl Instance {
    /// An instance with weight 1, no metadata, serving.
    pub fn new(service: impl Into<String>, id: impl Into<String>, url: Url) -> Self {
        Self {
            service: service.into(),
            id: id.into(),
            url,
            weight: 1,
            metadata: BTreeMap::new(),
            health: InstanceHealth::Serving,
        }
    }

    /// Sets the weight (0 is read as 1 by consumers that need a positive weight).
    #[must_use]
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Adds a metadata label.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the health it publishes.
    #[must_use]
    pub fn with_health(mut self, health: InstanceHealth) -> Self {
        self.health = health;
        self
    }

    /// Whether it takes new traffic.
    pub fn is_serving(&self) -> bool {
        self.health == InstanceHealth::Serving
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_round_trips_through_camel_case_json_with_defaults_filled_in() {
        let instance = Instance::new("movies", "a", Url::parse("http://127.0.0.1:8809").unwrap())
            .with_weight(3)
            .with_metadata("zone", "eu-1");
        let json = serde_json::to_value(&instance).unwrap();
        assert_eq!(json["weight"], 3);
        assert_eq!(json["health"], "serving");
        assert_eq!(serde_json::from_value::<Instance>(json).unwrap(), instance);
        let minimal: Instance =
            serde_json::from_str(r#"{"service":"movies","id":"b","url":"http://127.0.0.1:1/"}"#)
                .unwrap();
        assert_eq!(minimal.weight, 1);
        assert!(minimal.is_serving());
    }
}
