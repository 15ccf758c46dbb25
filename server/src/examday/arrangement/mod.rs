//! Room arrangement (考场编排): candidates of one center are given a room and a seat for every
//! subject they sit, and a ticket number.
//!
//! Who is arranged: every registration of the exam at the center whose status is `paid` or
//! `confirmed` — only `confirmed` where the center requires on-site confirmation. Rooms and their
//! capacities come from the catalog (`[[exam.center.room]]`); a room holds one sitting per seat
//! in every time slot, whatever the subject, so the subjects of one slot share the center's rooms.
//!
//! The plan ([`plan`]) is deterministic and stable:
//!
//! 1. seats of the previous arrangement are kept for candidates still eligible for that subject,
//!    as long as the room still exists and the seat is within its capacity;
//! 2. the others ("newcomers") are seated slot by slot (catalog order), subject by subject
//!    (catalog order), candidate by candidate (ascending registration id), into the first free
//!    seat in room order (catalog order), seat 1 upwards;
//! 3. candidates no longer eligible (withdrawn, cancelled) lose their seats, which are then free.
//!
//! If any (slot, subject) runs out of seats nothing is stored and the refusal lists every
//! shortage. The arrangement of a center is one record in the `arrangements` tree, written with
//! a precondition on the previous one and audited as `arrangement.run`.
//!
//! The same transaction writes each candidate's ticket number into their registration record's
//! `server` section (`ticket`), and removes it from the records of candidates no longer
//! arranged, with a precondition on every record it changes; records already showing the right
//! number are not touched, so a stable re-run changes no document. After the commit the changed
//! sections are written into the documents the way the lifecycle writes them (under the
//! document's action lock, durably, pushed to connected devices); a document missed there is
//! repaired by the lifecycle's reconciliation.
//!
//! **Ticket numbers** (准考证号) have 15 digits `EEEE CC SS RRR NNN K`:
//! `EEEE` the last four digits of the exam id (zero-padded; `ncre-2027-03` → `2703`), `CC` the
//! center's position in the exam's catalog entry, `SS` the slot's position, `RRR` the room's
//! position in the center and `NNN` the seat of the candidate's *first* sitting (earliest slot),
//! and `K` a Luhn check digit over the 14 digits before it. Positions are 1-based; a position
//! above the width simply takes more digits. Two candidates never share a first sitting's slot,
//! room and seat, so numbers are unique within a center; centers differ by `CC`. A number is kept
//! once given while its first sitting is unchanged.

use std::collections::{BTreeMap, BTreeSet};

use baoming_core::api::documents::{
    ArrangedCandidate, ArrangedSitting, ArrangementAnswer, ArrangementCounts,
};
use baoming_core::api::error::{ErrorCode, NotEligibleReason, Shortage};
use baoming_core::catalog::{ExamSession, TestCenter};
use baoming_core::document::DocumentId;
use baoming_core::lifecycle::Status;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ExamDay, ExamDayError};
use crate::identity::operators::{Operator, Permission, authorize, can_see};
use crate::refusal::Refusal;
use crate::registration::RegistrationError;
use crate::registration::record::{RegistrationRecord, stored_records_where};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::{CommitError, Storage, StorageError, Tree, Txn, decode, encode};

/// Commit attempts before giving up under contention.
const MAX_ATTEMPTS: usize = 20;

/// One sitting of an arranged candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    /// Subject code.
    pub subject: String,
    /// Time slot id.
    pub slot: String,
    /// Room id (from the catalog).
    pub room: String,
    /// Seat number in the room, from 1.
    pub seat: u16,
}

/// One arranged candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arranged {
    /// Ticket number (准考证号), see the module documentation.
    pub ticket_number: String,
    /// The sittings, in slot order.
    pub sittings: Vec<Seat>,
}

/// The arrangement of one center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrangement {
    /// Exam session id.
    pub exam: String,
    /// Center id.
    pub center: String,
    /// When it was last (re-)run (Unix milliseconds).
    pub updated_at_ms: i64,
    /// Arranged candidates by registration id.
    pub candidates: BTreeMap<String, Arranged>,
}

impl Arrangement {
    /// The candidate holding `ticket_number`, with their registration id.
    pub fn by_ticket(&self, ticket_number: &str) -> Option<(&str, &Arranged)> {
        self.candidates.iter().find(|(_, a)| a.ticket_number == ticket_number).map(|(id, a)| (id.as_str(), a))
    }
}

/// Why a center cannot be arranged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArrangeError {
    /// The center's catalog entry has no rooms.
    #[error("center `{0}` has no rooms in the catalog; it cannot be arranged")]
    NoRooms(String),
    /// The rooms hold fewer candidates than some slot needs.
    #[error("not enough room capacity: {}", .0.iter().map(|s| format!("slot {} subject {} needs {} more seat(s)", s.slot, s.subject, s.unseated)).collect::<Vec<_>>().join("; "))]
    Capacity(Vec<Shortage>),
}

impl ArrangeError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ArrangeError::NoRooms(_) => "no_rooms",
            ArrangeError::Capacity(_) => "room_capacity_short",
        }
    }
}

impl From<ArrangeError> for ExamDayError {
    fn from(e: ArrangeError) -> ExamDayError {
        let code = match &e {
            ArrangeError::NoRooms(_) => ErrorCode::NoRooms,
            ArrangeError::Capacity(_) => ErrorCode::RoomCapacityShort,
        };
        Refusal::conflict(code, e.to_string())
            .detail(|b| match &e {
                ArrangeError::NoRooms(center) => b.center = Some(Some(center.clone())),
                ArrangeError::Capacity(short) => {
                    b.short = Some(short.clone());
                }
            })
            .into()
    }
}

/// Whether `record` may sit the exam at `center`: paid, and confirmed where the center requires
/// it; `Err` names why not.
pub fn eligibility(record: &RegistrationRecord, center: &TestCenter) -> Result<(), NotEligibleReason> {
    match record.section.status {
        Status::Confirmed => Ok(()),
        Status::Paid if center.requires_onsite() => Err(NotEligibleReason::NotConfirmedOnSite),
        Status::Paid => Ok(()),
        Status::Cancelled => Err(NotEligibleReason::Cancelled),
        _ => Err(NotEligibleReason::NotPaid),
    }
}

/// Luhn check digit over `digits`.
pub fn luhn_digit(digits: &str) -> char {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// Whether `number` carries a valid Luhn check digit.
pub fn luhn_valid(number: &str) -> bool {
    if number.len() < 2 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let (body, check) = number.split_at(number.len() - 1);
    check.starts_with(luhn_digit(body))
}

fn exam_digits(exam: &str) -> String {
    let digits: String = exam.chars().filter(char::is_ascii_digit).collect();
    let tail = &digits[digits.len().saturating_sub(4)..];
    format!("{tail:0>4}")
}

/// The ticket number of a first sitting, see the module documentation.
pub fn ticket_number(exam: &ExamSession, center: &TestCenter, first: &Seat) -> String {
    let pos = |p: Option<usize>| p.map_or(0, |i| i + 1);
    let c = pos(exam.centers.iter().position(|x| x.id == center.id));
    let s = pos(exam.slots.iter().position(|x| x.id == first.slot));
    let r = pos(center.rooms.iter().position(|x| x.id == first.room));
    let body = format!("{}{c:02}{s:02}{r:03}{:03}", exam_digits(&exam.id), first.seat);
    let k = luhn_digit(&body);
    format!("{body}{k}")
}

/// Seats taken per slot: (room index, seat number).
type Taken = BTreeMap<String, BTreeSet<(usize, u16)>>;
/// Sittings per registration id.
type Seated = BTreeMap<String, Vec<Seat>>;

fn room_index(center: &TestCenter, room: &str) -> usize {
    center.rooms.iter().position(|r| r.id == room).unwrap_or(usize::MAX)
}

/// Step 1: keeps the previous seats that are still valid (the candidate still eligible for the
/// subject, the subject still in that slot, the room and seat still in the catalog).
fn keep_previous(
    exam: &ExamSession,
    center: &TestCenter,
    eligible: &BTreeMap<String, Vec<String>>,
    previous: &Arrangement,
    taken: &mut Taken,
    seated: &mut Seated,
) {
    let slot_of = |subject: &str| exam.subject(subject).map(|s| s.slot.clone());
    let room_ok =
        |room: &str, seat: u16| center.rooms.iter().any(|r| r.id == room && (1..=r.capacity).contains(&seat));
    for (id, arranged) in &previous.candidates {
        let Some(subjects) = eligible.get(id) else { continue };
        for seat in &arranged.sittings {
            let still = subjects.contains(&seat.subject)
                && slot_of(&seat.subject).as_deref() == Some(seat.slot.as_str())
                && room_ok(&seat.room, seat.seat)
                && taken
                    .entry(seat.slot.clone())
                    .or_default()
                    .insert((room_index(center, &seat.room), seat.seat));
            if still {
                seated.entry(id.clone()).or_default().push(seat.clone());
            }
        }
    }
}

/// Step 2: seats newcomers, slot by slot, subject by subject, candidate by candidate; returns
/// every (slot, subject) short of seats.
fn seat_newcomers(
    exam: &ExamSession,
    center: &TestCenter,
    eligible: &BTreeMap<String, Vec<String>>,
    taken: &mut Taken,
    seated: &mut Seated,
) -> Vec<Shortage> {
    let mut short = Vec::new();
    for slot in &exam.slots {
        let free_seats = taken.entry(slot.id.clone()).or_default();
        let mut free = center
            .rooms
            .iter()
            .enumerate()
            .flat_map(|(ri, r)| (1..=r.capacity).map(move |n| (ri, n)))
            .filter(|k| !free_seats.contains(k))
            .collect::<Vec<_>>()
            .into_iter();
        for subject in exam.subjects.iter().filter(|s| s.slot == slot.id) {
            let mut unseated = 0;
            let waiting = eligible.iter().filter(|(id, subjects)| {
                subjects.contains(&subject.code)
                    && !seated.get(*id).is_some_and(|v| v.iter().any(|s| s.subject == subject.code))
            });
            let waiting: Vec<String> = waiting.map(|(id, _)| id.clone()).collect();
            for id in waiting {
                match free.next() {
                    Some((ri, n)) => seated.entry(id).or_default().push(Seat {
                        subject: subject.code.clone(),
                        slot: slot.id.clone(),
                        room: center.rooms[ri].id.clone(),
                        seat: n,
                    }),
                    None => unseated += 1,
                }
            }
            if unseated > 0 {
                short.push(Shortage { slot: slot.id.clone(), subject: subject.code.clone(), unseated });
            }
        }
    }
    short
}

/// Step 3: each candidate's sittings in time order and the ticket number from the first one (a
/// candidate whose first sitting did not move keeps the number printed before).
fn number_tickets(
    exam: &ExamSession,
    center: &TestCenter,
    seated: Seated,
    previous: Option<&Arrangement>,
) -> BTreeMap<String, Arranged> {
    let slot_order = |slot: &str| {
        exam.slots
            .iter()
            .position(|s| s.id == slot)
            .map(|i| (exam.slots[i].starts, i))
            .unwrap_or((time::OffsetDateTime::UNIX_EPOCH, usize::MAX))
    };
    let mut candidates = BTreeMap::new();
    for (id, mut sittings) in seated {
        sittings.sort_by_key(|s| (slot_order(&s.slot), s.subject.clone()));
        let Some(first) = sittings.first() else { continue };
        let computed = ticket_number(exam, center, first);
        let ticket_number = previous
            .and_then(|p| p.candidates.get(&id))
            .filter(|a| a.sittings.first() == Some(first))
            .map_or(computed, |a| a.ticket_number.clone());
        candidates.insert(id, Arranged { ticket_number, sittings });
    }
    candidates
}

/// Plans the arrangement of `center` for `eligible` candidates (registration id → subjects),
/// keeping the seats of `previous`; see the module documentation.
pub fn plan(
    exam: &ExamSession,
    center: &TestCenter,
    eligible: &BTreeMap<String, Vec<String>>,
    previous: Option<&Arrangement>,
    now_ms: i64,
) -> Result<Arrangement, ArrangeError> {
    if center.rooms.is_empty() {
        return Err(ArrangeError::NoRooms(center.id.clone()));
    }
    let (mut taken, mut seated) = (Taken::new(), Seated::new());
    if let Some(prev) = previous {
        keep_previous(exam, center, eligible, prev, &mut taken, &mut seated);
    }
    let short = seat_newcomers(exam, center, eligible, &mut taken, &mut seated);
    if !short.is_empty() {
        return Err(ArrangeError::Capacity(short));
    }
    let candidates = number_tickets(exam, center, seated, previous);
    Ok(Arrangement { exam: exam.id.clone(), center: center.id.clone(), updated_at_ms: now_ms, candidates })
}

fn key(exam: &str, center: &str) -> Vec<u8> {
    format!("{exam}\0{center}").into_bytes()
}

/// The stored arrangement of `center`, with its raw bytes.
pub fn load(
    store: &dyn Storage,
    exam: &str,
    center: &str,
) -> Result<Option<(Arrangement, Vec<u8>)>, StorageError> {
    match store.get(Tree::Arrangements, &key(exam, center))? {
        Some(raw) => Ok(Some((decode(Tree::Arrangements, &raw)?, raw))),
        None => Ok(None),
    }
}

/// A registration record of the center, with its raw bytes for a precondition.
struct AtCenter {
    id: DocumentId,
    record: RegistrationRecord,
    raw: Vec<u8>,
}

/// Every registration of `exam` at `center` (any status).
fn records_at(store: &dyn Storage, exam: &str, center: &str) -> Result<Vec<AtCenter>, StorageError> {
    Ok(stored_records_where(store, exam, |c| c == center)?
        .into_iter()
        .map(|(id, record, raw)| AtCenter { id, record, raw })
        .collect())
}

fn eligible_of(records: &[AtCenter], center: &TestCenter) -> BTreeMap<String, Vec<String>> {
    records
        .iter()
        .filter(|r| eligibility(&r.record, center).is_ok())
        .map(|r| (r.id.to_string(), r.record.subjects.clone()))
        .collect()
}

/// The candidates of `exam` at `center` who may sit the exam: registration id → subjects.
pub fn eligible(
    store: &dyn Storage,
    exam: &str,
    center: &TestCenter,
) -> Result<BTreeMap<String, Vec<String>>, StorageError> {
    Ok(eligible_of(&records_at(store, exam, &center.id)?, center))
}

/// Stages, into `txn`, the ticket number of every registration at the center whose record does
/// not show the one `planned` gives it (none for a candidate not arranged), each with a
/// precondition on the record. Returns the documents whose `server` section changes, with
/// their accounts.
fn stage_tickets(
    txn: &mut Txn,
    records: Vec<AtCenter>,
    planned: &Arrangement,
    now_ms: i64,
) -> Vec<(DocumentId, String)> {
    let mut changed = Vec::new();
    for AtCenter { id, mut record, raw } in records {
        let ticket = planned.candidates.get(&id.to_string()).map(|a| a.ticket_number.clone());
        if record.section.ticket == ticket {
            continue;
        }
        record.section.ticket = ticket;
        record.section.updated_at_ms = now_ms;
        txn.require_equals(Tree::Registrations, id.as_bytes().to_vec(), Some(raw));
        txn.put(Tree::Registrations, id.as_bytes().to_vec(), encode(&record));
        changed.push((id, record.account));
    }
    changed
}

impl ExamDay {
    /// Writes the stored record's section into document `id` (open or not) and tells its devices,
    /// under the document's action lock, as the lifecycle does; nothing when the document already
    /// shows it.
    async fn project(
        &self,
        id: DocumentId,
        account: &str,
        exam: &str,
        actor: Actor,
    ) -> Result<(), ExamDayError> {
        let live = self.regs.open(id, account, exam).await?;
        let _guard = live.action_lock().await;
        self.regs.reconcile(&live, actor).await?;
        Ok(())
    }

    /// The exam and center, when the center is one the operator may see (`not_found` alike
    /// otherwise).
    fn scoped<'a>(
        view: &'a crate::catalog::CatalogView,
        op: &Operator,
        exam: &str,
        center: &str,
    ) -> Result<(&'a ExamSession, &'a TestCenter), ExamDayError> {
        let e = view.session(exam).map_err(RegistrationError::from)?;
        let c = e
            .center(center)
            .filter(|c| can_see(op, &c.id))
            .ok_or_else(|| ExamDayError::not_found(format!("no center `{center}` in exam `{exam}`")))?;
        Ok((e, c))
    }

    /// The stored arrangement of `center`, for an operator who may see it.
    pub fn arrangement(
        &self,
        op: &Operator,
        exam: &str,
        center: &str,
    ) -> Result<ArrangementAnswer, ExamDayError> {
        let view = self.regs.catalogs().require().map_err(RegistrationError::from)?;
        let (_, c) = Self::scoped(&view, op, exam, center)?;
        let (a, _) = load(self.db.store(), exam, center)?
            .ok_or_else(|| ExamDayError::not_found(format!("center `{center}` has not been arranged yet")))?;
        Ok(answer(&a, c))
    }

    /// Runs the arrangement of `center` on behalf of operator `op` (not an auditor) and stores
    /// it; answers the arrangement with counts of kept, new and released candidates.
    pub async fn arrange(
        &self,
        op: &Operator,
        exam: &str,
        center: &str,
    ) -> Result<ArrangementAnswer, ExamDayError> {
        let view = self.regs.catalogs().require().map_err(RegistrationError::from)?;
        let (e, c) = Self::scoped(&view, op, exam, center)?;
        authorize(op, Permission::ReviewCenter(center))?;
        self.run(Actor::Operator(op.id.clone()), e, c).await
    }

    /// Runs the arrangement of `center` as `actor` and stores it; answers the arrangement with
    /// counts of kept, new and released candidates.
    pub async fn run(
        &self,
        actor: Actor,
        exam: &ExamSession,
        center: &TestCenter,
    ) -> Result<ArrangementAnswer, ExamDayError> {
        for _ in 0..MAX_ATTEMPTS {
            let previous = load(self.db.store(), &exam.id, &center.id)?;
            let records = records_at(self.db.store(), &exam.id, &center.id)?;
            let candidates = eligible_of(&records, center);
            let now_ms = self.db.clock().now_secs() * 1000;
            let planned = plan(exam, center, &candidates, previous.as_ref().map(|(a, _)| a), now_ms)?;
            let before: BTreeSet<&String> = previous.iter().flat_map(|(a, _)| a.candidates.keys()).collect();
            let after: BTreeSet<&String> = planned.candidates.keys().collect();
            let counts = ArrangementCounts {
                arranged: after.len() as u64,
                new: after.difference(&before).count() as u64,
                kept: after.intersection(&before).count() as u64,
                released: before.difference(&after).count() as u64,
            };
            let mut txn = Txn::new();
            txn.require_equals(
                Tree::Arrangements,
                key(&exam.id, &center.id),
                previous.as_ref().map(|(_, raw)| raw.clone()),
            );
            txn.put(Tree::Arrangements, key(&exam.id, &center.id), encode(&planned));
            let changed = stage_tickets(&mut txn, records, &planned, now_ms);
            let details = json!({
                "arranged": counts.arranged, "new": counts.new, "kept": counts.kept,
                "released": counts.released, "tickets_written": changed.len(),
            });
            let event =
                AuditEvent::new(actor.clone(), "arrangement.run", format!("{}/{}", exam.id, center.id))
                    .with(details);
            match self.db.commit(txn, event).await {
                Ok(()) => {
                    // The records are the truth; a document not updated here (an error, a crash) is
                    // repaired by the lifecycle's reconciliation (next action, start-up sweep).
                    for (id, account) in changed {
                        if let Err(e) = self.project(id, &account, &exam.id, actor.clone()).await {
                            tracing::warn!(document = %id, error = %e, "ticket number not yet in the document");
                        }
                    }
                    let mut body = answer(&planned, center);
                    body.counts = Some(counts);
                    return Ok(body);
                }
                Err(CommitError::Precondition(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Refusal::conflict(ErrorCode::ConcurrentUpdate, "the arrangement changed meanwhile; retry").into())
    }
}

/// An arrangement as operators read it.
pub fn answer(a: &Arrangement, center: &TestCenter) -> ArrangementAnswer {
    let room_name = |id: &str| center.rooms.iter().find(|r| r.id == id).map(|r| r.name.clone());
    ArrangementAnswer {
        exam: a.exam.clone(),
        center: a.center.clone(),
        updated_at_ms: a.updated_at_ms,
        candidates: a
            .candidates
            .iter()
            .map(|(id, c)| ArrangedCandidate {
                registration_id: id.clone(),
                ticket_number: c.ticket_number.clone(),
                sittings: c
                    .sittings
                    .iter()
                    .map(|s| ArrangedSitting {
                        subject: s.subject.clone(),
                        slot: s.slot.clone(),
                        room: s.room.clone(),
                        room_name: room_name(&s.room),
                        seat: s.seat,
                    })
                    .collect(),
            })
            .collect(),
        counts: None,
    }
}

#[cfg(test)]
mod tests;
