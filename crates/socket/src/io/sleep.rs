//! Timers for futures (`runtime::sleep`, timeouts): runtime-neutral, kept by I/O thread 0.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::core::lock;

/// What a sleeping future shares with the thread that wakes it.
struct Slot {
    waker: Mutex<Option<Waker>>,
    fired: AtomicBool,
}

impl Slot {
    fn fire(&self) {
        self.fired.store(true, AtomicOrdering::SeqCst);
        if let Some(w) = lock(&self.waker).take() {
            w.wake();
        }
    }
}

/// A timer registered with an I/O thread.
pub(crate) struct Entry {
    at: Instant,
    seq: u64,
    slot: Arc<Slot>,
}

impl Entry {
    pub fn at(&self) -> Instant {
        self.at
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// An I/O thread's future timers.
#[derive(Default)]
pub(crate) struct Sleeps {
    heap: BinaryHeap<Reverse<Entry>>,
    /// Size after the last clean-up of dropped timers.
    kept: usize,
}

impl Sleeps {
    pub fn add(&mut self, entry: Entry) {
        self.heap.push(Reverse(entry));
        // Timers whose future is gone (a timeout that did not expire) are dropped now and
        // then, so that many short-lived long timeouts do not pile up.
        if self.heap.len() > 1024 && self.heap.len() > 2 * self.kept {
            self.heap
                .retain(|Reverse(e)| Arc::strong_count(&e.slot) > 1);
            self.kept = self.heap.len();
        }
    }

    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    pub fn fire(&mut self, now: Instant) {
        while self.heap.peek().is_some_and(|Reverse(e)| e.at <= now) {
            if let Some(Reverse(e)) = self.heap.pop() {
                e.slot.fire();
            }
        }
    }
}

/// A future that resolves at a given time; works under any executor, or none (its wake-up
/// comes from an I/O thread).
pub struct Sleep {
    at: Instant,
    slot: Option<Arc<Slot>>,
}

impl Sleep {
    /// Resolves at `at`.
    pub fn until(at: Instant) -> Sleep {
        Sleep { at, slot: None }
    }

    /// Resolves after `duration`.
    pub fn after(duration: Duration) -> Sleep {
        Sleep::until(Instant::now() + duration)
    }

    /// Moves the deadline.
    pub fn reset(&mut self, at: Instant) {
        if at != self.at {
            self.at = at;
            self.slot = None;
        }
    }

    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.at
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.at {
            return Poll::Ready(());
        }
        match &this.slot {
            Some(slot) => {
                *lock(&slot.waker) = Some(cx.waker().clone());
                if slot.fired.load(AtomicOrdering::SeqCst) {
                    return Poll::Ready(());
                }
            }
            None => {
                static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let slot = Arc::new(Slot {
                    waker: Mutex::new(Some(cx.waker().clone())),
                    fired: AtomicBool::new(false),
                });
                let entry = Entry {
                    at: this.at,
                    seq: SEQ.fetch_add(1, AtomicOrdering::Relaxed),
                    slot: Arc::clone(&slot),
                };
                match super::context().all().first() {
                    Some(thread) => thread.send_sleep(entry),
                    None => {
                        // No I/O thread could be started: a plain thread keeps the time.
                        let wait = this.at.saturating_duration_since(Instant::now());
                        std::thread::spawn(move || {
                            std::thread::sleep(wait);
                            entry.slot.fire();
                        });
                    }
                }
                this.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}
