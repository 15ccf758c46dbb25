//! The registration lifecycle: statuses, events, the transition function and the table of what
//! a candidate may edit in each status.
//!
//! [`transition`] is pure and total: every `(status, event)` pair yields either a
//! [`Transition`] (the new status plus what happens to seats and the payment deadline) or a
//! typed [`TransitionError`]. The server applies it to decide; the device uses it to explain.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being filled in; nothing held.
    #[default]
    Draft,
    /// Submitted; seats held.
    Submitted,
    /// Waiting for the center's review; everything locked.
    UnderReview,
    /// Rejected by the center with a reason; answers and photo editable again.
    Rejected,
    /// Approved by the center; payment due.
    Approved,
    /// A payment order is open.
    AwaitingPayment,
    /// Paid.
    Paid,
    /// Paid and confirmed on site.
    Confirmed,
    /// The payment deadline passed; seats released.
    Expired,
    /// Withdrawn by the candidate; seats released.
    Withdrawn,
    /// Cancelled by the administrator.
    Cancelled,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 11] = [
        Status::Draft,
        Status::Submitted,
        Status::UnderReview,
        Status::Rejected,
        Status::Approved,
        Status::AwaitingPayment,
        Status::Paid,
        Status::Confirmed,
        Status::Expired,
        Status::Withdrawn,
        Status::Cancelled,
    ];

    /// The stable machine name (`under_review`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Submitted => "submitted",
            Status::UnderReview => "under_review",
            Status::Rejected => "rejected",
            Status::Approved => "approved",
            Status::AwaitingPayment => "awaiting_payment",
            Status::Paid => "paid",
            Status::Confirmed => "confirmed",
            Status::Expired => "expired",
            Status::Withdrawn => "withdrawn",
            Status::Cancelled => "cancelled",
        }
    }

    /// The Chinese name shown to candidates.
    pub fn label_zh(self) -> &'static str {
        match self {
            Status::Draft => "填写中",
            Status::Submitted => "已提交",
            Status::UnderReview => "审核中",
            Status::Rejected => "审核未通过",
            Status::Approved => "审核通过，待缴费",
            Status::AwaitingPayment => "缴费中",
            Status::Paid => "已缴费",
            Status::Confirmed => "已现场确认",
            Status::Expired => "缴费超时",
            Status::Withdrawn => "已撤销",
            Status::Cancelled => "已取消",
        }
    }

    /// Whether seats are held for a registration in this status.
    pub fn holds_seats(self) -> bool {
        matches!(
            self,
            Status::Submitted
                | Status::UnderReview
                | Status::Rejected
                | Status::Approved
                | Status::AwaitingPayment
                | Status::Paid
                | Status::Confirmed
        )
    }

    /// Whether the candidate may edit paths of `group` in this status.
    pub fn can_edit(self, group: PathGroup) -> bool {
        match self {
            Status::Draft | Status::Expired | Status::Withdrawn => true,
            Status::Submitted | Status::Rejected => group == PathGroup::Answers,
            Status::UnderReview
            | Status::Approved
            | Status::AwaitingPayment
            | Status::Paid
            | Status::Confirmed
            | Status::Cancelled => false,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A status name that is not one of [`Status::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status `{0}`")]
pub struct UnknownStatus(pub String);

/// The two groups of the editable-path table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathGroup {
    /// Form answers and the photo: editable while submitted or rejected.
    Answers,
    /// Center, subjects, agreement and declaration: locked from submission on.
    Choices,
}

/// A place in the draft a candidate can write to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DraftPath {
    /// `draft.fields.<key>`.
    Field(String),
    /// `draft.photo`.
    Photo,
    /// `draft.center`.
    Center,
    /// `draft.subjects`.
    Subjects,
    /// `draft.agreement`.
    Agreement,
    /// `draft.declaration`.
    Declaration,
}

impl DraftPath {
    /// The editable-path group of this path.
    pub fn group(&self) -> PathGroup {
        match self {
            DraftPath::Field(_) | DraftPath::Photo => PathGroup::Answers,
            DraftPath::Center | DraftPath::Subjects | DraftPath::Agreement | DraftPath::Declaration => {
                PathGroup::Choices
            }
        }
    }
}

impl fmt::Display for DraftPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DraftPath::Field(key) => write!(f, "draft.fields.{key}"),
            DraftPath::Photo => f.write_str("draft.photo"),
            DraftPath::Center => f.write_str("draft.center"),
            DraftPath::Subjects => f.write_str("draft.subjects"),
            DraftPath::Agreement => f.write_str("draft.agreement"),
            DraftPath::Declaration => f.write_str("draft.declaration"),
        }
    }
}

/// Something that happens to a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The candidate submits (seats are held).
    Submit,
    /// The candidate withdraws (seats are released).
    Withdraw,
    /// The candidate applies for review.
    ApplyForReview,
    /// The center approves.
    Approve,
    /// The center rejects with a reason.
    Reject,
    /// The candidate opens a payment order.
    StartPayment,
    /// The gateway reports the payment as successful.
    PaymentSucceeded,
    /// The payment deadline passes unpaid.
    DeadlinePassed,
    /// The center confirms the candidate on site.
    ConfirmOnSite,
    /// The administrator cancels the center or the session.
    Cancel,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 10] = [
        Event::Submit,
        Event::Withdraw,
        Event::ApplyForReview,
        Event::Approve,
        Event::Reject,
        Event::StartPayment,
        Event::PaymentSucceeded,
        Event::DeadlinePassed,
        Event::ConfirmOnSite,
        Event::Cancel,
    ];
}

/// The center's rules that shape the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// The center reviews registrations before payment.
    pub review: bool,
    /// The center requires on-site confirmation.
    pub onsite_required: bool,
}

/// What a transition does to the seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatEffect {
    /// Nothing held before or after.
    None,
    /// Hold seats for every chosen subject (and one at the center).
    Hold,
    /// Seats stay as they are.
    Keep,
    /// Release the held seats.
    Release,
}

/// What a transition does to the payment deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineEffect {
    /// The deadline stays as it is.
    Keep,
    /// Start the payment window now.
    Start,
    /// No deadline runs any more.
    Clear,
}

/// The outcome of an allowed transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The new status.
    pub to: Status,
    /// What happens to seats.
    pub seats: SeatEffect,
    /// What happens to the payment deadline.
    pub deadline: DeadlineEffect,
}

/// Why an event is refused in a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The registration is locked for review.
    #[error("the registration is under review and locked")]
    UnderReview,
    /// The center does not review registrations.
    #[error("this test center does not review registrations")]
    ReviewNotOffered,
    /// The center reviews registrations: apply for review and wait for approval first.
    #[error("this test center must approve the registration before payment")]
    ReviewRequired,
    /// The center does not ask for on-site confirmation.
    #[error("this test center does not ask for on-site confirmation")]
    OnsiteNotRequired,
    /// The event makes no sense in this status.
    #[error("`{event:?}` is not possible while the registration is {status}")]
    NotAllowed {
        /// The current status.
        status: Status,
        /// The refused event.
        event: Event,
    },
}

impl TransitionError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            TransitionError::UnderReview => "locked_under_review",
            TransitionError::ReviewNotOffered => "review_not_offered",
            TransitionError::ReviewRequired => "review_required",
            TransitionError::OnsiteNotRequired => "onsite_not_required",
            TransitionError::NotAllowed { .. } => "transition_not_allowed",
        }
    }
}

/// The lifecycle's transition function.
pub fn transition(status: Status, event: Event, policy: Policy) -> Result<Transition, TransitionError> {
    use DeadlineEffect as D;
    use SeatEffect as S;
    use Status::*;
    let to = |to, seats, deadline| Ok(Transition { to, seats, deadline });
    let refuse = Err(TransitionError::NotAllowed { status, event });
    match (event, status) {
        (Event::Submit, Draft | Expired | Withdrawn) => {
            to(Submitted, S::Hold, if policy.review { D::Clear } else { D::Start })
        }
        (Event::Withdraw, Submitted | Rejected | Approved) => to(Withdrawn, S::Release, D::Clear),
        (Event::ApplyForReview, Submitted | Rejected) if !policy.review => {
            Err(TransitionError::ReviewNotOffered)
        }
        (Event::ApplyForReview, Submitted | Rejected) => to(UnderReview, S::Keep, D::Keep),
        (Event::Approve, UnderReview) => to(Approved, S::Keep, D::Start),
        (Event::Reject, UnderReview) => to(Rejected, S::Keep, D::Keep),
        (Event::StartPayment | Event::PaymentSucceeded, Submitted) if policy.review => {
            Err(TransitionError::ReviewRequired)
        }
        (Event::StartPayment, Submitted | Approved | AwaitingPayment) => {
            to(AwaitingPayment, S::Keep, D::Keep)
        }
        (Event::PaymentSucceeded, Submitted | Approved | AwaitingPayment) => to(Paid, S::Keep, D::Clear),
        // A payment that lands after expiry: the server re-holds the seats when they are free,
        // and refunds instead when they are not (then this event is not applied).
        (Event::PaymentSucceeded, Expired) => to(Paid, S::Hold, D::Clear),
        (Event::DeadlinePassed, Submitted) if policy.review => refuse,
        (Event::DeadlinePassed, Submitted | Approved | AwaitingPayment) => to(Expired, S::Release, D::Clear),
        (Event::ConfirmOnSite, Paid) if !policy.onsite_required => Err(TransitionError::OnsiteNotRequired),
        (Event::ConfirmOnSite, Paid) => to(Confirmed, S::Keep, D::Keep),
        (Event::Cancel, Cancelled) => refuse,
        (Event::Cancel, s) if s.holds_seats() => to(Cancelled, S::Release, D::Clear),
        (Event::Cancel, _) => to(Cancelled, S::None, D::Clear),
        (Event::Submit | Event::Withdraw | Event::ApplyForReview | Event::StartPayment, UnderReview) => {
            Err(TransitionError::UnderReview)
        }
        _ => refuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeadlineEffect as D;
    use SeatEffect as S;
    use Status::*;

    const REVIEW: Policy = Policy { review: true, onsite_required: false };
    const DIRECT: Policy = Policy { review: false, onsite_required: false };
    const ONSITE: Policy = Policy { review: false, onsite_required: true };

    type Expect = Result<(Status, SeatEffect, DeadlineEffect), &'static str>;

    /// The expected outcome of every (event, status) pair under a policy, written out in full so
    /// that a change to the rules shows up here as a table change.
    fn expected(event: Event, status: Status, p: Policy) -> Expect {
        let na = Err("transition_not_allowed");
        match event {
            Event::Submit => match status {
                Draft | Expired | Withdrawn => {
                    Ok((Submitted, S::Hold, if p.review { D::Clear } else { D::Start }))
                }
                UnderReview => Err("locked_under_review"),
                _ => na,
            },
            Event::Withdraw => match status {
                Submitted | Rejected | Approved => Ok((Withdrawn, S::Release, D::Clear)),
                UnderReview => Err("locked_under_review"),
                _ => na,
            },
            Event::ApplyForReview => match status {
                Submitted | Rejected if p.review => Ok((UnderReview, S::Keep, D::Keep)),
                Submitted | Rejected => Err("review_not_offered"),
                UnderReview => Err("locked_under_review"),
                _ => na,
            },
            Event::Approve => match status {
                UnderReview => Ok((Approved, S::Keep, D::Start)),
                _ => na,
            },
            Event::Reject => match status {
                UnderReview => Ok((Rejected, S::Keep, D::Keep)),
                _ => na,
            },
            Event::StartPayment => match status {
                Submitted if p.review => Err("review_required"),
                Submitted | Approved | AwaitingPayment => Ok((AwaitingPayment, S::Keep, D::Keep)),
                UnderReview => Err("locked_under_review"),
                _ => na,
            },
            Event::PaymentSucceeded => match status {
                Submitted if p.review => Err("review_required"),
                Submitted | Approved | AwaitingPayment => Ok((Paid, S::Keep, D::Clear)),
                Expired => Ok((Paid, S::Hold, D::Clear)),
                _ => na,
            },
            Event::DeadlinePassed => match status {
                Submitted if p.review => na,
                Submitted | Approved | AwaitingPayment => Ok((Expired, S::Release, D::Clear)),
                _ => na,
            },
            Event::ConfirmOnSite => match status {
                Paid if p.onsite_required => Ok((Confirmed, S::Keep, D::Keep)),
                Paid => Err("onsite_not_required"),
                _ => na,
            },
            Event::Cancel => match status {
                Cancelled => na,
                s if s.holds_seats() => Ok((Cancelled, S::Release, D::Clear)),
                _ => Ok((Cancelled, S::None, D::Clear)),
            },
        }
    }

    #[test]
    fn every_status_event_pair_under_every_policy() {
        let mut checked = 0;
        for policy in [REVIEW, DIRECT, ONSITE, Policy { review: true, onsite_required: true }] {
            for status in Status::ALL {
                for event in Event::ALL {
                    let got = transition(status, event, policy)
                        .map(|t| (t.to, t.seats, t.deadline))
                        .map_err(|e| e.code());
                    assert_eq!(got, expected(event, status, policy), "{event:?} in {status} with {policy:?}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 4 * 11 * 10);
    }

    #[test]
    fn seats_are_held_exactly_when_the_status_says_so() {
        for policy in [REVIEW, DIRECT, ONSITE] {
            for status in Status::ALL {
                for event in Event::ALL {
                    if let Ok(t) = transition(status, event, policy) {
                        let held_after = match t.seats {
                            S::Hold => true,
                            S::Release | S::None => false,
                            S::Keep => status.holds_seats(),
                        };
                        assert_eq!(held_after, t.to.holds_seats(), "{event:?} in {status}");
                        if t.seats == S::Hold {
                            assert!(!status.holds_seats(), "double hold: {event:?} in {status}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn review_journey_and_direct_journey() {
        let step = |s, e, p| transition(s, e, p).expect("allowed").to;
        let mut s = Draft;
        for e in [
            Event::Submit,
            Event::ApplyForReview,
            Event::Reject,
            Event::ApplyForReview,
            Event::Approve,
            Event::StartPayment,
            Event::PaymentSucceeded,
        ] {
            s = step(s, e, REVIEW);
        }
        assert_eq!(s, Paid);
        let s = step(
            step(step(Draft, Event::Submit, ONSITE), Event::PaymentSucceeded, ONSITE),
            Event::ConfirmOnSite,
            ONSITE,
        );
        assert_eq!(s, Confirmed);
    }

    #[test]
    fn editable_table() {
        use PathGroup::*;
        let table = [
            (Draft, true, true),
            (Expired, true, true),
            (Withdrawn, true, true),
            (Submitted, true, false),
            (UnderReview, false, false),
            (Rejected, true, false),
            (Approved, false, false),
            (AwaitingPayment, false, false),
            (Paid, false, false),
            (Confirmed, false, false),
            (Cancelled, false, false),
        ];
        assert_eq!(table.len(), Status::ALL.len());
        for (status, answers, choices) in table {
            assert_eq!(status.can_edit(Answers), answers, "{status} answers");
            assert_eq!(status.can_edit(Choices), choices, "{status} choices");
        }
        assert_eq!(DraftPath::Field("name".into()).group(), Answers);
        assert_eq!(DraftPath::Photo.group(), Answers);
        assert_eq!(DraftPath::Subjects.group(), Choices);
        assert_eq!(DraftPath::Field("name".into()).to_string(), "draft.fields.name");
    }

    proptest::proptest! {
        /// From wherever any sequence of events leads, an administrator's cancellation ends in
        /// `cancelled`, releases seats exactly when some were held, and nothing moves a
        /// cancelled registration again.
        #[test]
        fn cancellation_is_reachable_from_anywhere_and_final(
            events in proptest::collection::vec(0usize..Event::ALL.len(), 0..24),
            review in proptest::bool::ANY,
            onsite in proptest::bool::ANY,
        ) {
            let policy = Policy { review, onsite_required: onsite };
            let mut s = Draft;
            for e in events {
                if let Ok(t) = transition(s, Event::ALL[e], policy) {
                    s = t.to;
                }
            }
            if s != Cancelled {
                let t = transition(s, Event::Cancel, policy).expect("cancel is always possible");
                proptest::prop_assert_eq!(t.to, Cancelled);
                proptest::prop_assert_eq!(t.seats == S::Release, s.holds_seats());
                proptest::prop_assert_eq!(t.deadline, D::Clear);
                s = t.to;
            }
            for e in Event::ALL {
                proptest::prop_assert!(transition(s, e, policy).is_err(), "{:?} moved a cancelled registration", e);
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).expect("json"), format!("\"{}\"", s.as_str()));
        }
        assert!("limbo".parse::<Status>().is_err());
    }
}
