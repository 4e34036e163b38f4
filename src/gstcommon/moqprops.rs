// SPDX-License-Identifier: MPL-2.0
//! What `moqsink` and `moqsrc` share as properties: where the relay is, how
//! to trust it, and which broadcast.

use gst::glib;
use gst::prelude::*;
use std::time::Duration;

use super::clock::nanos;

pub(crate) const DEFAULT_URL: &str = "https://127.0.0.1:4443/";
pub(crate) const DEFAULT_BROADCAST: &str = "streamkit";
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

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
