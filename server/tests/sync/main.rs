//! End-to-end tests of the sync endpoint: real WebSocket frames between devices running the
//! core's sync engine and the server — the real binary where the test needs only the wire, and
//! the server's own app in-process where a test must drive a status change (no debug endpoint
//! exists in the shipped binary). [`sessions`]: connections end with their session;
//! [`cookie`]: the sync cookie and the origin check; [`browser`]: a stock automerge-repo client
//! from npm, with the cookie, across a dropped connection and a restart; [`stock`]: stock peers
//! (samod and npm) that write a refused change neither loop nor stay stuck.

#[path = "../support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{ActorId, ReadDoc};
use baoming_core::document::{DocumentId, RegistrationDoc, RejectedEdit};
use baoming_core::draft::ServerSection;
use baoming_core::lifecycle::Status;
use baoming_core::sync::PeerSync;
use baoming_core::wire::{PeerMetadata, REFUSED_EXTENSION, WireMessage, decode, encode};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use baoming_core::api::error::ErrorCode;
use baoming_core::api::paths;
use baoming_core::api::sync::SyncTicket;
use support::{TestApp, candidate_session, post, wait_until_async};

mod browser;
mod cookie;
mod robustness;
mod sessions;
mod stock;

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

/// Opens `GET /api/sync` with `headers`: the socket, or the server's refusal of the upgrade.
async fn upgrade(addr: SocketAddr, query: &str, headers: &[(&str, &str)]) -> Result<Ws, support::Response> {
    let mut req = format!("ws://{addr}{}{query}", paths::SYNC).into_client_request().expect("request");
    for (name, value) in headers {
        let name =
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("name");
        req.headers_mut().insert(name, value.parse().expect("header value"));
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            let body = resp.body().clone().unwrap_or_default();
            Err(support::Response::new(resp.status().as_u16(), headers, body))
        }
        Err(e) => panic!("the upgrade failed without an answer: {e}"),
    }
}

async fn connect(addr: SocketAddr, token: &str, storage_id: Option<&str>) -> Ws {
    let bearer = format!("{}{token}", paths::BEARER_PREFIX);
    let mut ws = upgrade(addr, "", &[(paths::AUTHORIZATION, &bearer)]).await.expect("connect");
    join(&mut ws, storage_id).await;
    ws
}

/// Says `join` and reads the server's `peer`.
async fn join(ws: &mut Ws, storage_id: Option<&str>) {
    let join = WireMessage::Join {
        sender_id: "test-device".into(),
        supported_protocol_versions: vec!["1".into()],
        // The core's device reads refusals, and says so.
        peer_metadata: Some(PeerMetadata {
            storage_id: storage_id.map(str::to_owned),
            is_ephemeral: false,
            extensions: vec![REFUSED_EXTENSION.into()],
        }),
    };
    ws.send(Message::binary(encode(&join))).await.expect("join");
    match next(ws).await {
        Some(WireMessage::Peer { selected_protocol_version, target_id, .. }) => {
            assert_eq!(selected_protocol_version, "1");
            assert_eq!(target_id, "test-device");
        }
        other => panic!("expected peer, got {other:?}"),
    }
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
