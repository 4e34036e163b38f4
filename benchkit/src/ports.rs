// SPDX-License-Identifier: MPL-2.0
//! Free ports on 127.0.0.1 for programs and tests that start pipelines on
//! loopback. A port is bound and released, so another process could take
//! it meanwhile: only this machine's own programs and tests would.

use std::net::{IpAddr, TcpListener, UdpSocket};

use anyhow::{bail, Context, Result};

const LOOPBACK: &str = "127.0.0.1";

/// `n` different free UDP ports: all are bound at once, so they differ,
/// then released.
pub fn free_udp_ports(n: usize) -> Result<Vec<u16>> {
    let sockets = (0..n)
        .map(|_| UdpSocket::bind((LOOPBACK, 0)))
        .collect::<Result<Vec<_>, _>>()
        .context("no free UDP port on 127.0.0.1")?;
    sockets
        .iter()
        .map(|s| Ok(s.local_addr()?.port()))
        .collect::<Result<_, std::io::Error>>()
        .context("no free UDP port on 127.0.0.1")
}

/// One free UDP port.
pub fn free_udp_port() -> Result<u16> {
    Ok(free_udp_ports(1)?[0])
}

/// One free UDP port on `host`, an address of this thread's network
/// namespace (a namespace's own address, where 127.0.0.1 may be down).
pub fn free_udp_port_on(host: IpAddr) -> Result<u16> {
    let socket =
        UdpSocket::bind((host, 0)).with_context(|| format!("no free UDP port on {host}"))?;
    Ok(socket.local_addr()?.port())
}

/// A free UDP port `p` such that `p + d` is free too for every `d` of
/// `offsets` (RTP and RTCP at `p` and `p + 1`; `rtpbin` conventions).
/// With `even`, `p` is even, as RTP's RFC 3550 port rule and ffmpeg want.
pub fn free_udp_port_with(offsets: &[u16], even: bool) -> Result<u16> {
    let top = offsets.iter().copied().max().unwrap_or(0);
    for _ in 0..100 {
        let first = UdpSocket::bind((LOOPBACK, 0)).context("no free UDP port on 127.0.0.1")?;
        let port = first.local_addr()?.port();
        if (even && port % 2 != 0) || port > u16::MAX - top {
            continue;
        }
        let others: Vec<_> = offsets
            .iter()
            .map(|d| UdpSocket::bind((LOOPBACK, port + d)))
            .collect();
        if others.iter().all(Result::is_ok) {
            return Ok(port);
        }
    }
    bail!("no free UDP port on 127.0.0.1 with {offsets:?} above it free too")
}

/// One free TCP port.
pub fn free_tcp_port() -> Result<u16> {
    let l = TcpListener::bind((LOOPBACK, 0)).context("no free TCP port on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_and_distinct() {
        let ports = free_udp_ports(3).expect("ports");
        assert_eq!(ports.len(), 3);
        assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
        for p in ports {
            UdpSocket::bind((LOOPBACK, p)).expect("still free");
        }
        let p = free_udp_port_with(&[1, 5], true).expect("a port with +1 and +5");
        assert_eq!(p % 2, 0);
        for d in [0, 1, 5] {
            UdpSocket::bind((LOOPBACK, p + d)).expect("free");
        }
        TcpListener::bind((LOOPBACK, free_tcp_port().expect("tcp"))).expect("free");
    }
}
