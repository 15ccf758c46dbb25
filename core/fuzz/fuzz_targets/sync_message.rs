//! Untrusted Automerge sync messages through the server's sync engine: it never panics, and
//! nothing outside what a device may write is ever applied.
#![no_main]

use automerge::ActorId;
use baoming_core::document::{IncomingLimits, RegistrationDoc, SERVER_ACTOR};
use baoming_core::lifecycle::Status;
use baoming_core::sync::{PeerSync, RefusedMemory};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut doc) = RegistrationDoc::new("ncre-2027-03", ActorId::from(&SERVER_ACTOR[..])) else {
        return;
    };
    let mut peer = PeerSync::new();
    let mut memory = RefusedMemory::new();
    let _ = peer.receive_checked(&mut doc, &mut memory, data, IncomingLimits::default());
    // Whatever was remembered, a second delivery is answered without changing the document.
    let _ = PeerSync::new().receive_checked(&mut doc, &mut memory, data, IncomingLimits::default());
    assert_eq!(doc.status(), Status::Draft, "a device can never change the status");
    let _ = peer.generate(&mut doc);
});
