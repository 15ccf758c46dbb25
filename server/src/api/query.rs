//! Query strings the HTTP layer turns into typed requests: the review queue's
//! (`status`, `q`, `limit`, `cursor` | `offset`), with a typed 400 naming the parameter at fault.

use baoming_core::api::desk::ReviewQuery;
use baoming_core::api::error::ErrorCode;
use baoming_core::lifecycle::Status;

use crate::desk::review::{DEFAULT_LIMIT, MAX_LIMIT, MAX_Q, QueueQuery, Start, decode_cursor};
use crate::refusal::{Refusal, RefusalKind};

fn bad(code: ErrorCode, message: impl Into<String>, parameter: &str) -> Refusal {
    Refusal::new(RefusalKind::BadRequest, code, message).detail(|b| b.parameter = Some(parameter.to_owned()))
}

/// The queue's parameters as given, each at most once (`status` may repeat).
#[derive(Default)]
struct Given {
    statuses: Vec<String>,
    q: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    offset: Option<String>,
}

impl Given {
    fn collect(pairs: &[(String, String)]) -> Result<Given, Refusal> {
        let mut given = Given::default();
        for (k, v) in pairs {
            let slot = match k.as_str() {
                ReviewQuery::STATUS => {
                    given.statuses.push(v.clone());
                    continue;
                }
                ReviewQuery::Q => &mut given.q,
                ReviewQuery::LIMIT => &mut given.limit,
                ReviewQuery::CURSOR => &mut given.cursor,
                ReviewQuery::OFFSET => &mut given.offset,
                other => {
                    let message = format!("unknown parameter `{other}` (status, q, limit, cursor, offset)");
                    return Err(bad(ErrorCode::ParameterUnknown, message, other));
                }
            };
            if slot.replace(v.clone()).is_some() {
                return Err(bad(ErrorCode::ParameterRepeated, format!("`{k}` may be given once"), k));
            }
        }
        Ok(given)
    }
}

/// The statuses of `status` values (repeated or comma-separated), each once; `under_review`
/// when none is given.
fn statuses(values: &[String]) -> Result<Vec<Status>, Refusal> {
    let mut out = Vec::new();
    for s in values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
        let status: Status = s.parse().map_err(|_| {
            bad(ErrorCode::StatusInvalid, format!("unknown status `{s}`"), ReviewQuery::STATUS)
                .detail(|b| b.allowed = Some(Status::ALL.to_vec()))
        })?;
        if !out.contains(&status) {
            out.push(status);
        }
    }
    if out.is_empty() {
        out.push(Status::UnderReview);
    }
    Ok(out)
}

fn start(cursor: Option<String>, offset: Option<String>) -> Result<Start, Refusal> {
    match (cursor, offset) {
        (Some(_), Some(_)) => {
            Err(bad(ErrorCode::PagingConflict, "give `cursor` or `offset`, not both", ReviewQuery::CURSOR))
        }
        (Some(c), None) => decode_cursor(&c).map(|(ms, id)| Start::After(ms, id)).ok_or_else(|| {
            bad(ErrorCode::CursorInvalid, "the cursor is not one this server issued", ReviewQuery::CURSOR)
        }),
        (None, Some(o)) => o.parse().map(Start::Offset).map_err(|_| {
            bad(ErrorCode::OffsetInvalid, "`offset` is a non-negative number", ReviewQuery::OFFSET)
        }),
        (None, None) => Ok(Start::Offset(0)),
    }
}

/// Parses the review queue's query pairs: `status` (repeated or comma-separated; default
/// `under_review`), `q`, `limit` (1–100, default 20), and one of `cursor` or `offset`. Unknown
/// or repeated parameters are refused with a typed 400.
pub(super) fn review_query(pairs: &[(String, String)]) -> Result<QueueQuery, Refusal> {
    let given = Given::collect(pairs)?;
    let statuses = statuses(&given.statuses)?;
    let q = given.q.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if q.as_ref().is_some_and(|s| s.chars().count() > MAX_Q || s.chars().any(char::is_control)) {
        return Err(bad(ErrorCode::QInvalid, format!("`q` has at most {MAX_Q} characters"), ReviewQuery::Q));
    }
    let limit = match given.limit {
        None => DEFAULT_LIMIT,
        Some(l) => l.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            bad(
                ErrorCode::LimitInvalid,
                format!("`limit` is a number from 1 to {MAX_LIMIT}"),
                ReviewQuery::LIMIT,
            )
        })?,
    };
    Ok(QueueQuery { statuses, q, limit, start: start(given.cursor, given.offset)? })
}

#[cfg(test)]
mod tests {
    use baoming_core::document::DocumentId;

    use super::*;
    use crate::desk::review::encode_cursor;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn queries_parse_with_defaults_and_typed_refusals() {
        let q = review_query(&[]).expect("defaults");
        assert_eq!(
            (q.statuses, q.limit, q.start, q.q),
            (vec![Status::UnderReview], 20, Start::Offset(0), None)
        );
        let q = review_query(&pairs(&[
            ("status", "rejected,submitted"),
            ("status", "rejected"),
            ("limit", "100"),
        ]))
        .expect("parse");
        assert_eq!(q.statuses, vec![Status::Rejected, Status::Submitted]);
        assert_eq!(q.limit, 100);
        let id = DocumentId::derive("e", "a").to_string();
        let q = review_query(&pairs(&[("cursor", &encode_cursor(42, &id))])).expect("cursor");
        assert_eq!(q.start, Start::After(42, id));
        let code = |p: &[(&str, &str)]| {
            review_query(&pairs(p)).err().map(|e| (e.kind == RefusalKind::BadRequest, e.code()))
        };
        assert_eq!(code(&[("status", "paid,nope")]), Some((true, ErrorCode::StatusInvalid)));
        assert_eq!(code(&[("limit", "0")]), Some((true, ErrorCode::LimitInvalid)));
        assert_eq!(code(&[("limit", "101")]), Some((true, ErrorCode::LimitInvalid)));
        assert_eq!(code(&[("offset", "-1")]), Some((true, ErrorCode::OffsetInvalid)));
        assert_eq!(code(&[("cursor", "zz")]), Some((true, ErrorCode::CursorInvalid)));
        assert_eq!(code(&[("cursor", &hex::encode("1:not-an-id"))]), Some((true, ErrorCode::CursorInvalid)));
        assert_eq!(code(&[("cursor", "00"), ("offset", "1")]), Some((true, ErrorCode::PagingConflict)));
        assert_eq!(code(&[("q", "a"), ("q", "b")]), Some((true, ErrorCode::ParameterRepeated)));
        assert_eq!(code(&[("sort", "name")]), Some((true, ErrorCode::ParameterUnknown)));
        assert_eq!(code(&[("q", &"x".repeat(65))]), Some((true, ErrorCode::QInvalid)));
    }
}
