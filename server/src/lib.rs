//! Baoming's server: a warp + tokio + sled service, the authority for accounts, seats, review
//! locks, payments and admission tickets, plus the admin command line.
//!
//! Layers, top to bottom (arrows point down only; ARCHITECTURE.md draws them):
//!
//! * [`api`] — the one route table of named handlers, their extractors and the one mapping of
//!   domain errors to HTTP statuses; the only module that knows warp and HTTP;
//! * [`serve`] and [`app`] — the composition root: builds every service into a [`state::State`]
//!   and runs the background jobs; [`admin`] is the `baoming-server admin …` command line;
//! * the domains — [`identity`] (accounts, sessions, operators, captchas, throttling, OAuth),
//!   [`catalog`] (the catalog, exam keys, seats), [`registration`] (documents, the sync hub,
//!   photo blobs, the lifecycle, cancellations), [`payments`], [`desk`] (review, reports,
//!   notices, on-site confirmation) and [`examday`] (arrangement, documents, check-in), each
//!   answering with its own error enum or a typed [`refusal::Refusal`];
//! * [`store`] — the storage interface, the sled engine, durability, sealing, audit and backup;
//! * beside them all, [`clock`] (the one time source tests can move), [`config`] and
//!   [`admission`] (bounded slots and a bounded line in front of an expensive path).

pub mod admin;
pub mod admission;
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
