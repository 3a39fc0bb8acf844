//! Failed token checks per client address, in memory: enough to stop
//! guessing links from one address; a restart forgets (the MAC is what keeps
//! links safe, this only keeps the guessing slow and the logs quiet).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures allowed per address in one window.
pub const MAX_FAILURES: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(600);
/// The map is swept when it grows past this many addresses.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Default)]
pub struct Limiter {
    inner: Arc<Mutex<HashMap<IpAddr, (u32, Instant)>>>,
}

impl Limiter {
    /// Whether `ip` has used up its failures in the current window.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&ip)
            .is_some_and(|(n, since)| now.duration_since(*since) < WINDOW && *n >= MAX_FAILURES)
    }

    /// Counts one failed check from `ip`.
    pub fn fail(&self, ip: IpAddr, now: Instant) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        }
        let e = map.entry(ip).or_insert((0, now));
        if now.duration_since(e.1) >= WINDOW {
            *e = (0, now);
        }
        e.0 = e.0.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_failures_until_the_window_ends() {
        let l = Limiter::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            l.fail(a, t0);
        }
        assert!(!l.blocked(a, t0));
        l.fail(a, t0);
        assert!(l.blocked(a, t0));
        assert!(!l.blocked(b, t0), "another address is not affected");
        assert!(!l.blocked(a, t0 + WINDOW), "the window ends");
    }
}
