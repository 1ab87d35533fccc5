//! A socket's receive queue: its connections deliver to it, the application takes from it.
//!
//! A connection hands over all the messages decoded from one read at once (one lock and one
//! wake-up per read, not per message: at 64-byte messages a read brings hundreds), and when the
//! queue is empty it swaps its batch in without moving the messages. The queue holds at most
//! `hwm` messages; a connection with more leaves its [`IoWaker`] and stops reading (TCP pushes
//! back on its peer) until the application makes room.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use courier_proto::message::Multipart;
use event_listener::{Event, Listener};

use std::sync::Arc;

use crate::budget::Budget;
use crate::core::lock;
use crate::io::IoWaker;

struct Inner {
    queue: VecDeque<Multipart>,
    /// Connections waiting for room.
    blocked: Vec<IoWaker>,
    /// Bytes of messages taken and not yet given back to the budget: given back in batches
    /// (one shared counter touched per message would cost the I/O thread and the application
    /// a cache line bounced between them for every small message).
    released: usize,
}

/// Bytes taken from the queue that are given back to the budget at once.
const RELEASE_BATCH: usize = 64 * 1024;

/// The receive queue shared by a socket's connections.
pub(crate) struct Inbox {
    inner: Mutex<Inner>,
    hwm: usize,
    /// Messages are waiting (notified for as many listeners as there are messages).
    ready: Event,
    /// The socket's receive-memory budget: queued messages count against it.
    budget: Arc<Budget>,
}

impl Inbox {
    /// An empty queue that holds up to `hwm` messages (at least one).
    pub fn new(hwm: usize, budget: Arc<Budget>) -> Inbox {
        Inbox {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                blocked: Vec::new(),
                released: 0,
            }),
            hwm: hwm.max(1),
            ready: Event::new(),
            budget,
        }
    }

    /// Moves messages from the front of `batch` to the queue while there is room; returns
    /// whether `batch` is now empty. If it is not, `waker` is woken when room is made.
    pub fn push(&self, batch: &mut VecDeque<Multipart>, waker: &IoWaker) -> bool {
        if batch.is_empty() {
            return true;
        }
        let queued = {
            let mut inner = lock(&self.inner);
            let room = self.hwm.saturating_sub(inner.queue.len());
            let n = room.min(batch.len());
            let bytes: usize = batch.iter().take(n).map(Multipart::total_len).sum();
            self.budget.add(bytes);
            if inner.queue.is_empty() && n == batch.len() {
                std::mem::swap(&mut inner.queue, batch);
            } else {
                inner.queue.extend(batch.drain(..n));
            }
            if !batch.is_empty() && !inner.blocked.iter().any(|w| w.same(waker)) {
                inner.blocked.push(waker.clone());
            }
            if n == 0 {
                return false;
            }
            inner.queue.len()
        };
        self.ready.notify(queued);
        batch.is_empty()
    }

    /// Queues one message even past the high-water mark (what the socket itself has to say,
    /// e.g. an XPUB's cancellations for a subscriber that left; never a peer's traffic).
    pub fn push_over_hwm(&self, msg: Multipart) {
        self.budget.add(msg.total_len());
        lock(&self.inner).queue.push_back(msg);
        self.ready.notify(1);
    }

    /// Takes the next message if one is waiting.
    pub fn try_pop(&self) -> Option<Multipart> {
        let (msg, blocked, release) = {
            let mut inner = lock(&self.inner);
            let msg = inner.queue.pop_front();
            if let Some(m) = &msg {
                inner.released += m.total_len();
            }
            // Given back in batches, and at once when the queue runs dry or connections wait.
            let release = if inner.released >= RELEASE_BATCH
                || inner.queue.is_empty()
                || !inner.blocked.is_empty()
            {
                std::mem::take(&mut inner.released)
            } else {
                0
            };
            // Wake blocked connections once a good part of the queue is free, not for every
            // message taken (a connection then delivers a batch, not one message).
            let blocked = if msg.is_some()
                && !inner.blocked.is_empty()
                && inner.queue.len() <= self.hwm / 2
            {
                std::mem::take(&mut inner.blocked)
            } else {
                Vec::new()
            };
            (msg, blocked, release)
        };
        self.budget.sub(release);
        for w in blocked {
            w.wake();
        }
        msg
    }

    /// Takes the next message, waiting for one.
    pub async fn pop(&self) -> Multipart {
        loop {
            if let Some(msg) = self.try_pop() {
                return msg;
            }
            let listener = self.ready.listen();
            if let Some(msg) = self.try_pop() {
                return msg;
            }
            listener.await;
        }
    }

    /// Takes the next message, blocking the thread until one comes or `deadline` passes.
    pub fn pop_blocking(&self, deadline: Option<Instant>) -> Option<Multipart> {
        loop {
            if let Some(msg) = self.try_pop() {
                return Some(msg);
            }
            let listener = self.ready.listen();
            if let Some(msg) = self.try_pop() {
                return Some(msg);
            }
            match deadline {
                None => listener.wait(),
                Some(d) => {
                    if listener.wait_deadline(d).is_none() && Instant::now() >= d {
                        return self.try_pop();
                    }
                }
            }
        }
    }
}
