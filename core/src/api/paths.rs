//! Every endpoint path of the REST API and the headers the protocol uses, spelled once.
//!
//! Constants are fixed paths; functions build the paths with ids in them. Ids (exam, center,
//! registration, notice, digest) are URL-safe as the catalog and the server make them, and are
//! inserted as they are. Query strings come from the query types
//! ([`ReviewQuery`](super::desk::ReviewQuery), [`AuditQuery`](super::operator::AuditQuery),
//! [`UploadQuery`](super::blobs::UploadQuery), [`SyncQuery`](super::sync::SyncQuery)).

use super::documents::CandidateDocument;
use super::registrations::{CandidateAction, OperatorDecision};

// ---- headers -------------------------------------------------------------------------------

/// Request header: the key that makes a lifecycle action, `pay` or an operator action
/// idempotent (1–128 visible ASCII characters).
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// Response header of `POST /api/captcha`: the captcha's id, sent back as `captcha_id`.
pub const CAPTCHA_ID: &str = "X-Captcha-Id";
/// Request header: a request id the server's logs use (at most 64 characters; the server
/// makes one up without it).
pub const REQUEST_ID: &str = "X-Request-Id";
/// Request header: `Bearer <token>`.
pub const AUTHORIZATION: &str = "Authorization";
/// The scheme of [`AUTHORIZATION`], with its space.
pub const BEARER_PREFIX: &str = "Bearer ";
/// Response header of the catalog, availability and blob reads; sent back in [`IF_NONE_MATCH`].
pub const ETAG: &str = "ETag";
/// Request header: the cached copy's `ETag`; a current one is answered `304`.
pub const IF_NONE_MATCH: &str = "If-None-Match";
/// Response header of `429 too_many_requests`: seconds to wait.
pub const RETRY_AFTER: &str = "Retry-After";
/// Response header of `POST /api/sync/cookie`: the sync cookie.
pub const SET_COOKIE: &str = "Set-Cookie";
/// Request header of the WebSocket upgrade: the sync cookie, as a browser sends it.
pub const COOKIE: &str = "Cookie";
/// Request header of the WebSocket upgrade: the page's origin, which a browser always sends;
/// checked when the upgrade is authenticated by the sync cookie.
pub const ORIGIN: &str = "Origin";

// ---- content types -------------------------------------------------------------------------

/// Request and response bodies of this contract.
pub const JSON: &str = "application/json";
/// The sync batch's request and response bodies.
pub const CBOR: &str = "application/cbor";
/// Photo uploads and downloads.
pub const JPEG: &str = "image/jpeg";
/// The captcha image.
pub const PNG: &str = "image/png";
/// The registration form and the admission ticket.
pub const PDF: &str = "application/pdf";
/// The roster.
pub const CSV: &str = "text/csv; charset=utf-8";

// ---- health ----------------------------------------------------------------------------------

/// `GET`: liveness.
pub const HEALTHZ: &str = "/healthz";
/// `GET`: readiness.
pub const READYZ: &str = "/readyz";

// ---- accounts --------------------------------------------------------------------------------

/// `POST`: a captcha PNG, its id in [`CAPTCHA_ID`].
pub const CAPTCHA: &str = "/api/captcha";
/// `POST`: register.
pub const ACCOUNTS: &str = "/api/accounts";
/// `POST`: log in.
pub const SESSIONS: &str = "/api/sessions";
/// `DELETE`: log out.
pub const SESSIONS_CURRENT: &str = "/api/sessions/current";
/// `GET`: the account.
pub const ACCOUNT: &str = "/api/account";
/// `PUT`: change the password.
pub const ACCOUNT_PASSWORD: &str = "/api/account/password";
/// `GET`/`PUT`: the profile.
pub const ACCOUNT_PROFILE: &str = "/api/account/profile";
/// `POST`: ask for a recovery code.
pub const PASSWORD_RECOVERY: &str = "/api/password-recovery";
/// `POST`: set a new password with the code.
pub const PASSWORD_RECOVERY_RESET: &str = "/api/password-recovery/reset";

/// `POST`: start a third-party login with `provider`.
pub fn oauth_start(provider: &str) -> String {
    format!("/api/oauth/{provider}/start")
}

/// `GET`: the third-party login's callback (query [`OAuthCallbackQuery`](super::accounts::OAuthCallbackQuery)).
pub fn oauth_callback(provider: &str) -> String {
    format!("/api/oauth/{provider}/callback")
}

// ---- catalog ---------------------------------------------------------------------------------

/// `GET`: the whole catalog.
pub const CATALOG: &str = "/api/catalog";
/// `GET`: exam session summaries.
pub const EXAMS: &str = "/api/exams";

/// A part of an exam session: `GET /api/exams/{exam}/{part}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExamPart {
    /// The agreement.
    Agreement,
    /// The announcements.
    Announcements,
    /// The guide.
    Guide,
    /// The form's fields.
    Form,
    /// The subjects.
    Subjects,
    /// The time slots.
    Slots,
    /// The centers.
    Centers,
    /// Live seats at every center.
    Availability,
}

impl ExamPart {
    /// Every part.
    pub const ALL: [ExamPart; 8] = [
        ExamPart::Agreement,
        ExamPart::Announcements,
        ExamPart::Guide,
        ExamPart::Form,
        ExamPart::Subjects,
        ExamPart::Slots,
        ExamPart::Centers,
        ExamPart::Availability,
    ];

    /// The last segment of the part's path.
    pub fn path_segment(self) -> &'static str {
        match self {
            ExamPart::Agreement => "agreement",
            ExamPart::Announcements => "announcements",
            ExamPart::Guide => "guide",
            ExamPart::Form => "form",
            ExamPart::Subjects => "subjects",
            ExamPart::Slots => "slots",
            ExamPart::Centers => "centers",
            ExamPart::Availability => "availability",
        }
    }

    /// The part named by a path segment.
    pub fn from_path_segment(segment: &str) -> Option<ExamPart> {
        ExamPart::ALL.into_iter().find(|p| p.path_segment() == segment)
    }
}

/// `GET`: one exam session.
pub fn exam(exam: &str) -> String {
    format!("/api/exams/{exam}")
}

/// `GET`: a part of an exam session.
pub fn exam_part(exam: &str, part: ExamPart) -> String {
    format!("/api/exams/{exam}/{}", part.path_segment())
}

/// `GET`: a center with its subjects.
pub fn exam_center(exam: &str, center: &str) -> String {
    format!("/api/exams/{exam}/centers/{center}")
}

/// `GET`: live seats at every center of `exam`.
pub fn availability(exam: &str) -> String {
    exam_part(exam, ExamPart::Availability)
}

/// `GET`: live seats at one center.
pub fn center_availability(exam: &str, center: &str) -> String {
    format!("/api/exams/{exam}/centers/{center}/availability")
}

// ---- operators -------------------------------------------------------------------------------

/// `POST`: operator login.
pub const OPERATOR_SESSIONS: &str = "/api/operator/sessions";
/// `DELETE`: operator logout.
pub const OPERATOR_SESSIONS_CURRENT: &str = "/api/operator/sessions/current";
/// `GET`: the operator.
pub const OPERATOR_ME: &str = "/api/operator/me";
/// `GET`: the centers this operator may see.
pub const OPERATOR_CENTERS: &str = "/api/operator/centers";
/// `GET`: audit entries (query [`AuditQuery`](super::operator::AuditQuery)).
pub const OPERATOR_AUDIT: &str = "/api/operator/audit";
/// `GET`: verify the audit chain.
pub const OPERATOR_AUDIT_VERIFY: &str = "/api/operator/audit/verify";
/// `POST`: create an operator.
pub const OPERATOR_OPERATORS: &str = "/api/operator/operators";
/// `PUT`: import a catalog (TOML body).
pub const OPERATOR_CATALOG: &str = "/api/operator/catalog";

fn operator_center(exam: &str, center: &str, rest: &str) -> String {
    format!("/api/operator/exams/{exam}/centers/{center}/{rest}")
}

/// `GET`: the seat counters of a center.
pub fn operator_seats(exam: &str, center: &str) -> String {
    operator_center(exam, center, "seats")
}

/// `GET`: the registrations submitted at a center.
pub fn operator_registrations(exam: &str, center: &str) -> String {
    operator_center(exam, center, "registrations")
}

/// `POST`: approve or reject a registration.
pub fn operator_decision(registration_id: &str, decision: OperatorDecision) -> String {
    format!("/api/operator/registrations/{registration_id}/{}", decision.path_segment())
}

/// `GET`: the review queue of a center (query [`ReviewQuery`](super::desk::ReviewQuery)).
pub fn review_queue(exam: &str, center: &str) -> String {
    operator_center(exam, center, "review")
}

/// `GET`: the statistics of the centers the operator may see.
pub fn stats(exam: &str) -> String {
    format!("/api/operator/exams/{exam}/stats")
}

/// `GET`: the roster of a center (CSV).
pub fn roster(exam: &str, center: &str) -> String {
    operator_center(exam, center, "roster.csv")
}

/// `GET`: a center's notices; `POST`: publish one.
pub fn notices(exam: &str, center: &str) -> String {
    operator_center(exam, center, "notices")
}

/// `GET`/`PUT`/`DELETE`: one notice.
pub fn notice(exam: &str, center: &str, id: &str) -> String {
    operator_center(exam, center, &format!("notices/{id}"))
}

/// `POST`: confirm a candidate on site.
pub fn confirm(exam: &str, center: &str) -> String {
    operator_center(exam, center, "confirm")
}

/// `GET`: the room arrangement; `POST`: run it.
pub fn arrangement(exam: &str, center: &str) -> String {
    operator_center(exam, center, "arrangement")
}

/// `POST`: check a scanned ticket in.
pub fn check_in(exam: &str) -> String {
    format!("/api/operator/exams/{exam}/check-in")
}

// ---- administrators --------------------------------------------------------------------------

/// `POST`: cancel the whole session.
pub fn cancel_exam(exam: &str) -> String {
    format!("/api/admin/exams/{exam}/cancel")
}

/// `POST`: cancel one center.
pub fn cancel_center(exam: &str, center: &str) -> String {
    format!("/api/admin/exams/{exam}/centers/{center}/cancel")
}

// ---- sync and photos ---------------------------------------------------------------------------

/// `GET`: the sync WebSocket (query [`SyncQuery`](super::sync::SyncQuery)).
pub const SYNC: &str = "/api/sync";
/// `POST`: a WebSocket ticket.
pub const SYNC_TICKETS: &str = "/api/sync/tickets";
/// `POST`: set the sync cookie ([`SyncCookie`](super::sync::SyncCookie)) that authenticates
/// the WebSocket for the rest of the session.
pub const SYNC_COOKIE: &str = "/api/sync/cookie";
/// `POST`: the HTTP batch form of a sync exchange (CBOR).
pub const SYNC_BATCH: &str = "/api/sync/batch";

/// `GET`: the server's copy of a document and the refusals it remembers (CBOR), by its
/// base58check id.
pub fn sync_document(document_id: &str) -> String {
    format!("/api/sync/documents/{document_id}")
}

/// `PUT`: upload a photo (query [`UploadQuery`](super::blobs::UploadQuery)); `GET`/`HEAD`: read it.
pub fn blob(sha256: &str) -> String {
    format!("/api/blobs/{sha256}")
}

// ---- registrations and payments ----------------------------------------------------------------

/// `GET`: the candidate's registration for `exam`.
pub fn registration(exam: &str) -> String {
    format!("/api/registrations/{exam}")
}

/// `POST`: a candidate's action.
pub fn registration_action(exam: &str, action: CandidateAction) -> String {
    format!("/api/registrations/{exam}/{}", action.path_segment())
}

/// `POST`: open (or answer again) the payment order.
pub fn pay(exam: &str) -> String {
    format!("/api/registrations/{exam}/pay")
}

/// `POST`: "I have paid, refresh".
pub fn payment_refresh(exam: &str) -> String {
    format!("/api/registrations/{exam}/payment/refresh")
}

/// `POST`: the payment platform's asynchronous notification (form body).
pub const PAYMENTS_NOTIFY: &str = "/api/payments/notify";

/// `GET`: the notices of the candidate's center.
pub fn registration_notices(exam: &str) -> String {
    format!("/api/registrations/{exam}/notices")
}

/// `GET`: one of the candidate's documents.
pub fn registration_document(exam: &str, document: CandidateDocument) -> String {
    format!("/api/registrations/{exam}/documents/{}", document.file_name())
}

/// `POST`: move the test clock (servers started with `test_clock = true` only).
pub const TESTING_CLOCK: &str = "/api/testing/clock";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_server_routes() {
        assert_eq!(
            registration_action("e", CandidateAction::ApplyReview),
            "/api/registrations/e/apply-review"
        );
        assert_eq!(registration_action("e", CandidateAction::Submit), "/api/registrations/e/submit");
        assert_eq!(operator_decision("d", OperatorDecision::Reject), "/api/operator/registrations/d/reject");
        assert_eq!(
            registration_document("e", CandidateDocument::AdmissionTicketCode),
            "/api/registrations/e/documents/admission-ticket.code"
        );
        assert_eq!(notice("e", "c", "nt_1"), "/api/operator/exams/e/centers/c/notices/nt_1");
        assert_eq!(availability("e"), "/api/exams/e/availability");
        assert_eq!(center_availability("e", "c"), "/api/exams/e/centers/c/availability");
        assert_eq!(exam_part("e", ExamPart::Slots), "/api/exams/e/slots");
        assert_eq!(roster("e", "c"), "/api/operator/exams/e/centers/c/roster.csv");
        assert_eq!(cancel_center("e", "c"), "/api/admin/exams/e/centers/c/cancel");
        assert_eq!(payment_refresh("e"), "/api/registrations/e/payment/refresh");
        for p in ExamPart::ALL {
            assert_eq!(ExamPart::from_path_segment(p.path_segment()), Some(p));
        }
        assert_eq!(ExamPart::from_path_segment("nope"), None);
    }
}
