//! The frame codec: byte-exact frames, lenient input, bad input and round trips.

use super::*;
use minicbor::Encoder;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

#[test]
fn a_join_byte_for_byte() {
    let join = WireMessage::Join {
        sender_id: "p1".into(),
        supported_protocol_versions: vec!["1".into()],
        peer_metadata: None,
    };
    let bytes = encode(&join);
    // a3                                  map(3)
    //   64 74797065 64 6a6f696e           "type": "join"
    //   68 73656e6465724964 62 7031       "senderId": "p1"
    //   78 19 <25 bytes> 81 61 31         "supportedProtocolVersions": ["1"]
    let expected = hex("a3 64 74797065 64 6a6f696e 68 73656e6465724964 62 7031
         78 19 737570706f7274656450726f746f636f6c56657273696f6e73 81 61 31");
    assert_eq!(bytes, expected);
    assert_eq!(decode(&bytes), Ok(join));
}

#[test]
fn what_the_javascript_ecosystem_sends_is_accepted() {
    // Indefinite-length map, non-minimal lengths (0x78 0x04 for a 4-byte string), the
    // `metadata` spelling, a float for `count`, a tagged byte string and an unknown key.
    let mut frame = hex("bf 78 04 74797065 69 657068656d6572616c"); // "type": "ephemeral"
    frame.extend(hex("68 73656e6465724964 62 7031")); // senderId: "p1"
    frame.extend(hex("68 7461726765744964 7f 61 70 61 32 ff")); // targetId: "p" "2" (indefinite)
    frame.extend(hex("65 636f756e74 fb 4014000000000000")); // count: 5.0
    frame.extend(hex("69 73657373696f6e4964 61 73")); // sessionId: "s"
    frame.extend(hex("6a 646f63756d656e744964 61 64")); // documentId: "d"
    frame.extend(hex("64 64617461 d8 40 43 010203")); // data: tag 64 + bytes
    frame.extend(hex("65 6578747261 f6")); // extra: null
    frame.push(0xff);
    assert_eq!(
        decode(&frame),
        Ok(WireMessage::Ephemeral {
            sender_id: "p1".into(),
            target_id: "p2".into(),
            count: 5,
            session_id: "s".into(),
            document_id: "d".into(),
            data: vec![1, 2, 3],
        })
    );
}

#[test]
fn peer_metadata_in_either_spelling() {
    for key in ["peerMetadata", "metadata"] {
        let mut e = Encoder::new(Vec::new());
        e.map(4).and_then(|e| e.str("type")).and_then(|e| e.str("join")).expect("enc");
        e.str("senderId").and_then(|e| e.str("c")).expect("enc");
        e.str("supportedProtocolVersions").and_then(|e| e.array(1)).and_then(|e| e.str("1")).expect("enc");
        e.str(key).and_then(|e| e.map(2)).expect("enc");
        e.str("storageId").and_then(|e| e.str("st-1")).expect("enc");
        e.str("isEphemeral").and_then(|e| e.bool(false)).expect("enc");
        let m = decode(&e.into_writer()).expect("decode");
        assert_eq!(
            m,
            WireMessage::Join {
                sender_id: "c".into(),
                supported_protocol_versions: vec!["1".into()],
                peer_metadata: Some(PeerMetadata {
                    storage_id: Some("st-1".into()),
                    is_ephemeral: false,
                    extensions: Vec::new(),
                }),
            }
        );
    }
}

#[test]
fn a_peer_announces_the_extensions_it_speaks() {
    let join = WireMessage::Join {
        sender_id: "dev".into(),
        supported_protocol_versions: vec!["1".into()],
        peer_metadata: Some(PeerMetadata {
            storage_id: None,
            is_ephemeral: false,
            extensions: vec![REFUSED_EXTENSION.into(), "something-newer".into()],
        }),
    };
    let Ok(WireMessage::Join { peer_metadata: Some(meta), .. }) = decode(&encode(&join)) else {
        panic!("a join");
    };
    assert!(meta.speaks(REFUSED_EXTENSION));
    assert!(!PeerMetadata::default().speaks(REFUSED_EXTENSION), "stock peers announce nothing");
    // Anything but a list of text is refused.
    let mut e = Encoder::new(Vec::new());
    e.map(4).and_then(|e| e.str("type")).and_then(|e| e.str("join")).expect("enc");
    e.str("senderId").and_then(|e| e.str("s")).expect("enc");
    e.str("supportedProtocolVersions").and_then(|e| e.array(1)).and_then(|e| e.str("1")).expect("enc");
    e.str("peerMetadata").and_then(|e| e.map(1)).expect("enc");
    e.str("baomingExtensions").and_then(|e| e.u8(1)).expect("enc");
    assert!(matches!(decode(&e.into_writer()), Err(WireError::BadValue { .. })));
}

#[test]
fn a_document_copy_round_trips() {
    let copy = DocumentCopy {
        document_id: "2jEBHDqhuLwKWebffaWuihNyscTm".into(),
        status: "draft".into(),
        heads: vec!["ab".repeat(32)],
        refused: vec![RefusalRecord {
            changes: vec!["cd".repeat(32), "ef".repeat(32)],
            status: "draft".into(),
            refused: vec![RefusedItem { path: "draft.fields.address".into(), reason: "wrong_type".into() }],
        }],
        document: vec![0x85, 0x6f, 0x4a, 0x83, 0],
    };
    assert_eq!(DocumentCopy::decode(&copy.encode()), Ok(copy.clone()));
    let empty = DocumentCopy { refused: Vec::new(), ..copy };
    assert_eq!(DocumentCopy::decode(&empty.encode()), Ok(empty));
    assert!(matches!(DocumentCopy::decode(&hex("a1 64 74797065 61 78")), Err(WireError::Missing { .. })));
}

#[test]
fn bad_frames_get_typed_errors() {
    assert_eq!(decode(&[]).map_err(|e| e.code()), Err("malformed_cbor"));
    assert_eq!(decode(&hex("83 01 02 03")), Err(WireError::NotAMessage));
    assert_eq!(decode(&hex("a1 64 74797065 01")), Err(WireError::NotAMessage));
    assert!(matches!(
        decode(&hex("a1 64 74797065 64 73796e63")),
        Err(WireError::Missing { key: "senderId", .. })
    ));
    assert_eq!(
        decode(&hex("a2 64 74797065 65 6c65617665 64 74797065 65 6c65617665")),
        Err(WireError::DuplicateKey("type".into()))
    );
    let leave = encode(&WireMessage::Leave { sender_id: "x".into() });
    let mut trailing = leave.clone();
    trailing.push(0);
    assert!(matches!(decode(&trailing), Err(WireError::Malformed(_))));
    assert!(matches!(decode(&leave[..leave.len() - 1]), Err(WireError::Malformed(_))));
    assert_eq!(decode(&vec![0xa0; MAX_FRAME_BYTES + 1]), Err(WireError::TooLarge(MAX_FRAME_BYTES + 1)));
    // Deep nesting is refused, not recursed into.
    let mut deep = hex("a2 64 74797065 65 6c65617665 65 6f74686572");
    deep.extend(std::iter::repeat_n(0x81, 10_000));
    deep.push(0x01);
    assert!(matches!(decode(&deep), Err(WireError::Malformed(_))));
    // A byte string that claims more bytes than the frame has.
    assert!(matches!(decode(&hex("a1 64 74797065 5b 00000000ffffffff")), Err(WireError::Malformed(_))));
    // Wrong value types.
    let mut e = Encoder::new(Vec::new());
    e.map(2).and_then(|e| e.str("type")).and_then(|e| e.str("leave")).expect("enc");
    e.str("senderId").and_then(|e| e.u32(7)).expect("enc");
    assert_eq!(decode(&e.into_writer()), Err(WireError::BadValue { key: "senderId".into() }));
}

#[test]
fn unknown_types_are_surfaced_not_refused() {
    let mut e = Encoder::new(Vec::new());
    e.map(2).and_then(|e| e.str("type")).and_then(|e| e.str("remote-heads-changed")).expect("enc");
    e.str("newHeads").and_then(|e| e.map(0)).expect("enc");
    assert_eq!(
        decode(&e.into_writer()),
        Ok(WireMessage::Other { message_type: "remote-heads-changed".into() })
    );
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-]{0,24}"
}

fn message() -> impl Strategy<Value = WireMessage> {
    let meta = || {
        proptest::option::of((
            proptest::option::of(text()),
            any::<bool>(),
            proptest::collection::vec(text(), 0..3),
        ))
        .prop_map(|m| {
            m.map(|(storage_id, is_ephemeral, extensions)| PeerMetadata {
                storage_id,
                is_ephemeral,
                extensions,
            })
        })
    };
    prop_oneof![
        (text(), proptest::collection::vec(text(), 0..3), meta()).prop_map(|(s, v, m)| {
            WireMessage::Join { sender_id: s, supported_protocol_versions: v, peer_metadata: m }
        }),
        (text(), text(), text(), meta()).prop_map(|(s, t, v, m)| WireMessage::Peer {
            sender_id: s,
            target_id: t,
            selected_protocol_version: v,
            peer_metadata: m
        }),
        (text(), text(), text(), proptest::collection::vec(any::<u8>(), 0..64), any::<bool>()).prop_map(
            |(s, t, d, data, req)| if req {
                WireMessage::Request { sender_id: s, target_id: t, document_id: d, data }
            } else {
                WireMessage::Sync { sender_id: s, target_id: t, document_id: d, data }
            }
        ),
        (text(), text(), text()).prop_map(|(s, t, d)| WireMessage::DocUnavailable {
            sender_id: s,
            target_id: t,
            document_id: d
        }),
        (text(), text(), any::<u64>(), text(), text(), proptest::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(s, t, count, sid, d, data)| WireMessage::Ephemeral {
                sender_id: s,
                target_id: t,
                count,
                session_id: sid,
                document_id: d,
                data
            }),
        text().prop_map(|message| WireMessage::Error { message }),
        text().prop_map(|sender_id| WireMessage::Leave { sender_id }),
        (
            text(),
            text(),
            text(),
            text(),
            proptest::collection::vec((text(), text()), 0..4),
            proptest::collection::vec(text(), 0..3)
        )
            .prop_map(|(s, t, d, status, refused, heads)| WireMessage::Refused {
                sender_id: s,
                target_id: t,
                document_id: d,
                status,
                refused: refused.into_iter().map(|(path, reason)| RefusedItem { path, reason }).collect(),
                heads
            }),
    ]
}

#[test]
fn batch_bodies_round_trip_and_refuse_bad_shapes() {
    let req = BatchRequest {
        document_id: "d".into(),
        storage_id: Some("s".into()),
        messages: vec![vec![1, 2], vec![]],
    };
    assert_eq!(BatchRequest::decode(&req.encode()), Ok(req));
    let refused = WireMessage::Refused {
        sender_id: "server".into(),
        target_id: "dev".into(),
        document_id: "d".into(),
        status: "submitted".into(),
        refused: vec![RefusedItem { path: "draft.center".into(), reason: "locked".into() }],
        heads: vec!["ab".into()],
    };
    let resp = BatchResponse { messages: vec![vec![9]], refused: Some(refused) };
    assert_eq!(BatchResponse::decode(&resp.encode()), Ok(resp));
    assert!(matches!(BatchRequest::decode(&hex("a1 64 74797065 61 78")), Err(WireError::Missing { .. })));
    assert!(BatchRequest::decode(&hex("80")).is_err());
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(m in message()) {
        prop_assert_eq!(decode(&encode(&m)), Ok(m));
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_mutated_messages(m in message(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut bytes = encode(&m);
        for (i, b) in flips {
            let len = bytes.len();
            bytes[i % len] ^= b;
        }
        let _ = decode(&bytes);
    }
}
