//! What Baoming's end-to-end tests (`server/tests`) and workspace harnesses (`tests`) share.
//!
//! * [`http`] — the one HTTP/1.1 client: [`Request`] sent on its own connection or on a
//!   keep-alive [`Conn`], [`raw`] bytes for requests no client would send, one parser for every
//!   [`Response`].
//! * [`strict`](mod@strict) — answers read through the REST contract: [`Response::typed`] parses the body
//!   into a `baoming_core::api` type and checks that the type gives back exactly the JSON sent
//!   (a renamed, missing or extra member fails); [`Response::error`] does the same for
//!   [`ErrorBody`](baoming_core::api::error::ErrorBody) with the status.
//! * [`server`] — `baoming-server serve` as a process ([`ServerBuilder`], [`Server`]) with a
//!   temporary database, test-only Argon2 parameters and the movable test clock
//!   ([`Server::advance`]).
//! * [`fixtures`] and [`candidate`] — candidates, operators, catalogs with windows around the
//!   server's time, a candidate's device with a complete draft.
//! * [`paysandbox`] — the sandbox payment platform as a process, and paying on its page.
//! * [`mail`] — an SMTP sink the server relays recovery codes through ([`MailSink`]).
//! * [`wait`] — [`wait_until`] for what happens asynchronously, and [`now_ms`].
//!
//! The in-process app (`baoming_server::app::build` on a temporary sled database) stays in
//! `server/tests/support`: this crate is a dev-dependency of the server, and depending on the
//! server library from here would link a second copy of it into the server's own tests.

pub mod candidate;
pub mod fixtures;
pub mod http;
pub mod mail;
pub mod paysandbox;
pub mod server;
pub mod strict;
pub mod wait;

pub use candidate::{
    CandidateDevice, SAMPLE_PHOTO, SYNC, answer_form, batch_sync, device_client, fill_complete_draft,
    prepared_photo,
};
pub use fixtures::{
    CANDIDATE_PASSWORD, DEMO_EXAM, OPERATOR_PASSWORD, Windows, admin_login, assert_seats_add_up,
    availability, candidate_session, catalog_around, catalog_around_now, center_operator, create_operator,
    import_catalog, open_demo_catalog, operator_login, operator_session, register_candidate, registration,
    resident_id, with_capacity,
};
pub use http::{Conn, Request, Response, delete, get, post, put, raw, request};
pub use mail::MailSink;
pub use paysandbox::{PaySandbox, SandboxMerchant, get_url, pay_on_page, press};
pub use server::{Server, ServerBuilder, rss_bytes, test_env};
pub use strict::{Refusal, strict, strict_value};
pub use wait::{now_ms, wait_until, wait_until_async};
