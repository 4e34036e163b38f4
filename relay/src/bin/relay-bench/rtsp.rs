// SPDX-License-Identifier: MPL-2.0
//! The little of RTSP 1.0 (RFC 2326) a light viewer speaks: requests as
//! text, responses parsed from whatever bytes have arrived, and the two
//! things read out of them (the session, the track to SETUP). No I/O here.

use std::fmt::Write as _;

/// A request: method, target, and headers besides CSeq.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: Vec<(&'a str, String)>,
}

impl Request<'_> {
    /// The request on the wire, numbered `cseq`.
    pub fn to_text(&self, cseq: u32) -> String {
        let mut out = format!("{} {} RTSP/1.0\r\nCSeq: {cseq}\r\n", self.method, self.url);
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        out.push_str("User-Agent: relay-bench\r\n\r\n");
        out
    }
}

/// A response: status, headers in order, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What cannot be a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// The status line is not `RTSP/1.0 NNN ...`.
    StatusLine(String),
    /// A header line without a colon, or a Content-Length that is no number.
    Header(String),
    /// Headers longer than any sane server sends.
    TooLong,
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseError::StatusLine(l) => write!(f, "not an RTSP status line: {l:?}"),
            ResponseError::Header(l) => write!(f, "bad RTSP header: {l:?}"),
            ResponseError::TooLong => write!(f, "RTSP response headers over 64 KiB"),
        }
    }
}

impl std::error::Error for ResponseError {}

const MAX_HEAD: usize = 64 << 10;

impl Response {
    /// Parses the response at the start of `buf`: `Ok(None)` while it is
    /// incomplete, else the response and how many bytes it took.
    pub fn parse(buf: &[u8]) -> Result<Option<(Response, usize)>, ResponseError> {
        let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return if buf.len() > MAX_HEAD {
                Err(ResponseError::TooLong)
            } else {
                Ok(None)
            };
        };
        let head = String::from_utf8_lossy(&buf[..head_end]);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix("RTSP/1.0 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| ResponseError::StatusLine(status_line.to_string()))?;
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| ResponseError::Header(line.to_string()))?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let body_len = match response.header("Content-Length") {
            Some(n) => n
                .parse::<usize>()
                .map_err(|_| ResponseError::Header(format!("Content-Length: {n}")))?,
            None => 0,
        };
        let body_start = head_end + 4;
        if buf.len() < body_start + body_len {
            return Ok(None);
        }
        response.body = buf[body_start..body_start + body_len].to_vec();
        Ok(Some((response, body_start + body_len)))
    }

    /// The first header called `name`, whatever its case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The session id of a SETUP response, without its `;timeout=`.
    pub fn session_id(&self) -> Option<&str> {
        let value = self.header("Session")?;
        let id = value.split(';').next()?.trim();
        (!id.is_empty()).then_some(id)
    }
}

/// The URL to SETUP for the first media of `sdp`, served at `base`: its
/// `a=control:` made absolute (a relative one is appended to `base`).
pub fn track_url(sdp: &str, base: &str) -> String {
    let control = sdp
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("m="))
        .find_map(|l| l.strip_prefix("a=control:"))
        .unwrap_or("*");
    if control.contains("://") {
        control.to_string()
    } else if control == "*" {
        base.to_string()
    } else {
        format!("{}/{control}", base.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_carries_its_number_and_headers() {
        let r = Request {
            method: "SETUP",
            url: "rtsp://127.0.0.1:8554/delta/stream=0",
            headers: vec![("Transport", "RTP/AVP;unicast;client_port=5000-5001".into())],
        };
        let text = r.to_text(2);
        assert!(
            text.starts_with("SETUP rtsp://127.0.0.1:8554/delta/stream=0 RTSP/1.0\r\nCSeq: 2\r\n")
        );
        assert!(text.contains("Transport: RTP/AVP;unicast;client_port=5000-5001\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn a_response_is_parsed_only_once_its_body_is_there() {
        let full = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\ncontent-length: 5\r\nSession: abc123;timeout=60\r\n\r\nv=0\r\nRTSP/1.0 454 x\r\n";
        let head_only = &full[..full.len() - 20];
        assert_eq!(Response::parse(head_only), Ok(None));
        let (r, used) = Response::parse(full).unwrap().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"v=0\r\n");
        assert_eq!(r.session_id(), Some("abc123"));
        assert_eq!(r.header("CSEQ"), Some("1"));
        // The next response starts right after.
        assert!(full[used..].starts_with(b"RTSP/1.0 454"));
        assert_eq!(Response::parse(&full[used..]), Ok(None));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            Response::parse(b"HTTP/1.1 200 OK\r\n\r\n"),
            Err(ResponseError::StatusLine(_))
        ));
        assert!(matches!(
            Response::parse(b"RTSP/1.0 200 OK\r\nnocolon\r\n\r\n"),
            Err(ResponseError::Header(_))
        ));
        assert!(matches!(
            Response::parse(b"RTSP/1.0 200 OK\r\nContent-Length: x\r\n\r\n"),
            Err(ResponseError::Header(_))
        ));
        assert_eq!(
            Response::parse(&vec![b'a'; MAX_HEAD + 1]),
            Err(ResponseError::TooLong)
        );
    }

    #[test]
    fn the_track_is_the_media_control_made_absolute() {
        let base = "rtsp://127.0.0.1:8554/delta";
        let sdp = "v=0\r\na=control:*\r\nm=video 0 RTP/AVP 96\r\na=control:stream=0\r\n";
        assert_eq!(track_url(sdp, base), "rtsp://127.0.0.1:8554/delta/stream=0");
        let abs = "m=video 0 RTP/AVP 96\r\na=control:rtsp://h/x/t1\r\n";
        assert_eq!(track_url(abs, base), "rtsp://h/x/t1");
        assert_eq!(track_url("m=video 0 RTP/AVP 96\r\n", base), base);
    }
}
