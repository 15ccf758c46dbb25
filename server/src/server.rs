//! `baoming-server serve`: open storage, seed on first start, listen, shut down gracefully.

use std::sync::Arc;

use crate::app::{AppState, DEMO_OPERATOR, StartError};
use crate::config::Config;
use crate::store::{SledStorage, Storage, StorageError};

/// Runs the service until SIGINT or SIGTERM, then drains connections and flushes storage.
pub async fn serve(config: Config) -> Result<(), StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        StartError::Storage(StorageError::Engine(format!("{}: {e}", config.data_dir.display())))
    })?;
    let store: Arc<dyn Storage> = Arc::new(SledStorage::open_with_cache(
        &config.data_dir,
        config.storage_cache_mb.saturating_mul(1024 * 1024),
    )?);
    let listen = config.listen;
    let data_dir = config.data_dir.clone();
    let startup = tokio::task::spawn_blocking(move || AppState::build(config, store))
        .await
        .map_err(|e| StartError::Seed(format!("start-up task: {e}")))??;
    let app = startup.app.clone();
    if startup.key_generated {
        tracing::warn!(
            path = %data_dir.join("data.key").display(),
            "GENERATED A NEW DATA KEY next to the database. Personal data is encrypted with it: \
             back it up separately from the database, or set BAOMING_DATA_KEY in production."
        );
    }
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        StartError::Config(crate::config::ConfigError::Invalid(format!("listen {listen}: {e}")))
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| StartError::Config(crate::config::ConfigError::Invalid(e.to_string())))?;
    let sandbox = crate::payments::orders::start(&app, local)
        .await
        .map_err(|e| StartError::Config(crate::config::ConfigError::Invalid(e)))?;
    banner(&local.to_string(), &data_dir.display().to_string(), &startup, sandbox);
    tracing::info!(%local, "listening");

    let sweeper_app = app.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            every.tick().await;
            match sweeper_app.sweep_sessions().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "expired sessions swept"),
                Err(e) => tracing::warn!(error = %e, "session sweep failed"),
            }
            // Documents opened by actions (review, payments, the sweeper) rather than by a
            // connection are let go here; connections release theirs as they close.
            let released = sweeper_app.hub.release_idle();
            if released > 0 {
                tracing::debug!(released, "idle registration documents released");
            }
        }
    });
    let lifecycle_app = app.clone();
    tokio::spawn(async move {
        let secs = lifecycle_app.config.lifecycle.sweep_interval_secs.max(1);
        let mut every = tokio::time::interval(std::time::Duration::from_secs(secs));
        // The first pass also repairs projections a crash may have left behind.
        let mut full = true;
        loop {
            every.tick().await;
            match crate::registration::lifecycle::sweep(&lifecycle_app, full).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "payment deadlines swept"),
                Err(e) => tracing::warn!(error = %e, "deadline sweep failed"),
            }
            full = false;
        }
    });
    // The payment reconciler: pending orders are queried without waiting for the candidate.
    let reconcile_app = app.clone();
    tokio::spawn(async move {
        let secs = reconcile_app.config.payments.reconcile_interval_secs.max(1);
        let mut every = tokio::time::interval(std::time::Duration::from_secs(secs));
        loop {
            every.tick().await;
            if reconcile_app.payments.get().is_none() {
                continue;
            }
            match crate::payments::orders::reconcile(&reconcile_app).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(changed = n, "payment orders reconciled"),
                Err(e) => tracing::warn!(error = %e, "payment reconciliation failed"),
            }
        }
    });
    // A cancellation interrupted by a crash or a stop finishes now.
    let cancel_app = app.clone();
    tokio::spawn(async move {
        match crate::registration::cancellations::resume(&cancel_app).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(finished = n, "interrupted cancellations finished"),
            Err(e) => tracing::warn!(error = %e, "resuming cancellations failed"),
        }
    });
    serve_http(listener, app.clone(), shutdown_signal()).await;
    app.store.flush()?;
    tracing::info!("storage flushed; bye");
    Ok(())
}

/// Serves the API on `listener` until `shutdown` completes, then stops accepting, marks the
/// server as draining and waits for the requests in flight. (In-process tests use this too.)
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    app: crate::app::App,
    shutdown: impl Future<Output = ()>,
) {
    let service = warp::service(crate::api::routes(app.clone()));
    accept_loop(listener, service, &app, shutdown).await;
}

/// The accept loop: HTTP/1.1 connections with upgrades, each request told its peer address and
/// given its upgrade handle (see [`crate::api::upgrade`]).
async fn accept_loop<S>(
    listener: tokio::net::TcpListener,
    service: S,
    app: &crate::app::App,
    shutdown: impl Future<Output = ()>,
) where
    S: tower_service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = warp::reply::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
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
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = service.clone();
        let handler = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            crate::api::upgrade::prepare(&mut req, peer);
            let mut service = service.clone();
            tower_service::Service::call(&mut service, req)
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

#[allow(clippy::print_stdout)]
fn banner(local: &str, data_dir: &str, startup: &crate::app::Startup, sandbox: Option<std::net::SocketAddr>) {
    println!("Baoming server listening on http://{local}");
    println!(
        "  database: {data_dir} (sled){}",
        if startup.seeded { ", seeded with the demo catalog" } else { "" }
    );
    match sandbox {
        Some(addr) => println!(
            "  payments: SANDBOX platform at http://{addr}/gateway.do (demo keys generated now; no real money)"
        ),
        None => println!("  payments: the platform configured in [payments]"),
    }
    match &startup.demo_password {
        Some(p) => {
            println!(
                "  demo operator: user `{DEMO_OPERATOR}`, password `{p}` (generated now and shown only once)"
            );
        }
        None if startup.seeded => {
            println!("  demo operator: user `{DEMO_OPERATOR}`, password from `demo_operator_password`");
        }
        None => {
            println!(
                "  operator `{DEMO_OPERATOR}`: password as printed at first start \
                 (reset: baoming-server admin operator reset-password {DEMO_OPERATOR})"
            );
        }
    }
    println!(
        "  log in: curl -X POST http://{local}/api/operator/sessions -d '{{\"username\":\"{DEMO_OPERATOR}\",\"password\":\"…\"}}'"
    );
    println!("  health: http://{local}/healthz   catalog: http://{local}/api/exams");
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
