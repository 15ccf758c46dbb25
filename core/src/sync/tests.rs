//! The sync engine driven end to end in memory: a server replica and device replicas exchanging
//! real Automerge sync messages through the same code the network layers use.

use automerge::ActorId;

use super::*;
use crate::catalog::Catalog;
use crate::document::{DocError, SERVER_ACTOR};
use crate::draft::ServerSection;
use crate::lifecycle::Status;

const EXAM: &str = "ncre-2027-03";

struct Device {
    doc: RegistrationDoc,
    sync: PeerSync,
    rejected: Vec<RejectedEdit>,
}

struct Net {
    server: RegistrationDoc,
    /// The server document's memory of refused changes, shared by its peers.
    memory: RefusedMemory,
    server_peers: Vec<PeerSync>,
    devices: Vec<Device>,
    /// Deliver every message twice (duplicated frames).
    duplicate: bool,
}

impl Net {
    fn new(devices: usize) -> Net {
        Net {
            server: RegistrationDoc::new(EXAM, ActorId::from(&SERVER_ACTOR[..])).expect("server"),
            memory: RefusedMemory::new(),
            server_peers: (0..devices).map(|_| PeerSync::new()).collect(),
            devices: (0..devices)
                .map(|i| Device {
                    doc: RegistrationDoc::new(EXAM, ActorId::from(&[i as u8 + 1; 16][..])).expect("device"),
                    sync: PeerSync::new(),
                    rejected: Vec::new(),
                })
                .collect(),
            duplicate: false,
        }
    }

    /// Runs the exchange between device `i` and the server until both are quiet; returns the
    /// number of messages sent. Panics if the exchange does not settle (a loop).
    fn sync(&mut self, i: usize) -> usize {
        let mut messages = 0;
        for _ in 0..50 {
            let mut quiet = true;
            let device = &mut self.devices[i];
            if let Some(msg) = device.sync.generate(&mut device.doc) {
                quiet = false;
                messages += 1;
                let times = if self.duplicate { 2 } else { 1 };
                for _ in 0..times {
                    let got = self.server_peers[i]
                        .receive_checked(&mut self.server, &mut self.memory, &msg, IncomingLimits::default())
                        .expect("server receive");
                    if let Received::Refused(refusal) | Received::Recalled(refusal) = got {
                        messages += 1;
                        let rejected = device
                            .sync
                            .reset_after_refusal(&mut device.doc, &refusal.heads, &refusal.refused)
                            .expect("reset");
                        device.rejected.extend(rejected);
                    }
                }
            }
            if let Some(msg) = self.server_peers[i].generate(&mut self.server) {
                quiet = false;
                messages += 1;
                let times = if self.duplicate { 2 } else { 1 };
                for _ in 0..times {
                    device.sync.receive_trusted(&mut device.doc, &msg).expect("device receive");
                }
            }
            if quiet {
                return messages;
            }
        }
        panic!("sync between device {i} and the server did not settle");
    }

    fn set_status(&mut self, status: Status) {
        self.server
            .write_server(&ServerSection { status, updated_at_ms: 1, ..ServerSection::default() })
            .expect("status");
    }
}

#[test]
fn two_devices_converge_in_either_order() {
    for order in [[0, 1], [1, 0]] {
        let mut net = Net::new(2);
        net.devices[0].doc.set_field("name", "张三").expect("edit");
        net.devices[0].doc.set_field("mobile", "13800138000").expect("edit");
        net.devices[1].doc.set_field("email", "zs@example.cn").expect("edit");
        net.devices[1].doc.set_field("mobile", "13900139000").expect("edit");
        for i in order {
            net.sync(i);
        }
        for i in order {
            net.sync(i);
        }
        let server = net.server.draft();
        assert_eq!(server.fields.get("name").map(String::as_str), Some("张三"));
        assert_eq!(server.fields.get("email").map(String::as_str), Some("zs@example.cn"));
        assert!(server.fields.contains_key("mobile"));
        for d in &mut net.devices {
            assert_eq!(d.doc.draft(), server);
            assert_eq!(d.doc.heads(), net.server.heads());
            assert!(d.rejected.is_empty());
        }
    }
}

#[test]
fn a_lock_while_offline_ends_with_the_server_state_and_visible_rejected_edits() {
    let catalog = Catalog::demo();
    let exam = &catalog.exams[0];
    let mut net = Net::new(1);
    net.devices[0].doc.set_field("name", "李四").expect("edit");
    net.sync(0);
    // The device goes offline and keeps editing; meanwhile the center's review locks the draft.
    net.devices[0].doc.set_field("name", "李四五").expect("offline edit");
    net.devices[0].doc.choose_center(exam, "bj-chaoyang").expect("offline edit");
    net.set_status(Status::UnderReview);
    let messages = net.sync(0);
    assert!(messages <= 8, "settles quickly ({messages} messages)");

    let device = &mut net.devices[0];
    assert_eq!(device.doc.status(), Status::UnderReview);
    assert_eq!(device.doc.draft(), net.server.draft());
    assert_eq!(device.doc.draft().fields.get("name").map(String::as_str), Some("李四"));
    let mut rejected: Vec<(String, Option<String>, String)> =
        device.rejected.iter().map(|r| (r.path.clone(), r.value.clone(), r.reason.clone())).collect();
    rejected.sort();
    assert_eq!(
        rejected,
        vec![
            ("draft.center".into(), Some("bj-chaoyang".into()), "locked".into()),
            ("draft.fields.name".into(), Some("李四五".into()), "locked".into()),
        ]
    );
    // The device's typed API now refuses edits too.
    assert!(matches!(device.doc.set_field("name", "x"), Err(DocError::Locked { .. })));
    // A further sync is quiet: nothing loops.
    assert_eq!(net.sync(0), 0);
}

#[test]
fn allowed_edits_survive_a_refusal_of_their_batch() {
    let catalog = Catalog::demo();
    let exam = &catalog.exams[0];
    let mut net = Net::new(1);
    net.devices[0].doc.choose_center(exam, "bj-haidian").expect("center");
    net.sync(0);
    net.set_status(Status::Submitted);
    // Offline: an allowed answer and a locked subject change in the same batch.
    net.devices[0].doc.set_field("address", "北京市海淀区").expect("edit");
    net.devices[0].doc.add_subject("66").expect("edit");
    net.sync(0);

    let device = &mut net.devices[0];
    assert_eq!(device.rejected.len(), 1);
    assert_eq!(device.rejected[0].path, "draft.subjects");
    assert_eq!(device.rejected[0].value.as_deref(), Some("66"));
    let server = net.server.draft();
    assert_eq!(
        server.fields.get("address").map(String::as_str),
        Some("北京市海淀区"),
        "re-applied and synced"
    );
    assert!(server.subjects.is_empty());
    assert_eq!(device.doc.draft(), server);
}

#[test]
fn a_refused_write_is_listed_even_when_a_concurrent_write_wins_the_merge() {
    let catalog = Catalog::demo();
    let exam = &catalog.exams[0];
    let mut net = Net::new(2);
    net.sync(0);
    // Device 1 chooses a center and is submitted; device 0, stale, chooses another offline.
    // Device 1's write has the higher operation id (an answer came first), so it wins the merge
    // on device 0 as soon as it arrives: only what device 0 itself wrote tells what the
    // candidate typed there.
    net.devices[1].doc.set_field("name", "王五").expect("answer");
    net.devices[1].doc.choose_center(exam, "bj-haidian").expect("center");
    net.sync(1);
    net.set_status(Status::Submitted);
    net.devices[0].doc.choose_center(exam, "bj-chaoyang").expect("offline center");
    net.devices[0].doc.set_field("address", "北京市朝阳区").expect("offline answer");
    // A new connection: the peers start from nothing, so device 0 hears the server's changes
    // (device 1's center among them) before it sends its own.
    (net.devices[0].sync, net.server_peers[0]) = (PeerSync::new(), PeerSync::new());
    net.sync(0);

    let device = &net.devices[0];
    let rejected: Vec<(&str, Option<&str>, &str)> =
        device.rejected.iter().map(|r| (r.path.as_str(), r.value.as_deref(), r.reason.as_str())).collect();
    assert_eq!(rejected, vec![("draft.center", Some("bj-chaoyang"), "locked")]);
    let server = net.server.draft();
    assert_eq!(server.center.as_deref(), Some("bj-haidian"));
    assert_eq!(server.fields.get("address").map(String::as_str), Some("北京市朝阳区"), "re-applied");
    assert_eq!(device.doc.draft(), server);
    assert_eq!(net.sync(0), 0, "nothing loops");
}

#[test]
fn duplicated_messages_and_a_server_restart_still_converge() {
    let mut net = Net::new(2);
    net.duplicate = true;
    net.devices[0].doc.set_field("name", "王五").expect("edit");
    net.sync(0);
    // Server restart: the document is reloaded from storage and peers start afresh.
    let saved = net.server.save();
    net.server = RegistrationDoc::load(&saved, ActorId::from(&SERVER_ACTOR[..])).expect("reload");
    net.server_peers = vec![PeerSync::new(), PeerSync::new()];
    net.devices[1].doc.set_field("mobile", "13700137000").expect("edit");
    net.sync(1);
    net.sync(0);
    net.sync(1);
    for d in &mut net.devices {
        assert_eq!(d.doc.draft(), net.server.draft());
    }
    assert_eq!(net.server.draft().fields.len(), 2);
}

#[test]
fn a_peer_that_ignores_refusals_cannot_make_the_server_loop() {
    // A stock client: it never resets, and keeps offering the same refused change.
    let mut server = RegistrationDoc::new(EXAM, ActorId::from(&SERVER_ACTOR[..])).expect("server");
    server
        .write_server(&ServerSection { status: Status::UnderReview, ..ServerSection::default() })
        .expect("s");
    let mut client = RegistrationDoc::new(EXAM, ActorId::from(&[3u8; 16][..])).expect("client");
    let mut peer = PeerSync::new();
    let mut memory = RefusedMemory::new();
    let mut client_sync = PeerSync::new();
    let mut sent = 0;
    client.set_field("name", "赵六").expect("edit");
    let mut replies = 0;
    let mut refusals = 0;
    for _ in 0..20 {
        if let Some(m) = client_sync.generate(&mut client) {
            sent += 1;
            match peer
                .receive_checked(&mut server, &mut memory, &m, IncomingLimits::default())
                .expect("receive")
            {
                Received::Refused(_) | Received::Recalled(_) => refusals += 1,
                Received::Ignored | Received::Applied(_) | Received::Waiting => {}
            }
        }
        if let Some(m) = peer.generate(&mut server) {
            replies += 1;
            client_sync.receive_trusted(&mut client, &m).expect("client");
        }
    }
    assert_eq!(refusals, 1, "refused once, then ignored");
    assert!(replies <= 3, "the server stops answering ({replies} replies)");
    assert!(sent <= 4, "and so does the client ({sent} messages)");
    // A server-side change still reaches the diverged peer, once.
    server.write_server(&ServerSection { status: Status::Rejected, ..ServerSection::default() }).expect("s");
    assert!(peer.generate(&mut server).is_some());
    assert!(peer.generate(&mut server).is_none());
    assert!(server.draft().fields.is_empty());
}

#[test]
fn sync_state_persists_and_bad_input_is_typed() {
    let mut net = Net::new(1);
    net.devices[0].doc.set_field("name", "孙七").expect("edit");
    net.sync(0);
    let saved = net.server_peers[0].save();
    let restored = PeerSync::restore(&saved).expect("restore");
    assert_eq!(restored.shared_heads(), net.server_peers[0].shared_heads());
    assert!(matches!(PeerSync::restore(b"\xff\xff"), Err(SyncError::BadState)));
    let mut peer = PeerSync::new();
    assert!(matches!(
        peer.receive_checked(
            &mut net.server,
            &mut net.memory,
            b"not a sync message",
            IncomingLimits::default()
        ),
        Err(SyncError::BadMessage(_))
    ));
}

/// Bytes of complete wire frames (CBOR `sync` messages with realistic ids) needed for one field
/// edit to travel device → server → second device once all three are in sync. The budget
/// is 1.5 KB in total; WebSocket framing adds 2–8 bytes per frame on top.
#[test]
fn one_field_edit_fits_the_wire_budget() {
    use crate::document::DocumentId;
    use crate::wire::{WireMessage, encode};
    let mut net = Net::new(2);
    net.devices[0].doc.set_field("name", "张三").expect("edit");
    net.sync(0);
    net.sync(1);
    net.sync(0);
    assert_eq!(net.sync(1), 0);

    let doc_id = DocumentId::derive(EXAM, "account-0001").to_string();
    let frame = |data: Vec<u8>| {
        encode(&WireMessage::Sync {
            sender_id: "peer-7f3c9a1e2b4d".into(),
            target_id: "baoming-server".into(),
            document_id: doc_id.clone(),
            data,
        })
        .len()
    };
    net.devices[0].doc.set_field("address", "北京市海淀区颐和园路5号").expect("edit");
    let mut bytes = 0;
    // device 0 → server, and the server's acknowledgement
    for _ in 0..4 {
        let d = &mut net.devices[0];
        if let Some(m) = d.sync.generate(&mut d.doc) {
            bytes += frame(m.clone());
            net.server_peers[0]
                .receive_checked(&mut net.server, &mut net.memory, &m, IncomingLimits::default())
                .expect("recv");
        }
        if let Some(m) = net.server_peers[0].generate(&mut net.server) {
            bytes += frame(m.clone());
            d.sync.receive_trusted(&mut d.doc, &m).expect("recv");
        }
    }
    // server → device 1, and its acknowledgement
    for _ in 0..4 {
        let d = &mut net.devices[1];
        if let Some(m) = net.server_peers[1].generate(&mut net.server) {
            bytes += frame(m.clone());
            d.sync.receive_trusted(&mut d.doc, &m).expect("recv");
        }
        if let Some(m) = d.sync.generate(&mut d.doc) {
            bytes += frame(m.clone());
            net.server_peers[1]
                .receive_checked(&mut net.server, &mut net.memory, &m, IncomingLimits::default())
                .expect("recv");
        }
    }
    assert_eq!(
        net.devices[1].doc.draft().fields.get("address").map(String::as_str),
        Some("北京市海淀区颐和园路5号")
    );
    assert!(bytes <= 1536, "one field edit took {bytes} bytes on the wire");
    eprintln!("one field edit, device → server → device: {bytes} bytes of frames");
}

/// A device's messages arriving out of order and twice (m2, whose change depends on m1's, first;
/// then m1 twice): the server keeps m2's changes aside until their dependency arrives instead of
/// refusing them, applies both, and the exchange converges without rejected edits or a loop.
#[test]
fn reordered_and_duplicated_messages_converge_without_a_refusal() {
    let mut net = Net::new(2);
    net.devices[0].doc.set_field("name", "周八").expect("edit");
    net.sync(0);
    let device = &mut net.devices[0];
    device.doc.set_field("mobile", "13500135000").expect("edit 1");
    let m1 = device.sync.generate(&mut device.doc).expect("m1 carries edit 1");
    device.doc.set_field("email", "zb@example.cn").expect("edit 2");
    let m2 = device.sync.generate(&mut device.doc).expect("m2 carries edit 2");
    assert_eq!(sync::Message::decode(&m2).expect("m2").changes.len(), 1, "m2 holds only edit 2");

    let peer = &mut net.server_peers[0];
    let mut got = Vec::new();
    for m in [&m2, &m1, &m1] {
        got.push(
            peer.receive_checked(&mut net.server, &mut net.memory, m, IncomingLimits::default())
                .expect("receive"),
        );
    }
    assert_eq!(got[0], Received::Waiting, "m2 waits for its dependency");
    assert!(matches!(&got[1], Received::Applied(a) if a.new_changes == 2), "{:?}", got[1]);
    assert!(matches!(&got[2], Received::Applied(a) if a.new_changes == 0), "{:?}", got[2]);
    let messages = net.sync(0) + net.sync(1);
    assert!(messages <= 8, "settles ({messages} messages)");
    let server = net.server.draft();
    assert_eq!(server.fields.get("mobile").map(String::as_str), Some("13500135000"));
    assert_eq!(server.fields.get("email").map(String::as_str), Some("zb@example.cn"));
    for d in &mut net.devices {
        assert_eq!(d.doc.draft(), server);
        assert_eq!(d.doc.heads(), net.server.heads());
        assert!(d.rejected.is_empty(), "{:?}", d.rejected);
    }
}

/// Changes whose dependency never arrives stay out of the document, are never applied behind
/// the check's back when later messages come, and what waits is bounded.
#[test]
fn waiting_changes_are_checked_when_their_dependency_arrives() {
    let mut net = Net::new(1);
    net.sync(0);
    net.set_status(Status::UnderReview);
    net.sync(0);
    // A stock client ignores the lock: edit 1, then edit 2 on top of it.
    let device = &mut net.devices[0];
    raw_put(&mut device.doc, &["draft", "fields"], "name", "x");
    let m1 = device.sync.generate(&mut device.doc).expect("m1");
    raw_put(&mut device.doc, &["draft", "fields"], "mobile", "1");
    let m2 = device.sync.generate(&mut device.doc).expect("m2");
    let before = net.server.heads();
    let peer = &mut net.server_peers[0];
    assert_eq!(
        peer.receive_checked(&mut net.server, &mut net.memory, &m2, IncomingLimits::default()),
        Ok(Received::Waiting)
    );
    assert_eq!(net.server.heads(), before, "nothing applied, nothing queued in the document");
    // The dependency arrives: the whole lot is checked together and refused (locked).
    match peer
        .receive_checked(&mut net.server, &mut net.memory, &m1, IncomingLimits::default())
        .expect("receive")
    {
        Received::Refused(r) => {
            assert!(r.refused.iter().any(|p| p.path == "draft.fields.mobile"), "{r:?}");
            assert!(r.refused.iter().any(|p| p.path == "draft.fields.name"), "{r:?}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(net.server.heads(), before);
    assert!(net.server.draft().fields.is_empty());
}

/// Automerge's sync sends only the changes the peer's Bloom filter does not claim. A false
/// positive (about 1 % per change) leaves out a change whose successor is sent, and the filter
/// is the same on every round until the server's own changes move, so the change is left out
/// again. The server must hold the successor back and name the missing change in `need` itself:
/// the exchange ends converged, with nothing refused (it used to end in a refusal,
/// `missing_dependencies`, of edits the server had every right to take).
#[test]
fn a_change_left_out_by_a_bloom_false_positive_is_asked_for_and_arrives() {
    use automerge::sync::BloomFilter;
    // A fresh device's first answer carries what the server's filter over all its changes does
    // not claim: find a first edit that this filter falsely claims.
    let mut net = Net::new(1);
    let server_hashes: Vec<ChangeHash> =
        net.server.automerge().get_changes(&[]).iter().map(automerge::Change::hash).collect();
    let filter = BloomFilter::from_hashes(server_hashes.iter());
    let genesis = net.devices[0].doc.heads();
    let name = (0..20_000)
        .map(|i| format!("赵{i}"))
        .find(|name| {
            let mut doc = RegistrationDoc::new(EXAM, ActorId::from(&[1u8; 16][..])).expect("device");
            doc.set_field("name", name).expect("edit");
            filter.contains_hash(&doc.automerge().get_changes(&genesis)[0].hash())
        })
        .expect("a false positive within 20 000 tries");
    let device = &mut net.devices[0];
    device.doc.set_field("name", &name).expect("edit");
    device.doc.set_field("mobile", "13700137000").expect("edit");

    net.sync(0);
    let device = &mut net.devices[0];
    assert!(device.rejected.is_empty(), "{:?}", device.rejected);
    let server = net.server.draft();
    assert_eq!(server.fields.get("name"), Some(&name));
    assert_eq!(server.fields.get("mobile").map(String::as_str), Some("13700137000"));
    assert_eq!(device.doc.heads(), net.server.heads());
}

/// A message whose heads are empty but which carries changes: the refused changes must not slip
/// into the document through Automerge's own sync state update.
#[test]
fn refused_changes_never_reach_the_document_whatever_the_message_heads() {
    let mut server = RegistrationDoc::new(EXAM, ActorId::from(&SERVER_ACTOR[..])).expect("server");
    let mut client = RegistrationDoc::new(EXAM, ActorId::from(&[4u8; 16][..])).expect("client");
    raw_put(&mut client, &["server"], "status", "paid");
    let change = client.automerge().get_last_local_change().expect("change").raw_bytes().to_vec();
    let mut message =
        sync::Message::decode(&PeerSync::new().generate(&mut client).expect("msg")).expect("decode");
    message.heads = Vec::new();
    message.changes = vec![change].into();
    let mut peer = PeerSync::new();
    let got = peer
        .receive_checked(&mut server, &mut RefusedMemory::new(), &message.encode(), IncomingLimits::default())
        .expect("receive");
    assert!(matches!(got, Received::Refused(_)), "{got:?}");
    assert_eq!(server.status(), Status::Draft, "the server section is untouched");
    assert_eq!(server.heads(), vec![genesis_hash(EXAM).expect("genesis")]);
}

/// Writes `key = value` in the map at `path` directly through Automerge, bypassing the typed
/// edits and their status check (what a stock client can do), and commits.
pub(super) fn raw_put(doc: &mut RegistrationDoc, path: &[&str], key: &str, value: &str) {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let am = doc.automerge();
    let mut obj = automerge::ROOT;
    for p in path {
        obj = am.get(&obj, *p).expect("get").expect("map").1;
    }
    am.put(&obj, key, value).expect("put");
    am.commit();
}
