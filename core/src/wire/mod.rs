//! The sync wire format: one WebSocket binary frame = one CBOR map, wire-compatible with
//! automerge-repo's protocol version `"1"`, plus Baoming's refusal extension.
//!
//! Decoding is liberal in what the automerge-repo ecosystem really sends — non-minimal CBOR
//! lengths, indefinite-length strings and maps, integers encoded as floats, tagged byte strings,
//! `peerMetadata` (or the older `metadata`) in the handshake, unknown keys — and strict about
//! everything that could cost memory or be ambiguous: frame size, nesting, string and byte
//! lengths, duplicate keys and trailing bytes are all refused with a typed [`WireError`].
//! Encoding always produces minimal, definite-length CBOR. See protocol.md for the byte layout.

mod batch;
mod copy;
mod frame;
mod value;

pub use batch::{BatchRequest, BatchResponse};
pub use copy::{DocumentCopy, MAX_COPY_BYTES, RefusalRecord};
pub use frame::{decode, encode};

/// The only protocol version spoken.
pub const PROTOCOL_VERSION: &str = "1";
/// The extension a peer announces in `peerMetadata.baomingExtensions` when it reads Baoming's
/// `baoming-refused` message (protocol.md §4); only such peers are sent it.
pub const REFUSED_EXTENSION: &str = "baoming-refused";
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
    /// Baoming's extensions the peer speaks (`baomingExtensions`; empty: none, and the key is
    /// left out), e.g. [`REFUSED_EXTENSION`]. Stock automerge-repo peers send none.
    pub extensions: Vec<String>,
}

impl PeerMetadata {
    /// Whether the peer announced `extension`.
    pub fn speaks(&self, extension: &str) -> bool {
        self.extensions.iter().any(|e| e == extension)
    }
}

/// One path refused in a [`WireMessage::Refused`] message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedItem {
    /// Dotted path, e.g. `draft.fields.name`, or `*` for the whole batch.
    pub path: String,
    /// Machine-readable reason, e.g. `locked`.
    pub reason: String,
}

impl From<&crate::document::RefusedPath> for RefusedItem {
    fn from(p: &crate::document::RefusedPath) -> RefusedItem {
        RefusedItem { path: p.path.clone(), reason: p.reason.as_str().into() }
    }
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

#[cfg(test)]
mod tests;
