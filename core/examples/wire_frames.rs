//! Prints the worked frames of protocol.md, so the document can be checked against the code:
//! `cargo run -p baoming-core --example wire_frames`.
#![allow(clippy::print_stdout)] // printing is what this example is for

use baoming_core::document::DocumentId;
use baoming_core::wire::{PeerMetadata, RefusedItem, WireMessage, encode};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

fn main() {
    let doc = DocumentId::derive("ncre-2027-03", "acct-1");
    let frames = [
        (
            "join",
            WireMessage::Join {
                sender_id: "dev-1".into(),
                supported_protocol_versions: vec!["1".into()],
                peer_metadata: Some(PeerMetadata { storage_id: Some("st-1".into()), is_ephemeral: false }),
            },
        ),
        (
            "peer",
            WireMessage::Peer {
                sender_id: "server".into(),
                target_id: "dev-1".into(),
                selected_protocol_version: "1".into(),
                peer_metadata: None,
            },
        ),
        (
            "doc-unavailable",
            WireMessage::DocUnavailable {
                sender_id: "server".into(),
                target_id: "dev-1".into(),
                document_id: doc.to_string(),
            },
        ),
        (
            "baoming-refused",
            WireMessage::Refused {
                sender_id: "server".into(),
                target_id: "dev-1".into(),
                document_id: doc.to_string(),
                status: "under_review".into(),
                refused: vec![RefusedItem { path: "draft.fields.name".into(), reason: "locked".into() }],
                heads: vec!["c090e2c74a4a93f12f80d3fc4cc05ee399a2268fca339d9c07cddea0713806c8".into()],
            },
        ),
    ];
    println!("document id for (ncre-2027-03, acct-1): {doc}");
    for (name, frame) in frames {
        let bytes = encode(&frame);
        println!("\n{name} ({} bytes):\n{}", bytes.len(), hex(&bytes));
    }
}
