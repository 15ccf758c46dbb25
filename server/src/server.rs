//! `baoming-server serve`: open storage, seed on first start, listen, shut down gracefully.

use std::sync::Arc;

use crate::app::{AppState, DEMO_OPERATOR, StartError};
use crate::config::Config;
use crate::storage::{SledStorage, Storage, StorageError};

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
    banner(&local.to_string(), &data_dir.display().to_string(), &startup);
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
        }
    });
    let routes = crate::http::routes(app.clone());
    let drain_app = app.clone();
    warp::serve(routes)
        .incoming(listener)
        .graceful(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested: draining connections");
            drain_app.set_draining();
        })
        .run()
        .await;
    app.store.flush()?;
    tracing::info!("storage flushed; bye");
    Ok(())
}

#[allow(clippy::print_stdout)]
fn banner(local: &str, data_dir: &str, startup: &crate::app::Startup) {
    println!("Baoming server listening on http://{local}");
    println!(
        "  database: {data_dir} (sled){}",
        if startup.seeded { ", seeded with the demo catalog" } else { "" }
    );
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
