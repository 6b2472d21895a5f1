//! JSON-RPC 2.0 over HTTP/1.1 (guide §5, the `add`/`echo` server on
//! 127.0.0.1:3030): a small, bounded HTTP server over any
//! [`Listener`] whose bodies are answered by
//! [`wire::jsonrpc::handle`](crate::wire::jsonrpc::handle).
//!
//! **What.** `POST` with a `Content-Length` body; the answer is `200` with an
//! `application/json` body, or `204 No Content` when the body held only
//! notifications. Persistent connections (HTTP/1.1 keep-alive) unless the
//! client sends `Connection: close`. Everything is bounded: the header block
//! ([`HttpConfig::max_header`]), the body ([`HttpConfig::max_body`], else
//! `413`), the time a connection may stay silent ([`HttpConfig::idle_timeout`]).
//! Other methods get `405`, a missing length `411`, chunked bodies `501`,
//! garbage `400`. The JSON-RPC semantics (batches, notifications, the error
//! codes -32700/-32600/-32601/-32602) are [`handle`]'s, see
//! [`wire::jsonrpc`](crate::wire::jsonrpc).
//!
//! **When.** To expose a handful of methods to clients in any language
//! without a code generator; for service-to-service calls prefer a binary,
//! multiplexed protocol (the guide's §5 comparison and heddle's RPC).
//!
//! **Compared to the guide.** The guide uses `jsonrpc-http-server`; this is
//! the same contract in ~200 lines over [`crate::net`], so it also runs under
//! turmoil. `tests/jsonrpc_http.rs` drives it with Python's standard library
//! (not our client) through the specification's examples.
//!
//! # Example
//!
//! `cargo run --example jsonrpc_server` serves the guide's `add` and `echo`
//! on 127.0.0.1:3030; then
//! `curl -s -d '{"jsonrpc":"2.0","method":"add","params":[2,3],"id":1}' 127.0.0.1:3030`
//! prints `{"id":1,"jsonrpc":"2.0","result":5}`.

use crate::net::Listener;
use crate::wire::jsonrpc::{ErrorObject, Params, handle};
use serde_json::Value;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request line + headers, in bytes.
    pub max_header: usize,
    /// Largest body, in bytes.
    pub max_body: usize,
    /// Close a connection silent for this long.
    pub idle_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_header: 16 * 1024,
            max_body: 1 << 20,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// A JSON-RPC method table: `(method, params) -> result`.
pub type Handler = dyn Fn(&str, Option<Params>) -> Result<Value, ErrorObject> + Send + Sync;

/// The guide's two methods: `add` (two numbers, by position) and `echo`
/// (returns its params).
pub fn guide_methods(method: &str, params: Option<Params>) -> Result<Value, ErrorObject> {
    match (method, params) {
        ("add", Some(Params::Array(p))) if p.len() == 2 => {
            match (p[0].as_i64(), p[1].as_i64(), p[0].as_f64(), p[1].as_f64()) {
                (Some(a), Some(b), _, _) => a
                    .checked_add(b)
                    .map(Value::from)
                    .ok_or_else(|| ErrorObject::invalid_params("integer overflow")),
                (_, _, Some(a), Some(b)) => Ok(Value::from(a + b)),
                _ => Err(ErrorObject::invalid_params("add takes two numbers")),
            }
        }
        ("add", _) => Err(ErrorObject::invalid_params("add takes two numbers")),
        ("echo", Some(Params::Array(a))) => Ok(Value::Array(a)),
        ("echo", Some(Params::Object(o))) => Ok(Value::Object(o)),
        ("echo", None) => Ok(Value::Null),
        (other, _) => Err(ErrorObject::method_not_found(other)),
    }
}

/// Serves JSON-RPC over HTTP on `listener` until `stop` fires, then waits
/// for open connections to finish their current request and returns.
pub async fn serve<L: Listener>(
    listener: L,
    handler: Arc<Handler>,
    config: HttpConfig,
    stop: CancellationToken,
) -> io::Result<()> {
    crate::net::serve_connections(&listener, usize::MAX, &stop, |stream, peer| {
        let (handler, config, stop) = (Arc::clone(&handler), config.clone(), stop.clone());
        async move {
            if let Err(e) = connection(stream, &*handler, &config, &stop).await {
                tracing::debug!(%peer, error = %e, "jsonrpc-http: connection ended");
            }
        }
    })
    .await;
    Ok(())
}

/// One parsed request head.
struct Head {
    post: bool,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
}

async fn connection<S: crate::net::Stream>(
    mut stream: S,
    handler: &Handler,
    config: &HttpConfig,
    stop: &CancellationToken,
) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Read the head: up to the blank line, bounded.
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > config.max_header {
                return respond(
                    &mut stream,
                    431,
                    "Request Header Fields Too Large",
                    None,
                    true,
                )
                .await;
            }
            if !read_more(&mut stream, &mut buf, config, stop).await? {
                return Ok(()); // closed (or stopping) between requests
            }
        };
        let Some(head) = parse_head(&buf[..head_end]) else {
            return respond(&mut stream, 400, "Bad Request", None, true).await;
        };
        buf.drain(..head_end);
        if !head.post {
            return respond(&mut stream, 405, "Method Not Allowed", None, true).await;
        }
        if head.chunked {
            return respond(&mut stream, 501, "Not Implemented", None, true).await;
        }
        let Some(len) = head.content_length else {
            return respond(&mut stream, 411, "Length Required", None, true).await;
        };
        if len > config.max_body {
            return respond(&mut stream, 413, "Content Too Large", None, true).await;
        }
        while buf.len() < len {
            if !read_more(&mut stream, &mut buf, config, stop).await? {
                return Ok(());
            }
        }
        let body: Vec<u8> = buf.drain(..len).collect();
        match handle(&body, handler) {
            Some(out) => respond(&mut stream, 200, "OK", Some(&out), head.close).await?,
            None => respond(&mut stream, 204, "No Content", None, head.close).await?,
        }
        if head.close {
            return Ok(());
        }
    }
}

/// Reads more bytes into `buf`; false on EOF or when the server stops.
async fn read_more<S: crate::net::Stream>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    config: &HttpConfig,
    stop: &CancellationToken,
) -> io::Result<bool> {
    let mut chunk = [0u8; 4096];
    let n = tokio::select! {
        biased;
        () = stop.cancelled(), if buf.is_empty() => return Ok(false),
        read = tokio::time::timeout(config.idle_timeout, stream.read(&mut chunk)) => match read {
            Ok(n) => n?,
            Err(_elapsed) => return Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout")),
        },
    };
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(raw: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?;
    let _target = request_line.next()?;
    let version = request_line.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let mut head = Head {
        post: method == "POST",
        content_length: None,
        chunked: false,
        close: version == "HTTP/1.0",
    };
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                let n = value.parse().ok()?;
                if head.content_length.is_some_and(|m| m != n) {
                    return None; // conflicting lengths: refuse, never guess
                }
                head.content_length = Some(n);
            }
            "transfer-encoding" => head.chunked = true,
            "connection" => head.close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    Some(head)
}

async fn respond<S: crate::net::Stream>(
    stream: &mut S,
    code: u16,
    reason: &str,
    body: Option<&[u8]>,
    close: bool,
) -> io::Result<()> {
    let body = body.unwrap_or_default();
    let mut out = format!("HTTP/1.1 {code} {reason}\r\n").into_bytes();
    if !body.is_empty() {
        out.extend_from_slice(b"Content-Type: application/json\r\n");
    }
    if code != 204 {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    stream.write_all(&out).await?;
    stream.flush().await
}
