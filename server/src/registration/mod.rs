//! Registrations: the candidates' documents and the live sync hub, the photo blobs, the
//! lifecycle actions and the cancellations that drive them.

pub mod blobs;
pub mod cancellations;
pub mod hub;
pub mod lifecycle;
