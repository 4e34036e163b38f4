// SPDX-License-Identifier: MPL-2.0
//! A connection to a MoQ relay, from what a user gives an element: the
//! relay's URL and, for a relay with a self-signed certificate (a test, a
//! LAN), the SHA-256 fingerprint of that certificate to pin.

use std::time::Duration;

use thiserror::Error;
use url::Url;

/// How to reach a relay.
#[derive(Debug, Clone)]
pub struct RelayAddress {
    /// `https://host:port/` (WebTransport over HTTP/3), or `moqt://` /
    /// `moql://host:port/` (MoQ straight over QUIC: the IETF draft's ALPN,
    /// moq-lite's).
    pub url: Url,
    /// Hex SHA-256 of the relay's certificate; empty: verify it against the
    /// system's roots.
    pub fingerprint: String,
    /// How long the QUIC and MoQ handshakes may take.
    pub timeout: Duration,
}

/// Why a relay could not be used.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("`{0}` is not a relay URL: {1}")]
    Url(String, String),
    #[error("cannot set up the QUIC client: {0}")]
    Setup(String),
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("no answer from {url} within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("broadcast `{0}` is not published at the relay (waited {1:?})")]
    NoBroadcast(String, Duration),
    #[error("broadcast `{broadcast}`: {reason}")]
    Broadcast { broadcast: String, reason: String },
}

impl RelayAddress {
    /// Reads a URL as a user typed it.
    pub fn parse(url: &str, fingerprint: &str, timeout: Duration) -> Result<Self, ClientError> {
        let parsed = Url::parse(url).map_err(|e| ClientError::Url(url.into(), e.to_string()))?;
        match parsed.scheme() {
            "https" | "moqt" | "moql" => {}
            other => {
                return Err(ClientError::Url(
                    url.into(),
                    format!("scheme `{other}`: use https://, moqt:// or moql://"),
                ))
            }
        }
        if parsed.host().is_none() {
            return Err(ClientError::Url(url.into(), "no host".into()));
        }
        if !fingerprint.is_empty() {
            moq_tokio::tls::parse_fingerprint(fingerprint).map_err(|e| {
                ClientError::Url(url.into(), format!("bad certificate fingerprint: {e}"))
            })?;
        }
        Ok(Self {
            url: parsed,
            fingerprint: fingerprint.into(),
            timeout,
        })
    }

    /// A client for this relay that does not redial: a session that ends
    /// is reported to the element, which reports it to the application.
    /// Its UDP socket is bound here, in the calling thread's network
    /// namespace (a program that runs each end in a namespace of its own
    /// calls this from a thread inside it), never on a runtime thread.
    pub fn client(&self) -> Result<moq_tokio::Client, ClientError> {
        let _runtime = super::runtime::runtime().enter();
        let mut config = moq_tokio::connect::Config::default();
        config.timeout = self.timeout;
        if !self.fingerprint.is_empty() {
            config.tls.fingerprint = vec![self.fingerprint.clone()];
        }
        config
            .init(Default::default())
            .map(|c| c.with_reconnect(false))
            .map_err(|e| ClientError::Setup(format!("{e:#}")))
    }

    /// Waits for `connection`'s handshakes, within the timeout.
    pub(crate) async fn established(
        &self,
        connection: moq_tokio::Connection,
    ) -> Result<moq_tokio::Connection, ClientError> {
        match tokio::time::timeout(self.timeout, connection.established()).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(ClientError::Connect {
                url: self.url.to_string(),
                reason: format!("{e:#}"),
            }),
            Err(_) => Err(ClientError::Timeout {
                url: self.url.to_string(),
                timeout: self.timeout,
            }),
        }
    }
}

/// Waits for `connection` to end and says why, for an element error.
pub async fn session_end(connection: &moq_tokio::Connection) -> String {
    match connection.closed().await {
        Ok(()) => "the relay closed the session".into(),
        Err(e) => format!("the session failed: {e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_a_user_types() {
        let t = Duration::from_secs(1);
        assert!(RelayAddress::parse("https://localhost:4443/", "", t).is_ok());
        assert!(RelayAddress::parse("moqt://127.0.0.1:4443", "", t).is_ok());
        assert!(matches!(
            RelayAddress::parse("http://localhost:4443/", "", t),
            Err(ClientError::Url(..))
        ));
        assert!(matches!(
            RelayAddress::parse("localhost:4443", "", t),
            Err(ClientError::Url(..))
        ));
        assert!(matches!(
            RelayAddress::parse("https://localhost:4443/", "zz", t),
            Err(ClientError::Url(..))
        ));
        let fp = "ab".repeat(32);
        assert!(RelayAddress::parse("https://localhost:4443/", &fp, t).is_ok());
    }
}
