//! Robustness of the sync endpoint: connections dropped mid-sync, duplicated and reordered
//! frames, compaction and its interruption, documents leaving memory and coming back.

use super::*;

/// How long the server must stay silent for an exchange to count as finished in these tests
/// (generous: the machine is shared, and every accepted batch is flushed).
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
