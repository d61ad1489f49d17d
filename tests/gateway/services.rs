//! The example service instances behind the gateway: each with its own configuration file
//! and instance id, started (and restarted on the same port) through the shared harness.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use portcullis_examples::testing::{Service, example_command};

/// How to start one example service instance.
#[derive(Debug, Clone)]
pub(crate) struct ServiceSpec {
    /// The example's name (`user_service`, `movie_service`).
    pub(crate) example: &'static str,
    /// The instance id, sent back by the service as `x-instance-id`.
    pub(crate) instance_id: String,
    /// The service's configuration file (camelCase keys), written to the log directory and
    /// passed as `PORTCULLIS_CONFIG`; `port` and `instanceId` are set here.
    pub(crate) config: serde_json::Map<String, serde_json::Value>,
    /// Environment variables (secrets) beyond `PORTCULLIS_CONFIG`, `PORTCULLIS_PORT` and
    /// `PORTCULLIS_INSTANCE_ID`.
    pub(crate) env: HashMap<String, OsString>,
}

impl ServiceSpec {
    /// Starts the instance on any free loopback port; [`Service::restart`] brings it back
    /// on the same one. Its [`Service::name`] is the instance id.
    pub(crate) fn start(self, dir: &Path) -> Service {
        let dir = dir.to_path_buf();
        let name = self.instance_id.clone();
        Service::start_restartable(&name, move |port| self.command(&dir, port))
    }

    /// The command for one start on `port` (0: any free port).
    fn command(&self, dir: &Path, port: u16) -> std::process::Command {
        let mut config = self.config.clone();
        let port = format!("127.0.0.1:{port}");
        config.insert("port".into(), port.clone().into());
        config.insert("instanceId".into(), self.instance_id.clone().into());
        let config_file: PathBuf = dir.join(format!("{}.json", self.instance_id));
        std::fs::write(
            &config_file,
            serde_json::to_string_pretty(&config).expect("config to JSON"),
        )
        .expect("write config file");
        let mut command = example_command(self.example);
        command
            .env("PORTCULLIS_CONFIG", &config_file)
            .env("PORTCULLIS_PORT", port)
            .env("PORTCULLIS_INSTANCE_ID", &self.instance_id)
            .envs(&self.env);
        command
    }
}
