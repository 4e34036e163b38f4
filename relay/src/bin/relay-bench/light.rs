// SPDX-License-Identifier: MPL-2.0
//! Light viewers: an RTSP session each, driven from the caller's thread,
//! and one receiving thread that polls every viewer's UDP socket, checks
//! sequence and frame numbers, counts bytes, and runs the pure assembler
//! and decoder only until the viewer holds its first whole picture. A
//! hundred of them cost one thread and little CPU, so the relay gets the
//! machine.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use gststreamkit::delta::DeltaDecoder;
use gststreamkit::rtp::{AssembledFrame, FrameAssembler, PacketMeta, RESTART_AFTER_TICKS};

use crate::bytebins::ByteBins;
use crate::rtpheader::{frame_number, FrameNumberTally, RtpHeader, SequenceTally};
use crate::rtsp::{track_url, Request, Response};

/// An RTSP session with the relay, one request at a time.
pub struct RtspSession {
    stream: TcpStream,
    buf: Vec<u8>,
    cseq: u32,
    url: String,
    session: String,
}

impl RtspSession {
    /// DESCRIBE and SETUP `url`, the stream to arrive on UDP port
    /// `rtp_port` (RTCP on the next one).
    pub fn setup(url: &str, rtp_port: u16) -> Result<Self> {
        let hostport = url
            .strip_prefix("rtsp://")
            .and_then(|r| r.split('/').next())
            .with_context(|| format!("not an rtsp:// URL: {url}"))?;
        let stream = TcpStream::connect(hostport).with_context(|| format!("connect {hostport}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let _ = stream.set_nodelay(true);
        let mut s = RtspSession {
            stream,
            buf: Vec::new(),
            cseq: 0,
            url: url.to_string(),
            session: String::new(),
        };
        let describe = s.request("DESCRIBE", url, vec![("Accept", "application/sdp".into())])?;
        let sdp = String::from_utf8_lossy(&describe.body).into_owned();
        let track = track_url(&sdp, url);
        let transport = format!("RTP/AVP;unicast;client_port={rtp_port}-{}", rtp_port + 1);
        let setup = s.request("SETUP", &track, vec![("Transport", transport)])?;
        s.session = setup
            .session_id()
            .context("SETUP response without a session")?
            .to_string();
        Ok(s)
    }

    /// Sends PLAY and waits for its answer.
    pub fn play(&mut self) -> Result<()> {
        let url = self.url.clone();
        let session = self.session.clone();
        self.request("PLAY", &url, vec![("Session", session)])
            .map(drop)
    }

    /// GET_PARAMETER with no body: tells the server the session is alive.
    pub fn keep_alive(&mut self) -> Result<()> {
        let url = self.url.clone();
        let session = self.session.clone();
        self.request("GET_PARAMETER", &url, vec![("Session", session)])
            .map(drop)
    }

    /// Ends the session.
    pub fn teardown(mut self) -> Result<()> {
        let url = self.url.clone();
        let session = self.session.clone();
        self.request("TEARDOWN", &url, vec![("Session", session)])
            .map(drop)
    }

    fn request(
        &mut self,
        method: &str,
        url: &str,
        headers: Vec<(&str, String)>,
    ) -> Result<Response> {
        self.cseq += 1;
        let text = Request {
            method,
            url,
            headers,
        }
        .to_text(self.cseq);
        self.stream
            .write_all(text.as_bytes())
            .with_context(|| method.to_string())?;
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((response, used)) =
                Response::parse(&self.buf).with_context(|| method.to_string())?
            {
                self.buf.drain(..used);
                if response.status != 200 {
                    bail!("{method}: status {}", response.status);
                }
                return Ok(response);
            }
            let n = self
                .stream
                .read(&mut chunk)
                .with_context(|| method.to_string())?;
            if n == 0 {
                bail!("{method}: the server closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Two neighbouring UDP ports on 127.0.0.1, the first even (RTP, RTCP).
pub fn socket_pair() -> Result<(UdpSocket, UdpSocket)> {
    for _ in 0..100 {
        let rtp = UdpSocket::bind("127.0.0.1:0")?;
        let port = rtp.local_addr()?.port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
            return Ok((rtp, rtcp));
        }
    }
    Err(anyhow!("no free UDP port pair on 127.0.0.1"))
}

/// Linux's ioctl for the kernel's receive time of the last datagram read
/// from a socket (`SIOCGSTAMPNS`, a `timespec` on CLOCK_REALTIME); not in
/// the libc crate.
const SIOCGSTAMPNS: libc::c_ulong = 0x8907;

/// When the kernel received the datagram last read from `socket`, as an
/// `Instant`, given one reading of both clocks (`now`): the receiving
/// thread's own delays (a loaded machine) stay out of the figures.
fn kernel_arrival(socket: &UdpSocket, now: &(Instant, libc::timespec)) -> Option<Instant> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the fd is open for the call and `ts` is a valid timespec the
    // kernel writes.
    let r = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSTAMPNS, &mut ts) };
    if r != 0 {
        return None;
    }
    let ns = |t: &libc::timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
    let age = (ns(&now.1) - ns(&ts)).clamp(0, 10_000_000_000);
    now.0.checked_sub(Duration::from_nanos(age as u64))
}

/// `Instant::now()` and the wall clock read together.
fn clocks_now() -> (Instant, libc::timespec) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (Instant::now(), ts)
}

/// What one light viewer's session measured.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// Numbered by the caller, in joining order.
    pub key: u64,
    /// DESCRIBE sent.
    pub requested: Instant,
    /// The UDP port it receives RTP on (its `client_port`).
    pub rtp_port: u16,
    /// PLAY sent.
    pub play_sent: Option<Instant>,
    /// First packet received.
    pub first_packet: Option<Instant>,
    /// The packet after which its decoder held every tile, none stale.
    pub first_picture: Option<Instant>,
    /// Bytes received up to that picture (RTP headers included).
    pub picture_bytes: u64,
    /// Bytes received, by time since the run's start.
    pub bins: ByteBins,
    pub packets: u64,
    pub packets_lost: u64,
    /// New frames received (by the frame number in every packet).
    pub frames: u64,
    /// Frame numbers skipped after the first frame.
    pub frames_lost: u64,
    /// Longest time between two new frames once it held a picture, and
    /// when it ended.
    pub longest_gap: Duration,
    pub longest_gap_end: Option<Instant>,
    /// When each frame's last packet (the marker) arrived, once it held a
    /// picture: frame number, arrival. A frame is whole only then, so a
    /// sender that pauses inside a frame does not count against the relay.
    pub arrivals: Vec<(u32, Instant)>,
    /// Packets that were not RTP.
    pub not_rtp: u64,
    /// TEARDOWN sent (None: it stayed to the end).
    pub left: Option<Instant>,
}

impl SessionRecord {
    pub fn new(key: u64, requested: Instant) -> Self {
        SessionRecord {
            key,
            requested,
            rtp_port: 0,
            play_sent: None,
            first_packet: None,
            first_picture: None,
            picture_bytes: 0,
            bins: ByteBins::default(),
            packets: 0,
            packets_lost: 0,
            frames: 0,
            frames_lost: 0,
            longest_gap: Duration::ZERO,
            longest_gap_end: None,
            arrivals: Vec::new(),
            not_rtp: 0,
            left: None,
        }
    }

    /// From PLAY sent to the first whole picture.
    pub fn join_time(&self) -> Option<Duration> {
        Some(
            self.first_picture?
                .saturating_duration_since(self.play_sent?),
        )
    }
}

/// A light viewer handed to the receiving thread.
pub struct LightViewer {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    record: SessionRecord,
    /// Until the first whole picture.
    picture: Option<(FrameAssembler<()>, DeltaDecoder)>,
    sequence: SequenceTally,
    numbers: FrameNumberTally,
    last_new_frame: Option<Instant>,
    bytes: u64,
}

impl LightViewer {
    pub fn new(rtp: UdpSocket, rtcp: UdpSocket, record: SessionRecord) -> Result<Self> {
        rtp.set_nonblocking(true)?;
        let mut record = record;
        record.rtp_port = rtp.local_addr()?.port();
        // The first asking turns the kernel's receive times on.
        let _ = kernel_arrival(&rtp, &clocks_now());
        rtcp.set_nonblocking(true)?;
        Ok(LightViewer {
            rtp,
            rtcp,
            record,
            picture: Some((
                FrameAssembler::new(RESTART_AFTER_TICKS),
                DeltaDecoder::new(),
            )),
            sequence: SequenceTally::default(),
            numbers: FrameNumberTally::default(),
            last_new_frame: None,
            bytes: 0,
        })
    }

    fn on_packet(&mut self, packet: &[u8], now: Instant, epoch: Instant) -> bool {
        let Some((header, payload)) = RtpHeader::parse(packet) else {
            self.record.not_rtp += 1;
            return false;
        };
        let since = now.saturating_duration_since(epoch);
        self.bytes += packet.len() as u64;
        self.record
            .bins
            .add(since.as_millis() as u64, packet.len() as u64);
        self.record.first_packet.get_or_insert(now);
        self.sequence.observe(header.seqnum);
        if let Some(number) = frame_number(payload) {
            if header.marker && self.picture.is_none() {
                self.record.arrivals.push((number, now));
            }
            if self.numbers.observe(number) && self.picture.is_none() {
                if let Some(last) = self.last_new_frame {
                    let gap = now.saturating_duration_since(last);
                    if gap > self.record.longest_gap {
                        self.record.longest_gap = gap;
                        self.record.longest_gap_end = Some(now);
                    }
                }
                self.last_new_frame = Some(now);
            }
        }
        let Some((assembler, decoder)) = &mut self.picture else {
            return false;
        };
        let meta = PacketMeta {
            timestamp: header.timestamp,
            seqnum: header.seqnum,
            marker: header.marker,
        };
        let mut frames: Vec<AssembledFrame<()>> = Vec::new();
        let _ = assembler.push(meta, payload, (), &mut frames);
        for frame in frames {
            if frame.damaged() {
                decoder.note_loss();
            }
            decoder.decode(&frame.data, since);
            if decoder.is_complete() && decoder.stale_tiles() == 0 {
                self.record.first_picture = Some(now);
                self.record.picture_bytes = self.bytes;
                // From here on only headers are read.
                self.picture = None;
                return true;
            }
        }
        false
    }

    fn finish(mut self, left: Option<Instant>) -> SessionRecord {
        self.record.left = left;
        self.record.packets = self.sequence.received;
        self.record.packets_lost = self.sequence.lost;
        self.record.frames = self.numbers.frames;
        self.record.frames_lost = self.numbers.lost;
        self.record
    }
}

/// What the receiving thread is told.
pub enum Command {
    /// Start receiving for this viewer (before its PLAY).
    Add(Box<LightViewer>),
    /// Its PLAY went out at this time.
    Played(u64, Instant),
    /// It sent TEARDOWN: stop receiving, keep its record.
    Remove(u64, Instant),
}

/// The receiving thread: `commands` in; each viewer's key on `pictures`
/// when it first holds a whole picture; every record when `commands`
/// closes.
pub fn spawn_receiver(
    epoch: Instant,
    pictures: Sender<u64>,
) -> (Sender<Command>, JoinHandle<Vec<SessionRecord>>) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("light-viewers".into())
        .spawn(move || receive(rx, epoch, pictures))
        .expect("a thread for the light viewers");
    (tx, handle)
}

fn receive(
    commands: Receiver<Command>,
    epoch: Instant,
    pictures: Sender<u64>,
) -> Vec<SessionRecord> {
    let mut viewers: Vec<LightViewer> = Vec::new();
    let mut done: Vec<SessionRecord> = Vec::new();
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut packet = vec![0u8; 65536];
    loop {
        loop {
            match commands.try_recv() {
                Ok(Command::Add(v)) => viewers.push(*v),
                Ok(Command::Played(key, at)) => {
                    if let Some(v) = viewers.iter_mut().find(|v| v.record.key == key) {
                        v.record.play_sent = Some(at);
                    }
                }
                Ok(Command::Remove(key, at)) => {
                    if let Some(i) = viewers.iter().position(|v| v.record.key == key) {
                        done.push(viewers.swap_remove(i).finish(Some(at)));
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    done.extend(viewers.into_iter().map(|v| v.finish(None)));
                    return done;
                }
            }
        }
        fds.clear();
        for v in &viewers {
            for fd in [v.rtp.as_raw_fd(), v.rtcp.as_raw_fd()] {
                fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        if fds.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        // SAFETY: `fds` is a valid array of pollfd of the given length,
        // alive for the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 5) };
        if ready <= 0 {
            continue;
        }
        for (i, v) in viewers.iter_mut().enumerate() {
            if fds[2 * i + 1].revents != 0 {
                // The relay's sender reports: read and forgotten.
                while v.rtcp.recv(&mut packet).is_ok() {}
            }
            if fds[2 * i].revents == 0 {
                continue;
            }
            while let Ok(n) = v.rtp.recv(&mut packet) {
                let now = clocks_now();
                let at = kernel_arrival(&v.rtp, &now).unwrap_or(now.0);
                if v.on_packet(&packet[..n], at, epoch) {
                    let _ = pictures.send(v.record.key);
                }
            }
        }
    }
}
