//! Connecting the payment platform from the configuration: the configured Alipay-style platform,
//! or the embedded sandbox with keys generated at start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::alipay::{AlipayConfig, AlipayGateway};
use super::gateway::PaymentGateway;
use super::rsa2::{Rsa2Signer, Rsa2Verifier};
use super::sandbox::{Sandbox, SandboxApp, SandboxConfig};
use crate::config::PaymentsConfig;

fn read_key(
    inline: Option<&String>,
    file: Option<&std::path::PathBuf>,
    what: &str,
) -> Result<String, String> {
    match (inline, file) {
        (Some(pem), _) => Ok(pem.clone()),
        (None, Some(path)) => {
            std::fs::read_to_string(path).map_err(|e| format!("{what} {}: {e}", path.display()))
        }
        (None, None) => Err(format!("payments: {what} is required")),
    }
}

fn notify_url(config: &PaymentsConfig, local: SocketAddr) -> String {
    match &config.notify_url_base {
        Some(base) => format!("{}{NOTIFY_PATH}", base.trim_end_matches('/')),
        None => {
            let host = if local.ip().is_unspecified() {
                SocketAddr::from(([127, 0, 0, 1], local.port()))
            } else {
                local
            };
            format!("http://{host}{NOTIFY_PATH}")
        }
    }
}

/// The notification endpoint's path.
pub const NOTIFY_PATH: &str = "/api/payments/notify";

/// The configured payment platform, or `None` when no `gateway_url` is set (the embedded
/// sandbox is then started with [`sandbox`]). `local` is the server's listening address, from
/// which the notification URL is derived when `notify_url_base` is not set.
pub fn configured_gateway(
    config: &PaymentsConfig,
    local: SocketAddr,
) -> Result<Option<Arc<dyn PaymentGateway>>, String> {
    let Some(url) = &config.gateway_url else { return Ok(None) };
    let merchant_key = Rsa2Signer::from_pem(&read_key(
        config.merchant_private_key_pem.as_ref(),
        config.merchant_private_key_file.as_ref(),
        "merchant private key",
    )?)
    .map_err(|e| format!("payments merchant key: {e}"))?;
    let platform_key = Rsa2Verifier::from_pem(&read_key(
        config.platform_public_key_pem.as_ref(),
        config.platform_public_key_file.as_ref(),
        "platform public key",
    )?)
    .map_err(|e| format!("payments platform key: {e}"))?;
    Ok(Some(Arc::new(AlipayGateway::new(AlipayConfig {
        gateway_url: url.clone(),
        app_id: config.app_id.clone(),
        seller_id: config.seller_id.clone(),
        merchant_key,
        platform_key,
        notify_url: notify_url(config, local),
        return_url: config.return_url.clone(),
        timeout: Duration::from_secs(config.timeout_secs),
    }))))
}

/// The embedded sandbox platform for a server listening on `local`, to be served at `addr`,
/// with merchant and platform keys generated now (a fraction of a second of blocking work),
/// and the adapter that talks to it. Must run inside a Tokio runtime.
pub fn sandbox(
    config: &PaymentsConfig,
    addr: SocketAddr,
    local: SocketAddr,
) -> Result<(Sandbox, Arc<dyn PaymentGateway>), String> {
    let merchant = Rsa2Signer::generate().map_err(|e| format!("payment sandbox keys: {e}"))?;
    let platform = Rsa2Signer::generate().map_err(|e| format!("payment sandbox keys: {e}"))?;
    let seller_id = config.seller_id.clone().unwrap_or_else(|| "2088000000000001".into());
    let sandbox_app = SandboxApp {
        app_id: config.app_id.clone(),
        seller_id: seller_id.clone(),
        merchant_key: merchant.verifier().clone(),
    };
    let sandbox = Sandbox::new(SandboxConfig {
        time_scale: config.sandbox_time_scale,
        ..SandboxConfig::new(platform.clone(), sandbox_app)
    });
    let gateway = AlipayGateway::new(AlipayConfig {
        gateway_url: format!("http://{addr}/gateway.do"),
        app_id: config.app_id.clone(),
        seller_id: Some(seller_id),
        merchant_key: merchant,
        platform_key: platform.verifier().clone(),
        notify_url: notify_url(config, local),
        return_url: config.return_url.clone(),
        timeout: Duration::from_secs(config.timeout_secs),
    });
    Ok((sandbox, Arc::new(gateway)))
}
