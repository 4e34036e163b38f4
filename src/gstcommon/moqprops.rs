// SPDX-License-Identifier: MPL-2.0
//! What `moqsink` and `moqsrc` share as properties: where the relay is, how
//! to trust it, and which broadcast.

use gst::glib;
use gst::prelude::*;
use std::time::Duration;

use super::clock::nanos;
use crate::moq::client::RelayAddress;

pub(crate) const DEFAULT_URL: &str = "https://127.0.0.1:4443/";
pub(crate) const DEFAULT_BROADCAST: &str = "streamkit";
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The long description's example of both elements: publishing and
/// watching in one pipeline through a local relay (`$FP`: the relay
/// certificate's SHA-256; tests/inspect.rs runs it through a relay of its
/// own). `async=false`: neither sink waits for the other's first buffer.
pub(crate) const EXAMPLE: &str = "gst-launch-1.0 videotestsrc is-live=true num-buffers=30 \
     ! video/x-raw,format=BGRx ! deltaenc ! moqsink async=false url=https://127.0.0.1:4443/ \
     broadcast=demo fingerprint=$FP moqsrc url=https://127.0.0.1:4443/ broadcast=demo \
     fingerprint=$FP ! deltadec ! fakesink async=false";

/// What [`relay_properties`] set.
#[derive(Debug, Clone)]
pub(crate) struct RelaySettings {
    pub url: String,
    pub broadcast: String,
    pub fingerprint: String,
    pub timeout: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            url: DEFAULT_URL.into(),
            broadcast: DEFAULT_BROADCAST.into(),
            fingerprint: String::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl RelaySettings {
    /// Sets property `name` if it is one of [`relay_properties`]; false if
    /// it is not.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        let text = || {
            value
                .get::<Option<String>>()
                .expect("type checked upstream")
                .unwrap_or_default()
        };
        match name {
            "url" => self.url = text(),
            "broadcast" => self.broadcast = text(),
            "fingerprint" => self.fingerprint = text(),
            "timeout" => {
                self.timeout = Duration::from_nanos(value.get().expect("type checked upstream"))
            }
            _ => return false,
        }
        true
    }

    /// Property `name`'s value if it is one of [`relay_properties`].
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        Some(match name {
            "url" => self.url.to_value(),
            "broadcast" => self.broadcast.to_value(),
            "fingerprint" => self.fingerprint.to_value(),
            "timeout" => nanos(self.timeout).to_value(),
            _ => return None,
        })
    }

    /// The relay to use, checked when an element starts: a clear settings
    /// error for a URL, a fingerprint or a broadcast name that cannot work.
    pub fn address(&self) -> Result<RelayAddress, gst::ErrorMessage> {
        let address = RelayAddress::parse(&self.url, &self.fingerprint, self.timeout)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ["{}", e]))?;
        if self.broadcast.is_empty() {
            return Err(gst::error_msg!(
                gst::ResourceError::Settings,
                ["`broadcast` is empty: name the broadcast"]
            ));
        }
        Ok(address)
    }
}

/// The properties both MoQ elements have: where the relay is and which
/// broadcast.
pub(crate) fn relay_properties(timeout_blurb: &str) -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecString::builder("url")
            .nick("Relay URL")
            .blurb(
                "The MoQ relay: https://host:port/ (WebTransport over HTTP/3) or \
                 moqt://host:port/ (MoQ directly over QUIC)",
            )
            .default_value(Some(DEFAULT_URL))
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("broadcast")
            .nick("Broadcast")
            .blurb("The broadcast's name (path) at the relay")
            .default_value(Some(DEFAULT_BROADCAST))
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("fingerprint")
            .nick("Certificate fingerprint")
            .blurb(
                "SHA-256 of the relay's certificate, hex, to trust it without a CA (a \
                 self-signed relay); empty: verify it against the system's roots",
            )
            .default_value(Some(""))
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt64::builder("timeout")
            .nick("Timeout")
            .blurb(timeout_blurb)
            .minimum(1_000_000)
            .maximum(u64::MAX)
            .default_value(nanos(DEFAULT_TIMEOUT))
            .mutable_ready()
            .build(),
    ]
}
