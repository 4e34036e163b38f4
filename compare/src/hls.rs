// SPDX-License-Identifier: MPL-2.0
//! HLS over HTTP for the `hls` strategy: a small HTTP/1.1 server on the
//! sender's side that serves what hlssegmentsink writes, and a live client
//! on the receiver's side that polls the playlist as RFC 8216 (section
//! 6.3.4) tells a client to, fetches each new segment over one persistent
//! connection, and hands the bytes on. No GStreamer type here: the client
//! gives what it fetched to a closure.
//!
//! The client starts at the live edge (the newest segment listed), which is
//! the lowest latency a player can have; players such as hls.js start
//! three target durations behind it by default, which this does not add.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest playlist or segment the client accepts, and largest request the
/// server reads.
const MAX_BODY: usize = 64 << 20;
const MAX_HEADER: usize = 16 << 10;

/// Serves the files of one folder over HTTP/1.1 (GET only, keep-alive),
/// one thread per connection, until dropped.
pub struct Server {
    stop: Arc<AtomicBool>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `dir` on `listener` (made by the caller, in its namespace);
    /// its threads' names start with `prefix`.
    pub fn start(listener: TcpListener, dir: PathBuf, prefix: &str) -> io::Result<Self> {
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let conn_name = format!("{prefix}http");
        let thread = std::thread::Builder::new()
            .name(format!("{prefix}httpd"))
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let dir = dir.clone();
                            let stopped = stopped.clone();
                            let _ = std::thread::Builder::new().name(conn_name.clone()).spawn(
                                move || {
                                    let _ = serve(conn, &dir, &stopped);
                                },
                            );
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })?;
        Ok(Server {
            stop,
            port,
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers the requests of one connection.
fn serve(conn: TcpStream, dir: &Path, stop: &AtomicBool) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut out = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    // What has arrived of the next request: kept across read time-outs, as
    // a request may arrive in pieces, a lost one retransmitted much later.
    let mut pending = String::new();
    while !stop.load(Ordering::Relaxed) {
        match read_head(&mut reader, &mut pending) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        }
        let request = std::mem::take(&mut pending);
        let mut words = request.split_whitespace();
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        // Only plain file names of the folder: no paths, no parents.
        let name = target.trim_start_matches('/');
        let servable =
            method == "GET" && !name.is_empty() && !name.contains('/') && !name.starts_with('.');
        let body = if servable {
            std::fs::read(dir.join(name)).ok()
        } else {
            None
        };
        match body {
            Some(body) => {
                let kind = if name.ends_with(".m3u8") {
                    "application/vnd.apple.mpegurl"
                } else {
                    "video/mp2t"
                };
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                     Cache-Control: no-cache\r\n\r\n",
                    body.len()
                )?;
                out.write_all(&body)?;
            }
            None => out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?,
        }
        out.flush()?;
    }
    Ok(())
}

/// Reads one message head (up to the empty line) into `head`, which may
/// already hold its beginning: on an error (a read time-out) what was read
/// stays there, to be completed by the next call. False at a clean end of
/// the connection.
fn read_head(reader: &mut impl BufRead, head: &mut String) -> io::Result<bool> {
    loop {
        if reader.read_line(head)? == 0 {
            return if head.is_empty() {
                Ok(false)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        if head.len() > MAX_HEADER {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "header too long",
            ));
        }
        if head.trim().is_empty() {
            // a stray empty line between messages
            head.clear();
        } else if head.ends_with("\n\r\n") || head.ends_with("\n\n") {
            return Ok(true);
        }
    }
}

/// What the client counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientStats {
    pub playlist_loads: u64,
    pub segments: u64,
    pub bytes: u64,
}

/// A live HLS client on one persistent connection.
pub struct Client {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Client {
    /// A client on `conn` (connected by the caller, in its namespace) to
    /// the server at `host`.
    pub fn new(conn: TcpStream, host: String) -> io::Result<Self> {
        conn.set_read_timeout(Some(Duration::from_secs(30)))?;
        conn.set_nodelay(true)?;
        Ok(Client {
            reader: BufReader::new(conn),
            host,
        })
    }

    /// GETs `name`; None for a 404.
    fn get(&mut self, name: &str) -> io::Result<Option<Vec<u8>>> {
        // One write, so one segment: `write!` on the socket would send
        // each piece of the format on its own.
        let request = format!("GET /{name} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.reader.get_mut().write_all(request.as_bytes())?;
        self.response()
    }

    /// Reads one response: its body, or None if it is not a 200.
    fn response(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut head = String::new();
        if !read_head(&mut self.reader, &mut head)? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let status = head.split_whitespace().nth(1).unwrap_or("");
        let length = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no Content-Length"))?;
        if length > MAX_BODY {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok((status == "200").then_some(body))
    }

    /// Follows the live playlist `playlist` until it ends or `stop` is
    /// set, giving each new segment's bytes to `deliver`, in order.
    pub fn follow(
        &mut self,
        playlist: &str,
        stop: &AtomicBool,
        mut deliver: impl FnMut(Vec<u8>),
    ) -> io::Result<ClientStats> {
        let mut stats = ClientStats::default();
        // The next media sequence number wanted (None: the live edge).
        let mut next: Option<u64> = None;
        while !stop.load(Ordering::Relaxed) {
            let loaded = Instant::now();
            let Some(text) = self.get(playlist)? else {
                // not written yet
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            stats.playlist_loads += 1;
            let media = match m3u8_rs::parse_media_playlist_res(&text) {
                Ok(m) => m,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the playlist does not parse",
                    ))
                }
            };
            let first = media.media_sequence;
            let listed = media.segments.len() as u64;
            let start = *next.get_or_insert(first + listed.saturating_sub(1));
            let mut changed = false;
            for (i, segment) in media.segments.iter().enumerate() {
                let seq = first + i as u64;
                if seq < start || next.is_some_and(|n| seq < n) {
                    continue;
                }
                if let Some(bytes) = self.get(&segment.uri)? {
                    stats.segments += 1;
                    stats.bytes += bytes.len() as u64;
                    deliver(bytes);
                }
                next = Some(seq + 1);
                changed = true;
            }
            if media.end_list {
                break;
            }
            // RFC 8216 6.3.4: after a playlist that changed, wait the
            // target duration before loading it again; after one that did
            // not, half of it.
            let target = Duration::from_secs(media.target_duration.max(1));
            let wait = if changed { target } else { target / 2 };
            let until = loaded + wait;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10).min(until - Instant::now()));
            }
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hls-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn serve_here(dir: &Path) -> (Server, TcpStream) {
        let server = Server::start(
            TcpListener::bind("127.0.0.1:0").unwrap(),
            dir.to_path_buf(),
            "t",
        )
        .unwrap();
        let conn = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        (server, conn)
    }

    fn playlist(first: u64, count: u64, ended: bool) -> String {
        let mut p = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:{first}\n"
        );
        for s in first..first + count {
            p += &format!("#EXTINF:0.333,\nseg{s}.ts\n");
        }
        if ended {
            p += "#EXT-X-ENDLIST\n";
        }
        p
    }

    #[test]
    fn the_server_serves_files_of_its_folder_only() {
        let dir = folder("serve");
        std::fs::write(dir.join("a.ts"), b"segment").unwrap();
        let (_server, conn) = serve_here(&dir);
        let mut client = Client::new(conn, "here".into()).unwrap();
        assert_eq!(client.get("a.ts").unwrap(), Some(b"segment".to_vec()));
        // keep-alive: a second request on the same connection
        assert_eq!(client.get("a.ts").unwrap(), Some(b"segment".to_vec()));
        assert_eq!(client.get("missing.ts").unwrap(), None);
        assert_eq!(client.get("../etc/passwd").unwrap(), None);
        assert_eq!(client.get(".hidden").unwrap(), None);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_client_starts_at_the_live_edge_and_follows_to_the_end() {
        let dir = folder("follow");
        for s in 0..8u64 {
            std::fs::write(dir.join(format!("seg{s}.ts")), s.to_string()).unwrap();
        }
        // three listed now; the rest appear later and the stream ends
        std::fs::write(dir.join("live.m3u8"), playlist(3, 3, false)).unwrap();
        let writer = {
            let dir = dir.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                std::fs::write(dir.join("live.m3u8"), playlist(4, 4, true)).unwrap();
            })
        };
        let (_server, conn) = serve_here(&dir);
        let mut got = Vec::new();
        let stats = Client::new(conn, "here".into())
            .unwrap()
            .follow("live.m3u8", &AtomicBool::new(false), |b| {
                got.push(String::from_utf8(b).unwrap())
            })
            .unwrap();
        writer.join().unwrap();
        // segment 5 was the newest when the client came; 6 and 7 followed
        assert_eq!(got, ["5", "6", "7"]);
        assert_eq!(stats.segments, 3);
        assert!(stats.playlist_loads >= 2);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_request_that_arrives_in_pieces_slowly_is_answered() {
        let dir = folder("pieces");
        std::fs::write(dir.join("a.ts"), b"whole").unwrap();
        let (_server, mut conn) = serve_here(&dir);
        // longer apart than the server's read time-out (200 ms)
        for piece in ["GET /a", ".ts HTTP/1.1\r\nHo", "st: here\r\n", "\r\n"] {
            conn.write_all(piece.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(250));
        }
        let mut client = Client::new(conn, "here".into()).unwrap();
        assert_eq!(client.response().unwrap(), Some(b"whole".to_vec()));
        // and the connection goes on
        assert_eq!(client.get("a.ts").unwrap(), Some(b"whole".to_vec()));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn an_absurd_length_is_refused_before_anything_is_allocated() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let liar = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = conn.read(&mut buf);
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n")
                .unwrap();
        });
        let conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let err = Client::new(conn, "here".into())
            .unwrap()
            .get("x.ts")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        liar.join().unwrap();
    }
}
