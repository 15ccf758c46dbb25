//! [`BaomingClient`]: opening and closing the client, the signed-in session, and the catalog
//! cached for offline use.
//!
//! The folder holds `catalog/` (the cached catalog, shared by every account) and one
//! `accounts/<account id>/` store per candidate who signed in on this device (documents, sync
//! state, photos, queued actions). Only one client may have a folder open at a time.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use baoming_client::{
    AccountApi, CachedCatalog, CatalogFetch, ClientConfig, LocalStore, RunHandle, SyncClient,
};
use baoming_core::catalog::{Catalog, ExamSession};

use crate::errors::{BaomingError, local_codes};
use crate::sync::ListenerBridge;

/// Time allowed for one HTTP request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The signed-in candidate.
pub(crate) struct Signed {
    pub(crate) account_id: String,
    pub(crate) token: String,
    pub(crate) sync: SyncClient,
    pub(crate) live: Option<RunHandle>,
}

/// The device client: one per app, opened on a folder the app owns and the server's URL.
///
/// Every method blocks until done and may be called from any thread: call it off the UI
/// thread. Call [`BaomingClient::shutdown`] when done (or free the object: Kotlin's generated
/// `close()` / `use {}`, Swift's last reference, Python's last reference), which stops the live
/// sync and releases the folder.
#[derive(uniffi::Object)]
pub struct BaomingClient {
    pub(crate) folder: PathBuf,
    pub(crate) server_url: String,
    pub(crate) api: AccountApi,
    pub(crate) runtime: tokio::runtime::Runtime,
    /// The catalog's store; `None` once closed (which releases the folder).
    pub(crate) catalog_store: Mutex<Option<LocalStore>>,
    pub(crate) session: Mutex<Option<Signed>>,
    pub(crate) listener: Mutex<Option<Arc<ListenerBridge>>>,
}

impl std::fmt::Debug for BaomingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaomingClient")
            .field("folder", &self.folder)
            .field("server", &self.server_url)
            .finish()
    }
}

/// An exam session of the cached catalog, as the app shows it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ExamInfo {
    /// Stable id, e.g. `ncre-2027-03`.
    pub id: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
    /// Registration opens (Unix milliseconds).
    pub registration_opens_ms: i64,
    /// Registration closes (Unix milliseconds).
    pub registration_closes_ms: i64,
    /// Most subjects per candidate.
    pub subject_cap: u8,
    /// Hours to pay after submission or approval.
    pub payment_window_hours: u32,
    /// The agreement's version label.
    pub agreement_version: String,
    /// The agreement's full text.
    pub agreement_text: String,
    /// The exam's announcements (the catalog's, readable offline), newest first.
    pub announcements: Vec<AnnouncementInfo>,
    /// The form, in display order.
    pub fields: Vec<FieldInfo>,
    /// The test centers.
    pub centers: Vec<CenterInfo>,
    /// The exam's 32-byte Ed25519 public key, which verifies its admission tickets offline
    /// (`verify_ticket`); empty if the server has not published one.
    pub public_key: Vec<u8>,
}

/// One field of the exam's form.
#[derive(Debug, Clone, uniffi::Record)]
pub struct FieldInfo {
    /// The key used with `set_field`.
    pub key: String,
    /// Label in Chinese.
    pub label_zh: String,
    /// Label in English.
    pub label_en: String,
    /// Whether an answer is required.
    pub required: bool,
    /// The field's type (`text`, `date`, `select`, …).
    pub kind: String,
    /// The choices of a `select` field, in the catalog's order (empty for other kinds).
    pub options: Vec<ChoiceInfo>,
}

/// One choice of a `select` field: the value `set_field` stores, and the label to show.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ChoiceInfo {
    /// The stored value (e.g. `han`).
    pub value: String,
    /// Label in Chinese (e.g. 汉族).
    pub label_zh: String,
    /// Label in English.
    pub label_en: String,
}

/// An announcement of the exam, from the catalog.
#[derive(Debug, Clone, uniffi::Record)]
pub struct AnnouncementInfo {
    /// Stable id.
    pub id: String,
    /// Title in Chinese.
    pub title_zh: String,
    /// Title in English.
    pub title_en: String,
    /// Text in Chinese.
    pub body_zh: String,
    /// Text in English.
    pub body_en: String,
    /// When it was published (Unix milliseconds).
    pub published_ms: i64,
}

/// A test center and what it offers.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CenterInfo {
    /// Stable id.
    pub id: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
    /// Whether the center reviews registrations before payment.
    pub review: bool,
    /// The subjects offered here.
    pub subjects: Vec<SubjectInfo>,
}

/// A subject as offered by a center.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SubjectInfo {
    /// Subject code.
    pub code: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
    /// The time slot id (two subjects of one slot cannot both be chosen).
    pub slot: String,
    /// Fee in fen.
    pub fee_fen: i64,
    /// Seats at this center.
    pub capacity: u32,
}

fn millis(t: baoming_core::catalog::Window) -> (i64, i64) {
    let ms = |t: time::OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    (ms(t.opens), ms(t.closes))
}

impl From<&ExamSession> for ExamInfo {
    fn from(e: &ExamSession) -> Self {
        let (opens, closes) = millis(e.registration);
        ExamInfo {
            id: e.id.clone(),
            name_zh: e.name.zh.clone(),
            name_en: e.name.en.clone(),
            registration_opens_ms: opens,
            registration_closes_ms: closes,
            subject_cap: e.subject_cap,
            payment_window_hours: e.payment_window_hours,
            agreement_version: e.agreement.version.clone(),
            agreement_text: e.agreement.text.clone(),
            announcements: {
                let mut list: Vec<AnnouncementInfo> = e
                    .announcements
                    .iter()
                    .map(|a| AnnouncementInfo {
                        id: a.id.clone(),
                        title_zh: a.title.zh.clone(),
                        title_en: a.title.en.clone(),
                        body_zh: a.body.zh.clone(),
                        body_en: a.body.en.clone(),
                        published_ms: (a.published.unix_timestamp_nanos() / 1_000_000) as i64,
                    })
                    .collect();
                list.sort_by_key(|a| std::cmp::Reverse(a.published_ms));
                list
            },
            fields: e
                .form
                .iter()
                .map(|f| FieldInfo {
                    key: f.key.clone(),
                    label_zh: f.label.zh.clone(),
                    label_en: f.label.en.clone(),
                    required: f.required,
                    kind: wire_text(&f.field_type),
                    options: f
                        .options
                        .iter()
                        .map(|o| ChoiceInfo {
                            value: o.value.clone(),
                            label_zh: o.label.zh.clone(),
                            label_en: o.label.en.clone(),
                        })
                        .collect(),
                })
                .collect(),
            centers: e
                .centers
                .iter()
                .map(|c| CenterInfo {
                    id: c.id.clone(),
                    name_zh: c.name.zh.clone(),
                    name_en: c.name.en.clone(),
                    review: c.review,
                    subjects: c
                        .subjects
                        .iter()
                        .map(|o| {
                            let s = e.subject(&o.code);
                            SubjectInfo {
                                code: o.code.clone(),
                                name_zh: s.map(|s| s.name.zh.clone()).unwrap_or_default(),
                                name_en: s.map(|s| s.name.en.clone()).unwrap_or_default(),
                                slot: s.map(|s| s.slot.clone()).unwrap_or_default(),
                                fee_fen: o.fee_fen,
                                capacity: o.capacity,
                            }
                        })
                        .collect(),
                })
                .collect(),
            public_key: e.public_key.as_deref().and_then(hex_bytes).unwrap_or_default(),
        }
    }
}

/// A value's name as it travels in JSON (`select`, `refund_due` …), for the records' text fields;
/// empty for a value that does not serialise as a string.
pub(crate) fn wire_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

/// The bytes of a hex text (`None` if it is not hex).
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[uniffi::export]
impl BaomingClient {
    /// Opens the client on `folder` (created if missing; the app's private storage) for the
    /// server at `server_url` (`https://host[:port]`). Nothing is sent yet. Fails with
    /// `InvalidInput` for a bad URL and `Storage` if the folder cannot be used.
    #[uniffi::constructor]
    pub fn open(folder: String, server_url: String) -> Result<Arc<BaomingClient>, BaomingError> {
        let folder = PathBuf::from(folder);
        let api = AccountApi::new(&server_url, REQUEST_TIMEOUT)?;
        let catalog_store = LocalStore::open(folder.join("catalog"))
            .map_err(|e| BaomingError::Storage { detail: e.to_string() })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("baoming-client")
            .enable_all()
            .build()
            .map_err(|e| BaomingError::Storage {
                detail: format!("cannot start the client's threads: {e}"),
            })?;
        Ok(Arc::new(BaomingClient {
            folder,
            server_url,
            api,
            runtime,
            catalog_store: Mutex::new(Some(catalog_store)),
            session: Mutex::new(None),
            listener: Mutex::new(None),
        }))
    }

    /// Resumes a session the app kept (account id and token from its keychain / keystore)
    /// without contacting the server. A token the server no longer accepts shows up later as
    /// `SignInRequired`.
    pub fn resume_session(&self, account_id: String, token: String) -> Result<(), BaomingError> {
        self.sign_in(account_id, token)
    }

    /// The signed-in account's id, if any.
    pub fn account_id(&self) -> Option<String> {
        self.session().as_ref().map(|s| s.account_id.clone())
    }

    /// Fetches the catalog if it changed since the cached copy (ETag) and caches it. Returns
    /// whether a new catalog was stored.
    pub fn refresh_catalog(&self) -> Result<bool, BaomingError> {
        let cached = self.with_catalog_store(|s| s.load_catalog().map_err(store))?;
        match self.api.fetch_catalog(cached.as_ref().map(|c| c.etag.as_str()))? {
            CatalogFetch::NotModified => Ok(false),
            CatalogFetch::Fresh(fresh) => {
                // Refuse to cache what cannot be read back.
                Catalog::from_json_slice(&fresh.body).map_err(|e| BaomingError::Server {
                    status: 200,
                    code: local_codes::BAD_CATALOG.into(),
                    detail: e.to_string(),
                })?;
                self.with_catalog_store(|s| s.save_catalog(&fresh).map_err(store))?;
                Ok(true)
            }
        }
    }

    /// The exam sessions of the cached catalog (offline). `NoCatalog` before the first
    /// successful `refresh_catalog`.
    pub fn exams(&self) -> Result<Vec<ExamInfo>, BaomingError> {
        Ok(self.catalog()?.exams.iter().map(ExamInfo::from).collect())
    }

    /// One exam session of the cached catalog (offline).
    pub fn exam(&self, exam_id: String) -> Result<ExamInfo, BaomingError> {
        Ok(ExamInfo::from(&self.exam_session(&exam_id)?))
    }

    /// Stops the live sync, ends the local session (the server session stays valid: use
    /// `log_out` for that) and releases the folder, so another client may open it. Every later
    /// call fails with `Closed`. Harmless to call twice.
    pub fn shutdown(&self) {
        self.end_session();
        self.catalog_store.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}

pub(crate) fn store(e: baoming_client::StoreError) -> BaomingError {
    BaomingError::Storage { detail: e.to_string() }
}

impl BaomingClient {
    /// Stops the live sync and forgets the signed-in candidate (their store is released).
    pub(crate) fn end_session(&self) {
        let signed = self.session().take();
        if let Some(Signed { live: Some(live), .. }) = signed {
            let _ = self.runtime.block_on(live.stop());
        }
    }

    /// Runs `f` with the catalog's store, unless the client is closed.
    pub(crate) fn with_catalog_store<T>(
        &self,
        f: impl FnOnce(&LocalStore) -> Result<T, BaomingError>,
    ) -> Result<T, BaomingError> {
        let guard = self.catalog_store.lock().unwrap_or_else(PoisonError::into_inner);
        f(guard.as_ref().ok_or(BaomingError::Closed)?)
    }

    pub(crate) fn session(&self) -> MutexGuard<'_, Option<Signed>> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` with the signed-in candidate's sync client.
    pub(crate) fn with_sync<T>(
        &self,
        f: impl FnOnce(&SyncClient) -> Result<T, BaomingError>,
    ) -> Result<T, BaomingError> {
        let sync = self.session().as_ref().map(|s| s.sync.clone()).ok_or(BaomingError::SignInRequired)?;
        f(&sync)
    }

    /// The token of the signed-in candidate.
    pub(crate) fn token(&self) -> Result<String, BaomingError> {
        self.session().as_ref().map(|s| s.token.clone()).ok_or(BaomingError::SignInRequired)
    }

    /// Opens (or reuses) the candidate's store and sets the session.
    pub(crate) fn sign_in(&self, account_id: String, token: String) -> Result<(), BaomingError> {
        {
            let mut session = self.session();
            if let Some(s) = session.as_mut().filter(|s| s.account_id == account_id) {
                s.sync.set_token(&token);
                s.token = token;
                return Ok(());
            }
        }
        // Another candidate (or none): end that session first, without holding the lock while
        // the live sync stops (its events may call back into the client).
        self.end_session();
        if self.catalog_store.lock().unwrap_or_else(PoisonError::into_inner).is_none() {
            return Err(BaomingError::Closed);
        }
        if account_id.is_empty() || account_id.contains(['/', '\\', '.']) {
            return Err(BaomingError::InvalidInput { detail: format!("not an account id: `{account_id}`") });
        }
        let dir = self.folder.join("accounts").join(&account_id);
        let sync = SyncClient::open(ClientConfig::new(dir, &self.server_url, &account_id), &token)?;
        if let Some(l) = self.listener.lock().unwrap_or_else(PoisonError::into_inner).clone() {
            sync.set_listener(Some(l));
        }
        *self.session() = Some(Signed { account_id, token, sync, live: None });
        Ok(())
    }

    pub(crate) fn catalog(&self) -> Result<Catalog, BaomingError> {
        let cached: CachedCatalog =
            self.with_catalog_store(|s| s.load_catalog().map_err(store))?.ok_or(BaomingError::NoCatalog)?;
        Catalog::from_json_slice(&cached.body).map_err(|e| BaomingError::Storage { detail: e.to_string() })
    }

    pub(crate) fn exam_session(&self, exam_id: &str) -> Result<ExamSession, BaomingError> {
        self.catalog()?.exam(exam_id).cloned().ok_or_else(|| BaomingError::InvalidInput {
            detail: format!("no exam `{exam_id}` in the catalog"),
        })
    }
}
