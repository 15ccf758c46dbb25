//! Telling live connections that their session ended.
//!
//! A sync WebSocket authenticates once, at the upgrade, and then lives for hours; a session can
//! end meanwhile — logout, a password change from another session, a recovery reset, expiry.
//! Every connection therefore runs under a [`SessionWatch`]: a subscription to its session's
//! end in [`SessionSignals`], the per-session registry of live connections (one watch channel
//! per session that has any), plus a timer on the server's [`Clock`] for the session's expiry
//! (which a test moves). [`SessionWatch::ended`] completes with the [`SessionEnd`] the
//! connection closes with.
//!
//! **Subscribe, then check.** A connection subscribes before it reads the session record
//! ([`super::sync_access`]), and the services that end sessions signal after their commit: a
//! revocation that commits before the read is seen by the read, one that commits after it finds
//! the subscription. No end is missed in between.
//!
//! **Several server nodes.** The registry is per process. Behind a load balancer, the process
//! that commits an end would also publish it (session hash and reason) on a channel every node
//! listens to — the registration hub's cross-node feed, or the store's change stream — and each
//! node hands it to its own [`SessionSignals::end`]. Expiry needs nothing shared: every node
//! reads the expiry from the shared session record and runs its own timer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use baoming_core::api::sync::SessionEnd;
use tokio::sync::watch;

use super::Identity;
use crate::clock::Clock;

type Registry = Mutex<HashMap<[u8; 32], watch::Sender<Option<SessionEnd>>>>;

/// The live connections' subscriptions, per session (by the hash of its token).
#[derive(Debug, Default, Clone)]
pub struct SessionSignals {
    sessions: Arc<Registry>,
}

impl SessionSignals {
    /// Subscribes to the end of session `hash`.
    pub fn subscribe(&self, hash: [u8; 32]) -> EndSignal {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let rx = sessions.entry(hash).or_insert_with(|| watch::Sender::new(None)).subscribe();
        EndSignal { rx, hash, sessions: Arc::clone(&self.sessions) }
    }

    /// Tells every connection of the sessions `hashes` that they ended, and why; returns how
    /// many connections were listening.
    pub fn end(&self, hashes: &[[u8; 32]], why: SessionEnd) -> usize {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        hashes
            .iter()
            .filter_map(|h| sessions.get(h))
            .map(|tx| {
                tx.send_replace(Some(why));
                tx.receiver_count()
            })
            .sum()
    }

    /// How many sessions have live subscribers.
    pub fn watched(&self) -> usize {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// One connection's subscription to its session's end; leaves the registry when dropped.
#[derive(Debug)]
pub struct EndSignal {
    rx: watch::Receiver<Option<SessionEnd>>,
    hash: [u8; 32],
    sessions: Arc<Registry>,
}

impl EndSignal {
    /// Completes when the session is ended by a signal. Cancel-safe.
    pub async fn ended(&mut self) -> SessionEnd {
        loop {
            if let Some(why) = *self.rx.borrow_and_update() {
                return why;
            }
            if self.rx.changed().await.is_err() {
                // The registry keeps the sender while this subscription exists.
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Drop for EndSignal {
    fn drop(&mut self) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        // This receiver is still counted while it is being dropped.
        if sessions.get(&self.hash).is_some_and(|tx| tx.receiver_count() <= 1) {
            sessions.remove(&self.hash);
        }
    }
}

/// What a live connection waits on: its session's end signal and its expiry.
#[derive(Debug)]
pub struct SessionWatch {
    signal: EndSignal,
    /// Unix milliseconds.
    expires_ms: i64,
    clock: Clock,
}

impl SessionWatch {
    /// Sets the session's expiry (Unix seconds).
    pub fn expire_at(&mut self, expires: i64) {
        self.expires_ms = expires.saturating_mul(1000);
    }

    /// Completes when the session ends: signalled, or at its expiry on the server's clock.
    /// Cancel-safe.
    pub async fn ended(&mut self) -> SessionEnd {
        tokio::select! {
            biased;
            why = self.signal.ended() => why,
            () = self.clock.sleep_until_ms(self.expires_ms) => SessionEnd::Expired,
        }
    }
}

impl Identity {
    /// A watch on the session `hash`, without an expiry until [`SessionWatch::expire_at`]: it is
    /// made before the session is read (see the module's documentation).
    pub(super) fn watch_session(&self, hash: [u8; 32]) -> SessionWatch {
        SessionWatch {
            signal: self.signals.subscribe(hash),
            expires_ms: i64::MAX,
            clock: self.db.clock().clone(),
        }
    }

    /// The sessions `hashes` ended (their records are deleted, committed): their live
    /// connections close and their unused sync tickets are void.
    pub fn sessions_ended(&self, hashes: &[[u8; 32]], why: SessionEnd) {
        if hashes.is_empty() {
            return;
        }
        self.tickets.void(hashes);
        let listening = self.signals.end(hashes, why);
        if listening > 0 {
            tracing::info!(sessions = hashes.len(), connections = listening, %why, "sessions ended");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signal_reaches_every_subscriber_of_its_session_only_and_the_registry_empties() {
        let signals = SessionSignals::default();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let mut first = signals.subscribe(a);
        let mut second = signals.subscribe(a);
        let mut other = signals.subscribe(b);
        assert_eq!(signals.watched(), 2);
        assert_eq!(signals.end(&[a, [3u8; 32]], SessionEnd::LoggedOut), 2);
        assert_eq!(first.ended().await, SessionEnd::LoggedOut);
        assert_eq!(second.ended().await, SessionEnd::LoggedOut, "a late look still sees it");
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(50), other.ended()).await;
        assert!(quiet.is_err(), "another session's connection is not told");
        drop((first, second));
        assert_eq!(signals.watched(), 1);
        drop(other);
        assert_eq!(signals.watched(), 0);
    }

    #[tokio::test]
    async fn a_watch_ends_at_the_expiry_when_the_clock_passes_it() {
        let clock = Clock::movable();
        let signals = SessionSignals::default();
        let expires = clock.now_secs() + 3600;
        let mut watch = SessionWatch {
            signal: signals.subscribe([7u8; 32]),
            expires_ms: expires * 1000,
            clock: clock.clone(),
        };
        let ended = tokio::spawn(async move { watch.ended().await });
        tokio::task::yield_now().await;
        clock.advance(3_601_000).expect("movable");
        let why = tokio::time::timeout(std::time::Duration::from_secs(5), ended).await;
        assert_eq!(why.expect("in time").expect("joined"), SessionEnd::Expired);
    }
}
