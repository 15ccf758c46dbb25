//! The exam catalog: the served catalog view and its import, each exam's ticket signing key,
//! and the seat counters.

pub mod exam_keys;
pub mod seats;
mod view;

pub use view::*;
