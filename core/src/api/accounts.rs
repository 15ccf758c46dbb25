//! Candidate accounts: registration, sessions (with the captcha the server asks for after
//! failures), the account, password change and recovery, the profile, and third-party login.
//!
//! The captcha itself is a PNG (`POST /api/captcha`) whose id travels in the
//! [`CAPTCHA_ID`](super::paths::CAPTCHA_ID) header.

use serde::{Deserialize, Serialize};

use crate::id_document::{Gender, IdKind};

/// `POST /api/accounts`: register with an e-mail address or a mainland mobile number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// E-mail address or mainland mobile number.
    pub login: String,
    /// The password (8–128 characters, two kinds, four different characters, not common, not
    /// containing the login).
    pub password: String,
}

/// `POST /api/sessions`: log in; the captcha fields once the server answered `captcha_required`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// E-mail address or mainland mobile number.
    pub login: String,
    /// The password.
    pub password: String,
    /// The id of the solved captcha (from the `X-Captcha-Id` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captcha_id: Option<String>,
    /// What the candidate read in the captcha.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captcha_answer: Option<String>,
}

/// The answer to a registration (201) or a login (200): the account and its new session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionAnswer {
    /// `acc_` + 128 random bits in hex; names the candidate's documents.
    pub account_id: String,
    /// The bearer token (`bm_` + 256 random bits in hex).
    pub token: String,
    /// When the token expires (Unix seconds).
    pub expires_at: i64,
}

/// The kind of an account's login name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginKind {
    /// An e-mail address.
    Email,
    /// A mainland mobile number.
    Mobile,
    /// A third-party identity (`provider:subject`), for accounts created by OAuth login.
    External,
}

/// `GET /api/account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountAnswer {
    /// The account id.
    pub account_id: String,
    /// The normalised login name.
    pub login: String,
    /// Its kind.
    pub login_kind: LoginKind,
    /// When the account was created (Unix seconds).
    pub created: i64,
    /// Whether the profile is set.
    pub has_profile: bool,
    /// When this session expires (Unix seconds).
    pub session_expires_at: i64,
}

/// `PUT /api/account/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    /// The password now.
    pub current_password: String,
    /// The new one (same rules as at registration).
    pub new_password: String,
}

/// The answer to a password change: the account's other sessions end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChangeAnswer {
    /// How many other sessions were ended.
    pub revoked_sessions: u64,
}

/// `POST /api/password-recovery`: send a 6-digit code to the account, if it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryRequest {
    /// E-mail address or mainland mobile number.
    pub login: String,
}

/// The answer (202) to a recovery request, the same whether or not the account exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryAnswer {
    /// Always [`RecoveryAnswer::STATUS`].
    pub status: String,
}

impl RecoveryAnswer {
    /// The one status text the server answers.
    pub const STATUS: &'static str = "if the account exists, a code was sent to it";
}

/// `POST /api/password-recovery/reset` (204): set a new password with the code; every session
/// ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryResetRequest {
    /// The login the code was sent for.
    pub login: String,
    /// The 6-digit code (10 minutes, single use, 5 tries).
    pub code: String,
    /// The new password.
    pub new_password: String,
}

/// `PUT /api/account/profile`: the candidate's identity, checked by the core's ID rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    /// Legal name as on the ID document (1–64 characters).
    pub legal_name: String,
    /// Document kind as text (`resident_id`, `passport`, …; an unknown kind is
    /// `id_unknown_kind`).
    pub id_kind: String,
    /// Document number.
    pub id_number: String,
    /// Contact phone (mainland mobile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// `GET`/`PUT /api/account/profile`: the stored profile (404 `not_found` before it is set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Legal name.
    pub legal_name: String,
    /// Document kind.
    pub id_kind: IdKind,
    /// Normalised number.
    pub id_number: String,
    /// Masked number for display.
    pub id_masked: String,
    /// Birth date from the number, where it encodes one (`YYYY-MM-DD`).
    pub birth_date: Option<String>,
    /// Gender from the number, where it encodes one.
    pub gender: Option<Gender>,
    /// Contact phone.
    pub phone: Option<String>,
}

/// `POST /api/oauth/{provider}/start`: where to send the browser. With a candidate token, the
/// identity is linked to that account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthStartAnswer {
    /// The provider's authorization URL (PKCE S256).
    pub authorize_url: String,
    /// The state the callback brings back.
    pub state: String,
}

/// The query of `GET /api/oauth/{provider}/callback`, as the provider redirects to it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OAuthCallbackQuery {
    /// The authorization code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The state from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The provider's error (the candidate refused): 422 `oauth_denied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a third-party login did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthOutcome {
    /// Logged in to the account the identity is linked to.
    Login,
    /// Linked the identity to the account of the token given at the start.
    Linked,
    /// Created an account for the identity.
    Created,
}

/// The answer of the OAuth callback: a session, as a login answers it, and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthCallbackAnswer {
    /// The account id.
    pub account_id: String,
    /// The bearer token.
    pub token: String,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
    /// What the login did.
    pub outcome: OAuthOutcome,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::round_trip;

    #[test]
    fn requests_refuse_unknown_fields_and_skip_absent_captchas() {
        let login = LoginRequest {
            login: "a@example.org".into(),
            password: "p".into(),
            captcha_id: None,
            captcha_answer: None,
        };
        assert_eq!(
            serde_json::to_value(&login).expect("json"),
            serde_json::json!({ "login": "a@example.org", "password": "p" })
        );
        round_trip::<LoginRequest>(
            r#"{"login":"a","password":"p","captcha_id":"c","captcha_answer":"12345"}"#,
        );
        round_trip::<RegisterRequest>(r#"{"login":"a","password":"p"}"#);
        assert!(serde_json::from_str::<RegisterRequest>(r#"{"login":"a","password":"p","x":1}"#).is_err());
        round_trip::<PasswordChangeRequest>(r#"{"current_password":"a","new_password":"b"}"#);
        round_trip::<RecoveryRequest>(r#"{"login":"a"}"#);
        round_trip::<RecoveryResetRequest>(r#"{"login":"a","code":"123456","new_password":"b"}"#);
        round_trip::<ProfileRequest>(r#"{"legal_name":"张三","id_kind":"resident_id","id_number":"1"}"#);
        round_trip::<ProfileRequest>(
            r#"{"legal_name":"张三","id_kind":"resident_id","id_number":"1","phone":"13800138000"}"#,
        );
    }

    #[test]
    fn answers_parse_as_the_server_sends_them() {
        let s: SessionAnswer =
            round_trip(r#"{"account_id":"acc_01","token":"bm_02","expires_at":1800000000}"#);
        assert_eq!(s.expires_at, 1_800_000_000);
        let a: AccountAnswer = round_trip(
            r#"{"account_id":"acc_01","login":"a@example.org","login_kind":"email","created":1700000000,
                "has_profile":false,"session_expires_at":1800000000}"#,
        );
        assert_eq!(a.login_kind, LoginKind::Email);
        round_trip::<PasswordChangeAnswer>(r#"{"revoked_sessions":2}"#);
        let r: RecoveryAnswer = round_trip(r#"{"status":"if the account exists, a code was sent to it"}"#);
        assert_eq!(r.status, RecoveryAnswer::STATUS);
        let p: Profile = round_trip(
            r#"{"legal_name":"张三","id_kind":"resident_id","id_number":"11010519900101001X",
                "id_masked":"110105********001X","birth_date":"1990-01-01","gender":"male","phone":null}"#,
        );
        assert_eq!((p.id_kind, p.gender), (IdKind::ResidentId, Some(Gender::Male)));
        round_trip::<Profile>(
            r#"{"legal_name":"John","id_kind":"passport","id_number":"E12345678","id_masked":"E****5678",
                "birth_date":null,"gender":null,"phone":"13800138000"}"#,
        );
        round_trip::<OAuthStartAnswer>(r#"{"authorize_url":"https://id.example/authorize?x=1","state":"s"}"#);
        let c: OAuthCallbackAnswer =
            round_trip(r#"{"account_id":"acc_01","token":"bm_02","expires_at":1,"outcome":"created"}"#);
        assert_eq!(c.outcome, OAuthOutcome::Created);
        round_trip::<OAuthCallbackQuery>(r#"{"code":"c","state":"s"}"#);
        round_trip::<OAuthCallbackQuery>(r#"{"error":"access_denied"}"#);
    }
}
