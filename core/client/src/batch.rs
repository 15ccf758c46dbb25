//! The HTTP batch form of sync (protocol.md, `POST /api/sync/batch`): the exchange of the
//! WebSocket session as request/response rounds, for platforms that only allow short background
//! fetches. Pending photos go first, registrations whose photo the server lacks are held back,
//! and each registration runs rounds until neither side has anything to say.

use std::sync::Arc;

use baoming_core::document::DocumentId;
use baoming_core::wire::{BatchRequest, WireMessage};

use crate::error::ClientError;
use crate::events::ClientEvent;
use crate::http;
use crate::state::{Inner, SyncReport, blocking};

/// Most request/response rounds of one document in
/// [`SyncClient::sync_batch`](crate::SyncClient::sync_batch); a converging exchange takes three
/// or four.
const MAX_BATCH_ROUNDS: usize = 32;

/// [`SyncClient::sync_batch`](crate::SyncClient::sync_batch) without its timeout and the outbox:
/// one batch sync of every open registration.
pub(crate) async fn sync_once(inner: &Arc<Inner>) -> Result<SyncReport, ClientError> {
    let mut report = SyncReport::default();
    inner.docs().begin();
    let pending = {
        let inner = inner.clone();
        blocking(move || http::upload_pending(&inner)).await?
    };
    let ids: Vec<DocumentId> = inner.docs().entries.keys().copied().collect();
    let mut held = None;
    for id in ids {
        let (exam_id, hold) = {
            let docs = inner.docs();
            (docs.exam_of(&id).unwrap_or_default(), inner.hold_reason(&docs, &id, &pending))
        };
        if let Some(reason) = hold {
            held.get_or_insert(reason);
            continue;
        }
        for round in 0.. {
            if round == MAX_BATCH_ROUNDS {
                return Err(ClientError::Protocol(format!("batch sync of `{exam_id}` did not settle")));
            }
            let Some(message) = inner.docs().outgoing(&id) else { break };
            let request = BatchRequest {
                document_id: id.to_string(),
                storage_id: Some(inner.storage_id.clone()),
                messages: vec![message],
            };
            report.sent += 1;
            let response = {
                let (inner, exam) = (inner.clone(), exam_id.clone());
                blocking(move || http::post_batch(&inner, &request, &exam)).await?
            };
            let mut events = Vec::new();
            let result = (|| -> Result<(), ClientError> {
                let mut docs = inner.docs();
                if let Some(WireMessage::Refused { heads, refused, .. }) = &response.refused {
                    report.rejected.extend(docs.refused(&id, heads, refused, &mut events)?);
                    report.note_changed(Some(exam_id.clone()));
                }
                for m in &response.messages {
                    report.received += 1;
                    if docs.incoming(&id, m, &mut events)? {
                        report.note_changed(Some(exam_id.clone()));
                    }
                }
                Ok(())
            })();
            inner.emit_all(events);
            result?;
        }
        inner.docs().save_sync_state(&id)?;
    }
    if let Some(reason) = held {
        return Err(reason);
    }
    inner.emit(ClientEvent::Synced);
    Ok(report)
}
