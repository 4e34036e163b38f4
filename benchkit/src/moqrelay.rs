// SPDX-License-Identifier: MPL-2.0
//! A `moq-relay` (the workspace's `moqrelay/` member) as a child process on
//! a loopback address, for the tests and the measuring programs: a
//! certificate made for it at start (openssl, ECDSA P-256, valid for a day,
//! in a directory removed with the relay; nothing is ever committed), a
//! free UDP port, an anonymous grant to publish and watch everything (the
//! relay answers loopback only), and optionally a cluster link to another
//! relay. Dropping it kills the relay.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::ports;

/// How long a relay may take to bind its port.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The `moq-relay` binary: `$STREAMKIT_MOQ_RELAY`, or the one cargo built
/// next to the running program (or, for a test, next to its `deps/`).
pub fn relay_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("STREAMKIT_MOQ_RELAY") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("cannot find the running program")?;
    let mut dir = exe.parent();
    while let Some(d) = dir {
        let candidate = d.join("moq-relay");
        if candidate.is_file() {
            return Ok(candidate);
        }
        if d.file_name().is_some_and(|n| n == "target") {
            break;
        }
        dir = d.parent();
    }
    bail!(
        "moq-relay is not built next to {}: run `cargo build --workspace --bins` \
         (or set STREAMKIT_MOQ_RELAY)",
        exe.display()
    )
}

/// A certificate and key for `localhost` and 127.0.0.1 in `dir`; returns
/// the certificate's SHA-256 fingerprint as lowercase hex.
pub fn make_certificate(dir: &Path) -> Result<String> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-days", "1", "-nodes", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run openssl (Debian's openssl package)")?;
    if !made.status.success() {
        bail!(
            "openssl could not make a certificate: {}",
            String::from_utf8_lossy(&made.stderr).trim()
        );
    }
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert)
        .output()
        .context("cannot run openssl")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let hex: String = text
        .split('=')
        .nth(1)
        .unwrap_or("")
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() != 64 {
        bail!("openssl printed no SHA-256 fingerprint: {text}");
    }
    Ok(hex)
}

/// A running relay.
pub struct MoqRelay {
    child: Child,
    dir: PathBuf,
    /// The address it listens on.
    pub host: IpAddr,
    /// The UDP port it listens on.
    pub port: u16,
    /// Its certificate's SHA-256, hex: what a client pins.
    pub fingerprint: String,
}

impl MoqRelay {
    /// A relay on a free port of 127.0.0.1.
    pub fn start() -> Result<Self> {
        Self::start_with(None, &[])
    }

    /// A relay on a free port of 127.0.0.1 that joins `peer`'s cluster (it
    /// dials it, pinning its certificate), with `extra` flags.
    pub fn start_with(peer: Option<&MoqRelay>, extra: &[&str]) -> Result<Self> {
        Self::launch(IpAddr::V4(Ipv4Addr::LOCALHOST), peer, extra, |c| c.spawn())
    }

    /// A relay listening on `host` (a free port), started by `spawn` (for
    /// instance inside a network namespace).
    pub fn start_on(
        host: IpAddr,
        spawn: impl FnOnce(&mut Command) -> io::Result<Child>,
    ) -> Result<Self> {
        Self::launch(host, None, &[], spawn)
    }

    fn launch(
        host: IpAddr,
        peer: Option<&MoqRelay>,
        extra: &[&str],
        spawn: impl FnOnce(&mut Command) -> io::Result<Child>,
    ) -> Result<Self> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "streamkit-moq-relay-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot make {}", dir.display()))?;
        // The relay watches its certificate's folder and reloads on any
        // change there: its log must live elsewhere, or every line it
        // writes makes it reload (and, at info level, log that it did).
        let tls = dir.join("tls");
        std::fs::create_dir_all(&tls).with_context(|| format!("cannot make {}", tls.display()))?;
        let fingerprint = make_certificate(&tls)?;
        let port = ports::free_udp_port_on(host)?;
        let log = File::create(dir.join("relay.log")).context("cannot write the relay's log")?;
        let mut command = Command::new(relay_binary()?);
        command
            .arg("--listen")
            .arg(SocketAddr::from((host, port)).to_string())
            .arg("--listen-tls-cert")
            .arg(tls.join("cert.pem"))
            .arg("--listen-tls-key")
            .arg(tls.join("key.pem"))
            // Anyone who can reach the address (loopback, or a test's own
            // namespace) may publish and watch.
            .args(["--auth-public", "**"])
            .args(["--log-level", "warn"])
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(peer) = peer {
            command
                .arg("--cluster-connect")
                .arg(peer.url())
                .arg("--connect-tls-fingerprint")
                .arg(&peer.fingerprint);
        }
        command.args(extra);
        let child = spawn(&mut command).context("cannot start moq-relay")?;
        let mut relay = MoqRelay {
            child,
            dir,
            host,
            port,
            fingerprint,
        };
        relay.wait_bound()?;
        Ok(relay)
    }

    /// `https://<address>:<port>/`: an address, not a name, so that no
    /// resolver is needed (a fresh root may not even name localhost). The
    /// certificate names localhost and 127.0.0.1; a client pins its
    /// fingerprint, which does not check names.
    pub fn url(&self) -> String {
        format!("https://{}/", SocketAddr::from((self.host, self.port)))
    }

    /// What the relay logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("relay.log")).unwrap_or_default()
    }

    /// The relay's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_bound(&mut self) -> Result<()> {
        let started = Instant::now();
        while !udp_port_bound(self.child.id(), self.port) {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "moq-relay exited ({status}) before listening:\n{}",
                    self.log()
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "moq-relay did not bind UDP port {} within {START_TIMEOUT:?}:\n{}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

/// Whether a UDP socket is bound to `port` in process `pid`'s network
/// namespace (Linux's /proc/<pid>/net/udp and udp6).
fn udp_port_bound(pid: u32, port: u16) -> bool {
    let needle = format!(":{port:04X} ");
    ["udp", "udp6"].iter().any(|table| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).is_ok_and(|text| {
            text.lines().skip(1).any(|line| {
                line.split_whitespace()
                    .nth(1)
                    .is_some_and(|local| format!("{local} ").ends_with(&needle))
            })
        })
    })
}

impl Drop for MoqRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
