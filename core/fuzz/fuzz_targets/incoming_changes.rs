//! Untrusted Automerge data offered to the server's incoming-change check: it never panics, and a
//! refused batch leaves the document exactly as it was.
#![no_main]

use automerge::ActorId;
use baoming_core::document::{IncomingLimits, RegistrationDoc, SERVER_ACTOR};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut doc) = RegistrationDoc::new("ncre-2027-03", ActorId::from(&SERVER_ACTOR[..])) else {
        return;
    };
    let before = doc.save();
    if doc.apply_incoming(&[data], IncomingLimits::default()).is_err() {
        assert_eq!(doc.save(), before);
    }
});
