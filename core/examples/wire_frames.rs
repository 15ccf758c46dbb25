//! Prints the worked frames and batch bodies of protocol.md, so the document can be checked
//! against the code: `cargo run -p baoming-core --example wire_frames`.
//!
//! The WebSocket frames use the values the server really sends (its peer id `baoming-server`,
//! its `peerMetadata`). The batch bodies come from a real exchange between a device and the
//! core's sync engine as the server runs it (`PeerSync::receive_checked` on a document created
//! from genesis, then `PeerSync::generate`), with the device's actor and commit times fixed so
//! that the bytes are reproducible. `core/tests/protocol_frames.rs` checks that protocol.md
//! holds every dump printed here.
#![allow(clippy::print_stdout)] // printing is what this example is for

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, ObjId, ROOT, ReadDoc};
use baoming_core::RegistrationDoc;
use baoming_core::document::{DocumentId, IncomingLimits, server_actor};
use baoming_core::sync::{PeerSync, Received, RefusedMemory};
use baoming_core::wire::{
    BatchRequest, BatchResponse, PeerMetadata, REFUSED_EXTENSION, RefusedItem, WireMessage, encode,
};

const EXAM: &str = "ncre-2027-03";
const ACCOUNT: &str = "acct-1";
/// The server's peer id (`baoming-server`'s `SERVER_PEER_ID`).
const SERVER: &str = "baoming-server";
/// The `targetId` of a refusal in a batch response (there is no peer id over plain HTTP).
const BATCH_TARGET: &str = "http-batch";
/// The device's actor in the batch example: fixed, so the change hashes are reproducible.
const DEVICE_ACTOR: [u8; 16] = [0x11; 16];

/// The dumps protocol.md shows in full (the others it describes by size).
pub(crate) const SHOWN_IN_FULL: [&str; 7] = [
    "join",
    "peer",
    "doc-unavailable",
    "baoming-refused",
    "batch request 1",
    "batch response 1",
    "the refusal embedded in the refused batch response",
];

/// Space-separated hex, 16 bytes per line: the form protocol.md shows.
pub(crate) fn dump(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|line| line.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The WebSocket frames of protocol.md §9, by name.
pub(crate) fn frames() -> Vec<(String, Vec<u8>)> {
    let doc = DocumentId::derive(EXAM, ACCOUNT).to_string();
    let frames = [
        (
            "join",
            WireMessage::Join {
                sender_id: "dev-1".into(),
                supported_protocol_versions: vec!["1".into()],
                peer_metadata: Some(PeerMetadata {
                    storage_id: Some("st-1".into()),
                    is_ephemeral: false,
                    extensions: vec![REFUSED_EXTENSION.into()],
                }),
            },
        ),
        (
            "peer",
            WireMessage::Peer {
                sender_id: SERVER.into(),
                target_id: "dev-1".into(),
                selected_protocol_version: "1".into(),
                peer_metadata: Some(PeerMetadata {
                    storage_id: None,
                    is_ephemeral: false,
                    extensions: vec![REFUSED_EXTENSION.into()],
                }),
            },
        ),
        (
            "doc-unavailable",
            WireMessage::DocUnavailable {
                sender_id: SERVER.into(),
                target_id: "dev-1".into(),
                document_id: doc.clone(),
            },
        ),
        (
            "baoming-refused",
            WireMessage::Refused {
                sender_id: SERVER.into(),
                target_id: "dev-1".into(),
                document_id: doc,
                status: "under_review".into(),
                refused: vec![RefusedItem { path: "draft.fields.name".into(), reason: "locked".into() }],
                heads: vec!["c090e2c74a4a93f12f80d3fc4cc05ee399a2268fca339d9c07cddea0713806c8".into()],
            },
        ),
    ];
    frames.into_iter().map(|(name, m)| (name.to_owned(), encode(&m))).collect()
}

fn map_at(doc: &mut RegistrationDoc, parent: &ObjId, key: &str) -> ObjId {
    match doc.automerge().get(parent, key) {
        Ok(Some((_, id))) => id,
        other => panic!("the genesis has `{key}`: {other:?}"),
    }
}

/// Writes `value` at `section.key` (or `draft.fields.key`) as the device, at a fixed time.
fn device_write(doc: &mut RegistrationDoc, path: &[&str], value: &str) {
    let mut obj = ROOT;
    let (key, parents) = path.split_last().expect("a path");
    for p in parents {
        obj = map_at(doc, &obj, p);
    }
    doc.automerge().put(&obj, *key, value).expect("put");
    doc.automerge().commit_with(CommitOptions::default().with_message("set field").with_time(0));
}

/// One request/response round of the batch form, the server side run as `POST /api/sync/batch`
/// runs it. Returns `None` when the device has nothing to send.
fn round(
    device: &mut RegistrationDoc,
    device_sync: &mut PeerSync,
    server: &mut RegistrationDoc,
    server_sync: &mut PeerSync,
) -> Option<(BatchRequest, BatchResponse)> {
    let request = BatchRequest {
        document_id: DocumentId::derive(EXAM, ACCOUNT).to_string(),
        storage_id: Some("st-1".into()),
        messages: vec![device_sync.generate(device)?],
    };
    let mut refused = None;
    for m in &request.messages {
        // The exchange meets one refusal: the document's memory of refused changes starts empty.
        let got =
            server_sync.receive_checked(server, &mut RefusedMemory::new(), m, IncomingLimits::default());
        if let Ok(Received::Refused(r)) = got {
            refused = Some(WireMessage::Refused {
                sender_id: SERVER.into(),
                target_id: BATCH_TARGET.into(),
                document_id: request.document_id.clone(),
                status: r.status.as_str().into(),
                refused: r.refused.iter().map(RefusedItem::from).collect(),
                heads: r.heads.iter().map(ToString::to_string).collect(),
            });
        }
    }
    let response = BatchResponse { messages: server_sync.generate(server).into_iter().collect(), refused };
    for m in &response.messages {
        device_sync.receive_trusted(device, m).expect("the server's message applies");
    }
    Some((request, response))
}

/// The batch bodies of protocol.md §9: a device with one answer syncs from scratch (every round
/// until it has nothing more to send), then writes `server.status`, which is refused. The last
/// entry is the `baoming-refused` frame embedded in the refused response.
pub(crate) fn batch_bodies() -> Vec<(String, Vec<u8>)> {
    let mut device = RegistrationDoc::new(EXAM, ActorId::from(&DEVICE_ACTOR[..])).expect("device");
    let mut server = RegistrationDoc::new(EXAM, server_actor()).expect("server");
    let (mut device_sync, mut server_sync) = (PeerSync::new(), PeerSync::new());
    device_write(&mut device, &["draft", "fields", "name"], "张三");
    let mut bodies = Vec::new();
    let mut n = 0;
    while let Some((req, resp)) = round(&mut device, &mut device_sync, &mut server, &mut server_sync) {
        n += 1;
        bodies.push((format!("batch request {n}"), req.encode()));
        bodies.push((format!("batch response {n}"), resp.encode()));
        assert!(n < 10, "the exchange settles");
    }
    device_write(&mut device, &["server", "status"], "paid");
    let (req, resp) = round(&mut device, &mut device_sync, &mut server, &mut server_sync).expect("a round");
    let refusal = encode(resp.refused.as_ref().expect("the write to `server` is refused"));
    bodies.push(("refused batch request".into(), req.encode()));
    bodies.push(("refused batch response".into(), resp.encode()));
    bodies.push(("the refusal embedded in the refused batch response".into(), refusal));
    bodies
}

fn main() {
    println!("document id for ({EXAM}, {ACCOUNT}): {}", DocumentId::derive(EXAM, ACCOUNT));
    for (name, bytes) in frames().into_iter().chain(batch_bodies()) {
        let shown = if SHOWN_IN_FULL.contains(&name.as_str()) { ", in protocol.md §9" } else { "" };
        println!("\n{name} ({} bytes{shown}):\n{}", bytes.len(), dump(&bytes));
    }
}
