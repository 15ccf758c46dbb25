//! The server's integration tests share `baoming-test-support` (re-exported here) and add what
//! needs the server itself: its binaries' paths, the payment keys (made by the server's own
//! signer) and the in-process app.
#![allow(dead_code, unreachable_pub)]

pub mod paysandbox;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use baoming_server::config::{Argon2Config, Config};
use baoming_server::state::App;
use baoming_server::store::{SledStorage, Storage};
pub use baoming_test_support::*;

/// The server binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_baoming-server");

/// A server of the binary under test, to configure and start. Its submissions may wait up to
/// 30 s for a slot instead of the default 100 ms, which is tuned for a release build: the
/// tests' debug build, many at once on a busy machine, would otherwise be turned away busy
/// (the tests of that answer set their own line).
pub fn server() -> ServerBuilder {
    ServerBuilder::new(BIN).env("BAOMING_LIFECYCLE__SUBMIT_WAIT_MS", 30_000)
}

/// A server of the binary under test on a temporary database, started.
pub fn start_server() -> Server {
    server().start()
}

/// A server on `data_dir` (to restart on it), started.
pub fn start_server_in(data_dir: &Path) -> Server {
    server().data_dir(data_dir).start()
}

/// Configuration of the in-process app. Argon2 runs with tiny parameters here, ONLY because
/// tests set `allow_weak_for_tests`; the production default stays at 19 MiB / t = 2. The clock
/// is the movable test clock ([`TestApp::advance`]).
pub fn test_config(dir: &Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        argon2: Argon2Config {
            memory_kib: 256,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 2,
            max_waiting: 256,
            allow_weak_for_tests: true,
        },
        demo_operator_password: Some(OPERATOR_PASSWORD.to_owned()),
        test_clock: true,
        // As for `server()`: the debug build's submissions may wait their turn.
        lifecycle: baoming_server::config::LifecycleConfig {
            submit_wait_ms: 30_000,
            ..baoming_server::config::LifecycleConfig::default()
        },
        ..Config::default()
    }
}

/// The app in-process, on a temporary sled database: for the tests that must reach into the
/// server's storage or services (a crash window, a status only the storage layer can set).
pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub app: App,
}

impl TestApp {
    pub fn new() -> TestApp {
        TestApp::with(|_| {})
    }

    pub fn with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path());
        tweak(&mut config);
        let store: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).expect("open sled"));
        let app = baoming_server::app::build(config, store).expect("build app").app;
        TestApp { dir, app }
    }

    /// Moves the app's test clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.app.db.clock().advance(ms).expect("the test clock");
    }

    /// Serves this app's HTTP endpoints on a free local port, in-process, for tests that must
    /// also drive the server's own code; returns the address.
    pub async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(baoming_server::api::serve_http(listener, self.app.clone(), std::future::pending()));
        addr
    }
}
