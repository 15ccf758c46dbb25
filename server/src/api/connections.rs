//! What one client address may hold open: a count of connections per IP address, taken when a
//! connection is accepted and given back when it ends (its [`Slot`] is dropped).
//!
//! Together with the header-read timeout of the accept loop this bounds what slow or idle
//! clients can pin: a client that trickles its request head is cut off after the timeout, and
//! one address cannot hold more than its share of sockets, tasks and buffers however many it
//! opens. A refused connection is answered at once with 429 `too_many_requests` and closed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Open connections per address, with a cap (0: no cap).
#[derive(Debug, Clone)]
pub struct ConnectionLimit {
    cap: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open connection of an address; dropping it gives the place back.
#[derive(Debug)]
pub struct Slot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ConnectionLimit {
    /// A limit of `cap` open connections per address (0: no cap).
    pub fn new(cap: usize) -> ConnectionLimit {
        ConnectionLimit { cap, open: Arc::default() }
    }

    /// A place for one more connection from `ip`, or `None` when the address is at its cap.
    pub fn admit(&self, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if self.cap != 0 && *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Slot { ip, open: Arc::clone(&self.open) })
    }

    /// Connections open from `ip` now (what the tests read; the accept loop only admits).
    #[cfg(test)]
    fn open_from(&self, ip: IpAddr) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_cap_and_each_ended_connection_gives_a_place_back() {
        let limit = ConnectionLimit::new(2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = limit.admit(a).expect("first");
        let second = limit.admit(a).expect("second");
        assert!(limit.admit(a).is_none(), "the third from one address is refused");
        let other = limit.admit(b).expect("another address has its own count");
        drop(first);
        let third = limit.admit(a).expect("a place came back");
        assert_eq!((limit.open_from(a), limit.open_from(b)), (2, 1));
        drop((second, third, other));
        assert_eq!(limit.open_from(a), 0);
        assert!(limit.open.lock().expect("lock").is_empty(), "no entry is left behind");
    }

    #[test]
    fn no_cap_admits_everyone() {
        let limit = ConnectionLimit::new(0);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let slots: Vec<Slot> = (0..10_000).map(|_| limit.admit(ip).expect("admitted")).collect();
        assert_eq!(limit.open_from(ip), 10_000);
        drop(slots);
        assert_eq!(limit.open_from(ip), 0);
    }
}
