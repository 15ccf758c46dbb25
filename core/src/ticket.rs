//! Admission ticket payloads, signed by the exam with Ed25519 and verifiable offline.
//!
//! The QR code on an admission ticket carries `BMT1:` followed by the base45 (RFC 9285) encoding
//! of a compact CBOR payload and its 64-byte Ed25519 signature. Base45 keeps the code in QR's
//! alphanumeric mode, which is denser than byte mode. Staff devices verify it with the exam's
//! public key from the catalog, without a network.
//!
//! Payload (CBOR array): `[1, exam, ticket_number, name, id_masked, center,
//! [[subject, slot, room, seat], …], issued_at_ms]`; the signature covers exactly those bytes.

use minicbor::{Decoder, Encoder};

use crate::id_document::MaskedId;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// Prefix of every encoded ticket.
pub const TICKET_PREFIX: &str = "BMT1:";
const PAYLOAD_VERSION: u8 = 1;
const SIGNATURE_LEN: usize = 64;
/// Largest encoded ticket accepted (a QR code holds at most 4 296 alphanumeric characters).
const MAX_ENCODED: usize = 4296;

/// One sitting on a ticket: where and when the candidate sits one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sitting {
    /// Subject code.
    pub subject: String,
    /// Time slot id.
    pub slot: String,
    /// Room.
    pub room: String,
    /// Seat number in the room.
    pub seat: u16,
}

/// What an admission ticket's QR code asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketPayload {
    /// Exam session id.
    pub exam: String,
    /// Ticket number.
    pub ticket_number: String,
    /// Candidate's legal name.
    pub name: String,
    /// Candidate's ID number, masked by the one rule, [`crate::id_document::mask`].
    pub id_masked: MaskedId,
    /// Test center id.
    pub center: String,
    /// The sittings.
    pub sittings: Vec<Sitting>,
    /// When the ticket was issued (Unix milliseconds).
    pub issued_at_ms: i64,
}

/// Why a ticket does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Not a Baoming ticket (prefix, characters or length).
    #[error("not a Baoming admission ticket code")]
    Format,
    /// The signature does not match the exam's key: forged, altered or signed by another key.
    #[error("the ticket's signature is not valid for this exam")]
    Signature,
    /// Signed correctly but the payload is not readable (unknown version).
    #[error("unsupported ticket payload")]
    Payload,
    /// The public key is not a 32-byte Ed25519 key.
    #[error("not an Ed25519 public key")]
    PublicKey,
}

impl TicketError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            TicketError::Format => "ticket_format",
            TicketError::Signature => "ticket_signature",
            TicketError::Payload => "ticket_payload",
            TicketError::PublicKey => "ticket_public_key",
        }
    }
}

fn encode_payload(p: &TicketPayload) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    let result: Result<(), minicbor::encode::Error<std::convert::Infallible>> = (|| {
        e.array(8)?.u8(PAYLOAD_VERSION)?;
        e.str(&p.exam)?.str(&p.ticket_number)?.str(&p.name)?.str(p.id_masked.as_str())?.str(&p.center)?;
        e.array(p.sittings.len() as u64)?;
        for s in &p.sittings {
            e.array(4)?.str(&s.subject)?.str(&s.slot)?.str(&s.room)?.u16(s.seat)?;
        }
        e.i64(p.issued_at_ms)?;
        Ok(())
    })();
    // Writing into a Vec cannot fail.
    debug_assert!(result.is_ok());
    e.into_writer()
}

fn decode_payload(bytes: &[u8]) -> Option<TicketPayload> {
    let mut d = Decoder::new(bytes);
    if d.array().ok()? != Some(8) || d.u8().ok()? != PAYLOAD_VERSION {
        return None;
    }
    let mut text = || d.str().ok().map(str::to_owned);
    let (exam, ticket_number, name, id_masked, center) = (text()?, text()?, text()?, text()?, text()?);
    let n = d.array().ok()??;
    if n > 16 {
        return None;
    }
    let mut sittings = Vec::new();
    for _ in 0..n {
        if d.array().ok()? != Some(4) {
            return None;
        }
        sittings.push(Sitting {
            subject: d.str().ok()?.to_owned(),
            slot: d.str().ok()?.to_owned(),
            room: d.str().ok()?.to_owned(),
            seat: d.u16().ok()?,
        });
    }
    let issued_at_ms = d.i64().ok()?;
    (d.position() == bytes.len()).then_some(TicketPayload {
        exam,
        ticket_number,
        name,
        id_masked: MaskedId::from_signed(id_masked),
        center,
        sittings,
        issued_at_ms,
    })
}

/// Signs `payload` with the exam's key and returns the text for the QR code.
pub fn sign_ticket(payload: &TicketPayload, exam_key: &Ed25519KeyPair) -> String {
    let mut bytes = encode_payload(payload);
    let signature = exam_key.sign(&bytes);
    bytes.extend_from_slice(signature.as_ref());
    format!("{TICKET_PREFIX}{}", base45_encode(&bytes))
}

/// The exam's public key for `exam_key`, as stored in the catalog.
pub fn public_key(exam_key: &Ed25519KeyPair) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(exam_key.public_key().as_ref());
    key
}

/// Verifies a scanned ticket code offline against the exam's public key.
pub fn verify_ticket(code: &str, exam_public_key: &[u8]) -> Result<TicketPayload, TicketError> {
    if exam_public_key.len() != 32 {
        return Err(TicketError::PublicKey);
    }
    if code.len() > MAX_ENCODED {
        return Err(TicketError::Format);
    }
    let body = code.trim().strip_prefix(TICKET_PREFIX).ok_or(TicketError::Format)?;
    let bytes = base45_decode(body).ok_or(TicketError::Format)?;
    if bytes.len() <= SIGNATURE_LEN {
        return Err(TicketError::Format);
    }
    let (payload, signature) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
    UnparsedPublicKey::new(&ED25519, exam_public_key)
        .verify(payload, signature)
        .map_err(|_| TicketError::Signature)?;
    decode_payload(payload).ok_or(TicketError::Payload)
}

const BASE45: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Base45 (RFC 9285) encoding.
pub fn base45_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3 / 2 + 2);
    for pair in bytes.chunks(2) {
        let (mut n, digits) = match pair {
            [a, b] => (usize::from(*a) * 256 + usize::from(*b), 3),
            [a] => (usize::from(*a), 2),
            _ => continue,
        };
        for _ in 0..digits {
            out.push(char::from(BASE45[n % 45]));
            n /= 45;
        }
    }
    out
}

/// Base45 (RFC 9285) decoding; `None` for characters outside the alphabet, a dangling
/// character, or a group whose value does not fit.
pub fn base45_decode(text: &str) -> Option<Vec<u8>> {
    let values: Vec<usize> =
        text.bytes().map(|c| BASE45.iter().position(|&b| b == c)).collect::<Option<_>>()?;
    let mut out = Vec::with_capacity(values.len() * 2 / 3 + 1);
    for group in values.chunks(3) {
        match *group {
            [c, d, e] => {
                let n = c + d * 45 + e * 45 * 45;
                if n > 0xffff {
                    return None;
                }
                out.extend_from_slice(&[(n >> 8) as u8, (n & 0xff) as u8]);
            }
            [c, d] => {
                let n = c + d * 45;
                if n > 0xff {
                    return None;
                }
                out.push(n as u8);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id_document::{IdKind, mask};
    use proptest::prelude::*;
    use ring::rand::SystemRandom;

    fn key() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("key");
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key")
    }

    fn payload() -> TicketPayload {
        TicketPayload {
            exam: "ncre-2027-03".into(),
            ticket_number: "270311010100101".into(),
            name: "王䶮𠮷".into(),
            id_masked: mask(IdKind::ResidentId, "11010519491231002X"),
            center: "bj-haidian".into(),
            sittings: vec![
                Sitting { subject: "15".into(), slot: "sat-am".into(), room: "A101".into(), seat: 7 },
                Sitting { subject: "66".into(), slot: "sun-am".into(), room: "B203".into(), seat: 30 },
            ],
            issued_at_ms: 1_800_000_000_000,
        }
    }

    #[test]
    fn rfc_9285_examples() {
        assert_eq!(base45_encode(b"AB"), "BB8");
        assert_eq!(base45_encode(b"Hello!!"), "%69 VD92EX0");
        assert_eq!(base45_encode(b"base-45"), "UJCLQE7W581");
        assert_eq!(base45_decode("QED8WEX0").as_deref(), Some(&b"ietf!"[..]));
        assert_eq!(base45_decode("GGW"), None, "65535 + 1 does not fit two bytes");
        assert_eq!(base45_decode("a"), None);
        assert_eq!(base45_decode("ZZZZ"), None, "a dangling character");
    }

    #[test]
    fn a_signed_ticket_verifies_offline() {
        let key = key();
        let code = sign_ticket(&payload(), &key);
        assert!(code.starts_with(TICKET_PREFIX));
        assert!(code[TICKET_PREFIX.len()..].bytes().all(|b| BASE45.contains(&b)), "QR alphanumeric");
        assert!(code.len() < 400, "fits a small QR code ({} chars)", code.len());
        let verified = verify_ticket(&code, &public_key(&key));
        assert_eq!(verified, Ok(payload()));
        assert_eq!(verified.map(|p| p.id_masked.to_string()).as_deref(), Ok("110105********002X"));
    }

    #[test]
    fn tampered_resigned_and_garbage_codes_are_refused() {
        let key = key();
        let code = sign_ticket(&payload(), &key);
        // Change the seat: flip one character of the body.
        let mut bytes = base45_decode(&code[TICKET_PREFIX.len()..]).expect("decode");
        let seat_at = bytes.len() - SIGNATURE_LEN - 12;
        bytes[seat_at] ^= 1;
        let tampered = format!("{TICKET_PREFIX}{}", base45_encode(&bytes));
        assert_eq!(verify_ticket(&tampered, &public_key(&key)), Err(TicketError::Signature));
        // Re-signed by someone else's key.
        let forged = sign_ticket(&payload(), &self::key());
        assert_eq!(verify_ticket(&forged, &public_key(&key)), Err(TicketError::Signature));
        // Not a ticket at all.
        assert_eq!(verify_ticket("https://example.cn", &public_key(&key)), Err(TicketError::Format));
        assert_eq!(verify_ticket("BMT1:abc", &public_key(&key)), Err(TicketError::Format));
        assert_eq!(verify_ticket("BMT1:", &public_key(&key)), Err(TicketError::Format));
        assert_eq!(verify_ticket(&code, &[0u8; 31]), Err(TicketError::PublicKey));
    }

    proptest! {
        #[test]
        fn base45_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(base45_decode(&base45_encode(&bytes)), Some(bytes));
        }

        #[test]
        fn verify_never_panics(text in "BMT1:[0-9A-Z $%*+./:-]{0,300}") {
            let _ = verify_ticket(&text, &[7u8; 32]);
        }
    }
}
