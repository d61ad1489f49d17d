//! The exporter's HTTP client: the services' reqwest client, its requests run on the
//! tokio runtime.
//!
//! The SDK's batch processor exports from its own thread with a plain executor, where
//! reqwest's async client (which needs tokio's reactor) cannot run; each request is
//! therefore spawned on the runtime the services run on and awaited from the worker
//! thread. This avoids opentelemetry-otlp's blocking reqwest client, a second HTTP stack.

use std::io;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use tokio::runtime::Handle;

/// A collector's answer is a small protobuf message (`ExportTraceServiceResponse`); more
/// than this is not read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// [`HttpClient`] over a reqwest client, on a tokio runtime.
#[derive(Debug)]
pub(super) struct RuntimeClient {
    client: reqwest::Client,
    runtime: Handle,
}

impl RuntimeClient {
    /// Sends with `client` on the current tokio runtime (an error outside one).
    pub(super) fn new(client: reqwest::Client) -> io::Result<Self> {
        let runtime = Handle::try_current().map_err(io::Error::other)?;
        Ok(Self { client, runtime })
    }
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        self.runtime
            .spawn(async move { send(&client, request).await })
            .await?
    }
}

async fn send(
    client: &reqwest::Client,
    request: reqwest::Request,
) -> Result<Response<Bytes>, HttpError> {
    let mut response = client.execute(request).await?;
    let mut answer = Response::builder().status(response.status());
    if let Some(headers) = answer.headers_mut() {
        headers.clone_from(response.headers());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err("the collector's response is too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(answer.body(Bytes::from(body))?)
}
