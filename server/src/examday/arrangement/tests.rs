//! The arrangement's rules: seats kept, newcomers seated, shortages named, stable numbers.

use super::*;
use baoming_core::catalog::Catalog;

fn eligible(n: usize, subjects: &[&str]) -> BTreeMap<String, Vec<String>> {
    (0..n).map(|i| (format!("reg{i:03}"), subjects.iter().map(|s| (*s).to_owned()).collect())).collect()
}

#[test]
fn luhn_check_digits() {
    assert_eq!(luhn_digit("7992739871"), '3');
    assert!(luhn_valid("79927398713"));
    assert!(!luhn_valid("79927398714"));
}

#[test]
fn plans_are_deterministic_stable_and_refuse_short_capacity() {
    let catalog = Catalog::demo();
    let exam = catalog.exam("ncre-2027-03").expect("exam");
    // bj-dongcheng: two rooms of four seats; subjects 15 and 66.
    let center = exam.center("bj-dongcheng").expect("center");
    let first = plan(exam, center, &eligible(5, &["15"]), None, 1).expect("plan");
    assert_eq!(first, plan(exam, center, &eligible(5, &["15"]), None, 1).expect("again"), "deterministic");
    let seats: Vec<_> =
        first.candidates.values().map(|a| (a.sittings[0].room.clone(), a.sittings[0].seat)).collect();
    assert_eq!(seats[0], ("001".to_owned(), 1));
    assert_eq!(seats[4], ("002".to_owned(), 1));
    let numbers: BTreeSet<_> = first.candidates.values().map(|a| a.ticket_number.clone()).collect();
    assert_eq!(numbers.len(), 5, "unique");
    assert!(numbers.iter().all(|n| n.len() == 15 && n.starts_with("2703") && luhn_valid(n)), "{numbers:?}");

    // reg000 leaves, two newcomers arrive: the others keep their seats, newcomers fill the
    // free ones (reg000's seat first).
    let mut now = eligible(7, &["15"]);
    now.remove("reg000");
    let second = plan(exam, center, &now, Some(&first), 2).expect("replan");
    for id in ["reg001", "reg002", "reg003", "reg004"] {
        assert_eq!(second.candidates[id], first.candidates[id], "{id} keeps the seat");
    }
    assert_eq!(second.candidates["reg005"].sittings[0].seat, 1);
    assert_eq!(second.candidates["reg005"].sittings[0].room, "001");
    assert!(!second.candidates.contains_key("reg000"));

    let err = plan(exam, center, &eligible(10, &["15"]), None, 3).expect_err("short");
    assert_eq!(
        err,
        ArrangeError::Capacity(vec![Shortage { slot: "sat-am".into(), subject: "15".into(), unseated: 2 }])
    );
    let no_rooms = exam.center("bj-haidian").expect("center");
    assert_eq!(
        plan(exam, no_rooms, &eligible(1, &["15"]), None, 4),
        Err(ArrangeError::NoRooms("bj-haidian".into()))
    );
}
