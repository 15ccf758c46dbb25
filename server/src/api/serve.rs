//! Serving the API: the accept loop (HTTP/1.1 with upgrades, each request told its peer
//! address and given its upgrade handle, see [`super::upgrade`]), the limits that keep slow
//! and greedy clients from pinning connections (a header-read timeout, which also bounds idle
//! keep-alive time, and a cap of open connections per address, see [`super::connections`]),
//! the time limit per request, and a graceful drain at shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::connections::ConnectionLimit;
use super::error::{ApiError, error_response, raw_error_answer};
use crate::state::App;

/// Serves the API on `listener` until `shutdown` completes, then stops accepting, marks the
/// server as draining and waits for the requests in flight. (In-process tests use this too.)
pub async fn serve_http(listener: tokio::net::TcpListener, app: App, shutdown: impl Future<Output = ()>) {
    let service = warp::service(super::routes(app.clone()));
    let limit = Duration::from_secs(app.config.request_timeout_secs);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(app.config.header_read_timeout_secs));
    let limit_per_address = ConnectionLimit::new(app.config.max_connections_per_address);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = limit_per_address.admit(peer.ip()) else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let service = service.clone();
        let handler = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            super::upgrade::prepare(&mut req, peer);
            let mut service = service.clone();
            async move {
                // The time limit covers producing the response head; a WebSocket lives on in
                // its own task after the upgrade.
                match tokio::time::timeout(limit, tower_service::Service::call(&mut service, req)).await {
                    Ok(answer) => answer,
                    Err(_) => Ok(error_response(&ApiError::Timeout)),
                }
            }
        });
        let conn = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), handler);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    tracing::info!("shutdown requested: draining connections");
    app.set_draining();
    drop(listener);
    graceful.shutdown().await;
}

/// Answers a connection over its address's cap with 429 `too_many_requests` and closes it,
/// without reading anything (a client that does not read is dropped after a second).
async fn refuse(mut stream: tokio::net::TcpStream) {
    tracing::info!(peer = ?stream.peer_addr().ok(), "connection refused: too many from this address");
    let answer = raw_error_answer(&ApiError::TooManyConnections);
    let written = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    });
    if let Ok(Err(e)) = written.await {
        tracing::debug!(error = %e, "the refusal could not be written");
    }
}
