//! The candidate's account: registration and its refusals, signing in past a captcha, the
//! profile, the password's change and recovery, OAuth's refusals, a sync ticket, the sync cookie
//! and signing out.

use super::*;

/// Malformed and invalid registrations are refused, `zhang.san@example.org` registers, and
/// registering the login again is refused. Returns the registration's session.
pub(super) fn registering(addr: SocketAddr) -> SessionAnswer {
    refused(&bytes(addr, "POST", paths::ACCOUNTS, None, None, b"{"), 400, ErrorCode::MalformedJson);
    refused(
        &bytes(
            addr,
            "POST",
            paths::ACCOUNTS,
            None,
            None,
            br#"{"login":"a@example.org","password":"p","x":1}"#,
        ),
        422,
        ErrorCode::InvalidBody,
    );
    refused(&register(addr, "not a login", CANDIDATE_PASSWORD), 422, ErrorCode::LoginInvalid);
    refused(&register(addr, "short@example.org", "Ab1-"), 422, ErrorCode::PasswordTooShort);
    refused(&register(addr, "common@example.org", "password123"), 422, ErrorCode::PasswordTooCommon);
    let first: SessionAnswer = strict(&register(addr, "zhang.san@example.org", CANDIDATE_PASSWORD), 201);
    assert!(first.account_id.starts_with("acc_"));
    refused(&register(addr, "zhang.san@example.org", CANDIDATE_PASSWORD), 409, ErrorCode::LoginTaken);
    first
}

/// Failed sign-ins raise a captcha, which a wrong answer does not pass; the registered
/// candidate (`first`) then signs in. Returns that session.
pub(super) fn signing_in_past_a_captcha(addr: SocketAddr, first: &SessionAnswer) -> SessionAnswer {
    let sign_in = |login: &str, password: &str, captcha: Option<(String, &str)>| {
        let (captcha_id, captcha_answer) = match captcha {
            Some((id, answer)) => (Some(id), Some(answer.to_owned())),
            None => (None, None),
        };
        let req = LoginRequest { login: login.into(), password: password.into(), captcha_id, captcha_answer };
        send(addr, "POST", paths::SESSIONS, None, None, &req)
    };
    // Three failures on one account raise a captcha for it.
    for _ in 0..3 {
        refused(&sign_in("victim@example.org", "Wrong-Password-1", None), 401, ErrorCode::BadCredentials);
    }
    refused(&sign_in("victim@example.org", "Wrong-Password-1", None), 401, ErrorCode::CaptchaRequired);
    let captcha = call(addr, "POST", paths::CAPTCHA, None, None);
    assert_eq!((captcha.status, captcha.header("content-type")), (200, Some(paths::PNG)));
    let captcha_id = captcha.header(paths::CAPTCHA_ID).expect("the captcha's id header").to_owned();
    refused(
        &sign_in("victim@example.org", "Wrong-Password-1", Some((captcha_id, "no-digits"))),
        401,
        ErrorCode::CaptchaWrong,
    );
    let session: SessionAnswer = strict(&sign_in("zhang.san@example.org", CANDIDATE_PASSWORD, None), 200);
    assert_eq!(session.account_id, first.account_id);
    session
}

/// The account without a profile, then the profile's refusals and the profile stored and read
/// back, with the candidate's `token`.
pub(super) fn the_profile(addr: SocketAddr, token: &str) {
    let account: AccountAnswer = strict(&get(addr, paths::ACCOUNT, Some(token)), 200);
    assert!(!account.has_profile);
    refused(&get(addr, paths::ACCOUNT, None), 401, ErrorCode::Unauthorized);
    refused(&get(addr, paths::ACCOUNT_PROFILE, Some(token)), 404, ErrorCode::NotFound);
    let id_number = support::resident_id("11010519900101009");
    let profile = |name: &str, kind: &str, number: &str| ProfileRequest {
        legal_name: name.into(),
        id_kind: kind.into(),
        id_number: number.into(),
        phone: Some("13800138000".into()),
    };
    let put_profile = |p: &ProfileRequest| send(addr, "PUT", paths::ACCOUNT_PROFILE, Some(token), None, p);
    refused(&put_profile(&profile("", "resident_id", &id_number)), 422, ErrorCode::LegalNameInvalid);
    refused(&put_profile(&profile("张三", "alien_card", &id_number)), 422, ErrorCode::IdUnknownKind);
    let wrong_check = format!("{}{}", &id_number[..17], if id_number.ends_with('0') { '1' } else { '0' });
    refused(&put_profile(&profile("张三", "resident_id", &wrong_check)), 422, ErrorCode::IdChecksum);
    let stored: Profile = strict(&put_profile(&profile("张三", "resident_id", &id_number)), 200);
    assert_eq!(stored.id_number, id_number);
    assert_eq!(strict::<Profile>(&get(addr, paths::ACCOUNT_PROFILE, Some(token)), 200), stored);
}

/// The password changed with the session `token` (ending the registration's session,
/// `first_token`), and a recovery asked for and refused a wrong code.
pub(super) fn password_change_and_recovery(addr: SocketAddr, token: &str, first_token: &str) {
    let change_password = |current: &str, new: &str| {
        let req = PasswordChangeRequest { current_password: current.into(), new_password: new.into() };
        send(addr, "PUT", paths::ACCOUNT_PASSWORD, Some(token), None, &req)
    };
    refused(
        &change_password("Not-The-Password-9", "Lantern-Harbor-43"),
        422,
        ErrorCode::CurrentPasswordWrong,
    );
    let changed: PasswordChangeAnswer =
        strict(&change_password(CANDIDATE_PASSWORD, "Lantern-Harbor-43"), 200);
    assert_eq!(changed.revoked_sessions, 1, "the registration's session ends");
    refused(&get(addr, paths::ACCOUNT, Some(first_token)), 401, ErrorCode::Unauthorized);
    let asked: RecoveryAnswer = strict(
        &send(
            addr,
            "POST",
            paths::PASSWORD_RECOVERY,
            None,
            None,
            &RecoveryRequest { login: "zhang.san@example.org".into() },
        ),
        202,
    );
    assert_eq!(asked.status, RecoveryAnswer::STATUS);
    let reset = RecoveryResetRequest {
        login: "zhang.san@example.org".into(),
        code: "not-a-code".into(),
        new_password: "Lantern-Harbor-44".into(),
    };
    refused(
        &send(addr, "POST", paths::PASSWORD_RECOVERY_RESET, None, None, &reset),
        422,
        ErrorCode::RecoveryCodeWrong,
    );
}

/// OAuth's refusals (an unknown provider, a denied callback, a callback without a code), a sync
/// ticket, the sync cookie and the WebSocket-only sync path, then signing out of the session
/// `token`.
pub(super) fn oauth_sync_ticket_and_sign_out(addr: SocketAddr, token: &str) {
    refused(&call(addr, "POST", &paths::oauth_start("nowhere"), None, None), 404, ErrorCode::NotFound);
    let denied = OAuthCallbackQuery { error: Some("access_denied".into()), ..OAuthCallbackQuery::default() };
    let denied_path =
        format!("{}?error={}", paths::oauth_callback("nowhere"), denied.error.as_deref().unwrap_or_default());
    refused(&get(addr, &denied_path, None), 422, ErrorCode::OauthDenied);
    refused(&get(addr, &paths::oauth_callback("nowhere"), None), 400, ErrorCode::BadRequest);

    let ticket: SyncTicket = strict(&call(addr, "POST", paths::SYNC_TICKETS, Some(token), None), 201);
    assert_eq!(ticket.expires_in, 60);
    let cookie: SyncCookie = strict(&call(addr, "POST", paths::SYNC_COOKIE, Some(token), None), 200);
    assert_eq!((cookie.cookie.as_str(), cookie.path.as_str()), (SYNC_COOKIE, SYNC_COOKIE_PATH));
    refused(&get(addr, paths::SYNC, Some(token)), 422, ErrorCode::WebsocketRequired);
    let out = call(addr, "DELETE", paths::SESSIONS_CURRENT, Some(token), None);
    assert_eq!(out.status, 204);
    refused(&get(addr, paths::ACCOUNT, Some(token)), 401, ErrorCode::Unauthorized);
}
