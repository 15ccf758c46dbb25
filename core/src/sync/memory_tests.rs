//! The document's memory of refused changes, across connections: a peer that never resets
//! (a stock automerge-repo client) is answered from memory, without a second check, however
//! often it comes back; a status change lets its changes be checked again; a device that resets
//! is never caught by it.

use automerge::ActorId;

use super::tests::raw_put;
use super::*;
use crate::document::SERVER_ACTOR;
use crate::draft::ServerSection;
use crate::lifecycle::Status;

const EXAM: &str = "ncre-2027-03";

fn server_in(status: Status) -> RegistrationDoc {
    let mut server = RegistrationDoc::new(EXAM, ActorId::from(&SERVER_ACTOR[..])).expect("server");
    server.write_server(&ServerSection { status, ..ServerSection::default() }).expect("status");
    server
}

/// A replica that shares the server's history so far, written to through Automerge directly, as
/// any automerge-repo app can.
fn stock_client(server: &mut RegistrationDoc, n: u8) -> RegistrationDoc {
    let mut client = RegistrationDoc::new(EXAM, ActorId::from(&[n; 16][..])).expect("client");
    client.load_incremental(&server.copy_bytes()).expect("the server's history");
    client
}

/// One connection of a peer that never resets: fresh sync states on both sides, messages until
/// both are quiet. Returns what the server made of each message, and the messages each side sent.
fn stock_connection(
    server: &mut RegistrationDoc,
    memory: &mut RefusedMemory,
    client: &mut RegistrationDoc,
) -> (Vec<Received>, usize, usize) {
    let (mut at_server, mut at_client) = (PeerSync::new(), PeerSync::new());
    let (mut got, mut sent, mut replies) = (Vec::new(), 0, 0);
    for _ in 0..20 {
        let mut quiet = true;
        if let Some(m) = at_client.generate(client) {
            quiet = false;
            sent += 1;
            got.push(
                at_server.receive_checked(server, memory, &m, IncomingLimits::default()).expect("receive"),
            );
        }
        if let Some(m) = at_server.generate(server) {
            quiet = false;
            replies += 1;
            at_client.receive_trusted(client, &m).expect("client");
        }
        if quiet {
            return (got, sent, replies);
        }
    }
    panic!("the exchange does not settle: {got:?}");
}

fn refusals(got: &[Received]) -> (usize, usize) {
    let checked = got.iter().filter(|r| matches!(r, Received::Refused(_))).count();
    let recalled = got.iter().filter(|r| matches!(r, Received::Recalled(_))).count();
    (checked, recalled)
}

#[test]
fn a_peer_that_never_resets_is_answered_from_memory_on_every_connection() {
    let mut server = server_in(Status::Draft);
    let mut memory = RefusedMemory::new();
    let mut client = stock_client(&mut server, 3);
    raw_put(&mut client, &["server"], "status", "paid");
    raw_put(&mut client, &["draft", "fields"], "mobile", "13800138000");

    let (got, ..) = stock_connection(&mut server, &mut memory, &mut client);
    assert_eq!(refusals(&got), (1, 0), "checked and refused once: {got:?}");
    for connection in 0..5 {
        // The stock app goes on editing on top of the refused change.
        raw_put(&mut client, &["draft", "fields"], "email", &format!("a{connection}@example.cn"));
        let (got, sent, replies) = stock_connection(&mut server, &mut memory, &mut client);
        let (checked, recalled) = refusals(&got);
        assert_eq!(checked, 0, "never checked again: {got:?}");
        assert!(recalled <= 1, "told once per connection at most: {got:?}");
        assert!(sent <= 3 && replies <= 2, "a handful of messages: {sent} sent, {replies} replies");
    }
    assert!(server.draft().fields.is_empty());
    assert_eq!(server.status(), Status::Draft);
    assert_eq!(memory.refusals().count(), 1);
    let remembered = memory.refusals().next().expect("one refusal");
    assert!(remembered.changes.iter().all(|h| !server.has_change(h)), "only refused changes are remembered");
}

#[test]
fn the_memory_survives_a_reload_and_a_status_change_lets_the_change_be_checked_again() {
    let mut server = server_in(Status::UnderReview);
    let mut memory = RefusedMemory::new();
    let mut client = stock_client(&mut server, 4);
    raw_put(&mut client, &["draft", "fields"], "name", "周十");
    let (got, ..) = stock_connection(&mut server, &mut memory, &mut client);
    assert_eq!(refusals(&got), (1, 0), "locked while under review: {got:?}");

    // A restart: the memory comes back from its stored bytes.
    let mut memory = RefusedMemory::decode(&memory.encode()).expect("stored memory");
    let (got, ..) = stock_connection(&mut server, &mut memory, &mut client);
    assert_eq!(refusals(&got), (0, 1), "recalled, not checked: {got:?}");

    // The review rejects the registration: answers are editable again, and the same change,
    // offered again, is checked and taken.
    server.write_server(&ServerSection { status: Status::Rejected, ..ServerSection::default() }).expect("s");
    let (got, ..) = stock_connection(&mut server, &mut memory, &mut client);
    assert_eq!(refusals(&got), (0, 0), "{got:?}");
    assert_eq!(server.draft().fields.get("name").map(String::as_str), Some("周十"));
}

#[test]
fn a_device_that_resets_goes_on_syncing_past_the_memory() {
    let mut server = server_in(Status::Draft);
    let mut memory = RefusedMemory::new();
    let mut device = stock_client(&mut server, 5);
    device.set_field("name", "吴十一").expect("edit");
    raw_put(&mut device, &["server"], "status", "paid");
    // The batch is refused; the device stops before it can reset.
    let (got, ..) = stock_connection(&mut server, &mut memory, &mut device);
    assert_eq!(refusals(&got), (1, 0), "{got:?}");

    // On its next connection it offers the refused changes again: it is told once, from
    // memory, resets, and its allowed edit goes through.
    let (mut at_server, mut at_device) = (PeerSync::new(), PeerSync::new());
    let mut got = Vec::new();
    for _ in 0..20 {
        let mut quiet = true;
        if let Some(m) = at_device.generate(&mut device) {
            quiet = false;
            let received = at_server
                .receive_checked(&mut server, &mut memory, &m, IncomingLimits::default())
                .expect("receive");
            if let Received::Recalled(r) = &received {
                let rejected =
                    at_device.reset_after_refusal(&mut device, &r.heads, &r.refused).expect("reset");
                assert!(rejected.is_empty(), "the name is still allowed: {rejected:?}");
            }
            got.push(received);
        }
        if let Some(m) = at_server.generate(&mut server) {
            quiet = false;
            at_device.receive_trusted(&mut device, &m).expect("device");
        }
        if quiet {
            break;
        }
    }
    assert_eq!(refusals(&got), (0, 1), "{got:?}");
    assert!(got.iter().any(|r| matches!(r, Received::Applied(a) if a.new_changes == 1)), "{got:?}");
    assert_eq!(server.draft().fields.get("name").map(String::as_str), Some("吴十一"));
    assert_eq!(server.status(), Status::Draft);
    assert_eq!(device.heads(), server.heads());
}
