//! What the library is: its own version and the version of the sync protocol it speaks, for an
//! app's "about" screen, its logs and its bug reports.

/// This library's version (`0.1.0`, …): the Python package's `__version__` and the jar's
/// `Implementation-Version` are the same.
#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// The sync protocol version the library speaks: automerge-repo's network protocol version,
/// announced in the device's `join` message (protocol.md §4). A server that does not speak it
/// closes the connection with `unsupported_version`.
#[uniffi::export]
pub fn protocol_version() -> String {
    baoming_core::wire::PROTOCOL_VERSION.to_owned()
}
