//! The server process: `baoming-server serve` on a free port with a temporary database, its
//! banner read, killed when dropped.
//!
//! Every server started here runs with small Argon2 parameters (allowed for tests only, by
//! `allow_weak_for_tests`), no login throttle worth the name, the demo operator's password
//! [`OPERATOR_PASSWORD`] and — unless a harness asks for the system clock — the movable test
//! clock, which [`Server::advance`] moves forward.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use baoming_core::api::paths;
use baoming_core::api::testing::{ClockAdvance, ClockAnswer};

use crate::fixtures::{OPERATOR_PASSWORD, Windows, catalog_around};
use crate::http::{self, Request};

/// Environment for every process of the server binary the tests start (servers and admin
/// commands): tiny Argon2 parameters, explicitly allowed for tests only, a throttle that never
/// stands in a test's way, quiet logs, and nothing from the caller's configuration. A
/// [`ServerBuilder`] adds the demo operator's password
/// ([`OPERATOR_PASSWORD`]) unless the server starts without
/// arguments, as someone trying it out would, and prints a generated one.
pub fn test_env(cmd: &mut Command) -> &mut Command {
    cmd.env("BAOMING_ARGON2__MEMORY_KIB", "256")
        .env("BAOMING_ARGON2__ALLOW_WEAK_FOR_TESTS", "true")
        .env("BAOMING_THROTTLE__ADDRESS_ATTEMPTS_PER_MINUTE", "100000000")
        .env("BAOMING_LOG", "warn")
        .env_remove("BAOMING_CONFIG")
        .env_remove("BAOMING_DATA_KEY")
}

/// How to start a server; [`ServerBuilder::start`] starts it.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    binary: PathBuf,
    data_dir: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    listen: String,
    test_clock: bool,
    catalog: Option<String>,
    bare: Option<PathBuf>,
}

impl ServerBuilder {
    /// A server of `binary` on a free port, with a temporary database, the test clock and no
    /// other setting.
    pub fn new(binary: impl Into<PathBuf>) -> ServerBuilder {
        ServerBuilder {
            binary: binary.into(),
            data_dir: None,
            args: Vec::new(),
            env: Vec::new(),
            listen: "127.0.0.1:0".into(),
            test_clock: true,
            catalog: None,
            bare: None,
        }
    }

    /// Keeps the database in `dir` (to restart on it) instead of a temporary folder.
    pub fn data_dir(mut self, dir: &Path) -> ServerBuilder {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// Listens on `addr` (to restart where a client expects the server).
    pub fn listen(mut self, addr: SocketAddr) -> ServerBuilder {
        self.listen = addr.to_string();
        self
    }

    /// Sets the environment variable `key`.
    pub fn env(mut self, key: &str, value: impl ToString) -> ServerBuilder {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }

    /// Adds a global argument before the `serve` command (such as `--config FILE`).
    pub fn arg(mut self, arg: impl Into<OsString>) -> ServerBuilder {
        self.args.push(arg.into());
        self
    }

    /// Every exam's payment window (`lifecycle.payment_window_secs`).
    pub fn payment_window_secs(self, secs: u64) -> ServerBuilder {
        self.env("BAOMING_LIFECYCLE__PAYMENT_WINDOW_SECS", secs)
    }

    /// Sends mail (recovery codes) through the SMTP relay at `relay` (a [`crate::MailSink`]).
    pub fn smtp(self, relay: SocketAddr) -> ServerBuilder {
        self.env("BAOMING_SMTP__HOST", relay.ip())
            .env("BAOMING_SMTP__PORT", relay.port())
            .env("BAOMING_SMTP__FROM", "noreply@baoming.test")
    }

    /// How often the sweeper runs by itself (`lifecycle.sweep_interval_secs`).
    pub fn sweep_interval_secs(self, secs: u64) -> ServerBuilder {
        self.env("BAOMING_LIFECYCLE__SWEEP_INTERVAL_SECS", secs)
    }

    /// The system clock, as in production (the harnesses measure that), instead of the test
    /// clock.
    pub fn system_clock(mut self) -> ServerBuilder {
        self.test_clock = false;
        self
    }

    /// Imports `toml` with `admin catalog import` before the first start, so the server serves
    /// it instead of seeding the demo catalog.
    pub fn catalog(mut self, toml: &str) -> ServerBuilder {
        self.catalog = Some(toml.to_owned());
        self
    }

    /// Starts the binary without any argument, in `dir`, as someone trying it out would (the
    /// port still comes from `BAOMING_LISTEN`, so that parallel runs never clash).
    pub fn without_arguments_in(mut self, dir: &Path) -> ServerBuilder {
        self.bare = Some(dir.to_path_buf());
        self
    }

    /// An admin command of the binary on `data_dir` with the tests' environment; its success,
    /// standard output and standard error.
    pub fn admin(&self, data_dir: &Path, args: &[&str]) -> (bool, String, String) {
        let mut cmd = self.command();
        let out: Output = cmd
            .arg("--data-dir")
            .arg(data_dir)
            .arg("admin")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {} admin {args:?}: {e}", self.binary.display()));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        test_env(&mut cmd);
        if self.bare.is_none() {
            cmd.env("BAOMING_DEMO_OPERATOR_PASSWORD", OPERATOR_PASSWORD);
        }
        if self.test_clock {
            cmd.env("BAOMING_TEST_CLOCK", "true");
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts the server and reads its banner; a failure is a test failure.
    #[track_caller]
    pub fn start(self) -> Server {
        self.try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the server and reads its banner.
    pub fn try_start(self) -> Result<Server, String> {
        let temp = match (&self.data_dir, &self.bare) {
            (None, None) => Some(tempfile::tempdir().map_err(|e| format!("a temporary database: {e}"))?),
            _ => None,
        };
        let data_dir = match (&self.bare, &self.data_dir, &temp) {
            (Some(dir), _, _) => dir.join("data"),
            (None, Some(dir), _) => dir.clone(),
            (None, None, Some(t)) => t.path().to_path_buf(),
            (None, None, None) => return Err("no database folder".into()),
        };
        if let Some(toml) = &self.catalog {
            std::fs::create_dir_all(&data_dir).map_err(|e| e.to_string())?;
            let file = data_dir.with_extension("catalog.toml");
            std::fs::write(&file, toml).map_err(|e| e.to_string())?;
            let (ok, out, err) = self.admin(&data_dir, &["catalog", "import", &file.to_string_lossy()]);
            if !ok {
                return Err(format!("admin catalog import failed: {out}{err}"));
            }
        }
        let mut cmd = self.command();
        match &self.bare {
            Some(dir) => {
                cmd.current_dir(dir).env("BAOMING_LISTEN", &self.listen);
            }
            None => {
                cmd.arg("--data-dir").arg(&data_dir).args(&self.args).args([
                    "serve",
                    "--listen",
                    &self.listen,
                ]);
            }
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start {}: {e}", self.binary.display()))?;
        let stdout = child.stdout.take().ok_or("no standard output")?;
        let mut reader = BufReader::new(stdout);
        let mut banner = Vec::new();
        let mut addr = None;
        // The listening line, then the rest of the banner (database, payments, operator, log in).
        while banner.len() < 5 {
            let mut line = String::new();
            if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                break;
            }
            if let Some(rest) = line.trim().strip_prefix("Baoming server listening on http://") {
                addr = Some(rest.parse::<SocketAddr>().map_err(|e| format!("{rest}: {e}"))?);
            }
            banner.push(line.trim_end().to_owned());
        }
        // Keep draining standard output so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the server did not say where it listens: {banner:?}"));
        };
        Ok(Server {
            child,
            addr,
            banner,
            data_dir,
            test_clock: self.test_clock,
            advanced_ms: AtomicU64::new(0),
            _temp: temp,
        })
    }
}

/// A running server, killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The first lines it printed.
    pub banner: Vec<String>,
    data_dir: PathBuf,
    test_clock: bool,
    advanced_ms: AtomicU64,
    _temp: Option<tempfile::TempDir>,
}

impl Server {
    /// A `method` request for `path` on this server.
    pub fn request(&self, method: &str, path: &str) -> Request {
        http::request(self.addr, method, path)
    }

    /// A `GET` request on this server.
    pub fn get(&self, path: &str) -> Request {
        http::get(self.addr, path)
    }

    /// A `POST` request on this server.
    pub fn post(&self, path: &str) -> Request {
        http::post(self.addr, path)
    }

    /// A `PUT` request on this server.
    pub fn put(&self, path: &str) -> Request {
        http::put(self.addr, path)
    }

    /// A `DELETE` request on this server.
    pub fn delete(&self, path: &str) -> Request {
        http::delete(self.addr, path)
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The database folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Moves the server's test clock forward by `ms` and runs the deadline sweeper once; the
    /// server's time after the move and how many registrations the sweep expired.
    #[track_caller]
    pub fn advance(&self, ms: u64) -> ClockAnswer {
        self.move_clock(ClockAdvance::by(ms))
    }

    /// Moves the test clock to just past `deadline_ms` (Unix milliseconds, the server's time)
    /// and runs the sweeper once; a deadline already past moves nothing.
    #[track_caller]
    pub fn advance_past(&self, deadline_ms: i64) -> ClockAnswer {
        self.advance(self.ms_until(deadline_ms) + 1)
    }

    /// Milliseconds from the server's time now until `at_ms` (0 when it has passed). The server
    /// may be a request's time ahead of this estimate, never behind it.
    pub fn ms_until(&self, at_ms: i64) -> u64 {
        u64::try_from(at_ms - self.time_ms()).unwrap_or(0)
    }

    /// Moves the test clock forward by `ms` without sweeping: the expiries the move makes due
    /// wait for the sweeper's own pass (or an action that checks the time).
    #[track_caller]
    pub fn advance_without_sweep(&self, ms: u64) -> ClockAnswer {
        self.move_clock(ClockAdvance { advance_ms: ms, sweep: false })
    }

    #[track_caller]
    fn move_clock(&self, req: ClockAdvance) -> ClockAnswer {
        assert!(self.test_clock, "this server runs the system clock");
        let answer: ClockAnswer = self.post(paths::TESTING_CLOCK).json(&req).send().typed();
        self.advanced_ms.fetch_add(req.advance_ms, Ordering::SeqCst);
        answer
    }

    /// The server's time: the system's, plus every [`Server::advance`] so far.
    pub fn now(&self) -> time::OffsetDateTime {
        let ms = i64::try_from(self.advanced_ms.load(Ordering::SeqCst)).unwrap_or(i64::MAX);
        time::OffsetDateTime::now_utc() + time::Duration::milliseconds(ms)
    }

    /// [`Server::now`] in Unix milliseconds (the free [`crate::now_ms`] is the system's).
    pub fn time_ms(&self) -> i64 {
        i64::try_from(self.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// `toml` (a catalog in the demo catalog's layout) with its windows set to `windows` around
    /// the server's time (see [`catalog_around`]).
    pub fn catalog_around(&self, toml: &str, windows: Windows) -> String {
        catalog_around(toml, windows, self.now())
    }

    /// The demo catalog with its windows set to `windows` around the server's time.
    pub fn demo_catalog(&self, windows: Windows) -> String {
        self.catalog_around(baoming_core::catalog::DEMO_CATALOG_TOML, windows)
    }

    /// The process id (to attach a profiler).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The resident memory of the process in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        rss_bytes(self.child.id())
    }

    /// SIGTERM, then waits for the exit; whether the server exited successfully (a server that
    /// does not exit within 20 seconds is killed when dropped).
    pub fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let mut status = None;
        crate::wait::poll_until(std::time::Duration::from_secs(20), || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status.is_some_and(|s| s.success())
    }

    /// SIGKILL.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process's resident memory in bytes (Linux `/proc`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 =
        status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
