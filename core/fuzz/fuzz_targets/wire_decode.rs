//! Untrusted WebSocket frames: decoding never panics, and whatever decodes re-encodes to a frame
//! that decodes to the same message.
#![no_main]

use baoming_core::wire::{WireMessage, decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode(data) {
        if !matches!(message, WireMessage::Other { .. }) {
            assert_eq!(decode(&encode(&message)), Ok(message));
        }
    }
});
