//! A send queue: the application puts messages in one at a time, a connection's writer takes
//! them out in batches (one lock for up to a write's worth of messages).
//!
//! Each side is woken only when the other may be waiting for it: a count of waiters, read under
//! the queue's lock, spares the notification (and its own lock) on the busy path.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use courier_proto::message::Multipart;
use event_listener::Event;

use crate::core::lock;

/// Why a message could not be queued; it comes back.
pub(crate) enum PushError {
    /// The queue holds its high-water mark of messages.
    Full(Multipart),
    /// The queue is closed (its socket or its peer is gone).
    Closed(Multipart),
}

/// How many messages from the front of `queue` to take: up to `max`, and while their frames
/// add up to no more than `max_bytes` (the first one always, if `max` > 0).
pub(crate) fn count_within(queue: &VecDeque<Multipart>, max: usize, max_bytes: usize) -> usize {
    let mut n = 0;
    let mut bytes = 0usize;
    for msg in queue.iter().take(max) {
        bytes = bytes.saturating_add(msg.total_len());
        if n > 0 && bytes > max_bytes {
            break;
        }
        n += 1;
    }
    n
}

/// A bounded send queue.
pub(crate) struct Outbox {
    queue: Mutex<VecDeque<Multipart>>,
    hwm: usize,
    closed: AtomicBool,
    /// Messages arrived (for writers waiting in `wait_ready`).
    ready: Event,
    ready_waiters: AtomicUsize,
    /// Room was made (for senders waiting in `push`).
    room: Event,
    room_waiters: AtomicUsize,
}

/// Counts a waiter for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Outbox {
    /// An empty queue holding up to `hwm` messages (at least one).
    pub fn new(hwm: usize) -> Outbox {
        Outbox {
            queue: Mutex::new(VecDeque::new()),
            hwm: hwm.max(1),
            closed: AtomicBool::new(false),
            ready: Event::new(),
            ready_waiters: AtomicUsize::new(0),
            room: Event::new(),
            room_waiters: AtomicUsize::new(0),
        }
    }

    /// Queues `msg` if there is room.
    pub fn try_push(&self, msg: Multipart) -> Result<(), PushError> {
        let wake = {
            let mut queue = lock(&self.queue);
            if self.closed.load(Ordering::SeqCst) {
                return Err(PushError::Closed(msg));
            }
            if queue.len() >= self.hwm {
                return Err(PushError::Full(msg));
            }
            queue.push_back(msg);
            // Read under the lock: a writer counts itself before it looks at the queue.
            (self.ready_waiters.load(Ordering::SeqCst) > 0).then_some(queue.len())
        };
        // As many writers as there are messages (a DEALER's connections share the queue): one
        // woken writer would otherwise keep taking while the others sleep.
        if let Some(queued) = wake {
            self.ready.notify(queued);
        }
        Ok(())
    }

    /// Queues `msg`, waiting for room; gives it back if the queue closes.
    pub async fn push(&self, mut msg: Multipart) -> Result<(), Multipart> {
        loop {
            match self.try_push(msg) {
                Ok(()) => return Ok(()),
                Err(PushError::Closed(m)) => return Err(m),
                Err(PushError::Full(m)) => msg = m,
            }
            let listener = self.room.listen();
            let _waiting = Waiting::new(&self.room_waiters);
            match self.try_push(msg) {
                Ok(()) => return Ok(()),
                Err(PushError::Closed(m)) => return Err(m),
                Err(PushError::Full(m)) => msg = m,
            }
            listener.await;
        }
    }

    /// Moves messages from the front of the queue to the back of `into`: up to `max` of them
    /// and `max_bytes` of frames (but at least one), so that a writer takes no more than it
    /// is about to write (a DEALER's other connections get the rest). Returns how many.
    pub fn take(&self, into: &mut VecDeque<Multipart>, max: usize, max_bytes: usize) -> usize {
        let (n, waiters) = {
            let mut queue = lock(&self.queue);
            let n = count_within(&queue, max, max_bytes);
            if n == 0 {
                return 0;
            }
            if into.is_empty() && n == queue.len() {
                std::mem::swap(&mut *queue, into);
            } else {
                into.extend(queue.drain(..n));
            }
            (n, self.room_waiters.load(Ordering::SeqCst))
        };
        if waiters > 0 {
            self.room.notify(usize::MAX);
        }
        n
    }

    /// Waits until the queue has a message or is closed.
    pub async fn wait_ready(&self) {
        loop {
            if self.is_closed() || !self.is_empty() {
                return;
            }
            let listener = self.ready.listen();
            let _waiting = Waiting::new(&self.ready_waiters);
            if self.is_closed() || !self.is_empty() {
                return;
            }
            listener.await;
        }
    }

    /// Closes the queue: pushes fail from now on, and waiters wake up. Queued messages stay
    /// (a writer may still send them, or they are counted as dropped).
    pub fn close(&self) {
        {
            let _queue = lock(&self.queue);
            self.closed.store(true, Ordering::SeqCst);
        }
        self.ready.notify(usize::MAX);
        self.room.notify(usize::MAX);
    }

    /// Whether the queue is closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Messages queued.
    pub fn len(&self) -> usize {
        lock(&self.queue).len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        lock(&self.queue).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::runtime;

    fn msg(n: u32) -> Multipart {
        Multipart::single(Bytes::copy_from_slice(&n.to_be_bytes()))
    }

    #[test]
    fn the_hwm_holds_and_batches_come_out_in_order() {
        let out = Outbox::new(3);
        for n in 0..3 {
            assert!(out.try_push(msg(n)).is_ok());
        }
        assert!(matches!(out.try_push(msg(3)), Err(PushError::Full(_))));
        let mut got = VecDeque::new();
        assert_eq!(out.take(&mut got, 2, usize::MAX), 2);
        assert!(out.try_push(msg(3)).is_ok());
        assert_eq!(out.take(&mut got, 10, usize::MAX), 2);
        assert_eq!(out.take(&mut got, 10, usize::MAX), 0);
        assert_eq!(Vec::from(got), (0..4).map(msg).collect::<Vec<_>>());
        out.close();
        assert!(matches!(out.try_push(msg(9)), Err(PushError::Closed(_))));
    }

    #[test]
    fn a_take_stops_at_its_byte_budget_but_takes_at_least_one() {
        let out = Outbox::new(10);
        let big = Multipart::single(Bytes::from(vec![0u8; 1000]));
        for _ in 0..3 {
            assert!(out.try_push(big.clone()).is_ok());
        }
        assert!(out.try_push(msg(7)).is_ok());
        let mut got = VecDeque::new();
        assert_eq!(
            out.take(&mut got, 10, 10),
            1,
            "one over the budget still goes"
        );
        assert_eq!(out.take(&mut got, 10, 2000), 2, "two of 1000 fit in 2000");
        assert_eq!(out.take(&mut got, 10, 0), 1);
        assert_eq!(got.len(), 4);
        assert_eq!(got.back(), Some(&msg(7)));
    }

    #[test]
    fn a_blocked_sender_and_a_waiting_writer_both_wake() {
        const N: u32 = 10_000;
        let out = Arc::new(Outbox::new(4));
        let sender = {
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                runtime::block_on(async {
                    for n in 0..N {
                        assert!(out.push(msg(n)).await.is_ok());
                    }
                })
            })
        };
        let got = runtime::block_on(async {
            let mut got = VecDeque::new();
            while got.len() < N as usize {
                out.wait_ready().await;
                out.take(&mut got, 3, usize::MAX);
            }
            got
        });
        sender.join().unwrap();
        assert_eq!(Vec::from(got), (0..N).map(msg).collect::<Vec<_>>());
    }

    #[test]
    fn close_wakes_a_waiting_writer_and_a_blocked_sender() {
        let out = Arc::new(Outbox::new(1));
        assert!(out.try_push(msg(0)).is_ok());
        let sender = {
            let out = Arc::clone(&out);
            std::thread::spawn(move || runtime::block_on(out.push(msg(1))).is_err())
        };
        std::thread::sleep(Duration::from_millis(50));
        out.close();
        assert!(
            sender.join().unwrap(),
            "the blocked push gives its message back"
        );
        let empty = Outbox::new(1);
        let empty = Arc::new(empty);
        let writer = {
            let empty = Arc::clone(&empty);
            std::thread::spawn(move || runtime::block_on(empty.wait_ready()))
        };
        std::thread::sleep(Duration::from_millis(50));
        empty.close();
        writer.join().unwrap();
    }
}
