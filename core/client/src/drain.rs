//! Draining the outbox: after a successful sync, the queued lifecycle actions are sent in order
//! over HTTP with their stored idempotency keys, and each final answer moves its action to the
//! kept outcomes (the rules are in the [`outbox`](crate::outbox) module's documentation).

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::ClientError;
use crate::events::ClientEvent;
use crate::http;
use crate::outbox::ActionOutcome;
use crate::state::{Inner, blocking};

/// What one drain did.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    /// Actions that finished, in the order they were sent.
    pub(crate) outcomes: Vec<ActionOutcome>,
    /// Actions still queued afterwards.
    pub(crate) waiting: usize,
}

/// Sends the queued actions in order (see the [`outbox`](crate::outbox) rules), skipping the registrations
/// in `held` and those not open on this client. Stops at the first transient failure; returns
/// [`ClientError::Unauthorized`] on a 401 and a store error if an outcome cannot be written (the
/// action then stays queued and its retry is answered from the server's stored answer).
pub(crate) async fn drain(inner: &Arc<Inner>, held: &HashSet<String>) -> Result<Drained, ClientError> {
    let mut drained = Drained::default();
    // A transient failure below sets a new retry time.
    inner.docs().outbox.clear_retry_time();
    loop {
        let next = {
            let docs = inner.docs();
            docs.outbox.next(|exam| !held.contains(exam) && docs.is_open(exam))
        };
        let Some(action) = next else { break };
        let answer = {
            let (inner, action) = (inner.clone(), action.clone());
            blocking(move || http::post_action(&inner, &action)).await
        };
        match answer {
            Ok(result) => {
                let outcome = {
                    let mut guard = inner.docs();
                    let docs = &mut *guard;
                    docs.outbox.finish(&docs.store, action.seq, result)?
                };
                inner.emit(ClientEvent::ActionFinished(outcome.clone()));
                drained.outcomes.push(outcome);
            }
            Err(ClientError::Unauthorized) => return Err(ClientError::Unauthorized),
            Err(e) => {
                let reason = e.to_string();
                let (action, retry_in) = {
                    let mut guard = inner.docs();
                    let docs = &mut *guard;
                    docs.outbox.delay(&docs.store, action.seq, &reason, e.retry_after())?
                };
                inner.emit(ClientEvent::ActionDelayed { action, reason, retry_in });
                break;
            }
        }
    }
    drained.waiting = inner.docs().outbox.queued().len();
    Ok(drained)
}
