//! Baoming's device client for Kotlin, Swift and Python: a small façade over
//! [`baoming_client`], exported with uniffi (proc-macro scaffolding; namespace `baoming`).
//!
//! One object, [`BaomingClient`], opened on a folder and a server URL, does everything an app
//! needs; the rest are plain records and enums. The modules follow the candidate's journey:
//!
//! | module | what |
//! |---|---|
//! | [`client`] | opening and closing the client, the session, the offline catalog |
//! | [`account`] | register, log in (with a captcha when asked), log out, password change and recovery |
//! | [`draft`] | the registration draft: agreement, fields, center, subjects, declaration, validation |
//! | [`photo`] | checking and preparing an ID photo, attaching it |
//! | [`sync`] | syncing once or live, change notifications through a foreign [`Listener`], rejected edits |
//! | [`actions`] | submit, withdraw, apply for review; status, deadline, receipt, ticket number and seats |
//! | [`payment`] | pay (the payment page's URL) and "I have paid, refresh" |
//! | [`documents`] | the registration form and admission ticket PDFs; the center's announcements |
//! | [`ticket`] | offline verification of an admission ticket's QR code |
//! | [`errors`] | [`BaomingError`], the one public error |
//! | [`about`] | the library's version and the sync protocol version it speaks |
//!
//! Threading: every method blocks until it is done (network calls up to their timeout) and may
//! be called from any thread; call them off the UI thread (a Kotlin `Dispatchers.IO` coroutine,
//! a Swift `Task.detached`, a Python worker thread). Listener callbacks arrive on the client's
//! own threads. See README.md.

uniffi::setup_scaffolding!("baoming");

pub mod about;
pub mod account;
pub mod actions;
pub mod client;
pub mod documents;
pub mod draft;
pub mod errors;
pub mod payment;
pub mod photo;
pub mod sync;
pub mod ticket;

pub use about::{library_version, protocol_version};
pub use client::BaomingClient;
pub use errors::BaomingError;
pub use sync::{Event, Listener};
