//! Every machine-readable error code the server answers with, one line each, with the HTTP
//! status it comes with.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $text:literal, )*) => {
        /// A machine-readable error code, spelled in snake case on the wire.
        ///
        /// Each variant's documentation says what the code means and the HTTP status the server
        /// answers it with today. [`ErrorCode::Unknown`] stands for a code a newer server may
        /// add; it keeps clients working, and its text is lost ([`ErrorHead`](super::ErrorHead) keeps it).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $variant, )*
            /// A code this version of the contract does not know (a newer server's).
            #[serde(other)]
            Unknown,
        }

        impl ErrorCode {
            /// Every known code, in the order of this module.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The code as it travels (`seat_gone`, …); `unknown` for [`ErrorCode::Unknown`].
            pub fn as_str(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => $text, )*
                    ErrorCode::Unknown => "unknown",
                }
            }
        }
    };
}

error_codes! {
    // ---- request shape and transport (the server's and warp's own refusals)
    /// 400: the body is not JSON.
    MalformedJson = "malformed_json",
    /// 400: the sync batch body is not the expected CBOR.
    MalformedCbor = "malformed_cbor",
    /// 422: the JSON body has wrong types, a missing field or an unknown field.
    InvalidBody = "invalid_body",
    /// 400: a header or the query string is malformed (also a blob name that is not 64 hex
    /// digits, and an OAuth callback without `code` and `state`).
    BadRequest = "bad_request",
    /// 404: no such endpoint, or nothing there (an unknown exam, center, registration, notice,
    /// blob, document …; also a resource outside the operator's scope).
    NotFound = "not_found",
    /// 405: the method is not supported on this path.
    MethodNotAllowed = "method_not_allowed",
    /// 411: a body was sent without `Content-Length`.
    LengthRequired = "length_required",
    /// 413: the body is too large; a photo upload above the limit carries `limit_bytes` and
    /// `rules_max_bytes`.
    PayloadTooLarge = "payload_too_large",
    /// 503: the request took longer than the server allows.
    Timeout = "timeout",
    /// 503: the server is saturated (password hashing queue full, captcha store full, a
    /// commit retried too often, not ready yet); retry shortly.
    Busy = "busy",
    /// 500: the server failed; the message says nothing more.
    Internal = "internal",
    // ---- authentication and authorisation
    /// 401: no, unknown, expired or revoked token, or a token of the wrong kind (operator vs
    /// candidate).
    Unauthorized = "unauthorized",
    /// 403: authenticated but not allowed (an auditor writing, a center outside the operator's
    /// list on a seat read, a non-administrator cancelling).
    Forbidden = "forbidden",
    /// 401: wrong account name or password.
    BadCredentials = "bad_credentials",
    /// 401: too many failures: solve a captcha (`POST /api/captcha`) and send its id and answer.
    CaptchaRequired = "captcha_required",
    /// 401: the captcha answer is wrong, expired or already used.
    CaptchaWrong = "captcha_wrong",
    /// 429: too many attempts from this address (`Retry-After` says when to try again).
    TooManyRequests = "too_many_requests",
    // ---- accounts
    /// 422: the login is neither an e-mail address nor a mainland mobile number.
    LoginInvalid = "login_invalid",
    /// 409: an account with this login already exists (or no free login for an OAuth identity).
    LoginTaken = "login_taken",
    /// 422: the password has fewer than 8 characters.
    PasswordTooShort = "password_too_short",
    /// 422: the password has more than 128 characters.
    PasswordTooLong = "password_too_long",
    /// 422: the password is in the common-password list.
    PasswordTooCommon = "password_too_common",
    /// 422: the password contains the account name.
    PasswordContainsLogin = "password_contains_login",
    /// 422: the password lacks two kinds of characters or four different characters.
    PasswordTooWeak = "password_too_weak",
    /// 422: the current password given for a change is wrong.
    CurrentPasswordWrong = "current_password_wrong",
    /// 422: the recovery code is wrong, expired or already used.
    RecoveryCodeWrong = "recovery_code_wrong",
    /// 409: the record changed meanwhile (account, seat counters during an import, an
    /// arrangement); retry.
    ConcurrentUpdate = "concurrent_update",
    /// 422: the profile's legal name is empty, too long or has control characters.
    LegalNameInvalid = "legal_name_invalid",
    /// 422: the profile's legal name has a character the admission documents cannot print
    /// (`details` of the message name it).
    LegalNameNotPrintable = "legal_name_not_printable",
    /// 422: an ID document kind the core does not know.
    IdUnknownKind = "id_unknown_kind",
    /// 422: the ID number is empty.
    IdEmpty = "id_empty",
    /// 422: the ID number has the wrong length for its kind.
    IdLength = "id_length",
    /// 422: the ID number has a character its kind does not allow.
    IdCharacter = "id_character",
    /// 422: the ID number's check character does not match.
    IdChecksum = "id_checksum",
    /// 422: the birth date encoded in the ID number is not a valid date.
    IdBirthDate = "id_birth_date",
    /// 422: the ID number's area code does not belong to the chosen kind.
    IdAreaCode = "id_area_code",
    /// 422: the profile's phone is not a mainland mobile number.
    PhoneInvalid = "phone_invalid",
    /// 409: this ID document is already in another account's profile.
    IdDocumentTaken = "id_document_taken",
    /// 422: the OAuth provider answered the callback with an error.
    OauthDenied = "oauth_denied",
    /// 422: the OAuth provider refused the code exchange or the user-info request.
    OauthFailed = "oauth_failed",
    /// 422: unknown, expired or already used OAuth login state.
    OauthStateInvalid = "oauth_state_invalid",
    /// 409: the provider identity is already linked to another account.
    OauthIdentityTaken = "oauth_identity_taken",
    // ---- operators and the catalog
    /// 422: an operator user name breaks the rules (3–32 of `a-z 0-9 . _ -`, starting with a
    /// letter).
    UsernameInvalid = "username_invalid",
    /// 409: an operator with this user name exists.
    UsernameTaken = "username_taken",
    /// 422: a center the catalog does not have, in an operator's list.
    CenterUnknown = "center_unknown",
    /// 422: a center operator needs at least one center.
    CentersRequired = "centers_required",
    /// 422: only center operators are scoped to centers.
    CentersNotAllowed = "centers_not_allowed",
    /// 422: the catalog body is not UTF-8.
    CatalogEncoding = "catalog_encoding",
    /// 422: the catalog is invalid (the message lists every problem).
    CatalogInvalid = "catalog_invalid",
    // ---- sync and photos
    /// 422: `GET /api/sync` without a WebSocket (version 13) upgrade.
    WebsocketRequired = "websocket_required",
    /// 403: a sync WebSocket upgrade authenticated by the sync cookie came from a page of
    /// another origin (or without an `Origin` header): refused before the upgrade, so a foreign
    /// site cannot ride on the candidate's cookie (cross-site WebSocket hijacking).
    OriginRefused = "origin_refused",
    /// 422: a message of the sync batch does not decode.
    BadSyncMessage = "bad_sync_message",
    /// 422: the uploaded photo's SHA-256 is not the one its path names.
    DigestMismatch = "digest_mismatch",
    /// 422: the uploaded photo breaks the photo rules; `problems` and `report` say how.
    PhotoRejected = "photo_rejected",
    // ---- idempotency
    /// 400: a candidate action (or `pay`) without an `Idempotency-Key` header.
    IdempotencyKeyRequired = "idempotency_key_required",
    /// 400: the `Idempotency-Key` is not 1–128 visible ASCII characters.
    IdempotencyKeyInvalid = "idempotency_key_invalid",
    /// 422: the `Idempotency-Key` was used for another request.
    IdempotencyKeyReused = "idempotency_key_reused",
    // ---- lifecycle actions
    /// 409: outside the registration window (a submission or an application for review);
    /// `opens` and `closes` in Unix seconds.
    WindowClosed = "window_closed",
    /// 409: the server does not have the submitted heads: sync, then submit again.
    HeadsUnknown = "heads_unknown",
    /// 409: the center or the whole session was cancelled; `exam`, `center` (`null` for the
    /// session) and `reason`.
    Cancelled = "cancelled",
    /// 409: no seat left; `pools` names every full pool.
    SeatGone = "seat_gone",
    /// 422: a seat pool the catalog does not have.
    UnknownPool = "unknown_pool",
    /// 409: this ID document is already registered for this exam.
    DuplicateIdDocument = "duplicate_id_document",
    /// 409: the registration is under review and locked; `status`.
    Locked = "locked",
    /// 409: the action is not possible in the registration's status; `status`.
    TransitionNotAllowed = "transition_not_allowed",
    /// 409: the center does not review registrations; `status`.
    ReviewNotOffered = "review_not_offered",
    /// 409: the center must approve the registration before payment; `status`.
    ReviewRequired = "review_required",
    /// 409 on an on-site confirmation or a lifecycle action (with `status` then), 422 on a
    /// notice: the center does not ask for on-site confirmation.
    OnsiteNotRequired = "onsite_not_required",
    /// 422: no valid photo, or the photo was not uploaded by this account; `issues`.
    PhotoMissing = "photo_missing",
    /// 422: two chosen subjects share a time slot; `issues`.
    SlotConflict = "slot_conflict",
    /// 422: the draft is not complete or not valid; `issues` lists every problem.
    Invalid = "invalid",
    /// 409: the payment order changed meanwhile; read it again.
    OrderChanged = "order_changed",
    // ---- the operator's decisions
    /// 422: a reason (rejection, cancellation) must have 1–500 characters.
    ReasonInvalid = "reason_invalid",
    /// 422: a rejection names at most 32 draft paths (`draft.…`).
    PathsInvalid = "paths_invalid",
    // ---- payments
    /// 503: the embedded payment sandbox is still starting; retry shortly.
    PaymentsUnavailable = "payments_unavailable",
    /// 503: the payment platform cannot be reached.
    PaymentPlatformUnavailable = "payment_platform_unavailable",
    /// 409: `pay` before any submission.
    NotSubmitted = "not_submitted",
    /// 409: the registration is paid already.
    AlreadyPaid = "already_paid",
    /// 409: the payment deadline has passed.
    DeadlinePassed = "deadline_passed",
    /// 409: no payment is due (e.g. waiting for the center's review); `status`.
    PaymentNotDue = "payment_not_due",
    /// 409: the chosen subjects have no fee to pay.
    NoFee = "no_fee",
    /// 409: "refresh" before any payment order was opened.
    NoOrder = "no_order",
    // ---- documents, arrangement and check-in
    /// 409: the registration form exists once the registration is paid; `status`.
    NotPaid = "not_paid",
    /// 409: outside the exam's printing window; `printing {opens, closes}` in Unix seconds.
    PrintingWindowClosed = "printing_window_closed",
    /// 409: this registration cannot have an admission ticket (or be checked in); `reason`
    /// (see [`NotEligibleReason`](super::NotEligibleReason)) and `status`.
    NotEligible = "not_eligible",
    /// 422: a PDF could not be rendered: a character no shipped font has.
    DocumentMissingGlyph = "document_missing_glyph",
    /// 422: a PDF could not be rendered: the font.
    DocumentFont = "document_font",
    /// 422: a PDF could not be rendered: the photo.
    DocumentPhoto = "document_photo",
    /// 422: a PDF could not be rendered: the QR code.
    DocumentQr = "document_qr",
    /// 422: a PDF could not be rendered: the fees do not add up.
    DocumentFeeMismatch = "document_fee_mismatch",
    /// 422: a PDF could not be rendered: the PDF writer failed.
    DocumentPdf = "document_pdf",
    /// 409: the center has no rooms in the catalog; `center`.
    NoRooms = "no_rooms",
    /// 409: the rooms hold fewer candidates than a slot needs; `short` lists every shortage
    /// (nothing is stored).
    RoomCapacityShort = "room_capacity_short",
    /// 422: the scanned code is not a ticket code.
    TicketFormat = "ticket_format",
    /// 422: the ticket's signature does not verify with the exam's key.
    TicketSignature = "ticket_signature",
    /// 422: the ticket's payload does not decode.
    TicketPayload = "ticket_payload",
    /// 422: the exam's public key is not a valid Ed25519 key.
    TicketPublicKey = "ticket_public_key",
    /// 409: the arrangement changed since the ticket was printed; `ticket_number`.
    TicketSuperseded = "ticket_superseded",
    // ---- the operator's desk
    /// 400: an unknown status in the review queue's `status`; `parameter` and `allowed`.
    StatusInvalid = "status_invalid",
    /// 400: the review queue's `limit` is not 1–100; `parameter`.
    LimitInvalid = "limit_invalid",
    /// 400: the review queue's `cursor` is not one the server issued; `parameter`.
    CursorInvalid = "cursor_invalid",
    /// 400: the review queue's `offset` is not a non-negative number; `parameter`.
    OffsetInvalid = "offset_invalid",
    /// 400: `cursor` and `offset` together; `parameter`.
    PagingConflict = "paging_conflict",
    /// 400: the review queue's `q` is too long or has control characters; `parameter`.
    QInvalid = "q_invalid",
    /// 400: a review queue parameter the server does not know; `parameter`.
    ParameterUnknown = "parameter_unknown",
    /// 400: a review queue parameter given twice; `parameter`.
    ParameterRepeated = "parameter_repeated",
    /// 422: a notice title must have 1–100 characters and no control characters.
    TitleInvalid = "title_invalid",
    /// 422: a notice body must have 1–5000 characters; line breaks are the only control
    /// characters allowed.
    BodyInvalid = "body_invalid",
    /// 422: a notice's `opens` must come before `closes`, within 366 days.
    WindowInvalid = "window_invalid",
    /// 409: a center keeps at most 200 notices.
    TooManyNotices = "too_many_notices",
    /// 409: the notice changed or was deleted meanwhile.
    NoticeChanged = "notice_changed",
    /// 409: no on-site confirmation window is open at the center now; `windows` lists them.
    ConfirmationWindowClosed = "confirmation_window_closed",
}

impl ErrorCode {
    /// The code spelled `text`, or [`ErrorCode::Unknown`].
    pub fn parse(text: &str) -> ErrorCode {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == text).unwrap_or(ErrorCode::Unknown)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ErrorCode {
    fn from(text: &str) -> ErrorCode {
        ErrorCode::parse(text)
    }
}
