//! A stock `@automerge/automerge-repo` 2.5 client from npm (`tests/interop/stock-client.mjs`)
//! syncs a draft with the real server from Node, authenticated as a browser page is: by the
//! sync cookie, with the page's Origin. Its stock adapter reconnects with a fixed URL, which a
//! single-use ticket could not survive; the cookie does — after a dropped connection and after
//! a restart of the server process on the same database. The test drives the client line by
//! line and waits for what it reports, never for a fixed time. Like any stock client it never
//! hears a refusal: the server remembers it, and its copy of the document says so.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use automerge::ActorId;
use baoming_core::api::paths;
use baoming_core::document::{DocumentId, RegistrationDoc};
use baoming_core::wire::DocumentCopy;
use serde::{Deserialize, Serialize};

use super::support::{self, batch_sync, wait_until};
use super::{EXAM, account};

/// How long one step of the Node client may take.
const STEP: Duration = Duration::from_secs(30);

/// A command to the Node client (one JSON line).
#[derive(Debug, Serialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
enum Cmd<'a> {
    Wait { field: &'a str, value: &'a str },
    Edit { field: &'a str, value: &'a str },
    Text { field: &'a str, value: &'a str },
    Drop,
    Quit,
}

/// What the Node client reports (one JSON line each).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum Step {
    Cookie { status: u16, name: String },
    Connected { connections: u32 },
    Found { exam: String, status: Option<String> },
    Received { field: String, value: String },
    Edited { field: String },
    Dropped,
    Done { connections: u32, heads: u32, refusal_frames: u32 },
    StdinClosed,
}

/// The Node process: its standard input, and its steps as they come.
struct Node {
    child: Child,
    stdin: ChildStdin,
    steps: mpsc::Receiver<Step>,
    seen: Vec<Step>,
}

impl Node {
    fn start(interop: &Path, addr: SocketAddr, token: &str, document_id: &str) -> Node {
        let mut child = Command::new("node")
            .current_dir(interop)
            .arg("stock-client.mjs")
            .arg(format!("http://{addr}"))
            .arg(token)
            .arg(document_id)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run node");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, steps) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                // Lines that are not steps (a library's console output) are not ours.
                if let Ok(step) = serde_json::from_str::<Step>(&line)
                    && tx.send(step).is_err()
                {
                    return;
                }
            }
        });
        Node { child, stdin, steps, seen: Vec::new() }
    }

    fn send(&mut self, cmd: &Cmd<'_>) {
        let line = serde_json::to_string(cmd).expect("command");
        writeln!(self.stdin, "{line}").expect("write to node");
    }

    /// Waits for the first step `pick` accepts; fails with the steps seen meanwhile.
    #[track_caller]
    fn expect<T>(&mut self, what: &str, pick: impl Fn(&Step) -> Option<T>) -> T {
        loop {
            match self.steps.recv_timeout(STEP) {
                Ok(step) => {
                    self.seen.push(step.clone());
                    if let Some(t) = pick(&step) {
                        return t;
                    }
                }
                Err(e) => panic!("no {what} from the stock client ({e}); its steps: {:?}", self.seen),
            }
        }
    }

    /// Waits until the stock client has opened `n` connections in all.
    #[track_caller]
    fn connected(&mut self, n: u32) {
        self.expect(&format!("connection {n}"), |s| {
            matches!(s, Step::Connected { connections } if *connections >= n).then_some(())
        });
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A test that failed midway leaves no process behind (after a clean end: a no-op).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Rust device: the core's document, synced through the HTTP batch form.
struct Rust {
    addr: SocketAddr,
    token: String,
    doc: RegistrationDoc,
    id: DocumentId,
}

impl Rust {
    fn pull(&mut self) {
        batch_sync(self.addr, &self.token, &mut self.doc, self.id);
    }

    fn edit(&mut self, field: &str, value: &str) {
        self.pull();
        self.doc.set_field(field, value).expect("edit");
        self.pull();
    }

    /// Waits until the server has `value` in `field`.
    #[track_caller]
    fn sees(&mut self, field: &str, value: &str) {
        wait_until(format!("{field} = {value} on the server"), STEP, || {
            self.pull();
            self.doc.draft().fields.get(field).map(String::as_str) == Some(value)
        });
    }
}

#[test]
fn a_stock_automerge_repo_client_syncs_with_the_cookie_across_a_drop_and_a_restart() {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop");
    assert!(
        interop.join("node_modules/@automerge/automerge-repo").exists(),
        "the interop test needs its npm packages: run `npm install --prefix tests/interop` (tests/run-all.sh does)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let addr = server.addr;
    let (account_id, token) = account(addr, "node@example.org");
    let id = DocumentId::derive(EXAM, &account_id);
    let doc = RegistrationDoc::new(EXAM, ActorId::from(&[9u8; 16][..])).expect("doc");
    let mut rust = Rust { addr, token: token.clone(), doc, id };
    let mut node = Node::start(&interop, addr, &token, &id.to_string());

    let cookie = node.expect("the cookie", |s| match s {
        Step::Cookie { status, name } => Some((*status, name.clone())),
        _ => None,
    });
    assert_eq!(cookie, (200, baoming_core::api::sync::SYNC_COOKIE.to_owned()));
    let found = node.expect("the document", |s| match s {
        Step::Found { exam, status } => Some((exam.clone(), status.clone())),
        _ => None,
    });
    assert_eq!(found.0, EXAM);
    node.send(&Cmd::Edit { field: "name", value: "王小明" });
    rust.sees("name", "王小明");

    // A dropped connection: the adapter reconnects by itself, with the cookie.
    node.send(&Cmd::Drop);
    node.expect("the drop", |s| (*s == Step::Dropped).then_some(()));
    node.connected(2);
    rust.edit("mobile", "13800138000");
    node.send(&Cmd::Wait { field: "mobile", value: "13800138000" });
    node.expect("the mobile number", |s| {
        matches!(s, Step::Received { field, .. } if field == "mobile").then_some(())
    });

    // The server process restarts on the same database and port.
    drop(server);
    let server = support::server().data_dir(dir.path()).listen(addr).start();
    node.connected(3);
    rust.edit("email", "wang@example.cn");
    node.send(&Cmd::Wait { field: "email", value: "wang@example.cn" });
    node.expect("the email", |s| matches!(s, Step::Received { field, .. } if field == "email").then_some(()));
    node.send(&Cmd::Edit { field: "education", value: "bachelor" });
    rust.sees("education", "bachelor");

    // A plain JavaScript string is a text object: refused and never applied. The stock client
    // is not told (it does not announce that it reads refusals); the server's copy says so.
    node.send(&Cmd::Text { field: "address", value: "a text object, not an answer" });
    node.expect("the text edit", |s| matches!(s, Step::Edited { field } if field == "address").then_some(()));
    wait_until("the refusal in the server's copy", STEP, || {
        let answer = support::get(addr, &paths::sync_document(&id.to_string())).token(&token).send();
        let copy = DocumentCopy::decode(&answer.expect(200).body).expect("a document copy");
        copy.refused
            .iter()
            .flat_map(|r| &r.refused)
            .any(|r| r.path == "draft.fields.address" && r.reason == "wrong_type")
    });
    node.send(&Cmd::Quit);
    let (done, refusal_frames) = node.expect("the end", |s| match s {
        Step::Done { connections, refusal_frames, .. } => Some((*connections, *refusal_frames)),
        _ => None,
    });
    assert!(done >= 3, "{done} connections");
    assert_eq!(refusal_frames, 0, "a stock client gets protocol-1 messages only");
    let status = node.child.wait().expect("node exits");
    assert!(status.success(), "node ended with {status} (an uncaught exception?); steps: {:?}", node.seen);
    rust.pull();
    let draft = rust.doc.draft();
    assert_eq!(draft.fields.get("name").map(String::as_str), Some("王小明"));
    assert!(!draft.fields.contains_key("address"), "the text-object answer was refused");
    drop(server);
}
