//! `baoming-paysandbox`: the sandbox payment platform as its own process.
//!
//! It speaks the Alipay-style open API at `/gateway.do`, serves the payment page, sends signed
//! notifications on the platform's retry schedule and takes fault switches at start (flags) and
//! at run time (`PUT /sandbox/faults`). See server/SERVER.md, "Payment sandbox".

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use baoming_server::payments::rsa2::{Rsa2Signer, Rsa2Verifier};
use baoming_server::payments::sandbox::{Faults, Sandbox, SandboxApp, SandboxConfig};
use clap::{Parser, ValueEnum};

/// A fault switch to turn on at start.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Fault {
    Lost,
    Duplicate,
    Reorder,
    Down,
}

/// The sandbox payment platform (no real money moves).
#[derive(Debug, Parser)]
#[command(name = "baoming-paysandbox", version)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "BAOMING_PAYSANDBOX_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// The merchant application allowed to call it.
    #[arg(long, env = "BAOMING_PAYSANDBOX_APP_ID")]
    app_id: String,
    /// The merchant's seller id, written into notifications.
    #[arg(long, env = "BAOMING_PAYSANDBOX_SELLER_ID", default_value = "2088000000000001")]
    seller_id: String,
    /// The merchant's public key (PEM or bare base64): verifies its requests.
    #[arg(long, env = "BAOMING_PAYSANDBOX_MERCHANT_PUBLIC_KEY")]
    merchant_public_key: PathBuf,
    /// The platform's private key (PEM). Without it a fresh key is generated at start; fetch
    /// its public half from `GET /sandbox/platform-public-key`.
    #[arg(long, env = "BAOMING_PAYSANDBOX_PLATFORM_PRIVATE_KEY")]
    platform_private_key: Option<PathBuf>,
    /// Multiplies the notification retry schedule (4m,10m,10m,1h,2h,6h,15h); 0.001 makes 4m
    /// into 240 ms.
    #[arg(long, env = "BAOMING_PAYSANDBOX_TIME_SCALE", default_value_t = 1.0)]
    time_scale: f64,
    /// Fault switches on at start (repeatable).
    #[arg(long = "fault", value_enum)]
    faults: Vec<Fault>,
    /// Delay before each notification's first attempt, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// How long reordered notifications are held at most, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    reorder_window_ms: u64,
}

fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn config(args: &Args) -> Result<SandboxConfig, String> {
    let merchant_key =
        Rsa2Verifier::from_pem(&read(&args.merchant_public_key)?).map_err(|e| e.to_string())?;
    let platform_key = match &args.platform_private_key {
        Some(p) => Rsa2Signer::from_pem(&read(p)?).map_err(|e| e.to_string())?,
        None => Rsa2Signer::generate().map_err(|e| e.to_string())?,
    };
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        return Err(format!("--time-scale must be a positive number, not {}", args.time_scale));
    }
    let mut faults = Faults { delay_ms: args.delay_ms, ..Faults::default() };
    for f in &args.faults {
        match f {
            Fault::Lost => faults.lost = true,
            Fault::Duplicate => faults.duplicate = true,
            Fault::Reorder => faults.reorder = true,
            Fault::Down => faults.down = true,
        }
    }
    let app = SandboxApp { app_id: args.app_id.clone(), seller_id: args.seller_id.clone(), merchant_key };
    Ok(SandboxConfig {
        time_scale: args.time_scale,
        faults,
        reorder_window: Duration::from_millis(args.reorder_window_ms),
        ..SandboxConfig::new(platform_key, app)
    })
}

#[tokio::main]
#[allow(clippy::print_stdout)]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BAOMING_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("baoming-paysandbox: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("baoming-paysandbox: listen {}: {e}", args.listen);
            return std::process::ExitCode::from(2);
        }
    };
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let faults = config.faults;
    let sandbox = Sandbox::new(config);
    println!("Baoming pay sandbox listening on http://{local}");
    println!("  gateway: http://{local}/gateway.do   app_id: {}", args.app_id);
    println!("  platform public key: http://{local}/sandbox/platform-public-key");
    println!("  faults: {}", serde_json::to_string(&faults).unwrap_or_default());
    baoming_server::api::paysandbox::serve(sandbox, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    std::process::ExitCode::SUCCESS
}
