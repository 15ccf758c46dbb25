//! One frame: a message decoded from (or encoded as) one CBOR map.

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

use super::value::*;
use super::*;

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
    message(Fields { message_type: message_type.clone(), map }, message_type)
}

/// The message of type `message_type` with the fields `f`.
fn message(mut f: Fields, message_type: String) -> Result<WireMessage, WireError> {
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
            let refused = refused_items(f.take("refused")?)?;
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

/// The `refused` list of a refusal.
pub(super) fn refused_items(value: Value) -> Result<Vec<RefusedItem>, WireError> {
    let bad = || WireError::BadValue { key: "refused".into() };
    let Value::Array(items) = value else { return Err(bad()) };
    items
        .into_iter()
        .map(|item| match item {
            Value::Map(mut m) => match (m.remove("path"), m.remove("reason")) {
                (Some(Value::Text(path)), Some(Value::Text(reason))) => Ok(RefusedItem { path, reason }),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        })
        .collect()
}

/// Encodes one message as minimal, definite-length CBOR.
pub fn encode(message: &WireMessage) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = write(&mut e, message);
    e.into_writer()
}

fn metadata(e: &mut Encoder<Vec<u8>>, m: &PeerMetadata) -> EncResult {
    e.str("peerMetadata")?;
    e.map(1 + u64::from(m.storage_id.is_some()) + u64::from(!m.extensions.is_empty()))?;
    if let Some(s) = &m.storage_id {
        e.str("storageId")?.str(s)?;
    }
    e.str("isEphemeral")?.bool(m.is_ephemeral)?;
    if !m.extensions.is_empty() {
        e.str("baomingExtensions")?.array(m.extensions.len() as u64)?;
        for x in &m.extensions {
            e.str(x)?;
        }
    }
    Ok(())
}

fn write_refused(e: &mut Encoder<Vec<u8>>, refused: &[RefusedItem], heads: &[String]) -> EncResult {
    e.str("refused")?.array(refused.len() as u64)?;
    for r in refused {
        e.map(2)?.str("path")?.str(&r.path)?.str("reason")?.str(&r.reason)?;
    }
    e.str("heads")?.array(heads.len() as u64)?;
    for h in heads {
        e.str(h)?;
    }
    Ok(())
}

fn write(e: &mut Encoder<Vec<u8>>, message: &WireMessage) -> EncResult {
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
            write_refused(e, refused, heads)?;
        }
        WireMessage::Other { message_type } => {
            e.map(1)?.str("type")?.str(message_type)?;
        }
    }
    Ok(())
}
