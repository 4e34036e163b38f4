// SPDX-License-Identifier: MPL-2.0
//! The loopback network: free UDP ports and a tiny HTTP server on 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A minimal static-file HTTP/1.0 server on 127.0.0.1 that records every
/// request line's path (with query), for tests only.
pub struct HttpServer {
    /// The port it listens on.
    pub port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    /// Serves each `(url prefix, directory)` pair.
    pub fn start(routes: Vec<(String, PathBuf)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let requests = requests.clone();
            let stop = stop.clone();
            let routes = Arc::new(routes);
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let requests = requests.clone();
                            let routes = routes.clone();
                            std::thread::spawn(move || serve(stream, &routes, &requests));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Self {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Every request target so far, in order of arrival.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("ts") => "video/mp2t",
        Some("js") => "application/javascript",
        Some("html") => "text/html; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn serve(stream: TcpStream, routes: &[(String, PathBuf)], requests: &Mutex<Vec<String>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => (),
        }
    }
    let target = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    if let Ok(mut r) = requests.lock() {
        r.push(target.clone());
    }
    let path = target.split('?').next().unwrap_or("/");
    let file = routes.iter().find_map(|(prefix, dir)| {
        let rest = path.strip_prefix(prefix.as_str())?;
        if rest.split('/').any(|c| c == "..") {
            return None;
        }
        Some(dir.join(rest.trim_start_matches('/')))
    });
    let mut stream = stream;
    let body = file.as_ref().and_then(|f| std::fs::read(f).ok());
    let _ = match (file, body) {
        (Some(f), Some(body)) => write!(
            stream,
            "HTTP/1.0 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
            content_type(&f),
            body.len()
        )
        .and_then(|_| stream.write_all(&body)),
        _ => write!(
            stream,
            "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    };
    let _ = stream.flush();
}

/// `n` different free UDP ports on 127.0.0.1 (`benchkit::ports`, which
/// every program and test of the workspace takes its ports from).
pub fn free_ports(n: usize) -> Vec<u16> {
    benchkit::ports::free_udp_ports(n).expect("free UDP ports on 127.0.0.1")
}

/// One free UDP port on 127.0.0.1.
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// One free TCP port on 127.0.0.1 (a server's, such as an RTSP server's).
pub fn free_tcp_port() -> u16 {
    benchkit::ports::free_tcp_port().expect("a free TCP port on 127.0.0.1")
}

/// Two consecutive free UDP ports, the first even (RTP and RTCP, as ffmpeg
/// expects).
pub fn free_port_pair() -> u16 {
    benchkit::ports::free_udp_port_with(&[1], true).expect("two free UDP ports on 127.0.0.1")
}
