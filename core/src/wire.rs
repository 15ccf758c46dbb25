//! The sync wire format: one WebSocket binary frame = one CBOR map, wire-compatible with
//! automerge-repo's protocol version `"1"`, plus Baoming's refusal extension.
//!
//! Decoding is liberal in what the automerge-repo ecosystem really sends — non-minimal CBOR
//! lengths, indefinite-length strings and maps, integers encoded as floats, tagged byte strings,
//! `peerMetadata` (or the older `metadata`) in the handshake, unknown keys — and strict about
//! everything that could cost memory or be ambiguous: frame size, nesting, string and byte
//! lengths, duplicate keys and trailing bytes are all refused with a typed [`WireError`].
//! Encoding always produces minimal, definite-length CBOR. See protocol.md for the byte layout.

use std::collections::BTreeMap;

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

/// The only protocol version spoken.
pub const PROTOCOL_VERSION: &str = "1";
/// Largest frame accepted by [`decode`] (1 MiB).
pub const MAX_FRAME_BYTES: usize = 1 << 20;
/// Largest text value accepted (ids, messages).
const MAX_TEXT_BYTES: usize = 4096;
/// Most entries in a map or array.
const MAX_ITEMS: u64 = 1024;

/// Metadata a peer advertises in `join` and `peer`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerMetadata {
    /// A storage id tied to the peer's persistent storage; sync state is kept per storage id.
    pub storage_id: Option<String>,
    /// Whether the peer will not come back with this storage id.
    pub is_ephemeral: bool,
}

/// One path refused in a [`WireMessage::Refused`] message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedItem {
    /// Dotted path, e.g. `draft.fields.name`, or `*` for the whole batch.
    pub path: String,
    /// Machine-readable reason, e.g. `locked`.
    pub reason: String,
}

/// A message of the sync protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireMessage {
    /// Client → server, first message: who the client is and which versions it speaks.
    Join {
        /// The client's peer id.
        sender_id: String,
        /// Protocol versions the client supports.
        supported_protocol_versions: Vec<String>,
        /// Optional metadata.
        peer_metadata: Option<PeerMetadata>,
    },
    /// Server → client reply to `join`.
    Peer {
        /// The server's peer id.
        sender_id: String,
        /// The client's peer id.
        target_id: String,
        /// Always `"1"`.
        selected_protocol_version: String,
        /// Server metadata.
        peer_metadata: Option<PeerMetadata>,
    },
    /// Advisory goodbye.
    Leave {
        /// Who is leaving.
        sender_id: String,
    },
    /// Begin syncing a document; ask for `doc-unavailable` if the receiver does not have it.
    Request {
        /// Sender's peer id.
        sender_id: String,
        /// Receiver's peer id.
        target_id: String,
        /// base58check document id.
        document_id: String,
        /// An Automerge sync message.
        data: Vec<u8>,
    },
    /// An Automerge sync message about a document.
    Sync {
        /// Sender's peer id.
        sender_id: String,
        /// Receiver's peer id.
        target_id: String,
        /// base58check document id.
        document_id: String,
        /// An Automerge sync message.
        data: Vec<u8>,
    },
    /// The sender does not have (or will not share) the document.
    DocUnavailable {
        /// Sender's peer id.
        sender_id: String,
        /// Receiver's peer id.
        target_id: String,
        /// base58check document id.
        document_id: String,
    },
    /// An application message that is not stored (presence, cursors).
    Ephemeral {
        /// Sender's peer id.
        sender_id: String,
        /// Receiver's peer id.
        target_id: String,
        /// Sequence number within the session.
        count: u64,
        /// Session id.
        session_id: String,
        /// base58check document id.
        document_id: String,
        /// Opaque payload.
        data: Vec<u8>,
    },
    /// A protocol error; the connection closes after it.
    Error {
        /// Human-readable description (Baoming prefixes a machine code: `code: message`).
        message: String,
    },
    /// Baoming extension (`type: "baoming-refused"`): a batch of changes was refused as a whole.
    Refused {
        /// Sender's peer id.
        sender_id: String,
        /// Receiver's peer id.
        target_id: String,
        /// base58check document id.
        document_id: String,
        /// The registration status the batch was checked against.
        status: String,
        /// Every refused path with its reason.
        refused: Vec<RefusedItem>,
        /// The server's heads (hex change hashes), unchanged by the refused batch.
        heads: Vec<String>,
    },
    /// A well-formed message of a type this implementation does not act on (e.g.
    /// `remote-heads-changed`); it is ignored.
    Other {
        /// The message type.
        message_type: String,
    },
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The frame is larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME_BYTES}")]
    TooLarge(usize),
    /// Not well-formed CBOR, or bytes after the message.
    #[error("malformed CBOR: {0}")]
    Malformed(String),
    /// The top-level item is not a map with a `type` text value.
    #[error("a message must be a CBOR map with a `type`")]
    NotAMessage,
    /// A required key is missing.
    #[error("`{message_type}` message lacks `{key}`")]
    Missing {
        /// The message type.
        message_type: String,
        /// The missing key.
        key: &'static str,
    },
    /// A key has a value of the wrong type or out of range.
    #[error("`{key}` has the wrong type or is out of range")]
    BadValue {
        /// The key.
        key: String,
    },
    /// A key appears twice.
    #[error("duplicate key `{0}`")]
    DuplicateKey(String),
}

impl WireError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::TooLarge(_) => "frame_too_large",
            WireError::Malformed(_) => "malformed_cbor",
            WireError::NotAMessage => "not_a_message",
            WireError::Missing { .. } => "missing_field",
            WireError::BadValue { .. } => "bad_value",
            WireError::DuplicateKey(_) => "duplicate_key",
        }
    }
}

fn malformed(e: minicbor::decode::Error) -> WireError {
    WireError::Malformed(e.to_string())
}

/// A decoded CBOR value, restricted to what messages carry.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Bytes(Vec<u8>),
    Uint(u64),
    Bool(bool),
    Array(Vec<Value>),
    Map(BTreeMap<String, Value>),
    /// Anything else (negative or fractional numbers, null, undefined, nested maps with non-text
    /// keys …): kept only so that unknown keys can be ignored.
    Opaque,
}

/// Nesting deeper than this is refused (messages nest three levels at most).
const MAX_DEPTH: u32 = 8;

fn read_value(d: &mut Decoder<'_>, depth: u32) -> Result<Value, WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::Malformed("nesting too deep".into()));
    }
    let ty = d.datatype().map_err(malformed)?;
    Ok(match ty {
        Type::Tag => {
            d.tag().map_err(malformed)?;
            return read_value(d, depth + 1);
        }
        Type::String | Type::StringIndef => {
            let mut s = String::new();
            for part in d.str_iter().map_err(malformed)? {
                s.push_str(part.map_err(malformed)?);
                if s.len() > MAX_TEXT_BYTES {
                    return Err(WireError::Malformed("text value too long".into()));
                }
            }
            Value::Text(s)
        }
        Type::Bytes | Type::BytesIndef => {
            let mut b = Vec::new();
            for part in d.bytes_iter().map_err(malformed)? {
                b.extend_from_slice(part.map_err(malformed)?);
            }
            Value::Bytes(b)
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Value::Uint(d.u64().map_err(malformed)?),
        Type::F16 | Type::F32 | Type::F64 => {
            let f = d.f64().map_err(malformed)?;
            // JavaScript encoders may send whole numbers as floats.
            if f >= 0.0 && f.fract() == 0.0 && f < 9_007_199_254_740_992.0 {
                Value::Uint(f as u64)
            } else {
                Value::Opaque
            }
        }
        Type::Bool => Value::Bool(d.bool().map_err(malformed)?),
        Type::Array | Type::ArrayIndef => {
            let len = d.array().map_err(malformed)?;
            let mut items = Vec::new();
            for_each_item(d, len, "array", |d| {
                items.push(read_value(d, depth + 1)?);
                Ok(())
            })?;
            Value::Array(items)
        }
        Type::Map | Type::MapIndef => Value::Map(read_map(d, depth + 1)?),
        Type::Break => return Err(WireError::Malformed("unexpected break".into())),
        _ => {
            d.skip().map_err(malformed)?;
            Value::Opaque
        }
    })
}

/// Calls `item` once per entry of a container whose header said `len` entries (`None`:
/// indefinite, ended by a break), refusing more than [`MAX_ITEMS`].
fn for_each_item<'b>(
    d: &mut Decoder<'b>,
    len: Option<u64>,
    what: &str,
    mut item: impl FnMut(&mut Decoder<'b>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let mut n = 0u64;
    loop {
        match len {
            Some(l) if n == l => return Ok(()),
            None if d.datatype().map_err(malformed)? == Type::Break => {
                d.skip().map_err(malformed)?;
                return Ok(());
            }
            _ => {}
        }
        n += 1;
        if n > MAX_ITEMS {
            return Err(WireError::Malformed(format!("{what} too long")));
        }
        item(d)?;
    }
}

fn read_map(d: &mut Decoder<'_>, depth: u32) -> Result<BTreeMap<String, Value>, WireError> {
    let len = d.map().map_err(malformed)?;
    let mut map = BTreeMap::new();
    for_each_item(d, len, "map", |d| {
        let key = match read_value(d, depth)? {
            Value::Text(k) => Some(k),
            _ => None,
        };
        let value = read_value(d, depth)?;
        match key {
            Some(key) if map.contains_key(&key) => Err(WireError::DuplicateKey(key)),
            Some(key) => {
                map.insert(key, value);
                Ok(())
            }
            None => Ok(()),
        }
    })?;
    Ok(map)
}

struct Fields {
    message_type: String,
    map: BTreeMap<String, Value>,
}

impl Fields {
    fn take(&mut self, key: &'static str) -> Result<Value, WireError> {
        self.map
            .remove(key)
            .ok_or_else(|| WireError::Missing { message_type: self.message_type.clone(), key })
    }

    fn text(&mut self, key: &'static str) -> Result<String, WireError> {
        match self.take(key)? {
            Value::Text(s) => Ok(s),
            _ => Err(WireError::BadValue { key: key.into() }),
        }
    }

    fn bytes(&mut self, key: &'static str) -> Result<Vec<u8>, WireError> {
        match self.take(key)? {
            Value::Bytes(b) => Ok(b),
            _ => Err(WireError::BadValue { key: key.into() }),
        }
    }

    fn uint(&mut self, key: &'static str) -> Result<u64, WireError> {
        match self.take(key)? {
            Value::Uint(u) => Ok(u),
            _ => Err(WireError::BadValue { key: key.into() }),
        }
    }

    fn texts(&mut self, key: &'static str) -> Result<Vec<String>, WireError> {
        match self.take(key)? {
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::Text(s) => Ok(s),
                    _ => Err(WireError::BadValue { key: key.into() }),
                })
                .collect(),
            // The README of automerge-repo once showed a single string here.
            Value::Text(s) => Ok(vec![s]),
            _ => Err(WireError::BadValue { key: key.into() }),
        }
    }

    fn metadata(&mut self) -> Result<Option<PeerMetadata>, WireError> {
        let value = self.map.remove("peerMetadata").or_else(|| self.map.remove("metadata"));
        match value {
            None | Some(Value::Opaque) => Ok(None),
            Some(Value::Map(mut m)) => {
                let storage_id = match m.remove("storageId") {
                    None | Some(Value::Opaque) => None,
                    Some(Value::Text(s)) => Some(s),
                    Some(_) => return Err(WireError::BadValue { key: "peerMetadata.storageId".into() }),
                };
                let is_ephemeral = matches!(m.remove("isEphemeral"), Some(Value::Bool(true)));
                Ok(Some(PeerMetadata { storage_id, is_ephemeral }))
            }
            Some(_) => Err(WireError::BadValue { key: "peerMetadata".into() }),
        }
    }
}

/// The HTTP batch form of a sync exchange (`POST /api/sync/batch`, protocol.md §8): the device's
/// Automerge sync messages for one document, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRequest {
    /// base58check document id.
    pub document_id: String,
    /// The device's storage id, to resume its sync state; `None` starts afresh.
    pub storage_id: Option<String>,
    /// Automerge sync messages.
    pub messages: Vec<Vec<u8>>,
}

/// The server's answer to a [`BatchRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResponse {
    /// The server's Automerge sync messages (zero or one per round).
    pub messages: Vec<Vec<u8>>,
    /// The refusal, when the batch was refused (a [`WireMessage::Refused`]).
    pub refused: Option<WireMessage>,
}

fn read_top_map(body: &[u8]) -> Result<BTreeMap<String, Value>, WireError> {
    if body.len() > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge(body.len()));
    }
    let mut d = Decoder::new(body);
    if !matches!(d.datatype().map_err(malformed)?, Type::Map | Type::MapIndef) {
        return Err(WireError::NotAMessage);
    }
    let map = read_map(&mut d, 1)?;
    if d.position() != body.len() {
        return Err(WireError::Malformed("trailing bytes after the message".into()));
    }
    Ok(map)
}

fn byte_list(f: &mut Fields, key: &'static str) -> Result<Vec<Vec<u8>>, WireError> {
    match f.take(key)? {
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Bytes(b) => Ok(b),
                _ => Err(WireError::BadValue { key: key.into() }),
            })
            .collect(),
        _ => Err(WireError::BadValue { key: key.into() }),
    }
}

impl BatchRequest {
    /// Decodes a request body.
    pub fn decode(body: &[u8]) -> Result<BatchRequest, WireError> {
        let mut f = Fields { message_type: "batch".into(), map: read_top_map(body)? };
        let storage_id = match f.map.remove("storageId") {
            None | Some(Value::Opaque) => None,
            Some(Value::Text(s)) => Some(s),
            Some(_) => return Err(WireError::BadValue { key: "storageId".into() }),
        };
        Ok(BatchRequest {
            document_id: f.text("documentId")?,
            storage_id,
            messages: byte_list(&mut f, "messages")?,
        })
    }

    /// Encodes a request body.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        let _ = (|| -> EncResult {
            e.map(2 + u64::from(self.storage_id.is_some()))?;
            e.str("documentId")?.str(&self.document_id)?;
            if let Some(s) = &self.storage_id {
                e.str("storageId")?.str(s)?;
            }
            e.str("messages")?.array(self.messages.len() as u64)?;
            for m in &self.messages {
                e.bytes(m)?;
            }
            Ok(())
        })();
        e.into_writer()
    }
}

impl BatchResponse {
    /// Decodes a response body.
    pub fn decode(body: &[u8]) -> Result<BatchResponse, WireError> {
        let mut f = Fields { message_type: "batch".into(), map: read_top_map(body)? };
        let messages = byte_list(&mut f, "messages")?;
        let refused = match f.map.remove("refused") {
            None | Some(Value::Opaque) => None,
            Some(Value::Bytes(b)) => match decode(&b)? {
                m @ WireMessage::Refused { .. } => Some(m),
                _ => return Err(WireError::BadValue { key: "refused".into() }),
            },
            Some(_) => return Err(WireError::BadValue { key: "refused".into() }),
        };
        Ok(BatchResponse { messages, refused })
    }

    /// Encodes a response body; the refusal travels as an embedded `baoming-refused` frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        let _ = (|| -> EncResult {
            e.map(1 + u64::from(self.refused.is_some()))?;
            e.str("messages")?.array(self.messages.len() as u64)?;
            for m in &self.messages {
                e.bytes(m)?;
            }
            if let Some(r) = &self.refused {
                e.str("refused")?.bytes(&encode(r))?;
            }
            Ok(())
        })();
        e.into_writer()
    }
}

/// Decodes one frame.
pub fn decode(frame: &[u8]) -> Result<WireMessage, WireError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge(frame.len()));
    }
    let mut d = Decoder::new(frame);
    if !matches!(d.datatype().map_err(malformed)?, Type::Map | Type::MapIndef) {
        return Err(WireError::NotAMessage);
    }
    let map = read_map(&mut d, 1)?;
    if d.position() != frame.len() {
        return Err(WireError::Malformed("trailing bytes after the message".into()));
    }
    let message_type = match map.get("type") {
        Some(Value::Text(t)) => t.clone(),
        _ => return Err(WireError::NotAMessage),
    };
    let mut f = Fields { message_type: message_type.clone(), map };
    Ok(match message_type.as_str() {
        "join" => WireMessage::Join {
            sender_id: f.text("senderId")?,
            supported_protocol_versions: f.texts("supportedProtocolVersions")?,
            peer_metadata: f.metadata()?,
        },
        "peer" => WireMessage::Peer {
            sender_id: f.text("senderId")?,
            target_id: f.text("targetId")?,
            selected_protocol_version: f.text("selectedProtocolVersion")?,
            peer_metadata: f.metadata()?,
        },
        "leave" => WireMessage::Leave { sender_id: f.text("senderId")? },
        "request" | "sync" => {
            let sender_id = f.text("senderId")?;
            let target_id = f.text("targetId")?;
            let document_id = f.text("documentId")?;
            let data = f.bytes("data")?;
            if message_type == "request" {
                WireMessage::Request { sender_id, target_id, document_id, data }
            } else {
                WireMessage::Sync { sender_id, target_id, document_id, data }
            }
        }
        "doc-unavailable" => WireMessage::DocUnavailable {
            sender_id: f.text("senderId")?,
            target_id: f.text("targetId")?,
            document_id: f.text("documentId")?,
        },
        "ephemeral" => WireMessage::Ephemeral {
            sender_id: f.text("senderId")?,
            target_id: f.text("targetId")?,
            count: f.uint("count")?,
            session_id: f.text("sessionId")?,
            document_id: f.text("documentId")?,
            data: f.bytes("data")?,
        },
        "error" => WireMessage::Error { message: f.text("message")? },
        "baoming-refused" => {
            let refused = match f.take("refused")? {
                Value::Array(items) => items
                    .into_iter()
                    .map(|item| match item {
                        Value::Map(mut m) => match (m.remove("path"), m.remove("reason")) {
                            (Some(Value::Text(path)), Some(Value::Text(reason))) => {
                                Ok(RefusedItem { path, reason })
                            }
                            _ => Err(WireError::BadValue { key: "refused".into() }),
                        },
                        _ => Err(WireError::BadValue { key: "refused".into() }),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(WireError::BadValue { key: "refused".into() }),
            };
            WireMessage::Refused {
                sender_id: f.text("senderId")?,
                target_id: f.text("targetId")?,
                document_id: f.text("documentId")?,
                status: f.text("status")?,
                refused,
                heads: f.texts("heads")?,
            }
        }
        _ => WireMessage::Other { message_type },
    })
}

/// Encodes one message as minimal, definite-length CBOR.
pub fn encode(message: &WireMessage) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = write(&mut e, message);
    e.into_writer()
}

type EncResult = Result<(), minicbor::encode::Error<std::convert::Infallible>>;

fn write(e: &mut Encoder<Vec<u8>>, message: &WireMessage) -> EncResult {
    fn metadata(e: &mut Encoder<Vec<u8>>, m: &PeerMetadata) -> EncResult {
        e.str("peerMetadata")?;
        e.map(if m.storage_id.is_some() { 2 } else { 1 })?;
        if let Some(s) = &m.storage_id {
            e.str("storageId")?.str(s)?;
        }
        e.str("isEphemeral")?.bool(m.is_ephemeral)?;
        Ok(())
    }
    match message {
        WireMessage::Join { sender_id, supported_protocol_versions, peer_metadata } => {
            e.map(3 + u64::from(peer_metadata.is_some()))?;
            e.str("type")?.str("join")?;
            e.str("senderId")?.str(sender_id)?;
            e.str("supportedProtocolVersions")?.array(supported_protocol_versions.len() as u64)?;
            for v in supported_protocol_versions {
                e.str(v)?;
            }
            if let Some(m) = peer_metadata {
                metadata(e, m)?;
            }
        }
        WireMessage::Peer { sender_id, target_id, selected_protocol_version, peer_metadata } => {
            e.map(4 + u64::from(peer_metadata.is_some()))?;
            e.str("type")?.str("peer")?;
            e.str("senderId")?.str(sender_id)?;
            e.str("targetId")?.str(target_id)?;
            e.str("selectedProtocolVersion")?.str(selected_protocol_version)?;
            if let Some(m) = peer_metadata {
                metadata(e, m)?;
            }
        }
        WireMessage::Leave { sender_id } => {
            e.map(2)?.str("type")?.str("leave")?.str("senderId")?.str(sender_id)?;
        }
        WireMessage::Request { sender_id, target_id, document_id, data }
        | WireMessage::Sync { sender_id, target_id, document_id, data } => {
            let t = if matches!(message, WireMessage::Request { .. }) { "request" } else { "sync" };
            e.map(5)?.str("type")?.str(t)?;
            e.str("senderId")?.str(sender_id)?;
            e.str("targetId")?.str(target_id)?;
            e.str("documentId")?.str(document_id)?;
            e.str("data")?.bytes(data)?;
        }
        WireMessage::DocUnavailable { sender_id, target_id, document_id } => {
            e.map(4)?.str("type")?.str("doc-unavailable")?;
            e.str("senderId")?.str(sender_id)?;
            e.str("targetId")?.str(target_id)?;
            e.str("documentId")?.str(document_id)?;
        }
        WireMessage::Ephemeral { sender_id, target_id, count, session_id, document_id, data } => {
            e.map(7)?.str("type")?.str("ephemeral")?;
            e.str("senderId")?.str(sender_id)?;
            e.str("targetId")?.str(target_id)?;
            e.str("count")?.u64(*count)?;
            e.str("sessionId")?.str(session_id)?;
            e.str("documentId")?.str(document_id)?;
            e.str("data")?.bytes(data)?;
        }
        WireMessage::Error { message } => {
            e.map(2)?.str("type")?.str("error")?.str("message")?.str(message)?;
        }
        WireMessage::Refused { sender_id, target_id, document_id, status, refused, heads } => {
            e.map(7)?.str("type")?.str("baoming-refused")?;
            e.str("senderId")?.str(sender_id)?;
            e.str("targetId")?.str(target_id)?;
            e.str("documentId")?.str(document_id)?;
            e.str("status")?.str(status)?;
            e.str("refused")?.array(refused.len() as u64)?;
            for r in refused {
                e.map(2)?.str("path")?.str(&r.path)?.str("reason")?.str(&r.reason)?;
            }
            e.str("heads")?.array(heads.len() as u64)?;
            for h in heads {
                e.str(h)?;
            }
        }
        WireMessage::Other { message_type } => {
            e.map(1)?.str("type")?.str(message_type)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
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
            e.str("supportedProtocolVersions")
                .and_then(|e| e.array(1))
                .and_then(|e| e.str("1"))
                .expect("enc");
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
                        is_ephemeral: false
                    }),
                }
            );
        }
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
            proptest::option::of((proptest::option::of(text()), any::<bool>()))
                .prop_map(|m| m.map(|(storage_id, is_ephemeral)| PeerMetadata { storage_id, is_ephemeral }))
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
}
