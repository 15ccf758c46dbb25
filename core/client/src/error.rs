//! [`ClientError`], the one error type of the client's calls (each variant says what the app can
//! do), and [`DocumentRefusal`], the server's typed refusal of a document download that one of
//! its variants carries.

use baoming_core::document::DocError;

use crate::store::StoreError;

/// Errors of the device-side client. Each variant says what the app can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The local store failed (disk full, permissions, corrupt file): show it, retry later.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A document operation failed (e.g. the status locks that part of the draft).
    #[error(transparent)]
    Document(#[from] DocError),
    /// The server URL is not `http://…` or `https://…`: a configuration error.
    #[error("invalid server URL `{0}`: expected http://host[:port] or https://host[:port]")]
    InvalidUrl(String),
    /// The server could not be reached (no network, DNS, connection refused or dropped):
    /// retry later; [`SyncClient::start`](crate::SyncClient::start) does so by itself.
    #[error("the server cannot be reached: {0}")]
    Network(String),
    /// The session token was refused (HTTP 401): sign in again and call
    /// [`SyncClient::set_token`](crate::SyncClient::set_token). The background sync stops
    /// instead of retrying.
    #[error("the session token was refused: sign in again")]
    Unauthorized,
    /// The operation did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The server answered an HTTP error with its machine-readable code.
    #[error("the server answered {status} {code}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The `code` of the JSON error body (empty if there was none).
        code: String,
        /// The `message` of the JSON error body.
        message: String,
    },
    /// The server ended the sync with an `error` frame (`code: message`, protocol.md §7–§8),
    /// e.g. `rate_limited`.
    #[error("the server ended the sync: {code}: {message}")]
    Refused {
        /// Machine-readable code.
        code: String,
        /// Text.
        message: String,
    },
    /// The server sent something this client does not understand.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The server refused a photo (`photo_rejected`, `digest_mismatch`, `too_large` …): the
    /// registration that references it is not synced until the candidate picks another photo.
    #[error("photo {sha256} was refused by the server ({code}): {message}")]
    PhotoRejected {
        /// The photo's SHA-256.
        sha256: String,
        /// The server's code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server does not offer this registration (e.g. the exam session left the catalog).
    #[error("the server does not offer the registration for exam `{0}`")]
    DocumentUnavailable(String),
    /// No registration for this exam was opened with
    /// [`SyncClient::open_registration`](crate::SyncClient::open_registration).
    #[error("no registration for exam `{0}` is open on this device")]
    UnknownRegistration(String),
    /// Another sync (WebSocket, batch or the background task) is running; wait for it.
    #[error("another sync is already running")]
    Busy,
    /// The server will not hand out this document now (not paid, outside the printing window,
    /// not eligible for a ticket).
    #[error(transparent)]
    DocumentRefused(#[from] DocumentRefusal),
}

/// Why the server will not hand out a document now (its 409 refusals).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentRefusal {
    /// `not_paid`: the registration form exists once the registration is paid; `status` is the
    /// registration's status now.
    #[error("the registration form is available once the registration is paid (status `{status}`)")]
    NotPaid {
        /// The registration's status.
        status: String,
    },
    /// `printing_window_closed`: admission tickets are printed only inside the exam's printing
    /// window (Unix milliseconds, when the server said).
    #[error("admission tickets can only be printed inside the exam's printing window")]
    PrintingWindowClosed {
        /// When the window opens.
        opens_ms: Option<i64>,
        /// When it closes.
        closes_ms: Option<i64>,
    },
    /// `not_eligible`: this registration has no admission ticket; `reason` is
    /// `not_registered`, `not_paid`, `not_confirmed_on_site` or `not_arranged`.
    #[error("this registration cannot have an admission ticket now ({reason})")]
    NotEligible {
        /// Why.
        reason: String,
        /// The registration's status.
        status: String,
    },
}
