//! Stock automerge-repo peers against the real binary: samod (the Rust automerge-repo, over a
//! real WebSocket with a sync ticket per connection) and the npm automerge-repo client. They
//! cannot read Baoming's refusal message, and never reset after a refusal: a change the server
//! refuses must cost them, and the server, a handful of frames at most — across reconnects too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use automerge::transaction::Transactable;
use automerge::{ObjId, ROOT};
use baoming_core::wire::{DocumentCopy, RefusedItem};
use futures_util::future::BoxFuture;
use samod::{BackoffConfig, DialError, Dialer, Repo, Transport};

use std::path::Path;
use std::process::Command;

use super::*;

/// How long a stock peer is watched after a refused write. samod looped at about ten
/// reconnects a second, so ten seconds tell a loop from a quiet peer without doubt.
const OBSERVE: Duration = Duration::from_secs(10);

/// What a stock peer's transport saw: the connections it opened and the server's frames, by
/// type, in order.
#[derive(Default)]
struct Tally {
    connections: AtomicUsize,
    frames: Mutex<Vec<String>>,
}

impl Tally {
    fn note(&self, frame: &[u8]) {
        let kind = match decode(frame) {
            Ok(WireMessage::Peer { .. }) => "peer".to_owned(),
            Ok(WireMessage::Sync { .. } | WireMessage::Request { .. }) => "sync".to_owned(),
            Ok(WireMessage::Refused { .. }) => "baoming-refused".to_owned(),
            Ok(WireMessage::Error { message }) => format!("error {message}"),
            Ok(other) => format!("{other:?}"),
            Err(e) => format!("undecodable {e}"),
        };
        self.frames.lock().unwrap_or_else(|p| p.into_inner()).push(kind);
    }

    /// (connections opened, frames received) so far.
    fn mark(&self) -> (usize, usize) {
        let frames = self.frames.lock().unwrap_or_else(|p| p.into_inner()).len();
        (self.connections.load(Ordering::SeqCst), frames)
    }

    /// The connections opened and the frames received since `mark`.
    fn since(&self, mark: (usize, usize)) -> (usize, Vec<String>) {
        let frames = self.frames.lock().unwrap_or_else(|p| p.into_inner())[mark.1..].to_vec();
        (self.connections.load(Ordering::SeqCst) - mark.0, frames)
    }
}

/// samod's way to the server: a fresh sync ticket for every connection (tickets are single
/// use), then the WebSocket, counted.
struct TicketDialer {
    addr: SocketAddr,
    token: String,
    tally: Arc<Tally>,
}

impl Dialer for TicketDialer {
    type Error = std::convert::Infallible;

    fn url(&self) -> samod::Url {
        samod::Url::parse(&format!("ws://{}{}", self.addr, paths::SYNC)).expect("url")
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<Self::Error>>> {
        let (addr, token, tally) = (self.addr, self.token.clone(), Arc::clone(&self.tally));
        Box::pin(async move {
            let ticket = tokio::task::spawn_blocking(move || {
                post(addr, paths::SYNC_TICKETS).token(&token).send().expect(201).typed::<SyncTicket>().ticket
            })
            .await
            .map_err(DialError::transient)?;
            let query = baoming_core::api::sync::SyncQuery { ticket: Some(ticket) }.query_string();
            let url = format!("ws://{addr}{}{query}", paths::SYNC);
            let (ws, _) = tokio_tungstenite::connect_async(url).await.map_err(DialError::transient)?;
            tally.connections.fetch_add(1, Ordering::SeqCst);
            let (sink, stream) = ws.split();
            let stream = stream.filter_map(move |m| {
                let tally = Arc::clone(&tally);
                async move {
                    match m {
                        Ok(Message::Binary(b)) => {
                            tally.note(&b);
                            Some(Ok(b.to_vec()))
                        }
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    }
                }
            });
            let sink = sink.with(|b: Vec<u8>| {
                futures_util::future::ready(Ok::<_, tokio_tungstenite::tungstenite::Error>(Message::binary(
                    b,
                )))
            });
            Ok(Transport::new(Box::pin(stream), Box::pin(sink)))
        })
    }
}

/// A samod repo connected to the server (reconnecting quickly, as a phone app would), and the
/// candidate's document found in it.
async fn samod_peer(
    addr: SocketAddr,
    token: &str,
    doc_id: &DocumentId,
) -> (Repo, samod::DocHandle, Arc<Tally>) {
    let tally = Arc::new(Tally::default());
    let repo = Repo::build_tokio().load().await;
    let dialer = TicketDialer { addr, token: token.to_owned(), tally: Arc::clone(&tally) };
    let backoff = BackoffConfig {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(1),
        max_retries: None,
    };
    let dialing = repo.dial(backoff, Arc::new(dialer)).expect("dial");
    dialing.established().await.expect("connected");
    let samod_id: samod::DocumentId = doc_id.to_string().parse().expect("a samod document id");
    let handle = repo.find(samod_id).await.expect("the repo runs").expect("the server has the document");
    (repo, handle, tally)
}

/// The map at `path` from the root of `doc`.
fn map_at(doc: &automerge::Automerge, path: &[&str]) -> ObjId {
    let mut obj = ROOT;
    for p in path {
        obj = doc.get(&obj, *p).expect("get").expect("a map").1;
    }
    obj
}

/// Writes `key = value` (a scalar string) in the map at `path`, as any automerge-repo app can.
fn write(handle: &samod::DocHandle, path: &[&str], key: &str, value: &str) {
    handle.with_document(|doc| {
        let obj = map_at(doc, path);
        let mut tx = doc.transaction();
        tx.put(&obj, key, value).expect("put");
        tx.commit();
    });
}

/// The server's draft and status, as a fresh device pulls them.
async fn server_state(
    addr: SocketAddr,
    token: &str,
    account_id: &str,
) -> (baoming_core::draft::Draft, Status) {
    let mut device = Device::new(account_id, 40);
    let mut ws = connect(addr, token, None).await;
    device.sync_with(&mut ws).await;
    (device.doc.draft(), device.doc.status())
}

/// samod 0.16 read `baoming-refused` as a protocol error: it dropped the connection, reconnected
/// at once and offered the refused change again — about fifty reconnects and 150 frames in five
/// seconds, without end. Now it never sees the extension, and a refused change costs nothing
/// after the first answer, on this connection or the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_samod_peer_with_a_refused_change_does_not_loop() {
    let server = support::start_server();
    let addr = server.addr;
    let (account_id, token) =
        tokio::task::spawn_blocking(move || account(addr, "samod@example.org")).await.expect("account");
    let doc_id = DocumentId::derive(EXAM, &account_id);
    let (_repo, handle, tally) = samod_peer(addr, &token, &doc_id).await;

    write(&handle, &["draft", "fields"], "name", "钱八");
    wait_until_async("the server to take the answer", WAIT, async || {
        server_state(addr, &token, &account_id).await.0.fields.get("name").map(String::as_str) == Some("钱八")
    })
    .await;

    // Only the server writes `server`; and a later answer builds on the refused change.
    let mark = tally.mark();
    write(&handle, &["server"], "status", "paid");
    tokio::time::sleep(Duration::from_millis(500)).await;
    write(&handle, &["draft", "fields"], "mobile", "13500135000");
    tokio::time::sleep(OBSERVE).await;

    let (reconnects, frames) = tally.since(mark);
    assert_eq!(reconnects, 0, "samod stays connected; the server sent {frames:?}");
    assert!(!frames.iter().any(|f| f == "baoming-refused"), "{frames:?}");
    assert!(frames.len() <= 4, "a handful of frames at most: {frames:?}");
    let (draft, status) = server_state(addr, &token, &account_id).await;
    assert_eq!(status, Status::Draft);
    assert_eq!(draft.fields.get("name").map(String::as_str), Some("钱八"));
    assert!(!draft.fields.contains_key("mobile"), "an edit built on a refused change is refused too");
}

/// Runs `script` of the npm interop package with `args`; returns its JSON lines.
async fn node(script: &str, args: Vec<String>) -> Vec<serde_json::Value> {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop");
    assert!(
        interop.join("node_modules/@automerge/automerge-repo").exists(),
        "the interop tests need their npm packages: run `npm install --prefix tests/interop` (tests/run-all.sh does)"
    );
    let script = script.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("timeout").arg("90").arg("node").current_dir(&interop).arg(script).args(args).output()
    })
    .await
    .expect("join")
    .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "node failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// The npm automerge-repo client ignores `baoming-refused`, but it came back with the refused
/// change on every connection, and every time the server checked it again and answered with a
/// refusal and its whole state. Now the stock client gets no refusal frame, and each new
/// connection costs the `peer` reply and one `sync` at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_npm_client_with_a_refused_change_costs_a_handful_of_frames() {
    const RECONNECTS: usize = 3;
    let server = support::start_server();
    let addr = server.addr;
    let (account_id, token) =
        tokio::task::spawn_blocking(move || account(addr, "npm-refused@example.org")).await.expect("account");
    let doc_id = DocumentId::derive(EXAM, &account_id).to_string();
    let args = vec![
        format!("http://{addr}"),
        token.clone(),
        doc_id,
        OBSERVE.as_millis().to_string(),
        RECONNECTS.to_string(),
    ];
    let steps = node("stock-refused.mjs", args).await;
    let observed = steps.iter().find(|s| s["step"] == "observed").expect("the client reports");
    let connections = observed["connections"].as_u64().expect("a count") as usize;
    let frames: Vec<&str> =
        observed["frames"].as_array().expect("frames").iter().filter_map(|f| f.as_str()).collect();
    assert_eq!(connections, RECONNECTS);
    assert!(!frames.contains(&"baoming-refused"), "a stock client never gets the extension: {frames:?}");
    let syncs = frames.iter().filter(|f| **f == "sync").count();
    assert!(syncs <= 1 + connections, "one sync per connection at most: {frames:?}");
    assert!(frames.iter().all(|f| *f == "sync" || *f == "peer"), "{frames:?}");

    let (draft, _) = server_state(addr, &token, &account_id).await;
    assert_eq!(draft.fields.get("name").map(String::as_str), Some("孙九"));
    assert!(!draft.fields.contains_key("address"), "the text object was refused");
    assert!(!draft.fields.contains_key("mobile"), "and so was the answer built on it");
}

/// The server's copy of the candidate's document, read through the wire types.
fn server_copy(addr: SocketAddr, token: &str, doc_id: &DocumentId) -> DocumentCopy {
    let answer = support::get(addr, &paths::sync_document(&doc_id.to_string())).token(token).send();
    answer.expect(200);
    assert_eq!(answer.header("content-type"), Some(paths::CBOR));
    DocumentCopy::decode(&answer.body).expect("a document copy")
}

/// A stock peer cannot hear a refusal, and every edit it makes after one builds on the refused
/// change. The server's copy names what it refused, so samod can tell that it is stuck; it then
/// drops its copy, takes the server's afresh, and its edit goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_samod_peer_recovers_by_starting_again_from_the_server() {
    let server = support::start_server();
    let addr = server.addr;
    let (account_id, token) =
        tokio::task::spawn_blocking(move || account(addr, "samod-stuck@example.org")).await.expect("account");
    let doc_id = DocumentId::derive(EXAM, &account_id);
    let (repo, handle, _) = samod_peer(addr, &token, &doc_id).await;
    write(&handle, &["server"], "status", "paid");
    write(&handle, &["draft", "fields"], "mobile", "13500135000");
    let held = |copy: &DocumentCopy| {
        handle.with_document(|doc| {
            copy.refused
                .iter()
                .flat_map(|r| &r.changes)
                .any(|h| doc.get_change_by_hash(&h.parse().expect("a change hash")).is_some())
        })
    };
    let (a, t) = (addr, token.clone());
    wait_until_async("the server to remember the refusal", WAIT, async || {
        let copy = tokio::task::spawn_blocking({
            let t = t.clone();
            move || server_copy(a, &t, &doc_id)
        })
        .await
        .expect("copy");
        held(&copy)
    })
    .await;

    let copy = tokio::task::spawn_blocking(move || server_copy(a, &t, &doc_id)).await.expect("copy");
    assert_eq!(copy.document_id, doc_id.to_string());
    assert_eq!(copy.status, "draft");
    let record = copy.refused.last().expect("a refusal");
    assert_eq!(record.status, "draft");
    assert_eq!(
        record.refused,
        vec![RefusedItem { path: "server.status".into(), reason: "server_section".into() }]
    );
    let server_doc = automerge::Automerge::load(&copy.document).expect("the server's document");
    let server_heads: Vec<String> = server_doc.get_heads().iter().map(ToString::to_string).collect();
    assert_eq!(server_heads, copy.heads);

    // Recovery: a repo without the local copy finds the document afresh, and edits again.
    repo.stop().await;
    let (_repo, handle, _) = samod_peer(addr, &token, &doc_id).await;
    write(&handle, &["draft", "fields"], "mobile", "13500135000");
    wait_until_async("the edit made afresh to arrive", WAIT, async || {
        server_state(addr, &token, &account_id).await.0.fields.get("mobile").map(String::as_str)
            == Some("13500135000")
    })
    .await;
    let (_, status) = server_state(addr, &token, &account_id).await;
    assert_eq!(status, Status::Draft);

    // The copy is the candidate's own: no token, another's document, a malformed id.
    let (other, _) =
        tokio::task::spawn_blocking(move || account(addr, "samod-other@example.org")).await.expect("account");
    let token2 = token.clone();
    tokio::task::spawn_blocking(move || {
        let path = paths::sync_document(&doc_id.to_string());
        support::get(addr, &path).send().refused(401, ErrorCode::Unauthorized);
        let foreign = paths::sync_document(&DocumentId::derive(EXAM, &other).to_string());
        support::get(addr, &foreign).token(&token2).send().refused(404, ErrorCode::NotFound);
        support::get(addr, &paths::sync_document("nonsense"))
            .token(&token2)
            .send()
            .refused(404, ErrorCode::NotFound);
    })
    .await
    .expect("refusals");
}

/// The npm automerge-repo client follows protocol.md's recovery: it reads the server's copy,
/// finds a refused change in its own, imports the server's document in its place and edits
/// again — and the edit reaches the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_npm_client_recovers_from_the_servers_copy() {
    let server = support::start_server();
    let addr = server.addr;
    let (account_id, token) =
        tokio::task::spawn_blocking(move || account(addr, "npm-stuck@example.org")).await.expect("account");
    let doc_id = DocumentId::derive(EXAM, &account_id).to_string();
    let steps = node("stock-recover.mjs", vec![format!("http://{addr}"), token.clone(), doc_id]).await;
    let stuck = steps.iter().find(|s| s["step"] == "stuck").expect("the client reports");
    assert_eq!(stuck["stuck"], true, "{stuck}");
    assert_eq!(stuck["synced"], false, "{stuck}");
    let refused = stuck["refused"].as_array().expect("refused paths");
    assert!(
        refused.contains(&serde_json::json!({ "path": "draft.fields.address", "reason": "wrong_type" })),
        "{refused:?}"
    );
    let recovered = steps.iter().find(|s| s["step"] == "recovered").expect("the client reports");
    assert_eq!(recovered["stuck"], false, "{recovered}");
    assert_eq!(recovered["synced"], true, "{recovered}");

    let (draft, status) = server_state(addr, &token, &account_id).await;
    assert_eq!(status, Status::Draft);
    assert_eq!(draft.fields.get("name").map(String::as_str), Some("郑十二"));
    assert_eq!(draft.fields.get("mobile").map(String::as_str), Some("13300133000"));
    assert!(!draft.fields.contains_key("address"));
}
