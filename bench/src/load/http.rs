//! A minimal HTTP/1.1 client over tokio sockets for the probes: one-shot GETs
//! (`Connection: close`) and a Server-Sent Events reader, with chunked transfer decoding. The
//! harness talks to wardstream's API over real loopback sockets, as a browser would, without a
//! client library.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Status and body of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body (chunked encoding removed).
    pub body: String,
}

/// `GET path` with `Connection: close`.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Response> {
    let mut stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    stream
        .write_all(
            format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {}\r\n\r\n",
                super::target::LOAD_TOKEN
            )
            .as_bytes(),
        )
        .await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let (status, chunked, body_start) = parse_head(&raw)?;
    let body = raw.get(body_start..).unwrap_or_default();
    let body = if chunked {
        let mut decoder = Dechunker::default();
        let mut out = Vec::new();
        decoder.push(body, &mut out)?;
        out
    } else {
        body.to_vec()
    };
    Ok(Response { status, body: String::from_utf8(body).context("the body is not UTF-8")? })
}

/// Status, whether the body is chunked, and where the body starts, of a response whose head is
/// complete in `raw`.
fn parse_head(raw: &[u8]) -> anyhow::Result<(u16, bool, usize)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").context("the response has no complete head")?;
    let head = std::str::from_utf8(raw.get(..end).unwrap_or_default()).context("the head is not UTF-8")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("no status in {:?}", head.lines().next()))?;
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding") && value.trim().eq_ignore_ascii_case("chunked")
        })
    });
    Ok((status, chunked, end + 4))
}

/// Incremental decoder of `Transfer-Encoding: chunked`.
#[derive(Debug, Default)]
pub struct Dechunker {
    pending: Vec<u8>,
    /// Bytes left of the current chunk's data (its CRLF included), or `None` between chunks.
    left: Option<usize>,
    ended: bool,
}

impl Dechunker {
    /// Decodes `bytes` into `out`. Returns true once the last (empty) chunk was seen.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> anyhow::Result<bool> {
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        while !self.ended {
            let rest = self.pending.get(at..).unwrap_or_default();
            match self.left {
                None => {
                    let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else { break };
                    let line = std::str::from_utf8(rest.get(..eol).unwrap_or_default())?;
                    let size_text = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(size_text, 16)
                        .with_context(|| format!("bad chunk size line {line:?}"))?;
                    at += eol + 2;
                    if size == 0 {
                        self.ended = true;
                    } else {
                        self.left = Some(size + 2);
                    }
                }
                Some(left) => {
                    if rest.is_empty() {
                        break;
                    }
                    let take = left.min(rest.len());
                    let data_left = left.saturating_sub(2);
                    out.extend_from_slice(rest.get(..take.min(data_left)).unwrap_or_default());
                    at += take;
                    self.left = if take == left { None } else { Some(left - take) };
                }
            }
        }
        self.pending.drain(..at.min(self.pending.len()));
        Ok(self.ended)
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (`message` when absent).
    pub name: String,
    /// The `data:` lines joined.
    pub data: String,
}

/// A Server-Sent Events stream.
#[derive(Debug)]
pub struct SseStream {
    stream: TcpStream,
    chunked: bool,
    dechunker: Dechunker,
    text: Vec<u8>,
}

impl SseStream {
    /// Opens `GET path` with `Accept: text/event-stream` and reads the head (status must be 200).
    pub async fn open(addr: SocketAddr, path: &str) -> anyhow::Result<SseStream> {
        let mut stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nAuthorization: Bearer {}\r\n\r\n",
            super::target::LOAD_TOKEN
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                bail!("{path}: the connection closed before the response head");
            }
            raw.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        let (status, chunked, body_start) = parse_head(&raw)?;
        if status != 200 {
            bail!("{path}: status {status}");
        }
        let mut sse = SseStream { stream, chunked, dechunker: Dechunker::default(), text: Vec::new() };
        let first = raw.get(body_start..).unwrap_or_default().to_vec();
        sse.feed(&first)?;
        Ok(sse)
    }

    fn feed(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        if self.chunked {
            self.dechunker.push(bytes, &mut self.text)?;
        } else {
            self.text.extend_from_slice(bytes);
        }
        Ok(())
    }

    /// The next event, or `None` when the server closed the stream.
    pub async fn next_event(&mut self) -> anyhow::Result<Option<SseEvent>> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some(end) = self.text.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.text.drain(..end + 2).collect();
                if let Some(event) = parse_event(&String::from_utf8_lossy(&block)) {
                    return Ok(Some(event));
                }
                continue;
            }
            let n = self.stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(None);
            }
            self.feed(buf.get(..n).unwrap_or_default())?;
        }
    }
}

/// An event block (lines up to a blank line); `None` for a comment-only block (keep-alive).
fn parse_event(block: &str) -> Option<SseEvent> {
    let mut name = None;
    let mut data: Option<String> = None;
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            let v = v.strip_prefix(' ').unwrap_or(v);
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(v);
                }
                None => data = Some(v.to_owned()),
            }
        }
    }
    if name.is_none() && data.is_none() {
        return None;
    }
    Some(SseEvent { name: name.unwrap_or_else(|| "message".into()), data: data.unwrap_or_default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_decoded_across_any_split() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        for split in 0..wire.len() {
            let mut d = Dechunker::default();
            let mut out = Vec::new();
            let (a, b) = wire.split_at(split);
            d.push(a, &mut out).unwrap();
            let ended = d.push(b, &mut out).unwrap();
            assert_eq!((out.as_slice(), ended), (&b"hello, world"[..], true), "split at {split}");
        }
        assert!(Dechunker::default().push(b"zz\r\n", &mut Vec::new()).is_err());
    }

    #[test]
    fn heads_and_events_parse() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\nabc";
        assert_eq!(parse_head(raw).unwrap(), (200, true, raw.len() - 3));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").is_err());
        let event = parse_event("event: observation\ndata: {\"a\":1}\n\n").unwrap();
        assert_eq!(event, SseEvent { name: "observation".into(), data: "{\"a\":1}".into() });
        assert_eq!(parse_event(": keep-alive\n\n"), None);
    }
}
