//! Serving the API: the accept loop (HTTP/1.1 with upgrades, each request told its peer
//! address and given its upgrade handle, see [`super::upgrade`]), the time limit per request,
//! and a graceful drain at shutdown.

use std::future::Future;
use std::time::Duration;

use super::error::{ApiError, error_response};
use crate::state::App;

/// Serves the API on `listener` until `shutdown` completes, then stops accepting, marks the
/// server as draining and waits for the requests in flight. (In-process tests use this too.)
pub async fn serve_http(listener: tokio::net::TcpListener, app: App, shutdown: impl Future<Output = ()>) {
    let service = warp::service(super::routes(app.clone()));
    let limit = Duration::from_secs(app.config.request_timeout_secs);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new()).http1_only();
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
        });
    }
    tracing::info!("shutdown requested: draining connections");
    app.set_draining();
    drop(listener);
    graceful.shutdown().await;
}
