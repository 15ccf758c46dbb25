//! The one HTTP/1.1 client of the tests and harnesses.
//!
//! Small and hand-written on purpose: a test must be able to send what no well-behaved client
//! library sends (a head announcing a body that never comes, a body without a length, a broken
//! JSON document), and a load generator wants nothing between it and the server it measures.
//! A request is built with [`Request`] and sent either on a connection of its own
//! ([`Request::send`], blocking, `Connection: close`) or on a keep-alive connection
//! ([`Conn`], async, for the benchmarks). [`raw`] sends bytes exactly as given. Every answer is
//! read by the same parser into a [`Response`], whose body is read through the REST contract
//! (see [`crate::strict`](mod@crate::strict)).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use baoming_core::api::paths;
use serde::Serialize;

/// How long a blocking request may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a blocking request waits for each read of its answer.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP answer: status, headers in the order sent, and the body (de-chunked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names as the server spelled them.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// An answer from its parts (for in-process tests that get them from elsewhere).
    pub fn new(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Response {
        Response { status, headers, body }
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy), for messages and for the answers that are text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status; returns the answer for reading on.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Response {
        assert_eq!(self.status, status, "unexpected status; the body: {}", self.text());
        self
    }
}

/// A request under construction. Built by [`request`] or its shorthands ([`get`], [`post`],
/// [`put`], [`delete`]); a body gets a `Content-Length` and, unless another is set, the JSON
/// content type; a request without a body has no `Content-Length` at all.
#[derive(Debug, Clone)]
pub struct Request {
    addr: SocketAddr,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

/// A `method` request for `path` on `addr`.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> Request {
    Request { addr, method: method.to_owned(), path: path.to_owned(), headers: Vec::new(), body: None }
}

/// A `GET` request.
pub fn get(addr: SocketAddr, path: &str) -> Request {
    request(addr, "GET", path)
}

/// A `POST` request.
pub fn post(addr: SocketAddr, path: &str) -> Request {
    request(addr, "POST", path)
}

/// A `PUT` request.
pub fn put(addr: SocketAddr, path: &str) -> Request {
    request(addr, "PUT", path)
}

/// A `DELETE` request.
pub fn delete(addr: SocketAddr, path: &str) -> Request {
    request(addr, "DELETE", path)
}

/// Splits `http://host:port/path?query` into the address and the path (with its query).
pub fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("not an http:// URL: {url}"));
    let (host, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let addr = host.parse().unwrap_or_else(|e| panic!("{host} in {url} is not an IP address and port: {e}"));
    (addr, path.to_owned())
}

impl Request {
    /// Adds `Authorization: Bearer <token>`.
    pub fn token(self, token: &str) -> Request {
        self.header(paths::AUTHORIZATION, &format!("{}{token}", paths::BEARER_PREFIX))
    }

    /// Adds `Authorization: Bearer <token>` when there is a token.
    pub fn token_opt(self, token: Option<&str>) -> Request {
        match token {
            Some(t) => self.token(t),
            None => self,
        }
    }

    /// Adds the `Idempotency-Key` header.
    pub fn key(self, key: &str) -> Request {
        self.header(paths::IDEMPOTENCY_KEY, key)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the `Content-Type` (instead of the JSON default of a body).
    pub fn content_type(self, content_type: &str) -> Request {
        self.header("Content-Type", content_type)
    }

    /// Sets the body: `body` serialised as JSON.
    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> Request {
        let bytes = serde_json::to_vec(body).unwrap_or_else(|e| panic!("serialise a request body: {e}"));
        self.body(bytes)
    }

    /// Sets the body to these bytes (an empty body is sent with `Content-Length: 0`).
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Request {
        self.body = Some(bytes.into());
        self
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path (with its query).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The request's bytes; `close` adds `Connection: close`.
    pub fn encode(&self, close: bool) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\nHost: {}\r\n", self.method, self.path, self.addr);
        if close {
            head.push_str("Connection: close\r\n");
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = &self.body {
            if !self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                head.push_str(&format!("Content-Type: {}\r\n", paths::JSON));
            }
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_deref().unwrap_or_default());
        bytes
    }

    /// Sends the request on a connection of its own and reads the answer.
    pub fn try_send(&self) -> std::io::Result<Response> {
        exchange(self.addr, &self.encode(true), self.method.eq_ignore_ascii_case("HEAD"))
    }

    /// [`Request::try_send`]; a failure to connect, send or read is a test failure.
    #[track_caller]
    pub fn send(&self) -> Response {
        self.try_send().unwrap_or_else(|e| panic!("{} {} on {}: {e}", self.method, self.path, self.addr))
    }
}

/// Sends `bytes` exactly as given on a new connection to `addr` and reads one answer: for
/// requests no client would send. The answer is complete at its length (or at the end of its
/// chunks), so a server that keeps the connection open waiting for a body is no obstacle.
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> std::io::Result<Response> {
    exchange(addr, bytes, bytes.starts_with(b"HEAD "))
}

fn exchange(addr: SocketAddr, bytes: &[u8], head: bool) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.write_all(bytes)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some((response, _)) = parse(&buf, head, n == 0).map_err(invalid)? {
            return Ok(response);
        }
    }
}

fn invalid(why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why)
}

/// One keep-alive connection for load generators: requests go one after another on the same
/// socket (a new one when the server closed it), without a client library's pool between the
/// harness and the server it measures.
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    stream: Option<tokio::net::TcpStream>,
}

impl Conn {
    /// A connection to `addr`, opened at the first request.
    pub fn new(addr: SocketAddr) -> Conn {
        Conn { addr, stream: None }
    }

    /// Sends `request` and reads its answer. A request on a reused connection that the server
    /// had closed is sent once more on a new connection.
    pub async fn send(&mut self, request: &Request) -> std::io::Result<Response> {
        let bytes = request.encode(false);
        let head = request.method.eq_ignore_ascii_case("HEAD");
        let reused = self.stream.is_some();
        match self.exchange(&bytes, head).await {
            Err(_) if reused => {
                self.stream = None;
                self.exchange(&bytes, head).await
            }
            answer => answer,
        }
    }

    async fn exchange(&mut self, bytes: &[u8], head: bool) -> std::io::Result<Response> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stream = match &mut self.stream {
            Some(s) => s,
            None => {
                let tcp = tokio::net::TcpStream::connect(self.addr).await?;
                tcp.set_nodelay(true)?;
                self.stream.insert(tcp)
            }
        };
        let result = async {
            stream.write_all(bytes).await?;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 16 * 1024];
            loop {
                let n = stream.read(&mut chunk).await?;
                buf.extend_from_slice(&chunk[..n]);
                if let Some(done) = parse(&buf, head, n == 0).map_err(invalid)? {
                    return Ok(done);
                }
            }
        }
        .await;
        match result {
            Ok((response, _)) => {
                if response.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
                    self.stream = None;
                }
                Ok(response)
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }
}

/// Parses one answer from the start of `buf`: `Ok(None)` while it is incomplete, the answer and
/// the bytes it took once it is whole. `head`: the answer to a `HEAD` request (no body whatever
/// its length says); `eof`: the connection ended after `buf`.
fn parse(buf: &[u8], head: bool, eof: bool) -> Result<Option<(Response, usize)>, String> {
    let incomplete = |what: &str| if eof { Err(format!("the connection ended {what}")) } else { Ok(None) };
    let Some(end) = find(buf, b"\r\n\r\n") else { return incomplete("before the end of the head") };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| "the head is not UTF-8".to_owned())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
        .collect();
    let value = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let start = end + 4;
    if head || status < 200 || status == 204 || status == 304 {
        return Ok(Some((Response { status, headers, body: Vec::new() }, start)));
    }
    if value("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        let mut body = Vec::new();
        let mut at = start;
        loop {
            let Some(nl) = find(&buf[at..], b"\r\n") else { return incomplete("inside a chunk size") };
            let size_text = std::str::from_utf8(&buf[at..at + nl]).map_err(|_| "bad chunk size")?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_text:?}"))?;
            at += nl + 2;
            if size == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    let Some(nl) = find(&buf[at..], b"\r\n") else { return incomplete("in the trailers") };
                    at += nl + 2;
                    if nl == 0 {
                        return Ok(Some((Response { status, headers, body }, at)));
                    }
                }
            }
            if buf.len() < at + size + 2 {
                return incomplete("inside a chunk");
            }
            body.extend_from_slice(&buf[at..at + size]);
            at += size + 2;
        }
    }
    if let Some(length) = value("content-length") {
        let length: usize = length.parse().map_err(|_| format!("bad Content-Length {length:?}"))?;
        if buf.len() < start + length {
            return incomplete("inside the body");
        }
        return Ok(Some((
            Response { status, headers, body: buf[start..start + length].to_vec() },
            start + length,
        )));
    }
    // Neither a length nor chunks: the body runs to the end of the connection.
    if eof {
        Ok(Some((Response { status, headers, body: buf[start..].to_vec() }, buf.len())))
    } else {
        Ok(None)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_complete_at_their_length_their_last_chunk_or_the_end() {
        let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
        assert_eq!(parse(&sized[..sized.len() - 1], false, false), Ok(None));
        let (r, used) = parse(sized, false, false).expect("parses").expect("whole");
        assert_eq!(
            (r.status, r.body.as_slice(), r.header("x-a"), used),
            (200, &b"hello"[..], Some("b"), sized.len())
        );

        let chunked =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse(&chunked[..chunked.len() - 2], false, false), Ok(None));
        let (r, _) = parse(chunked, false, false).expect("parses").expect("whole");
        assert_eq!((r.status, r.body), (404, b"abcde".to_vec()));

        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n";
        assert_eq!(parse(head, true, false).expect("parses").expect("whole").0.body, Vec::<u8>::new());

        let open = b"HTTP/1.1 200 OK\r\n\r\nto the end";
        assert_eq!(parse(open, false, false), Ok(None));
        assert_eq!(parse(open, false, true).expect("parses").expect("whole").0.body, b"to the end".to_vec());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", false, true).is_err());
    }

    #[test]
    fn a_body_has_a_length_and_a_content_type_and_no_body_has_neither() {
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let text = |r: &Request| String::from_utf8(r.encode(true)).expect("ascii");
        let bare = text(&get(addr, "/x").token("t").key("k"));
        assert!(bare.contains("Authorization: Bearer t\r\n") && bare.contains("Idempotency-Key: k\r\n"));
        assert!(!bare.contains("Content-Length") && !bare.contains("Content-Type"));
        let empty = text(&post(addr, "/x").body(Vec::new()));
        assert!(empty.contains("Content-Length: 0\r\n") && empty.ends_with("\r\n\r\n"));
        let photo = text(&put(addr, "/x").content_type(paths::JPEG).body(b"ab".to_vec()));
        assert!(photo.contains("Content-Type: image/jpeg\r\n") && !photo.contains(paths::JSON));
        assert_eq!(split_url("http://127.0.0.1:8/a/b?c=d"), (addr_with_port(8), "/a/b?c=d".to_owned()));
    }

    fn addr_with_port(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}
