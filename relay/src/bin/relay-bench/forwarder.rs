// SPDX-License-Identifier: MPL-2.0
//! A counting UDP forwarder on 127.0.0.1: the MoQ origin dials it instead
//! of its relay, and it passes every datagram on, both ways, counting the
//! bytes by time. QUIC is encrypted, so this is how the bench knows what
//! the origin really sent: moqsink's own counters say what it wrote into
//! moq-net's model, whoever subscribed, not what went out.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::bytebins::ByteBins;

/// How often a forwarding thread looks whether it should stop.
const POLL: Duration = Duration::from_millis(100);
/// Receive buffer asked for each socket (the kernel caps it at rmem_max):
/// a snapshot sent in one burst must not overflow it while the thread waits
/// for a core.
const RECEIVE_BUFFER: libc::c_int = 4 << 20;

/// Bytes that went through, by time since the epoch.
#[derive(Debug, Clone, Default)]
pub struct Counted {
    /// From the client (the origin) to the target (its relay).
    pub up: ByteBins,
    /// Back.
    pub down: ByteBins,
}

/// The forwarder, running until dropped.
pub struct Forwarder {
    port: u16,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    counted: Arc<Mutex<Counted>>,
}

impl Forwarder {
    /// Listens on a free port of 127.0.0.1 and forwards to `target`; counts
    /// from `epoch`.
    pub fn start(target: SocketAddr, epoch: Instant) -> Result<Self> {
        let front = UdpSocket::bind("127.0.0.1:0").context("forwarder: bind")?;
        let back = UdpSocket::bind("127.0.0.1:0").context("forwarder: bind")?;
        back.connect(target)
            .with_context(|| format!("forwarder: connect {target}"))?;
        for s in [&front, &back] {
            s.set_read_timeout(Some(POLL))?;
            grow_receive_buffer(s);
        }
        let port = front.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let counted: Arc<Mutex<Counted>> = Arc::default();
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let (front_down, back_up) = (front.try_clone()?, back.try_clone()?);
        let up = {
            let (stop, counted, client) = (stop.clone(), counted.clone(), client.clone());
            spawn("forward-up", move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = front.recv_from(&mut buf) else {
                        continue;
                    };
                    if let Ok(mut c) = client.lock() {
                        *c = Some(from);
                    }
                    if let Ok(mut c) = counted.lock() {
                        c.up.add(ms(epoch), n as u64);
                    }
                    let _ = back_up.send(&buf[..n]);
                }
            })?
        };
        let down = {
            let (stop, counted) = (stop.clone(), counted.clone());
            spawn("forward-down", move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = back.recv(&mut buf) else {
                        continue;
                    };
                    if let Ok(mut c) = counted.lock() {
                        c.down.add(ms(epoch), n as u64);
                    }
                    let to = client.lock().ok().and_then(|c| *c);
                    if let Some(to) = to {
                        let _ = front_down.send_to(&buf[..n], to);
                    }
                }
            })?
        };
        Ok(Forwarder {
            port,
            stop,
            threads: vec![up, down],
            counted,
        })
    }

    /// The port the client dials.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What went through so far.
    pub fn counted(&self) -> Counted {
        self.counted.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn ms(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .context("forwarder: a thread")
}

/// Asks for [`RECEIVE_BUFFER`] bytes of receive buffer; the default stays
/// if the kernel refuses.
fn grow_receive_buffer(socket: &UdpSocket) {
    let size = RECEIVE_BUFFER;
    // SAFETY: the fd is open for the call; the option value is a c_int of
    // the length given.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_go_both_ways_and_are_counted() {
        let epoch = Instant::now();
        let target = UdpSocket::bind("127.0.0.1:0").unwrap();
        target
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let fwd = Forwarder::start(target.local_addr().unwrap(), epoch).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client
            .send_to(&[7u8; 100], ("127.0.0.1", fwd.port()))
            .unwrap();
        let mut buf = [0u8; 1000];
        let (n, via) = target.recv_from(&mut buf).unwrap();
        assert_eq!(n, 100);
        target.send_to(&[9u8; 30], via).unwrap();
        let n = client.recv(&mut buf).unwrap();
        assert_eq!((n, buf[0]), (30, 9));
        let c = fwd.counted();
        let now = epoch.elapsed().as_millis() as u64 + 100;
        assert_eq!((c.up.sum(0, now), c.down.sum(0, now)), (100, 30));
    }
}
