//! Slow and greedy clients against the real server binary: a client that trickles its request
//! head is cut off at the header-read timeout, an idle keep-alive connection is closed after the
//! same time, one address gets its cap of open connections and a typed refusal beyond it, and
//! thousands of idle half-open connections neither starve `/healthz` nor grow memory without
//! bound.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use baoming_core::api::error::ErrorCode;
use baoming_core::api::health::{Health, HealthStatus};
use baoming_core::api::paths;

/// A request head that never ends: the blank line is never sent.
const HALF_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: baoming.test\r\n";

/// Waits up to `limit` for the server to close `stream`, writing `trickle` (when given) every
/// 200 ms meanwhile; returns how long the server took, or `None` if it kept the connection.
fn closed_within(stream: &mut TcpStream, trickle: Option<&[u8]>, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(Duration::from_millis(200))).expect("read timeout");
    let mut buf = [0u8; 1024];
    while start.elapsed() < limit {
        if let Some(bytes) = trickle
            && stream.write_all(bytes).is_err()
        {
            return Some(start.elapsed());
        }
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            // Whatever the server says before closing (hyper may answer 408) is read past.
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

fn healthy(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    let health: Health = support::get(addr, paths::HEALTHZ).send().typed();
    assert_eq!(health.status, HealthStatus::Ok);
    start.elapsed()
}

#[test]
fn a_client_that_trickles_its_request_head_is_cut_off_at_the_header_timeout() {
    let server = support::server().env("BAOMING_HEADER_READ_TIMEOUT_SECS", 1).start();
    let mut slow = TcpStream::connect(server.addr).expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").expect("request line");
    let took = closed_within(&mut slow, Some(b"X-Slow: a\r\n"), Duration::from_secs(10))
        .expect("a client trickling its head for 10 s is cut off");
    assert!(took < Duration::from_secs(5), "cut off after {took:?}, the timeout being 1 s");

    // An idle keep-alive connection is closed after the same time.
    let mut idle = TcpStream::connect(server.addr).expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: baoming.test\r\n\r\n").expect("request");
    let took = closed_within(&mut idle, None, Duration::from_secs(10)).expect("an idle connection is closed");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");

    // Meanwhile a prompt client is served as ever.
    healthy(server.addr);
}

#[test]
fn one_address_gets_its_cap_of_connections_and_a_typed_refusal_beyond_it() {
    let server = support::server().env("BAOMING_MAX_CONNECTIONS_PER_ADDRESS", 20).start();
    let mut held: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).expect("connect");
            s.write_all(HALF_HEAD).expect("half a head");
            s
        })
        .collect();
    // The accept loop admits them in order; the 21st is refused at once, before any request.
    support::wait_until("the 21st connection to be refused", Duration::from_secs(10), || {
        let Ok(answer) = support::raw(server.addr, b"") else { return false };
        let body = answer.refused(429, ErrorCode::TooManyRequests);
        assert_eq!(answer.header("retry-after"), Some("1"));
        assert!(body.message.contains("too many open connections"), "{}", body.message);
        true
    });
    // A connection that ends gives its place back.
    held.pop();
    support::wait_until("a freed place to be taken", Duration::from_secs(10), || {
        support::get(server.addr, paths::HEALTHZ).send().status == 200
    });
    drop(held);
}

#[test]
fn thousands_of_idle_half_open_connections_neither_starve_healthz_nor_grow_memory_unbounded() {
    const IDLE: usize = 2000;
    let server = support::server().env("BAOMING_MAX_CONNECTIONS_PER_ADDRESS", 4 * IDLE).start();
    healthy(server.addr);
    let before = server.rss_bytes().expect("the server's memory");
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).expect("connect");
            s.write_all(HALF_HEAD).expect("half a head");
            s
        })
        .collect();
    // Every one of them is accepted and parked by the server before the measurement.
    healthy(server.addr);
    let mut took: Vec<Duration> = (0..25).map(|_| healthy(server.addr)).collect();
    took.sort();
    let median = took[took.len() / 2];
    let during = server.rss_bytes().expect("the server's memory");
    let grown_kib = during.saturating_sub(before) / 1024;
    eprintln!(
        "{IDLE} idle half-open connections: /healthz median {median:?}, max {:?}; memory +{grown_kib} KiB \
         ({} bytes per connection)",
        took[took.len() - 1],
        during.saturating_sub(before) / IDLE as u64
    );
    assert!(median < Duration::from_millis(100), "/healthz median {median:?} with {IDLE} idle connections");
    // About 30 KiB each in a debug build (the task, hyper's buffers, the socket): bounded per
    // connection, and the header-read timeout ends them.
    assert!(grown_kib < 128 * 1024, "{IDLE} idle connections cost {grown_kib} KiB");
    drop(idle);
}

/// The answers that are not JSON, exactly as SERVER.md lists them: bytes that are not an HTTP/1.1
/// request head get a bare status with an empty body and the connection closed.
#[test]
fn what_is_not_http_gets_the_bare_answers_server_md_lists() {
    let server = support::start_server();
    let long_uri = [b"GET /".as_slice(), &[b'a'; 70_000], b" HTTP/1.1\r\nHost: x\r\n\r\n"].concat();
    let many_headers =
        [b"GET / HTTP/1.1\r\n".as_slice(), &b"X-Filler: bbbbbbbbbbbbbbbb\r\n".repeat(200), b"\r\n"].concat();
    let cases: [(&str, &[u8], u16); 5] = [
        ("not HTTP at all", b"\x16\x03\x01hello\r\n\r\n", 400),
        ("a request line without a version", b"GET\r\n\r\n", 400),
        ("an unknown HTTP version", b"GET / HTTP/3.7\r\nHost: x\r\n\r\n", 400),
        ("a URI over 64 KiB", &long_uri, 414),
        ("more than 100 headers", &many_headers, 431),
    ];
    for (what, bytes, status) in cases {
        let answer = support::raw(server.addr, bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(answer.status, status, "{what}");
        assert_eq!((answer.body.len(), answer.header("content-type")), (0, None), "{what}: a bare answer");
        assert_eq!(answer.header("connection"), Some("close"), "{what}");
    }
    // Everything the routes answer is JSON, a refusal of the body's framing included.
    let framing = b"POST /api/sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    support::raw(server.addr, framing).expect("answer").refused(411, ErrorCode::LengthRequired);
}
