//! A minimal HTTP/1.1 client for the tests (GET and JSON POST/PUT, `Connection: close`), so the
//! tests exercise the API over real sockets without a client library.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Status code and body of a response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub www_authenticate: Option<String>,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, None)
}

pub fn post(addr: SocketAddr, path: &str, body: &serde_json::Value) -> Response {
    request(addr, "POST", path, Some(body))
}

pub fn put(addr: SocketAddr, path: &str, body: &serde_json::Value) -> Response {
    request(addr, "PUT", path, Some(body))
}

fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&serde_json::Value>) -> Response {
    request_as(addr, method, path, body, Some(super::ADMIN_TOKEN))
}

/// A request with `token` as the bearer token (none: no `Authorization` header).
pub fn request_as(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    token: Option<&str>,
) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut content = if body.is_empty() { String::new() } else { "Content-Type: application/json\r\n".to_owned() };
    if let Some(token) = token {
        content.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{content}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:")))
            .map(|l| l.split_once(':').unwrap().1.trim().to_owned())
    };
    let body = if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Response {
        status,
        content_type: header("content-type").unwrap_or_default(),
        www_authenticate: header("www-authenticate"),
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

/// Opens an SSE stream and returns the connected socket (headers consumed up to the blank line).
pub fn open_stream(addr: SocketAddr, path: &str) -> TcpStream {
    open_stream_as(addr, path, super::ADMIN_TOKEN)
}

/// [`open_stream`] with `token`.
pub fn open_stream_as(addr: SocketAddr, path: &str, token: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&head));
    stream
}

/// Reads SSE `data:` payloads of events named `event` until `n` were read.
pub fn read_events(stream: &mut TcpStream, event: &str, n: usize) -> Vec<serde_json::Value> {
    let mut buffer = String::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < n {
        let read = stream.read(&mut chunk).unwrap();
        assert!(read > 0, "stream closed after {} events", out.len());
        buffer.push_str(&String::from_utf8_lossy(&chunk[..read]));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = "message";
            let mut data = String::new();
            for line in block.lines() {
                // Chunked framing lines (hex sizes) are not SSE fields: skip anything else.
                if let Some(v) = line.strip_prefix("event:") {
                    name = if v.trim() == event { event } else { "other" };
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if name == event && !data.is_empty() {
                out.push(serde_json::from_str(&data).unwrap());
            }
        }
    }
    out
}
