use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{RequestBuilder, Response};

use super::{BalancedClient, ClientError};

/// A request being built for a [`BalancedClient`]; the instance is chosen at
/// [`send`](Self::send). The methods mirror reqwest's `RequestBuilder`.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct BalancedRequest {
    pub(super) client: BalancedClient,
    pub(super) builder: RequestBuilder,
}

impl BalancedRequest {
    /// Adds a header.
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.map(|builder| builder.header(name, value))
    }

    /// Adds headers.
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.map(|builder| builder.headers(headers))
    }

    /// Sets `Authorization: Bearer <token>` (marked sensitive, so never logged by reqwest).
    pub fn bearer_auth(self, token: impl fmt::Display) -> Self {
        self.map(|builder| builder.bearer_auth(token))
    }

    /// Sends `body` as JSON, with `Content-Type: application/json`.
    pub fn json<T: serde::Serialize + ?Sized>(self, body: &T) -> Self {
        self.map(|builder| builder.json(body))
    }

    /// Sends `body` as `application/x-www-form-urlencoded`.
    pub fn form<T: serde::Serialize + ?Sized>(self, body: &T) -> Self {
        self.map(|builder| builder.form(body))
    }

    /// Appends query parameters.
    pub fn query<T: serde::Serialize + ?Sized>(self, query: &T) -> Self {
        self.map(|builder| builder.query(query))
    }

    /// Sets a raw body.
    pub fn body(self, body: impl Into<reqwest::Body>) -> Self {
        self.map(|builder| builder.body(body))
    }

    /// Bounds this request (connect to end of body); a timeout counts against the
    /// instance. Default is the reqwest client's.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|builder| builder.timeout(timeout))
    }

    /// Applies any other reqwest `RequestBuilder` method.
    pub fn map(mut self, change: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Self {
        self.builder = change(self.builder);
        self
    }

    /// Sends the request to the next instance whose breaker admits it.
    ///
    /// Responses of every status are `Ok` (by default 5xx responses count against the
    /// instance: see [`default_classifier`](super::default_classifier)).
    ///
    /// # Errors
    ///
    /// [`ClientError::AllOpen`] when no instance admits the call, [`ClientError::Timeout`]
    /// past the breaker's call timeout, [`ClientError::Request`] for a transport error
    /// (after trying the other admitted instances if the connection could not be made).
    pub async fn send(self) -> Result<Response, ClientError> {
        self.client.send(self.builder).await
    }
}
