//! The receive-memory budget of a socket: the bytes held for partial messages and for messages
//! not yet taken by the application, across all of the socket's connections.
//!
//! Policy: any connection may read while the socket holds less than 7/8 of its budget; the
//! last 1/8 is kept for connections with small messages: those whose message in progress,
//! counting what they hold and the rest of the frame they announced, stays under
//! [`SMALL_HOLDING`]. So peers with large partial messages, or that announce large frames,
//! cannot starve peers with small ones. At the budget nobody reads. A connection that may not read stops reading (TCP pushes back on its peer)
//! and is woken when the socket holds less again. A connection held back with a partial
//! message for the stall timeout is closed (see `Options::stall_timeout`), which frees what it
//! held.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::core::lock;
use crate::io::IoWaker;

/// A connection whose message in progress (held and announced) is under this counts as one
/// with small messages.
pub(crate) const SMALL_HOLDING: usize = 64 * 1024;

/// A socket's receive-memory budget.
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
    /// Connections waiting for room.
    waiters: Mutex<Vec<IoWaker>>,
}

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget {
            limit: limit.max(2 * SMALL_HOLDING),
            used: AtomicUsize::new(0),
            waiters: Mutex::new(Vec::new()),
        }
    }

    /// The limit for a connection whose message in progress comes to `holding` bytes.
    fn limit_for(&self, holding: usize) -> usize {
        if holding < SMALL_HOLDING {
            self.limit
        } else {
            self.limit - self.limit / 8
        }
    }

    /// How many more bytes a connection whose message in progress comes to `holding` bytes
    /// (held, and the rest of the frame it announced) may read now (0: it must wait).
    pub fn room(&self, holding: usize) -> usize {
        self.limit_for(holding)
            .saturating_sub(self.used.load(Ordering::Relaxed))
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Waits for room: `waker` is woken when the socket holds less. `holding` as for
    /// [`Budget::room`].
    pub fn wait(&self, waker: &IoWaker, holding: usize) {
        let mut waiters = lock(&self.waiters);
        if !waiters.iter().any(|w| w.same(waker)) {
            waiters.push(waker.clone());
        }
        drop(waiters);
        // Room may have been made between the caller's look and now (for this connection:
        // room for others is no reason to wake it, which would only spin).
        if self.room(holding) > 0 {
            self.wake();
        }
    }

    /// `n` more bytes are held.
    pub fn add(&self, n: usize) {
        if n > 0 {
            self.used.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// `n` bytes held are released; waiting connections are woken if that makes room.
    pub fn sub(&self, n: usize) {
        if n == 0 {
            return;
        }
        let before = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(n))
            })
            .unwrap_or_else(|u| u);
        let after = before.saturating_sub(n);
        // Woken once the socket is well below the line (not for every message taken).
        if after < self.limit - self.limit / 4 || after == 0 {
            self.wake();
        }
    }

    fn wake(&self) {
        let waiters = {
            let mut w = lock(&self.waiters);
            if w.is_empty() {
                return;
            }
            std::mem::take(&mut *w)
        };
        for w in waiters {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_eighth_is_kept_for_small_holdings() {
        let b = Budget::new(8 << 20);
        assert_eq!(b.room(0), 8 << 20);
        assert_eq!(b.room(1 << 20), 7 << 20);
        b.add(7 << 20);
        assert_eq!(b.room(SMALL_HOLDING), 0, "a large holder waits at 7/8");
        assert_eq!(b.room(100), 1 << 20, "a small one may still read");
        b.add(1 << 20);
        assert_eq!(b.room(0), 0, "at the budget nobody reads");
        b.sub(8 << 20);
        assert_eq!(b.used(), 0);
        assert_eq!(b.room(SMALL_HOLDING), 7 << 20);
    }
}
