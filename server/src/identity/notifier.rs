//! Notifications to candidates (password recovery codes).
//!
//! With `[smtp]` configured, e-mail goes out through that relay; mobile numbers (no SMS gateway
//! yet), messages without a relay and messages the relay refused go to the **outbox** tree, sealed
//! with the data key, where `baoming-server admin outbox` shows them to an administrator.

use serde::{Deserialize, Serialize};

use super::IdentityError;
use crate::config::SmtpConfig;
use crate::store::crypto::{Keys, random_array};
use crate::store::{Storage, StorageError, Tree, Txn, decode, encode};

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Recipient: an e-mail address or a mobile number.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Body text.
    pub body: String,
}

/// A message waiting in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OutboxRecord {
    created: i64,
    channel: String,
    reason: String,
    sealed: String,
}

/// An outbox entry as shown to an administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Unix seconds.
    pub created: i64,
    /// `email` or `sms`.
    pub channel: String,
    /// Why it is in the outbox.
    pub reason: String,
    /// The message.
    pub message: Message,
}

/// How messages leave the server.
pub enum Notifier {
    /// Everything to the outbox.
    Outbox,
    /// E-mail through an SMTP relay; the rest to the outbox.
    Smtp {
        /// The relay.
        transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
        /// Sender.
        from: lettre::message::Mailbox,
    },
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notifier::Outbox => f.write_str("Notifier::Outbox"),
            Notifier::Smtp { from, .. } => write!(f, "Notifier::Smtp(from {from})"),
        }
    }
}

impl Notifier {
    /// Builds the notifier from configuration.
    pub fn from_config(smtp: Option<&SmtpConfig>) -> Result<Notifier, String> {
        let Some(cfg) = smtp else { return Ok(Notifier::Outbox) };
        let from = cfg.from.parse().map_err(|e| format!("smtp.from: {e}"))?;
        let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(&cfg.host)
            .port(cfg.port)
            .build();
        Ok(Notifier::Smtp { transport, from })
    }

    /// Sends `msg`, or stores it in the outbox; returns where it went (`smtp` or `outbox`).
    pub async fn send(
        &self,
        store: &dyn Storage,
        keys: &Keys,
        now: i64,
        msg: Message,
    ) -> Result<&'static str, IdentityError> {
        let is_email = msg.to.contains('@');
        let reason = match self {
            Notifier::Smtp { transport, from } if is_email => match send_smtp(transport, from, &msg).await {
                Ok(()) => return Ok("smtp"),
                Err(e) => {
                    tracing::warn!(error = %e, "SMTP delivery failed; message kept in the outbox");
                    format!("smtp failed: {e}")
                }
            },
            Notifier::Smtp { .. } => "no SMS gateway configured".to_owned(),
            Notifier::Outbox => "no SMTP relay configured".to_owned(),
        };
        let channel = if is_email { "email" } else { "sms" };
        let plain = serde_json::to_vec(&msg).map_err(|e| IdentityError::Internal(e.to_string()))?;
        let mut key = now.to_be_bytes().to_vec();
        key.extend_from_slice(&random_array::<8>());
        let rec = OutboxRecord {
            created: now,
            channel: channel.to_owned(),
            reason,
            sealed: hex::encode(keys.seal(b"outbox", &plain)),
        };
        let mut txn = Txn::new();
        txn.put(Tree::Outbox, key, encode(&rec));
        store.commit(&txn)?;
        store.flush()?;
        Ok("outbox")
    }
}

async fn send_smtp(
    transport: &lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: &lettre::message::Mailbox,
    msg: &Message,
) -> Result<(), String> {
    use lettre::AsyncTransport as _;
    let to: lettre::message::Mailbox = msg.to.parse().map_err(|e| format!("recipient: {e}"))?;
    let email = lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(msg.subject.clone())
        .body(msg.body.clone())
        .map_err(|e| e.to_string())?;
    transport.send(email).await.map(|_| ()).map_err(|e| e.to_string())
}

/// Every outbox entry, oldest first, opened with the data key.
pub fn list_outbox(store: &dyn Storage, keys: &Keys) -> Result<Vec<OutboxEntry>, StorageError> {
    store
        .scan_prefix(Tree::Outbox, b"")?
        .into_iter()
        .map(|(_, v)| {
            let rec: OutboxRecord = decode(Tree::Outbox, &v)?;
            let corrupt = |reason: String| StorageError::Corrupt { tree: "outbox", reason };
            let sealed = hex::decode(&rec.sealed).map_err(|e| corrupt(e.to_string()))?;
            let plain = keys.open(b"outbox", &sealed).map_err(|e| corrupt(e.to_string()))?;
            let message: Message = serde_json::from_slice(&plain).map_err(|e| corrupt(e.to_string()))?;
            Ok(OutboxEntry { created: rec.created, channel: rec.channel, reason: rec.reason, message })
        })
        .collect()
}
