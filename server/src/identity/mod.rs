//! Who is calling: passport accounts and their profiles, sessions, passwords, captchas, login
//! throttling, third-party (OAuth) logins, operators with their roles and center scopes, and the
//! notifier that sends recovery codes.

pub mod accounts;
pub mod captcha;
pub mod notifier;
pub mod oauth;
pub mod operators;
pub mod passwords;
pub mod sessions;
pub mod throttle;
