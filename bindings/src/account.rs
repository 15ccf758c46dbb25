//! The candidate's passport account: register, log in (with a captcha when the server asks),
//! resume, log out, change and recover the password.
//!
//! The session token is returned to the app so it can keep it in the platform's secure storage
//! (Android Keystore-backed storage, the iOS Keychain) and pass it back to
//! `resume_session` on the next start; the client keeps it in memory only.

use baoming_client::CaptchaAnswer;
use baoming_core::api::accounts::SessionAnswer;

use crate::client::BaomingClient;
use crate::errors::BaomingError;

/// A signed-in session.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SessionInfo {
    /// The account id (names the candidate's documents).
    pub account_id: String,
    /// The bearer token: keep it in the keychain / keystore, never in plain files.
    pub token: String,
    /// When the token expires (Unix seconds).
    pub expires_at: i64,
}

/// A captcha to show; send `id` back with the answer.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Captcha {
    /// The captcha id.
    pub id: String,
    /// The PNG image.
    pub png: Vec<u8>,
}

impl From<SessionAnswer> for SessionInfo {
    fn from(s: SessionAnswer) -> Self {
        SessionInfo { account_id: s.account_id, token: s.token, expires_at: s.expires_at }
    }
}

#[uniffi::export]
impl BaomingClient {
    /// Registers an account (`login`: e-mail or mainland mobile number) and signs in.
    pub fn register(&self, login: String, password: String) -> Result<SessionInfo, BaomingError> {
        let session = self.api.register(&login, &password)?;
        self.sign_in(session.account_id.clone(), session.token.clone())?;
        Ok(session.into())
    }

    /// Logs in and signs the client in. `WrongCredentials` for a wrong login or password;
    /// `CaptchaRequired` when the server raised the risk: show [`BaomingClient::captcha`] and call
    /// again with `captcha_id` and `captcha_answer` (both left out by default).
    #[uniffi::method(default(captcha_id = None, captcha_answer = None))]
    pub fn log_in(
        &self,
        login: String,
        password: String,
        captcha_id: Option<String>,
        captcha_answer: Option<String>,
    ) -> Result<SessionInfo, BaomingError> {
        let captcha = match (captcha_id, captcha_answer) {
            (Some(id), Some(answer)) => Some(CaptchaAnswer { id, answer }),
            _ => None,
        };
        let session = self.api.login(&login, &password, captcha.as_ref())?;
        self.sign_in(session.account_id.clone(), session.token.clone())?;
        Ok(session.into())
    }

    /// A new captcha image, for a login the server answered with `CaptchaRequired`.
    pub fn captcha(&self) -> Result<Captcha, BaomingError> {
        let c = self.api.captcha()?;
        Ok(Captcha { id: c.id, png: c.png })
    }

    /// Ends the session on the server and on the device (the live sync stops). The candidate's
    /// local drafts stay in the folder for their next sign-in.
    pub fn log_out(&self) -> Result<(), BaomingError> {
        let token = self.token()?;
        self.api.logout(&token)?;
        self.end_session();
        Ok(())
    }

    /// Changes the password (the account's other sessions end; this one stays).
    pub fn change_password(&self, current: String, new_password: String) -> Result<(), BaomingError> {
        self.api.change_password(&self.token()?, &current, &new_password)?;
        Ok(())
    }

    /// Asks for a one-time recovery code sent to `login` (answered the same whether or not the
    /// account exists).
    pub fn request_password_recovery(&self, login: String) -> Result<(), BaomingError> {
        Ok(self.api.request_password_recovery(&login)?)
    }

    /// Sets a new password with the recovery code; every session of the account ends.
    pub fn reset_password(
        &self,
        login: String,
        code: String,
        new_password: String,
    ) -> Result<(), BaomingError> {
        Ok(self.api.reset_password(&login, &code, &new_password)?)
    }
}
