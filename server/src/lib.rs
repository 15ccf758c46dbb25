//! Baoming's server: a warp + tokio + sled service for passport accounts, the catalog,
//! operators and the audit log, plus the admin command line.
//!
//! Layers, top to bottom:
//!
//! * [`http`] — routes and handlers (request parsing, responses, authentication filters);
//! * domain services — [`accounts`], [`operators`], [`catalog`], [`audit`], [`sessions`],
//!   [`throttle`], [`captcha`], [`notifier`], [`passwords`], [`oauth`], [`registrations`] (the
//!   registration documents and the live sync hub), [`blobs`] (the sealed photo blobs),
//!   [`lifecycle`] and [`seats`] (registration actions and seat accounting), [`cancellations`]
//!   (an administrator cancels a center or a session), and the operator's views of them:
//!   [`review`], [`reports`], [`notices`], [`onsite`];
//!   [`payments`] (the gateway interface, the Alipay-style adapter and the sandbox platform);
//!   and the exam day: [`exam_keys`] (each exam's ticket signing key), [`arrangement`] (rooms,
//!   seats and ticket numbers) and [`documents`] (PDF downloads and the check-in scan);
//! * [`app`] — the injected state and the single durable write path;
//! * [`storage`] — the storage interface and its sled implementation, [`durability`] (group
//!   commit: writers share flushes), and [`crypto`] for encryption at rest and keyed look-up
//!   hashes.
//!
//! [`server`] runs the service; [`admin`] is the `baoming-server admin …` command line;
//! [`backup`] writes and reads the versioned dump format.

pub mod admin;
pub mod api;
pub mod app;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod desk;
pub mod examday;
pub mod identity;
pub mod payments;
pub mod refusal;
pub mod registration;
pub mod serve;
pub mod state;
pub mod store;
