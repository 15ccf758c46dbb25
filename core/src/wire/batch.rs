//! The HTTP batch form of a sync exchange: the request and response bodies.

use std::collections::BTreeMap;

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

use super::value::*;
use super::*;

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

/// The top-level map of a body of at most `limit` bytes, with nothing after it.
pub(super) fn read_top_map(body: &[u8], limit: usize) -> Result<BTreeMap<String, Value>, WireError> {
    if body.len() > limit {
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
        let mut f = Fields { message_type: "batch".into(), map: read_top_map(body, MAX_FRAME_BYTES)? };
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
        let mut f = Fields { message_type: "batch".into(), map: read_top_map(body, MAX_FRAME_BYTES)? };
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
