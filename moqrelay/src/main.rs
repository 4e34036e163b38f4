// SPDX-License-Identifier: MPL-2.0
//! `moq-relay`: the MoQ relay of crates.io's `moq-relay` 0.17 (its library,
//! started the way its own binary starts it), built as a member of this
//! workspace. Building it here rather than with `cargo install` means one
//! build of QUIC (noq), TLS (rustls with aws-lc) and tokio serves both the
//! relay and the plugin's `moqsink`/`moqsrc`, and a fresh machine gets it
//! from the same `cargo build` as everything else.
//!
//! Every flag is the upstream relay's: `moq-relay --help`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    moq_tokio::crypto::install_default()
        .map_err(|_| anyhow::anyhow!("cannot install the TLS crypto provider"))?;
    let config = moq_relay::Config::load()?;
    moq_relay::Relay::load(config).await?.run().await
}
