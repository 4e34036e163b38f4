// SPDX-License-Identifier: MPL-2.0
//! A counting UDP forwarder on 127.0.0.1: the MoQ origin dials it instead
//! of its relay, and it passes every datagram on, both ways, counting the
//! bytes by time. QUIC is encrypted, so this is how the bench knows what
//! the origin really sent: moqsink's own counters say what it wrote into
//! moq-net's model, whoever subscribed, not what went out.
//!
//! Each client address gets a socket of its own towards the target, as a
//! NAT gives it: the origin has two sessions (its publication and its
//! standing subscription to its snapshot track), and the answers of each
//! must reach the socket that dialed.

use std::collections::HashMap;
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
/// Client addresses served at most; datagrams from any further one are
/// dropped (the origin needs two).
const MAX_CLIENTS: usize = 8;

/// Bytes that went through, by time since the epoch.
#[derive(Debug, Clone, Default)]
pub struct Counted {
    /// From the clients (the origin) to the target (its relay).
    pub up: ByteBins,
    /// Back.
    pub down: ByteBins,
}

/// The forwarder, running until dropped.
pub struct Forwarder {
    port: u16,
    stop: Arc<AtomicBool>,
    up: Option<JoinHandle<()>>,
    /// One per client, started by the up thread.
    downs: Arc<Mutex<Vec<JoinHandle<()>>>>,
    counted: Arc<Mutex<Counted>>,
}

impl Forwarder {
    /// Listens on a free port of 127.0.0.1 and forwards to `target`; counts
    /// from `epoch`.
    pub fn start(target: SocketAddr, epoch: Instant) -> Result<Self> {
        let front = local_socket()?;
        let port = front.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let counted: Arc<Mutex<Counted>> = Arc::default();
        let downs: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let up = {
            let (stop, counted, downs) = (stop.clone(), counted.clone(), downs.clone());
            spawn("forward-up", move || {
                let mut backs: HashMap<SocketAddr, UdpSocket> = HashMap::new();
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = front.recv_from(&mut buf) else {
                        continue;
                    };
                    if !backs.contains_key(&from) {
                        if backs.len() >= MAX_CLIENTS {
                            continue;
                        }
                        let started = open_back(target, from, &front, epoch, &stop, &counted);
                        match started {
                            Ok((back, thread)) => {
                                downs.lock().unwrap().push(thread);
                                backs.insert(from, back);
                            }
                            Err(e) => {
                                eprintln!("relay-bench: forwarder: {e:#}");
                                continue;
                            }
                        }
                    }
                    if let Ok(mut c) = counted.lock() {
                        c.up.add(ms(epoch), n as u64);
                    }
                    let _ = backs[&from].send(&buf[..n]);
                }
            })?
        };
        Ok(Forwarder {
            port,
            stop,
            up: Some(up),
            downs,
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
        // The up thread first: it starts no down thread after it ends.
        if let Some(t) = self.up.take() {
            let _ = t.join();
        }
        for t in self.downs.lock().unwrap().drain(..) {
            let _ = t.join();
        }
    }
}

/// A socket on a free port of 127.0.0.1, polled, with a large receive
/// buffer.
fn local_socket() -> Result<UdpSocket> {
    let socket = UdpSocket::bind("127.0.0.1:0").context("forwarder: bind")?;
    socket.set_read_timeout(Some(POLL))?;
    grow_receive_buffer(&socket);
    Ok(socket)
}

/// `client`'s socket towards `target`, and the thread that passes the
/// target's answers back to `client` through `front`.
fn open_back(
    target: SocketAddr,
    client: SocketAddr,
    front: &UdpSocket,
    epoch: Instant,
    stop: &Arc<AtomicBool>,
    counted: &Arc<Mutex<Counted>>,
) -> Result<(UdpSocket, JoinHandle<()>)> {
    let back = local_socket()?;
    back.connect(target)
        .with_context(|| format!("forwarder: connect {target}"))?;
    let (reader, front) = (back.try_clone()?, front.try_clone()?);
    let (stop, counted) = (stop.clone(), counted.clone());
    let thread = spawn("forward-down", move || {
        let mut buf = vec![0u8; 65536];
        while !stop.load(Ordering::Relaxed) {
            let Ok(n) = reader.recv(&mut buf) else {
                continue;
            };
            if let Ok(mut c) = counted.lock() {
                c.down.add(ms(epoch), n as u64);
            }
            let _ = front.send_to(&buf[..n], client);
        }
    })?;
    Ok((back, thread))
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

    #[test]
    fn each_client_gets_its_own_answers() {
        let epoch = Instant::now();
        let timeout = Some(Duration::from_secs(5));
        let target = UdpSocket::bind("127.0.0.1:0").unwrap();
        target.set_read_timeout(timeout).unwrap();
        let fwd = Forwarder::start(target.local_addr().unwrap(), epoch).unwrap();
        let clients: Vec<UdpSocket> = (0..2)
            .map(|_| {
                let c = UdpSocket::bind("127.0.0.1:0").unwrap();
                c.set_read_timeout(timeout).unwrap();
                c
            })
            .collect();
        // Each client speaks; the target answers each through the address
        // it came from, last speaker first.
        let mut buf = [0u8; 1000];
        let mut via = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            c.send_to(&[i as u8; 10], ("127.0.0.1", fwd.port()))
                .unwrap();
            let (n, from) = target.recv_from(&mut buf).unwrap();
            assert_eq!((n, buf[0]), (10, i as u8));
            via.push(from);
        }
        assert_ne!(via[0], via[1], "one socket towards the target per client");
        for (i, v) in via.iter().enumerate().rev() {
            target.send_to(&[100 + i as u8; 5], v).unwrap();
        }
        for (i, c) in clients.iter().enumerate() {
            let n = c.recv(&mut buf).unwrap();
            assert_eq!((n, buf[0]), (5, 100 + i as u8), "client {i}");
        }
    }
}
