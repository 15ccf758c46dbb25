//! Configuration: built-in defaults, then a TOML file, then `BAOMING_*` environment variables,
//! then command-line flags — each layer overriding the one before.
//!
//! Environment variables name a key in upper case with `BAOMING_` in front; a nested key joins
//! the table and the key with a double underscore: `BAOMING_LISTEN=0.0.0.0:8080`,
//! `BAOMING_ARGON2__MEMORY_KIB=65536`, `BAOMING_SMTP__HOST=mail.example.org`. Values are read as
//! TOML scalars (numbers, booleans) and otherwise as strings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("configuration file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A value is malformed or out of range.
    #[error("configuration: {0}")]
    Invalid(String),
}

/// The whole server configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Folder of the sled database (and of the generated key file).
    pub data_dir: PathBuf,
    /// The 256-bit data key as 64 hex characters; when absent, `data_dir/data.key` is used or
    /// generated (with a loud warning).
    pub data_key: Option<String>,
    /// sled's page cache, in MiB.
    pub storage_cache_mb: u64,
    /// Largest JSON request body, in bytes.
    pub body_limit_bytes: u64,
    /// Largest catalog upload (TOML), in bytes.
    pub catalog_limit_bytes: u64,
    /// Time limit for one request, in seconds.
    pub request_timeout_secs: u64,
    /// Time a connection has to send a request's head (also the idle time allowed between
    /// keep-alive requests), in seconds; a slower client is disconnected.
    pub header_read_timeout_secs: u64,
    /// Open connections allowed from one IP address (0: no cap). Behind a reverse proxy every
    /// connection comes from the proxy: set 0 there and cap at the proxy.
    pub max_connections_per_address: usize,
    /// Lifetime of a candidate session, in seconds.
    pub session_ttl_secs: u64,
    /// Lifetime of an operator session, in seconds.
    pub operator_session_ttl_secs: u64,
    /// Password hashing.
    pub argon2: Argon2Config,
    /// Login throttling and captcha thresholds.
    pub throttle: ThrottleConfig,
    /// Lifetime of a captcha, in seconds.
    pub captcha_ttl_secs: u64,
    /// Lifetime of a password recovery code, in seconds.
    pub recovery_code_ttl_secs: u64,
    /// SMTP delivery of notifications; without it they go to the outbox.
    pub smtp: Option<SmtpConfig>,
    /// Password of the demo operator `admin` seeded on first start; generated and printed when
    /// absent.
    pub demo_operator_password: Option<String>,
    /// Third-party login providers.
    pub oauth: Vec<OAuthProviderConfig>,
    /// Registration lifecycle: the expiry sweeper and the payment window.
    pub lifecycle: LifecycleConfig,
    /// The payment platform and the reconciler.
    pub payments: PaymentsConfig,
    /// Browsers: how they reach the server, which origins may sync with the sync cookie.
    pub web: WebConfig,
    /// Tests only: run a movable clock (real time plus an offset that `POST /api/testing/clock`
    /// moves forward) instead of the system clock.
    pub test_clock: bool,
}

/// Browser clients of the sync WebSocket (the sync cookie, protocol.md §8.1).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Browsers reach the server over HTTPS (TLS ends at a proxy in front of it): the sync
    /// cookie is marked `Secure`, and the server's own origin is `https://<Host>` rather than
    /// `http://<Host>`.
    pub https: bool,
    /// Other origins (`https://app.example.org`) whose pages may open the sync WebSocket with
    /// the sync cookie; pages of the server's own origin always may. A list in TOML, or
    /// comma-separated in `BAOMING_WEB__ORIGINS`.
    #[serde(deserialize_with = "origins")]
    pub origins: Vec<String>,
}

/// A list of origins, or one comma-separated string (from the environment), lower-cased.
fn origins<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Origins {
        List(Vec<String>),
        Text(String),
    }
    let list = match Origins::deserialize(d)? {
        Origins::List(list) => list,
        Origins::Text(text) => {
            text.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect()
        }
    };
    Ok(list.into_iter().map(|o| o.to_ascii_lowercase()).collect())
}

/// Whether `origin` is `http[s]://host[:port]`, as browsers send it.
fn is_origin(origin: &str) -> bool {
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|host| !host.is_empty() && !host.contains(['/', '?', '#', ' ', '@']))
}

/// The payment platform (Alipay-style open API) and the reconciler.
///
/// Without `gateway_url` the server starts the sandbox platform in-process with keys generated
/// at start (a demo: no real money moves); with it, `app_id`, the merchant's private key and
/// the platform's public key are required.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    /// The platform's gateway (`https://…/gateway.do`); absent: the embedded sandbox.
    pub gateway_url: Option<String>,
    /// Our application id at the platform.
    pub app_id: String,
    /// Our seller id; notifications for another seller are refused.
    pub seller_id: Option<String>,
    /// Our RSA private key (PKCS#8 or PKCS#1 PEM), inline.
    pub merchant_private_key_pem: Option<String>,
    /// … or from a file.
    pub merchant_private_key_file: Option<PathBuf>,
    /// The platform's RSA public key (PEM or bare base64), inline.
    pub platform_public_key_pem: Option<String>,
    /// … or from a file.
    pub platform_public_key_file: Option<PathBuf>,
    /// The base URL the platform reaches this server at (`https://baoming.example.org`); the
    /// notification URL is this plus `/api/payments/notify`. Absent: `http://` + the listening
    /// address.
    pub notify_url_base: Option<String>,
    /// Where the browser returns after paying, if anywhere.
    pub return_url: Option<String>,
    /// How often the reconciler queries pending orders, in seconds.
    pub reconcile_interval_secs: u64,
    /// Timeout of one platform call, in seconds.
    pub timeout_secs: u64,
    /// The embedded sandbox's address (port 0 picks a free one).
    pub sandbox_listen: SocketAddr,
    /// The embedded sandbox's retry-schedule factor (1.0 = the platform's real schedule).
    pub sandbox_time_scale: f64,
}

impl Default for PaymentsConfig {
    fn default() -> PaymentsConfig {
        PaymentsConfig {
            gateway_url: None,
            app_id: "2021000000000001".into(),
            seller_id: Some("2088000000000001".into()),
            merchant_private_key_pem: None,
            merchant_private_key_file: None,
            platform_public_key_pem: None,
            platform_public_key_file: None,
            notify_url_base: None,
            return_url: None,
            reconcile_interval_secs: 60,
            timeout_secs: 10,
            sandbox_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            sandbox_time_scale: 1.0,
        }
    }
}

/// The registration lifecycle's timing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// How often the sweeper looks for holds whose payment deadline passed, in seconds.
    pub sweep_interval_secs: u64,
    /// Payment window in seconds, overriding every exam's `payment_window_hours` (for tests and
    /// drills; leave unset in production).
    pub payment_window_secs: Option<u64>,
    /// Submissions at work at once (opening the document, the full-pool check, the seat path).
    pub submit_slots: usize,
    /// Submissions waiting for a slot; a submission that finds the line full is answered
    /// 503 `busy` with `Retry-After` at once.
    pub submit_line: usize,
    /// Longest wait in that line, in milliseconds, before the same answer: what keeps the
    /// latency of admitted submissions low in a surge (the surge benchmark in the README).
    pub submit_wait_ms: u64,
    /// The `Retry-After` of those answers, in seconds.
    pub busy_retry_after_secs: u64,
}

impl Default for LifecycleConfig {
    fn default() -> LifecycleConfig {
        LifecycleConfig {
            sweep_interval_secs: 30,
            payment_window_secs: None,
            submit_slots: 16,
            submit_line: 512,
            submit_wait_ms: 100,
            busy_retry_after_secs: 1,
        }
    }
}

/// Argon2id parameters and the bound on concurrent hashing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Config {
    /// Memory cost in KiB (production minimum 19 456 = 19 MiB).
    pub memory_kib: u32,
    /// Time cost (production minimum 2).
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Hashes computed at once (defaults to the number of cores).
    pub max_concurrent: usize,
    /// Requests allowed to wait for a hashing slot; beyond that the server answers 503 at once.
    pub max_waiting: usize,
    /// Allow parameters below the production minimum (tests only).
    pub allow_weak_for_tests: bool,
}

/// Login throttling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Failed logins of one account (within the window) after which a captcha is required.
    pub captcha_after_account_failures: u32,
    /// Failed logins from one address (within the window) after which a captcha is required.
    pub captcha_after_address_failures: u32,
    /// The failure window, in seconds.
    pub window_secs: u64,
    /// Login and recovery attempts one address may make per minute before getting 429.
    pub address_attempts_per_minute: u32,
}

/// SMTP delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Relay host.
    pub host: String,
    /// Relay port.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// Sender address.
    pub from: String,
}

fn default_smtp_port() -> u16 {
    25
}

/// One OAuth2 provider (authorization code + PKCE).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthProviderConfig {
    /// Short name used in URLs (`/api/oauth/{name}/…`).
    pub name: String,
    /// The provider's authorization endpoint.
    pub authorize_url: String,
    /// The provider's token endpoint (plain `http://` is accepted for local testing).
    pub token_url: String,
    /// The provider's user-info endpoint.
    pub userinfo_url: String,
    /// Our client id.
    pub client_id: String,
    /// Our client secret.
    pub client_secret: String,
    /// Where the provider sends the browser back.
    pub redirect_uri: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            data_key: None,
            storage_cache_mb: 256,
            body_limit_bytes: 64 * 1024,
            catalog_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 30,
            max_connections_per_address: 1024,
            session_ttl_secs: 7 * 24 * 3600,
            operator_session_ttl_secs: 8 * 3600,
            argon2: Argon2Config::default(),
            throttle: ThrottleConfig::default(),
            captcha_ttl_secs: 120,
            recovery_code_ttl_secs: 600,
            smtp: None,
            demo_operator_password: None,
            oauth: Vec::new(),
            lifecycle: LifecycleConfig::default(),
            payments: PaymentsConfig::default(),
            web: WebConfig::default(),
            test_clock: false,
        }
    }
}

impl Default for Argon2Config {
    fn default() -> Argon2Config {
        Argon2Config {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            max_concurrent: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            max_waiting: 256,
            allow_weak_for_tests: false,
        }
    }
}

impl Default for ThrottleConfig {
    fn default() -> ThrottleConfig {
        ThrottleConfig {
            captcha_after_account_failures: 3,
            captcha_after_address_failures: 10,
            window_secs: 15 * 60,
            address_attempts_per_minute: 60,
        }
    }
}

/// Overrides given on the command line.
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads the layers: defaults, `file` (if any), the environment `env`, then `flags`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &FlagOverrides,
    ) -> Result<Config, ConfigError> {
        let mut value =
            toml::Value::try_from(Config::default()).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::File { path: path.display().to_string(), reason: e.to_string() })?;
            let file_value: toml::Value = toml::from_str(&text)
                .map_err(|e| ConfigError::File { path: path.display().to_string(), reason: e.to_string() })?;
            merge(&mut value, file_value);
        }
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix("BAOMING_") else { continue };
            // Read elsewhere: the config file path, the log filter, the CLI's operator password.
            if matches!(rest, "CONFIG" | "LOG" | "OPERATOR_PASSWORD") {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            set_path(&mut value, &path, parse_scalar(&raw));
        }
        let mut config: Config = value
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string().trim().replace('\n', " ")))?;
        if let Some(listen) = flags.listen {
            config.listen = listen;
        }
        if let Some(dir) = &flags.data_dir {
            config.data_dir = dir.clone();
        }
        config.check()?;
        Ok(config)
    }

    /// Checks ranges, above all the Argon2id production minimum.
    pub fn check(&self) -> Result<(), ConfigError> {
        let a = &self.argon2;
        if !a.allow_weak_for_tests && (a.memory_kib < 19 * 1024 || a.iterations < 2) {
            return Err(ConfigError::Invalid(
                "argon2 needs memory_kib ≥ 19456 and iterations ≥ 2 (OWASP minimum)".into(),
            ));
        }
        if a.max_concurrent == 0 || a.parallelism == 0 {
            return Err(ConfigError::Invalid("argon2 max_concurrent and parallelism ≥ 1".into()));
        }
        let p = &self.payments;
        if p.reconcile_interval_secs == 0 || p.timeout_secs == 0 {
            return Err(ConfigError::Invalid("payments intervals and timeouts must be ≥ 1 second".into()));
        }
        if !(p.sandbox_time_scale.is_finite() && p.sandbox_time_scale > 0.0) {
            return Err(ConfigError::Invalid("payments.sandbox_time_scale must be positive".into()));
        }
        if p.gateway_url.is_some()
            && (p.app_id.is_empty()
                || (p.merchant_private_key_pem.is_none() && p.merchant_private_key_file.is_none())
                || (p.platform_public_key_pem.is_none() && p.platform_public_key_file.is_none()))
        {
            return Err(ConfigError::Invalid(
                "payments.gateway_url needs app_id, the merchant private key and the platform public key"
                    .into(),
            ));
        }
        if let Some(bad) = self.web.origins.iter().find(|o| !is_origin(o)) {
            return Err(ConfigError::Invalid(format!(
                "web.origins: `{bad}` is not an origin (http[s]://host[:port], no path)"
            )));
        }
        if self.body_limit_bytes < 1024 {
            return Err(ConfigError::Invalid("body_limit_bytes must be at least 1024".into()));
        }
        if self.header_read_timeout_secs == 0 || self.request_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "header_read_timeout_secs and request_timeout_secs must be ≥ 1".into(),
            ));
        }
        if let Some(p) = &self.demo_operator_password
            && p.chars().count() < 12
        {
            return Err(ConfigError::Invalid(
                "demo_operator_password must have at least 12 characters".into(),
            ));
        }
        Ok(())
    }
}

fn parse_scalar(raw: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => match t.remove("v") {
            Some(v @ (toml::Value::Integer(_) | toml::Value::Boolean(_) | toml::Value::Float(_))) => v,
            _ => toml::Value::String(raw.to_owned()),
        },
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

fn set_path(root: &mut toml::Value, path: &[String], v: toml::Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut cur = root;
    for p in parents {
        let Some(table) = cur.as_table_mut() else { return };
        cur = table.entry(p.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    }
    if let Some(table) = cur.as_table_mut() {
        table.insert(last.clone(), v);
    }
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_table() && v.is_table() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_production_settings() {
        let c = Config::load(None, Vec::new(), &FlagOverrides::default()).expect("defaults");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.argon2.memory_kib >= 19 * 1024 && c.argon2.iterations >= 2);
        assert!(c.smtp.is_none());
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("b.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nsession_ttl_secs = 60\n[argon2]\nmemory_kib = 65536\n",
        )
        .expect("write");
        let env = vec![
            ("BAOMING_SESSION_TTL_SECS".to_owned(), "120".to_owned()),
            ("BAOMING_ARGON2__ITERATIONS".to_owned(), "3".to_owned()),
            ("BAOMING_SMTP__HOST".to_owned(), "mail.example.org".to_owned()),
            ("BAOMING_SMTP__FROM".to_owned(), "noreply@example.org".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
            ("BAOMING_LOG".to_owned(), "debug".to_owned()),
            ("BAOMING_OPERATOR_PASSWORD".to_owned(), "not a config key".to_owned()),
        ];
        let flags = FlagOverrides { listen: Some(SocketAddr::from(([127, 0, 0, 1], 9100))), data_dir: None };
        let c = Config::load(Some(&file), env, &flags).expect("load");
        assert_eq!(c.listen.port(), 9100, "flag wins");
        assert_eq!(c.session_ttl_secs, 120, "env beats file");
        assert_eq!(c.argon2.memory_kib, 65536, "file beats default");
        assert_eq!(c.argon2.iterations, 3);
        assert_eq!(c.smtp.as_ref().map(|s| s.port), Some(25));
    }

    #[test]
    fn web_origins_come_as_a_list_or_comma_separated_and_must_be_origins() {
        let env = vec![
            ("BAOMING_WEB__ORIGINS".to_owned(), "https://App.example.org, http://127.0.0.1:5173".to_owned()),
            ("BAOMING_WEB__HTTPS".to_owned(), "true".to_owned()),
        ];
        let c = Config::load(None, env, &FlagOverrides::default()).expect("load");
        assert!(c.web.https);
        assert_eq!(c.web.origins, ["https://app.example.org", "http://127.0.0.1:5173"]);
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("w.toml");
        std::fs::write(&file, "[web]\norigins = [\"https://a.example.org\"]\n").expect("write");
        let c = Config::load(Some(&file), Vec::new(), &FlagOverrides::default()).expect("load");
        assert_eq!(c.web.origins, ["https://a.example.org"]);
        for bad in ["app.example.org", "https://a.example.org/app", "ftp://a.example.org", "https://"] {
            let env = vec![("BAOMING_WEB__ORIGINS".to_owned(), bad.to_owned())];
            assert!(
                matches!(Config::load(None, env, &FlagOverrides::default()), Err(ConfigError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn weak_argon2_and_unknown_keys_are_refused() {
        let env = vec![("BAOMING_ARGON2__MEMORY_KIB".to_owned(), "1024".to_owned())];
        assert!(matches!(Config::load(None, env, &FlagOverrides::default()), Err(ConfigError::Invalid(_))));
        let env = vec![("BAOMING_NO_SUCH_KEY".to_owned(), "1".to_owned())];
        assert!(Config::load(None, env, &FlagOverrides::default()).is_err());
    }
}
