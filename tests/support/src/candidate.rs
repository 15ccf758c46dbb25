//! A candidate's device: a complete draft, the prepared photo, the device client and the
//! submission.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use baoming_client::{ClientConfig, SyncClient};
use baoming_core::api::paths;
use baoming_core::api::registrations::{CandidateAction, SubmitRequest};
use baoming_core::catalog::ExamSession;
use baoming_core::document::{DocError, DocumentId, RegistrationDoc};
use baoming_core::form::encode_id_document;
use baoming_core::id_document::{IdDocument, IdKind};
use baoming_core::sync::PeerSync;
use baoming_core::wire::{BatchRequest, BatchResponse};

use crate::fixtures::{DEMO_EXAM, register_candidate, resident_id};
use crate::http::{self, Response};

/// How long a device's sync may take in the tests.
pub const SYNC: Duration = Duration::from_secs(30);

/// The core's sample portrait, as shipped.
pub const SAMPLE_PHOTO: &[u8] = include_bytes!("../../../core/assets/samples/photo.jpg");

/// The sample portrait prepared with the demo exam's rules: (JPEG, width, height), made once
/// per test binary.
pub fn prepared_photo() -> (Vec<u8>, u32, u32) {
    static PHOTO: OnceLock<(Vec<u8>, u32, u32)> = OnceLock::new();
    PHOTO
        .get_or_init(|| {
            let catalog = baoming_core::Catalog::demo();
            let rules = &catalog.exam(DEMO_EXAM).expect("exam").photo;
            let p = baoming_core::photo::prepare(SAMPLE_PHOTO, rules).expect("prepare");
            (p.jpeg, p.report.width.expect("w"), p.report.height.expect("h"))
        })
        .clone()
}

/// A client on a new store folder in `store`, signed in with `token`, the demo exam's
/// registration open.
pub fn device_client(addr: SocketAddr, store: &std::path::Path, account_id: &str, token: &str) -> SyncClient {
    let mut config = ClientConfig::new(store, &format!("http://{addr}"), account_id);
    config.connect_timeout = Duration::from_secs(10);
    let client = SyncClient::open(config, token).expect("client");
    client.open_registration(DEMO_EXAM).expect("registration");
    client
}

/// A candidate's device: the account, its session and a client on its own store folder.
pub struct CandidateDevice {
    /// The account.
    pub account_id: String,
    /// The session's bearer token.
    pub token: String,
    /// The device client.
    pub client: SyncClient,
    /// The client's store folder.
    pub store: tempfile::TempDir,
}

impl std::fmt::Debug for CandidateDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandidateDevice").field("account_id", &self.account_id).finish_non_exhaustive()
    }
}

impl CandidateDevice {
    /// Registers candidate `login` and fills, on a new device, a draft complete for `center`
    /// and `subjects` (candidate number `n`, see [`fill_complete_draft`]), synced.
    pub async fn with_complete_draft(
        addr: SocketAddr,
        login: &str,
        n: u32,
        center: &str,
        subjects: &[&str],
    ) -> CandidateDevice {
        let (account_id, token) = register_candidate(addr, login);
        let store = tempfile::tempdir().expect("tempdir");
        let client = device_client(addr, store.path(), &account_id, &token);
        fill_complete_draft(&client, n, "张三丰", center, subjects);
        client.sync_batch(SYNC).await.expect("sync");
        CandidateDevice { account_id, token, client, store }
    }

    /// The registration's document id.
    pub fn document_id(&self) -> DocumentId {
        DocumentId::derive(DEMO_EXAM, &self.account_id)
    }

    /// The device's heads, as the submit endpoint takes them.
    pub fn heads(&self) -> Vec<String> {
        self.client
            .edit(DEMO_EXAM, |d| Ok(d.heads()))
            .expect("heads")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Submits the device's current heads with Idempotency-Key `key`; the server's answer.
    pub fn submit(&self, addr: SocketAddr, key: &str) -> Response {
        let path = paths::registration_action(DEMO_EXAM, CandidateAction::Submit);
        http::post(addr, &path)
            .token(&self.token)
            .key(key)
            .json(&SubmitRequest { heads: self.heads() })
            .send()
    }
}

/// Fills `client`'s draft of the demo exam, offline, so that the server accepts it for
/// submission: candidate `n` (the resident ID number and the gender follow from it) named
/// `name`, at `center` for `subjects`, declared, with the prepared photo attached (it uploads on
/// the next sync). Returns the resident ID number.
pub fn fill_complete_draft(
    client: &SyncClient,
    n: u32,
    name: &str,
    center: &str,
    subjects: &[&str],
) -> String {
    let catalog = baoming_core::Catalog::demo();
    let exam = catalog.exam(DEMO_EXAM).expect("exam").clone();
    // Born 1990-01-01; the sequence's last digit decides the gender (odd = male).
    let id = resident_id(&format!("11010519900101{:03}", n % 1000));
    client
        .edit(DEMO_EXAM, |d| {
            answer_form(d, &exam, name, &id)?;
            d.choose_center(&exam, center)?;
            for s in subjects {
                d.add_subject(s)?;
            }
            d.declare(2)
        })
        .expect("fill");
    let (jpeg, w, h) = prepared_photo();
    client.attach_photo(DEMO_EXAM, &jpeg, w, h).expect("photo");
    id
}

/// Accepts `exam`'s agreement and answers every field the demo exam's form requires, for a
/// candidate named `name` holding resident ID card `id_number`: the birth date and the gender
/// are the ones the number carries, the other answers are fixed.
pub fn answer_form(
    doc: &mut RegistrationDoc,
    exam: &ExamSession,
    name: &str,
    id_number: &str,
) -> Result<(), DocError> {
    let card = IdDocument::parse(IdKind::ResidentId, id_number).expect("a valid resident ID number");
    let birth_date = card.birth_date().expect("a resident ID carries the birth date").to_string();
    let gender = card.gender().expect("a resident ID carries the gender");
    doc.accept_agreement(&exam.agreement, 1)?;
    for (k, v) in [
        ("name", name),
        ("gender", gender.as_str()),
        ("birth_date", &birth_date),
        ("id_document", &encode_id_document(IdKind::ResidentId, id_number)),
        ("ethnicity", "han"),
        ("mobile", "13800138000"),
        ("education", "bachelor"),
        ("occupation", "student"),
    ] {
        doc.set_field(k, v)?;
    }
    Ok(())
}

/// Syncs a bare document (the core's document and sync engine, no device client) through the
/// HTTP batch form until neither side has anything to say; the server must refuse nothing.
pub fn batch_sync(addr: SocketAddr, token: &str, doc: &mut RegistrationDoc, id: DocumentId) {
    let mut sync = PeerSync::new();
    for round in 0.. {
        assert!(round < 20, "batch sync does not settle");
        let messages: Vec<Vec<u8>> = sync.generate(doc).into_iter().collect();
        let req = BatchRequest { document_id: id.to_string(), storage_id: None, messages: messages.clone() };
        let r = http::post(addr, paths::SYNC_BATCH)
            .token(token)
            .content_type(paths::CBOR)
            .body(req.encode())
            .send();
        r.expect(200);
        let resp = BatchResponse::decode(&r.body).expect("batch response");
        assert!(resp.refused.is_none(), "refused: {:?}", resp.refused);
        for m in &resp.messages {
            sync.receive_trusted(doc, m).expect("apply");
        }
        if messages.is_empty() && resp.messages.is_empty() {
            return;
        }
    }
}
