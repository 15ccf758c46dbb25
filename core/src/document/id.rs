//! The document id: 16 bytes derived from the exam session and the account, written as
//! base58check like automerge-repo's ids.

use std::fmt;
use std::str::FromStr;

use ring::digest;

use super::DocError;

const ID_DOMAIN: &[u8] = b"baoming/registration-document/v1";

/// The 16-byte id of a registration document.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId([u8; 16]);

impl DocumentId {
    /// Derives the id of the document of `account_id` for `exam_id`: the first 16 bytes of
    /// SHA-256 over a domain tag and the two ids, each followed by a zero byte.
    pub fn derive(exam_id: &str, account_id: &str) -> DocumentId {
        let mut ctx = digest::Context::new(&digest::SHA256);
        for part in [ID_DOMAIN, exam_id.as_bytes(), account_id.as_bytes()] {
            ctx.update(part);
            ctx.update(&[0]);
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&ctx.finish().as_ref()[..16]);
        DocumentId(id)
    }

    /// Wraps raw bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> DocumentId {
        DocumentId(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The `automerge:` URL automerge-repo uses for this document.
    pub fn url(&self) -> String {
        format!("automerge:{self}")
    }
}

/// Base58check, as automerge-repo writes document ids.
impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl FromStr for DocumentId {
    type Err = DocError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("automerge:").unwrap_or(s);
        let bytes = bs58::decode(s).with_check(None).into_vec().map_err(|_| DocError::BadDocumentId)?;
        let id: [u8; 16] = bytes.try_into().map_err(|_| DocError::BadDocumentId)?;
        Ok(DocumentId(id))
    }
}
