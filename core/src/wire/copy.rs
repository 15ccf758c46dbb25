//! The server's copy of a document (`GET /api/sync/documents/{documentId}`, protocol.md §8.3):
//! what a client that cannot read `baoming-refused` needs to find out that it was refused, and
//! to start again from what the server holds.

use minicbor::Encoder;

use super::batch::read_top_map;
use super::value::*;
use super::*;

/// Largest copy [`DocumentCopy::decode`] reads: a registration document is a few KB, and the
/// server caps one at 200 000 operations.
pub const MAX_COPY_BYTES: usize = 16 << 20;

/// One refusal the server remembers for a document (the document's refused-change memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalRecord {
    /// Hex hashes of refused changes: a replica that holds any of them holds refused changes,
    /// and every change it builds on them will be refused too.
    pub changes: Vec<String>,
    /// The status the changes were checked against.
    pub status: String,
    /// The refused paths and reasons, as in `baoming-refused` (at most 16, and a `*` path
    /// standing for any left out).
    pub refused: Vec<RefusedItem>,
}

/// The server's copy of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentCopy {
    /// base58check document id.
    pub document_id: String,
    /// The registration's status now.
    pub status: String,
    /// The server's heads (hex).
    pub heads: Vec<String>,
    /// The refusals the server remembers, least recently seen first.
    pub refused: Vec<RefusalRecord>,
    /// The whole document, in Automerge's storage format (what `Automerge.save` writes).
    pub document: Vec<u8>,
}

fn text_list(value: Value, key: &'static str) -> Result<Vec<String>, WireError> {
    let bad = || WireError::BadValue { key: key.into() };
    let Value::Array(items) = value else { return Err(bad()) };
    items
        .into_iter()
        .map(|v| match v {
            Value::Text(s) => Ok(s),
            _ => Err(bad()),
        })
        .collect()
}

fn record(value: Value) -> Result<RefusalRecord, WireError> {
    let Value::Map(map) = value else { return Err(WireError::BadValue { key: "refused".into() }) };
    let mut f = Fields { message_type: "refusal record".into(), map };
    Ok(RefusalRecord {
        changes: text_list(f.take("changes")?, "changes")?,
        status: f.text("status")?,
        refused: super::frame::refused_items(f.take("refused")?)?,
    })
}

impl DocumentCopy {
    /// Decodes an answer body (at most [`MAX_COPY_BYTES`]).
    pub fn decode(body: &[u8]) -> Result<DocumentCopy, WireError> {
        let mut f = Fields { message_type: "copy".into(), map: read_top_map(body, MAX_COPY_BYTES)? };
        let Value::Array(records) = f.take("refused")? else {
            return Err(WireError::BadValue { key: "refused".into() });
        };
        Ok(DocumentCopy {
            document_id: f.text("documentId")?,
            status: f.text("status")?,
            heads: text_list(f.take("heads")?, "heads")?,
            refused: records.into_iter().map(record).collect::<Result<_, _>>()?,
            document: f.bytes("document")?,
        })
    }

    /// Encodes an answer body as minimal, definite-length CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        let _ = (|| -> EncResult {
            e.map(5)?;
            e.str("documentId")?.str(&self.document_id)?;
            e.str("status")?.str(&self.status)?;
            e.str("heads")?.array(self.heads.len() as u64)?;
            for h in &self.heads {
                e.str(h)?;
            }
            e.str("refused")?.array(self.refused.len() as u64)?;
            for r in &self.refused {
                e.map(3)?.str("changes")?.array(r.changes.len() as u64)?;
                for h in &r.changes {
                    e.str(h)?;
                }
                e.str("status")?.str(&r.status)?;
                e.str("refused")?.array(r.refused.len() as u64)?;
                for item in &r.refused {
                    e.map(2)?.str("path")?.str(&item.path)?.str("reason")?.str(&item.reason)?;
                }
            }
            e.str("document")?.bytes(&self.document)?;
            Ok(())
        })();
        e.into_writer()
    }
}
