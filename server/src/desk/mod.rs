//! The test center's desk: the review queue, statistics and roster, notices, and on-site
//! confirmation.

pub mod notices;
pub mod onsite;
pub mod reports;
pub mod review;
