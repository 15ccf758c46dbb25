//! End-to-end tests of the sync endpoint: real WebSocket frames between devices running the
//! core's sync engine and the server — the real binary where the test needs only the wire, and
//! the server's own app in-process where a test must drive a status change (no debug endpoint
//! exists in the shipped binary).

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{ActorId, ReadDoc};
use baoming_core::document::{DocumentId, RegistrationDoc, RejectedEdit};
use baoming_core::draft::ServerSection;
use baoming_core::lifecycle::Status;
use baoming_core::sync::PeerSync;
use baoming_core::wire::{PeerMetadata, WireMessage, decode, encode};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use baoming_core::api::error::ErrorCode;
use baoming_core::api::paths;
use baoming_core::api::sync::SyncTicket;
use support::{TestApp, candidate_session, post, wait_until_async};

const EXAM: &str = support::DEMO_EXAM;
/// How long the server may take to notice a closed connection.
const WAIT: Duration = Duration::from_secs(10);

/// A batch sync request with `body` (CBOR).
fn batch(addr: SocketAddr, token: &str, body: Vec<u8>) -> support::Response {
    post(addr, paths::SYNC_BATCH).token(token).content_type(paths::CBOR).body(body).send()
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn account(addr: SocketAddr, login: &str) -> (String, String) {
    candidate_session(addr, login)
}

async fn connect(addr: SocketAddr, token: &str, storage_id: Option<&str>) -> Ws {
    let mut req = format!("ws://{addr}/api/sync").into_client_request().expect("request");
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("connect");
    let join = WireMessage::Join {
        sender_id: "test-device".into(),
        supported_protocol_versions: vec!["1".into()],
        peer_metadata: Some(PeerMetadata { storage_id: storage_id.map(str::to_owned), is_ephemeral: false }),
    };
    ws.send(Message::binary(encode(&join))).await.expect("join");
    match next(&mut ws).await {
        Some(WireMessage::Peer { selected_protocol_version, target_id, .. }) => {
            assert_eq!(selected_protocol_version, "1");
            assert_eq!(target_id, "test-device");
        }
        other => panic!("expected peer, got {other:?}"),
    }
    ws
}

async fn next(ws: &mut Ws) -> Option<WireMessage> {
    loop {
        match tokio::time::timeout(Duration::from_millis(1500), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => return Some(decode(&b).expect("server frames decode")),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Err(_) => return None,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) => return None,
        }
    }
}

/// A candidate's device: the core's document and sync engine over a real WebSocket.
struct Device {
    doc: RegistrationDoc,
    sync: PeerSync,
    doc_id: DocumentId,
    rejected: Vec<RejectedEdit>,
}

impl Device {
    fn new(account: &str, n: u8) -> Device {
        Device {
            doc: RegistrationDoc::new(EXAM, ActorId::from(&[n; 16][..])).expect("doc"),
            sync: PeerSync::new(),
            doc_id: DocumentId::derive(EXAM, account),
            rejected: Vec::new(),
        }
    }

    fn frame(&self, data: Vec<u8>, first: bool) -> Message {
        let (sender_id, target_id, document_id) =
            ("test-device".into(), "baoming-server".into(), self.doc_id.to_string());
        let m = if first {
            WireMessage::Request { sender_id, target_id, document_id, data }
        } else {
            WireMessage::Sync { sender_id, target_id, document_id, data }
        };
        Message::binary(encode(&m))
    }

    /// Syncs until the server is quiet; returns the number of frames exchanged.
    async fn sync_with(&mut self, ws: &mut Ws) -> usize {
        let mut frames = 0;
        self.sync = PeerSync::new();
        let first = self.sync.generate(&mut self.doc).expect("a first message");
        ws.send(self.frame(first, true)).await.expect("send");
        frames += 1;
        while let Some(msg) = next(ws).await {
            frames += 1;
            assert!(frames < 60, "sync does not settle");
            match msg {
                WireMessage::Sync { data, .. } => {
                    self.sync.receive_trusted(&mut self.doc, &data).expect("apply server message");
                }
                WireMessage::Refused { heads, refused, .. } => {
                    let heads: Vec<_> = heads.iter().map(|h| h.parse().expect("hash")).collect();
                    let refused: Vec<_> = refused
                        .iter()
                        .map(|r| baoming_core::document::RefusedPath {
                            path: r.path.clone(),
                            reason: serde_json::from_value(json!(r.reason)).expect("reason"),
                        })
                        .collect();
                    let edits =
                        self.sync.reset_after_refusal(&mut self.doc, &heads, &refused).expect("reset");
                    self.rejected.extend(edits);
                }
                other => panic!("unexpected {other:?}"),
            }
            if let Some(out) = self.sync.generate(&mut self.doc) {
                ws.send(self.frame(out, false)).await.expect("send");
                frames += 1;
            }
        }
        frames
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_converge_through_the_real_binary_in_either_order_and_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let (account_id, token) = account(server.addr, "sync@example.org");

    for (round, order) in [[0usize, 1], [1, 0]].into_iter().enumerate() {
        let mut devices = [Device::new(&account_id, 1), Device::new(&account_id, 2)];
        if round == 1 {
            // Second round: devices start from what the server has.
            for d in &mut devices {
                let mut ws = connect(server.addr, &token, None).await;
                d.sync_with(&mut ws).await;
            }
        }
        // Offline edits: different fields, and the same field.
        devices[0].doc.set_field("name", &format!("张三{round}")).expect("edit");
        devices[0].doc.set_field("mobile", "13800138000").expect("edit");
        devices[1].doc.set_field("email", &format!("zs{round}@example.cn")).expect("edit");
        devices[1].doc.set_field("mobile", "13900139000").expect("edit");
        for _ in 0..2 {
            for &i in &order {
                let mut ws = connect(server.addr, &token, None).await;
                devices[i].sync_with(&mut ws).await;
            }
        }
        let a = devices[0].doc.draft();
        assert_eq!(a, devices[1].doc.draft(), "round {round}: devices converge");
        assert_eq!(a.fields.get("name").map(String::as_str), Some(format!("张三{round}").as_str()));
        assert_eq!(a.fields.get("email").map(String::as_str), Some(format!("zs{round}@example.cn").as_str()));
        assert!(devices.iter().all(|d| d.rejected.is_empty()));
    }

    // A restart keeps everything; a fresh device pulls the same draft.
    drop(server);
    let server = support::start_server_in(dir.path());
    let mut fresh = Device::new(&account_id, 3);
    let mut ws = connect(server.addr, &token, None).await;
    fresh.sync_with(&mut ws).await;
    assert_eq!(fresh.doc.draft().fields.get("name").map(String::as_str), Some("张三1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_clear_errors_and_nothing_is_persisted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let (account_id, token) = account(server.addr, "bad@example.org");
    let (other_id, _) = account(server.addr, "other@example.org");

    // No credentials: refused before the upgrade.
    let err = tokio_tungstenite::connect_async(format!("ws://{}/api/sync", server.addr)).await;
    assert!(err.is_err(), "an anonymous upgrade is refused");

    // A write to `server`: refused as a whole, with the path, and never applied.
    let mut device = Device::new(&account_id, 4);
    let server_obj = device.doc.automerge().get(automerge::ROOT, "server").expect("get").expect("server").1;
    device.doc.automerge().put(&server_obj, "status", "paid").expect("put");
    device.doc.automerge().commit();
    let mut ws = connect(server.addr, &token, None).await;
    let first = device.sync.generate(&mut device.doc).expect("msg");
    ws.send(device.frame(first, true)).await.expect("send");
    let mut refused = None;
    while let Some(m) = next(&mut ws).await {
        match m {
            WireMessage::Refused { refused: r, status, .. } => {
                assert_eq!(status, "draft");
                refused = Some(r);
                break;
            }
            WireMessage::Sync { data, .. } => {
                device.sync.receive_trusted(&mut device.doc, &data).expect("apply");
                if let Some(out) = device.sync.generate(&mut device.doc) {
                    ws.send(device.frame(out, false)).await.expect("send");
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let refused = refused.expect("a refusal");
    assert_eq!(refused[0].path, "server.status");
    assert_eq!(refused[0].reason, "server_section");

    // Another candidate's document: unavailable.
    let foreign = DocumentId::derive(EXAM, &other_id).to_string();
    let msg = WireMessage::Request {
        sender_id: "test-device".into(),
        target_id: "baoming-server".into(),
        document_id: foreign.clone(),
        data: PeerSync::new().generate(&mut Device::new(&other_id, 5).doc).expect("msg"),
    };
    ws.send(Message::binary(encode(&msg))).await.expect("send");
    // (The server's own sync reply to the refusal may come first.)
    let mut answer = next(&mut ws).await;
    while matches!(answer, Some(WireMessage::Sync { .. })) {
        answer = next(&mut ws).await;
    }
    assert!(
        matches!(answer, Some(WireMessage::DocUnavailable { document_id, .. }) if document_id == foreign)
    );

    // A corrupt Automerge message: an error frame, then the connection closes.
    let msg = WireMessage::Sync {
        sender_id: "test-device".into(),
        target_id: "baoming-server".into(),
        document_id: device.doc_id.to_string(),
        data: b"\x42not automerge".to_vec(),
    };
    ws.send(Message::binary(encode(&msg))).await.expect("send");
    assert!(
        matches!(next(&mut ws).await, Some(WireMessage::Error { message }) if message.starts_with("bad_sync_message"))
    );
    assert!(next(&mut ws).await.is_none(), "closed after an error");

    // Malformed CBOR: an error frame with its code.
    let mut ws = connect(server.addr, &token, None).await;
    ws.send(Message::binary(vec![0xa1, 0x64, 0x74])).await.expect("send");
    assert!(
        matches!(next(&mut ws).await, Some(WireMessage::Error { message }) if message.starts_with("malformed_cbor"))
    );

    // A handshake that is not `join`.
    let mut req = format!("ws://{}/api/sync", server.addr).into_client_request().expect("request");
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
    let (mut raw, _) = tokio_tungstenite::connect_async(req).await.expect("connect");
    raw.send(Message::binary(encode(&WireMessage::Leave { sender_id: "x".into() }))).await.expect("send");
    assert!(
        matches!(next(&mut raw).await, Some(WireMessage::Error { message }) if message.starts_with("join_required"))
    );

    // After a restart the refused write is nowhere: a fresh device sees status `draft`.
    drop(ws);
    drop(server);
    let server = support::start_server_in(dir.path());
    let mut fresh = Device::new(&account_id, 6);
    let mut ws = connect(server.addr, &token, None).await;
    fresh.sync_with(&mut ws).await;
    assert_eq!(fresh.doc.status(), Status::Draft);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_single_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let (_, token) = account(server.addr, "ticket@example.org");
    let ticket =
        post(server.addr, paths::SYNC_TICKETS).token(&token).send().expect(201).typed::<SyncTicket>().ticket;
    let url = format!("ws://{}/api/sync?ticket={ticket}", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("first use");
    ws.send(Message::binary(encode(&WireMessage::Join {
        sender_id: "web".into(),
        supported_protocol_versions: vec!["1".into()],
        peer_metadata: None,
    })))
    .await
    .expect("join");
    assert!(matches!(next(&mut ws).await, Some(WireMessage::Peer { .. })));
    assert!(tokio_tungstenite::connect_async(url.as_str()).await.is_err(), "second use refused");
    post(server.addr, paths::SYNC_TICKETS).send().refused(401, ErrorCode::Unauthorized);
}

/// The lock arrives while a device is offline; the status change is made in-process through
/// the server's own status-writing code, and reaches a connected second device live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_while_offline_ends_with_the_server_state_and_rejected_edits() {
    let t = TestApp::new();
    let addr = t.serve().await;
    let (account_id, token) =
        tokio::task::spawn_blocking(move || account(addr, "lock@example.org")).await.expect("account");

    let mut device = Device::new(&account_id, 7);
    device.doc.set_field("name", "李四").expect("edit");
    let mut ws = connect(addr, &token, Some("phone-storage")).await;
    device.sync_with(&mut ws).await;
    drop(ws);

    // A second device stays connected and watches.
    let mut watcher = Device::new(&account_id, 8);
    let mut watch_ws = connect(addr, &token, None).await;
    watcher.sync_with(&mut watch_ws).await;
    assert_eq!(watcher.doc.draft().fields.get("name").map(String::as_str), Some("李四"));

    // Offline edits on the first device; meanwhile the center locks the draft for review.
    device.doc.set_field("name", "李四五").expect("offline edit");
    device.doc.add_subject("66").expect("offline edit");
    let live = t.app.registrations.open(device.doc_id, &account_id, EXAM).await.expect("live doc");
    live.write_server_section(
        &ServerSection { status: Status::UnderReview, updated_at_ms: 1, ..ServerSection::default() },
        baoming_server::store::audit::Actor::System,
    )
    .await
    .expect("lock");

    // The connected watcher hears about it without asking.
    let pushed = next(&mut watch_ws).await;
    match pushed {
        Some(WireMessage::Sync { data, .. }) => {
            watcher.sync.receive_trusted(&mut watcher.doc, &data).expect("apply")
        }
        other => panic!("expected a pushed sync message, got {other:?}"),
    }
    assert_eq!(watcher.doc.status(), Status::UnderReview);

    // The offline device reconnects: it ends with the server's state and its rejected edits.
    let mut ws = connect(addr, &token, Some("phone-storage")).await;
    let frames = device.sync_with(&mut ws).await;
    assert!(frames < 20, "settles ({frames} frames)");
    assert_eq!(device.doc.status(), Status::UnderReview);
    assert_eq!(device.doc.draft(), live.draft().await);
    assert_eq!(device.doc.draft().fields.get("name").map(String::as_str), Some("李四"));
    let mut paths: Vec<_> = device.rejected.iter().map(|r| (r.path.as_str(), r.value.as_deref())).collect();
    paths.sort();
    assert_eq!(paths, vec![("draft.fields.name", Some("李四五")), ("draft.subjects", Some("66"))]);
    // Nothing loops: another sync is quiet.
    let mut ws = connect(addr, &token, Some("phone-storage")).await;
    assert!(device.sync_with(&mut ws).await < 6);
}

/// A stock `@automerge/automerge-repo` 2.5 client from npm syncs a draft with the server from
/// Node: it finds the candidate's document, edits an answer the server accepts, and an answer
/// written as a text object that the server refuses; a Rust device then sees exactly the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_automerge_repo_client_syncs_a_draft() {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop");
    assert!(
        interop.join("node_modules/@automerge/automerge-repo").exists(),
        "the interop test needs its npm packages: run `npm install --prefix tests/interop` (tests/run-all.sh does)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let (account_id, token) = account(server.addr, "node@example.org");
    let ticket =
        post(server.addr, paths::SYNC_TICKETS).token(&token).send().expect(201).typed::<SyncTicket>().ticket;
    let doc_id = DocumentId::derive(EXAM, &account_id).to_string();
    let url = format!("ws://{}/api/sync?ticket={ticket}", server.addr);
    let node = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .arg("60")
            .arg("node")
            .current_dir(&interop)
            .arg("stock-client.mjs")
            .arg(url)
            .arg(&doc_id)
            .arg("王小明")
            .output()
    });
    let out = node.await.expect("join").expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "node failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let steps: Vec<serde_json::Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(steps[0]["step"], "found");
    assert_eq!(steps[0]["exam"], EXAM);
    assert_eq!(steps.last().map(|s| s["step"].clone()), Some(json!("done")));

    let mut device = Device::new(&account_id, 9);
    let mut ws = connect(server.addr, &token, None).await;
    device.sync_with(&mut ws).await;
    let draft = device.doc.draft();
    assert_eq!(
        draft.fields.get("name").map(String::as_str),
        Some("王小明"),
        "the stock client's answer arrived"
    );
    assert!(!draft.fields.contains_key("address"), "the text-object answer was refused");
}

impl Device {
    /// Background sync through the HTTP batch form until neither side has anything to say.
    fn sync_over_http(&mut self, addr: SocketAddr, token: &str) -> Option<WireMessage> {
        use baoming_core::wire::{BatchRequest, BatchResponse};
        let mut refusal = None;
        for round in 0.. {
            assert!(round < 20, "batch sync does not settle");
            let messages: Vec<Vec<u8>> = self.sync.generate(&mut self.doc).into_iter().collect();
            let req = BatchRequest {
                document_id: self.doc_id.to_string(),
                storage_id: Some("background".into()),
                messages: messages.clone(),
            };
            let r = batch(addr, token, req.encode());
            r.expect(200);
            let resp = BatchResponse::decode(&r.body).expect("batch response");
            if let Some(WireMessage::Refused { heads, refused, .. }) = &resp.refused {
                let heads: Vec<_> = heads.iter().map(|h| h.parse().expect("hash")).collect();
                let refused: Vec<_> = refused
                    .iter()
                    .map(|r| baoming_core::document::RefusedPath {
                        path: r.path.clone(),
                        reason: serde_json::from_value(json!(r.reason)).expect("reason"),
                    })
                    .collect();
                self.rejected
                    .extend(self.sync.reset_after_refusal(&mut self.doc, &heads, &refused).expect("reset"));
                refusal = resp.refused.clone();
            }
            for m in &resp.messages {
                self.sync.receive_trusted(&mut self.doc, m).expect("apply");
            }
            if messages.is_empty() && resp.messages.is_empty() {
                return refusal;
            }
        }
        refusal
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_batch_form_syncs_the_same_documents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let (account_id, token) = account(server.addr, "batch@example.org");

    let mut live = Device::new(&account_id, 10);
    live.doc.set_field("name", "赵六").expect("edit");
    let mut ws = connect(server.addr, &token, None).await;
    live.sync_with(&mut ws).await;

    let addr = server.addr;
    let (acct, tok) = (account_id.clone(), token.clone());
    let background = tokio::task::spawn_blocking(move || {
        let mut b = Device::new(&acct, 11);
        assert!(b.sync_over_http(addr, &tok).is_none());
        assert_eq!(b.doc.draft().fields.get("name").map(String::as_str), Some("赵六"));
        b.doc.set_field("mobile", "13600136000").expect("edit");
        assert!(b.sync_over_http(addr, &tok).is_none());
        // A refused write comes back as a refusal in the response, and nothing is applied.
        let server_obj = b.doc.automerge().get(automerge::ROOT, "server").expect("get").expect("server").1;
        b.doc.automerge().put(&server_obj, "status", "paid").expect("put");
        b.doc.automerge().commit();
        let refusal = b.sync_over_http(addr, &tok);
        assert!(matches!(refusal, Some(WireMessage::Refused { refused, .. }) if refused[0].path == "server.status"));
        b
    })
    .await
    .expect("background device");
    assert_eq!(background.doc.status(), Status::Draft);

    let mut ws = connect(server.addr, &token, None).await;
    live.sync_with(&mut ws).await;
    assert_eq!(live.doc.draft().fields.get("mobile").map(String::as_str), Some("13600136000"));
    assert_eq!(live.doc.status(), Status::Draft);

    // Bad bodies and foreign documents are typed errors.
    batch(server.addr, &token, b"\xa1\x64type".to_vec()).refused(400, ErrorCode::MalformedCbor);
    let foreign = baoming_core::wire::BatchRequest {
        document_id: DocumentId::derive(EXAM, "someone-else").to_string(),
        storage_id: None,
        messages: vec![],
    };
    batch(server.addr, &token, foreign.encode()).refused(404, ErrorCode::NotFound);
    let anonymous =
        post(server.addr, paths::SYNC_BATCH).content_type(paths::CBOR).body(foreign.encode()).send();
    anonymous.refused(401, ErrorCode::Unauthorized);
}

/// How long the server must stay silent for an exchange to count as finished in the robustness
/// tests below (generous: the machine is shared, and every accepted batch is flushed).
const QUIET: Duration = Duration::from_millis(800);

async fn next_within(ws: &mut Ws, idle: Duration) -> Option<WireMessage> {
    loop {
        match tokio::time::timeout(idle, ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => return Some(decode(&b).expect("server frames decode")),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Err(_) => return None,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) => return None,
        }
    }
}

impl Device {
    /// Sends a `sync` frame carrying `data`.
    async fn send(&self, ws: &mut Ws, data: Vec<u8>) {
        ws.send(self.frame(data, false)).await.expect("send");
    }

    /// Continues the exchange from the device's current sync state until the server is quiet;
    /// returns how many frames the server sent. A refusal or anything but `sync` fails the test,
    /// and so does an exchange that does not settle.
    async fn settle(&mut self, ws: &mut Ws) -> usize {
        if let Some(out) = self.sync.generate(&mut self.doc) {
            self.send(ws, out).await;
        }
        let mut from_server = 0;
        while let Some(msg) = next_within(ws, QUIET).await {
            from_server += 1;
            assert!(from_server <= 12, "the exchange does not settle");
            match msg {
                WireMessage::Sync { data, .. } => {
                    self.sync.receive_trusted(&mut self.doc, &data).expect("apply server message")
                }
                other => panic!("unexpected {other:?}"),
            }
            if let Some(out) = self.sync.generate(&mut self.doc) {
                self.send(ws, out).await;
            }
        }
        from_server
    }

    /// A new connection's exchange: a fresh sync state, a `request`, then [`Device::settle`].
    async fn resync(&mut self, addr: SocketAddr, token: &str, storage_id: Option<&str>) -> usize {
        let mut ws = connect(addr, token, storage_id).await;
        self.sync = PeerSync::new();
        let first = self.sync.generate(&mut self.doc).expect("a first message");
        ws.send(self.frame(first, true)).await.expect("send");
        self.settle(&mut ws).await
    }

    /// Every change hash of the device's document, sorted.
    fn change_hashes(&mut self) -> Vec<automerge::ChangeHash> {
        let mut all: Vec<_> = self.doc.automerge().get_changes(&[]).iter().map(|c| c.hash()).collect();
        all.sort();
        all
    }
}

/// Asserts that `devices` hold exactly the same changes (no duplicates, none missing) and the
/// same draft, and that nothing was refused.
fn assert_converged(devices: &mut [&mut Device]) {
    let first = devices[0].change_hashes();
    let draft = devices[0].doc.draft();
    for d in devices.iter_mut() {
        let hashes = d.change_hashes();
        let mut unique = hashes.clone();
        unique.dedup();
        assert_eq!(hashes.len(), unique.len(), "no change is held twice");
        assert_eq!(hashes, first, "the same history everywhere");
        assert_eq!(d.doc.draft(), draft, "the same draft everywhere");
        assert!(d.rejected.is_empty(), "{:?}", d.rejected);
    }
}

/// Connections dropped at the worst moments: right after a sync message carrying edits (before
/// the reply is read, once with the frame surely processed and once perhaps not), and right
/// after `join` + `request`. The device reconnects with the same storage id and without one, and
/// device, server and a second device end with the same history: nothing lost, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_dropped_mid_sync_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let addr = server.addr;
    let (account_id, token) = account(addr, "drops@example.org");
    let mut phone = Device::new(&account_id, 20);
    let mut tablet = Device::new(&account_id, 21);
    phone.doc.set_field("name", "钱九").expect("edit");
    phone.resync(addr, &token, Some("phone-store")).await;

    // 1. Edits sent, socket dropped before the reply is read (the server has processed it).
    let mut ws = connect(addr, &token, Some("phone-store")).await;
    phone.sync = PeerSync::new();
    let first = phone.sync.generate(&mut phone.doc).expect("request");
    ws.send(phone.frame(first, true)).await.expect("send");
    phone.settle(&mut ws).await;
    phone.doc.set_field("mobile", "13300133000").expect("edit");
    let edits = phone.sync.generate(&mut phone.doc).expect("a message with the edit");
    assert!(!automerge::sync::Message::decode(&edits).expect("decode").changes.is_empty());
    phone.send(&mut ws, edits).await;
    // The server answers once it has processed the edits; the device never reads the answer.
    assert!(matches!(next(&mut ws).await, Some(WireMessage::Sync { .. })), "the server answers the edits");
    drop(ws);
    let frames = phone.resync(addr, &token, Some("phone-store")).await;
    assert!(frames <= 4, "the returning device resumes ({frames} frames)");
    tablet.resync(addr, &token, None).await;
    assert_converged(&mut [&mut phone, &mut tablet]);
    assert_eq!(tablet.doc.draft().fields.get("mobile").map(String::as_str), Some("13300133000"));

    // 2. The same, dropped at once (the frame may or may not have been processed); the device
    //    comes back without a storage id.
    let mut ws = connect(addr, &token, Some("phone-store")).await;
    phone.sync = PeerSync::new();
    let first = phone.sync.generate(&mut phone.doc).expect("request");
    ws.send(phone.frame(first, true)).await.expect("send");
    phone.settle(&mut ws).await;
    phone.doc.set_field("email", "qj@example.cn").expect("edit");
    phone.doc.clear_field("mobile").expect("edit");
    let edits = phone.sync.generate(&mut phone.doc).expect("a message with the edits");
    phone.send(&mut ws, edits).await;
    drop(ws);
    phone.resync(addr, &token, None).await;
    tablet.resync(addr, &token, None).await;
    assert_converged(&mut [&mut phone, &mut tablet]);
    let draft = tablet.doc.draft();
    assert_eq!(draft.fields.get("email").map(String::as_str), Some("qj@example.cn"));
    assert!(!draft.fields.contains_key("mobile"));

    // 3. Dropped right after `join` + `request`, with offline edits on both devices.
    phone.doc.set_field("address", "北京市东城区").expect("edit");
    tablet.doc.set_field("name", "钱九九").expect("edit");
    for storage in [Some("phone-store"), None] {
        let mut ws = connect(addr, &token, storage).await;
        let first = PeerSync::new().generate(&mut phone.doc).expect("request");
        ws.send(phone.frame(first, true)).await.expect("send");
        drop(ws);
    }
    phone.resync(addr, &token, Some("phone-store")).await;
    tablet.resync(addr, &token, None).await;
    phone.resync(addr, &token, None).await;
    assert_converged(&mut [&mut phone, &mut tablet]);
    let draft = phone.doc.draft();
    assert_eq!(draft.fields.get("address").map(String::as_str), Some("北京市东城区"));
    assert_eq!(draft.fields.get("name").map(String::as_str), Some("钱九九"));

    // What the server stored is that same history: a fresh device after a restart pulls it.
    drop(server);
    let server = support::start_server_in(dir.path());
    let mut fresh = Device::new(&account_id, 22);
    fresh.resync(server.addr, &token, None).await;
    assert_converged(&mut [&mut phone, &mut tablet, &mut fresh]);
}

/// Frames duplicated and reordered on one connection: edit 1 goes out in m1, edit 2 (which
/// depends on edit 1) in m2; the server gets m2, then m1 twice. Nothing is refused, the exchange
/// settles within a few round trips, and both edits reach the server and a second device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_reordered_frames_converge_without_a_loop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let addr = server.addr;
    let (account_id, token) = account(addr, "reorder@example.org");
    let mut phone = Device::new(&account_id, 30);
    let mut tablet = Device::new(&account_id, 31);
    phone.doc.set_field("name", "吴十").expect("edit");

    let mut ws = connect(addr, &token, Some("phone-store")).await;
    let first = phone.sync.generate(&mut phone.doc).expect("request");
    ws.send(phone.frame(first, true)).await.expect("send");
    phone.settle(&mut ws).await;

    phone.doc.set_field("mobile", "13200132000").expect("edit 1");
    let m1 = phone.sync.generate(&mut phone.doc).expect("m1");
    phone.doc.set_field("email", "wu@example.cn").expect("edit 2");
    let m2 = phone.sync.generate(&mut phone.doc).expect("m2");
    let changes = |m: &[u8]| automerge::sync::Message::decode(m).expect("decode").changes.len();
    assert_eq!((changes(&m1), changes(&m2)), (1, 1), "one edit per message");
    for m in [&m2, &m1, &m1] {
        phone.send(&mut ws, m.clone()).await;
    }
    let from_server = phone.settle(&mut ws).await;
    assert!(from_server <= 6, "settles in a few round trips ({from_server} frames from the server)");
    drop(ws);

    tablet.resync(addr, &token, None).await;
    let draft = tablet.doc.draft();
    assert_eq!(draft.fields.get("mobile").map(String::as_str), Some("13200132000"));
    assert_eq!(draft.fields.get("email").map(String::as_str), Some("wu@example.cn"));
    assert_converged(&mut [&mut phone, &mut tablet]);

    // The HTTP batch form: the same disorder inside one request, from a fresh sync state.
    let (acct, tok) = (account_id.clone(), token.clone());
    let background = tokio::task::spawn_blocking(move || {
        let mut b = Device::new(&acct, 32);
        assert!(b.sync_over_http(addr, &tok).is_none());
        b.doc.set_field("address", "上海市").expect("edit 1");
        let m1 = b.sync.generate(&mut b.doc).expect("m1");
        b.doc.set_field("address", "上海市浦东新区").expect("edit 2");
        let m2 = b.sync.generate(&mut b.doc).expect("m2");
        let req = baoming_core::wire::BatchRequest {
            document_id: b.doc_id.to_string(),
            storage_id: Some("background".into()),
            messages: vec![m2, m1.clone(), m1],
        };
        let r = batch(addr, &tok, req.encode());
        r.expect(200);
        let resp = baoming_core::wire::BatchResponse::decode(&r.body).expect("response");
        assert!(resp.refused.is_none(), "{:?}", resp.refused);
        for m in &resp.messages {
            b.sync.receive_trusted(&mut b.doc, m).expect("apply");
        }
        assert!(b.sync_over_http(addr, &tok).is_none());
        b
    });
    let mut background = background.await.expect("background device");
    tablet.resync(addr, &token, None).await;
    phone.resync(addr, &token, None).await;
    assert_eq!(tablet.doc.draft().fields.get("address").map(String::as_str), Some("上海市浦东新区"));
    assert_converged(&mut [&mut phone, &mut tablet, &mut background]);
}

/// The chunks of one document stored on top of its snapshot.
fn stored_chunks(app: &baoming_server::state::App, id: &DocumentId) -> Vec<(Vec<u8>, Vec<u8>)> {
    app.db.store().scan_prefix(baoming_server::store::Tree::DocumentChunks, id.as_bytes()).expect("scan")
}

/// Every accepted write appends one chunk until the document's compaction point; the next write
/// replaces the snapshot and removes them. A crash in the middle of a compaction (the new
/// snapshot written, old chunks still there) loads the same document, and the next write after
/// a restart removes what the crash left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_compact_at_their_point_and_survive_an_interrupted_compaction() {
    use baoming_server::registration::docstore::{compact_after, load};
    use baoming_server::registration::hub::Hub;
    use baoming_server::store::{Tree, Txn};

    let t = TestApp::new();
    let app = &t.app;
    let id = DocumentId::derive(EXAM, "acc_compact");
    let live = app.registrations.hub.open(id, "acc_compact", EXAM).await.expect("open");
    let write = |live: std::sync::Arc<baoming_server::registration::hub::LiveDoc>, ms: i64| async move {
        let section = ServerSection { status: Status::Draft, updated_at_ms: ms, ..ServerSection::default() };
        live.write_server_section(&section, baoming_server::store::audit::Actor::System)
            .await
            .expect("write");
    };
    let point = compact_after(&id);
    assert!((64..128).contains(&point), "{point}");
    for ms in 1..=point as i64 {
        write(live.clone(), ms).await;
    }
    let before = stored_chunks(app, &id);
    assert_eq!(before.len() as u64, point, "one chunk per write up to the compaction point");

    write(live.clone(), 10_000).await;
    assert!(stored_chunks(app, &id).is_empty(), "the compaction removed every chunk");
    let (mut stored, next) = load(app.db.store(), app.db.keys(), &id).expect("load").expect("stored");
    let heads = |doc: &mut RegistrationDoc| doc.heads().iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(heads(&mut stored), live.heads_hex().await);
    assert_eq!(next, 0);

    // A crash after the snapshot, before the old chunks were removed.
    for (key, sealed) in &before {
        let mut txn = Txn::new();
        txn.put(Tree::DocumentChunks, key.clone(), sealed.clone());
        app.db.store().commit(&txn).expect("put back");
    }
    let (mut stored, next) = load(app.db.store(), app.db.keys(), &id).expect("load").expect("stored");
    assert_eq!(heads(&mut stored), live.heads_hex().await, "the leftover chunks change nothing");
    assert_eq!(stored.server().updated_at_ms, 10_000);
    assert_eq!(next, point, "numbering resumes after the leftovers");

    // After a restart (a fresh hub loads from storage), the next write compacts them away.
    let restarted =
        Hub::new(std::sync::Arc::clone(&app.db)).open(id, "acc_compact", EXAM).await.expect("reopen");
    write(restarted.clone(), 10_001).await;
    assert!(stored_chunks(app, &id).is_empty(), "the leftovers are gone");
    let (mut stored, _) = load(app.db.store(), app.db.keys(), &id).expect("load").expect("stored");
    assert_eq!(heads(&mut stored), restarted.heads_hex().await);
    assert_eq!(stored.server().updated_at_ms, 10_001);
}

/// A document stays in memory only while something holds it: a closed connection or a finished
/// batch request lets it go, an action holding it keeps it, and the next device gets the whole
/// document back from storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_leave_memory_when_nothing_holds_them_and_come_back_whole() {
    let t = TestApp::new();
    let addr = t.serve().await;
    let (account_id, token) =
        tokio::task::spawn_blocking(move || account(addr, "release@example.org")).await.expect("account");
    let hub = &t.app.registrations.hub;

    let mut phone = Device::new(&account_id, 20);
    let id = phone.doc_id;
    phone.doc.set_field("name", "王五").expect("edit");
    let mut ws = connect(addr, &token, None).await;
    phone.sync_with(&mut ws).await;
    assert!(hub.live(&id).is_some(), "in memory while a device is connected");
    assert!(!hub.release(&id), "a connected document is not released");
    ws.close(None).await.expect("close");
    // The server notices the closed socket on its own time.
    wait_until_async("the closed connection to release the document", WAIT, async || hub.live(&id).is_none())
        .await;

    // The next device loads it whole from storage.
    let mut tablet = Device::new(&account_id, 21);
    let mut ws = connect(addr, &token, None).await;
    tablet.sync_with(&mut ws).await;
    assert_eq!(tablet.doc.draft().fields.get("name").map(String::as_str), Some("王五"));

    // An action holding the document keeps it in memory; the housekeeping pass releases it
    // once the action and the connection are done.
    let held = hub.open(id, &account_id, EXAM).await.expect("open");
    ws.close(None).await.expect("close");
    // Once the server has let go of the connection, only the hub's map and this action hold it.
    wait_until_async("the closed connection to let go of the document", WAIT, async || {
        std::sync::Arc::strong_count(&held) == 2
    })
    .await;
    assert!(!hub.release(&id) && hub.release_idle() == 0, "a held document stays");
    drop(held);
    wait_until_async("the housekeeping pass to release it", WAIT, async || {
        hub.release_idle();
        hub.live(&id).is_none()
    })
    .await;

    // The HTTP batch form lets go at the end of each request.
    let tok = token.clone();
    let laptop = tokio::task::spawn_blocking(move || {
        let mut laptop = Device::new(&account_id, 22);
        laptop.doc.set_field("mobile", "13700137000").expect("edit");
        assert!(laptop.sync_over_http(addr, &tok).is_none());
        laptop
    })
    .await
    .expect("laptop");
    assert_eq!(laptop.doc.draft().fields.get("name").map(String::as_str), Some("王五"));
    assert!(hub.live(&id).is_none(), "released after the batch request");
    assert_eq!(hub.resident(), 0);

    let mut ws = connect(addr, &token, None).await;
    phone.sync_with(&mut ws).await;
    assert_eq!(phone.doc.draft().fields.get("mobile").map(String::as_str), Some("13700137000"));
}
