//! `baoming-server serve`: open storage, build and seed the app, connect the payment platform
//! (or start the embedded sandbox), run the background jobs, listen, shut down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::app::{DEMO_OPERATOR, StartError, Startup};
use crate::config::{Config, ConfigError};
use crate::state::App;
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
    let startup = tokio::task::spawn_blocking(move || crate::app::build(config, store))
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
    let invalid = |e: String| StartError::Config(ConfigError::Invalid(e));
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| invalid(format!("listen {listen}: {e}")))?;
    let local = listener.local_addr().map_err(|e| invalid(e.to_string()))?;
    let sandbox = connect_payments(&app, local).await.map_err(invalid)?;
    banner(&local.to_string(), &data_dir.display().to_string(), &startup, sandbox);
    tracing::info!(%local, "listening");
    spawn_jobs(&app);
    crate::api::serve_http(listener, app.clone(), shutdown_signal()).await;
    app.db.store().flush()?;
    tracing::info!("storage flushed; bye");
    Ok(())
}

/// Connects the configured payment platform; without `gateway_url`, binds the embedded
/// sandbox now and starts it in the background with keys generated for this run (its address
/// is known at once; payments answer 503 until the keys are ready, a fraction of a second).
async fn connect_payments(app: &App, local: SocketAddr) -> Result<Option<SocketAddr>, String> {
    let config = app.payments.config().clone();
    if let Some(gateway) = crate::payments::connect::configured_gateway(&config, local)? {
        app.payments.connect(gateway);
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(config.sandbox_listen)
        .await
        .map_err(|e| format!("payment sandbox listen {}: {e}", config.sandbox_listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = Arc::clone(app);
    tokio::spawn(async move {
        // Key generation blocks for a moment; the sandbox starts its own tasks on this runtime.
        let built =
            tokio::task::spawn_blocking(move || crate::payments::connect::sandbox(&config, addr, local))
                .await;
        match built {
            Ok(Ok((sandbox, gateway))) => {
                app.payments.connect(gateway);
                crate::api::paysandbox::serve(sandbox, listener, std::future::pending()).await;
            }
            Ok(Err(e)) => tracing::error!(error = %e, "payment sandbox"),
            Err(e) => tracing::error!(error = %e, "payment sandbox"),
        }
    });
    Ok(Some(addr))
}

/// Runs `pass` every `every`, logging what it did.
fn every<F, Fut>(every: Duration, what: &'static str, mut pass: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<usize, String>> + Send,
{
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        loop {
            interval.tick().await;
            match pass().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(count = n, "{what}"),
                Err(e) => tracing::warn!(error = %e, "{what} failed"),
            }
        }
    });
}

/// The background jobs: session sweep and document release, the deadline sweeper, the payment
/// reconciler, and resuming cancellations a crash interrupted.
fn spawn_jobs(app: &App) {
    let a = app.clone();
    every(Duration::from_secs(600), "expired sessions swept", move || {
        let a = a.clone();
        async move {
            // Documents opened by actions (review, payments, the sweeper) rather than by a
            // connection are let go here; connections release theirs as they close.
            let released = a.registrations.hub.release_idle();
            if released > 0 {
                tracing::debug!(released, "idle registration documents released");
            }
            a.identity.sweep_sessions().await.map_err(|e| e.to_string())
        }
    });
    let a = app.clone();
    // The first pass also repairs projections a crash may have left behind.
    let full = Arc::new(std::sync::atomic::AtomicBool::new(true));
    every(
        Duration::from_secs(a.config.lifecycle.sweep_interval_secs.max(1)),
        "payment deadlines swept",
        move || {
            let (a, full) = (a.clone(), full.clone());
            async move {
                let first = full.swap(false, std::sync::atomic::Ordering::SeqCst);
                a.registrations.sweep(first).await.map_err(|e| e.to_string())
            }
        },
    );
    let a = app.clone();
    every(
        Duration::from_secs(a.config.payments.reconcile_interval_secs.max(1)),
        "payment orders reconciled",
        move || {
            let a = a.clone();
            async move {
                // Not connected yet (the sandbox is starting): nothing to reconcile.
                if a.payments.gateway().is_err() {
                    return Ok(0);
                }
                a.payments.reconcile().await.map_err(|e| e.to_string())
            }
        },
    );
    let a = app.clone();
    tokio::spawn(async move {
        match a.registrations.resume().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(finished = n, "interrupted cancellations finished"),
            Err(e) => tracing::warn!(error = %e, "resuming cancellations failed"),
        }
    });
}

#[allow(clippy::print_stdout)]
fn banner(local: &str, data_dir: &str, startup: &Startup, sandbox: Option<SocketAddr>) {
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
