//! A send queue: the application puts messages in one at a time, a connection's I/O thread
//! takes them out in batches (one lock for up to a write's worth of messages).
//!
//! Each side is woken only when it may be waiting: a connection that found the queue empty
//! leaves its [`IoWaker`] in it, and the next push wakes it; a sender waiting for room is
//! counted, and a take notifies only when someone waits.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use courier_proto::message::Multipart;
use event_listener::{Event, Listener};

use crate::core::lock;
use crate::io::IoWaker;

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

struct Inner {
    queue: VecDeque<Multipart>,
    /// Connections waiting for a message.
    writers: Vec<IoWaker>,
}

/// A bounded send queue.
pub(crate) struct Outbox {
    inner: Mutex<Inner>,
    hwm: usize,
    closed: AtomicBool,
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

fn wake_all(writers: Vec<IoWaker>) {
    for w in writers {
        w.wake();
    }
}

impl Outbox {
    /// An empty queue holding up to `hwm` messages (at least one).
    pub fn new(hwm: usize) -> Outbox {
        Outbox {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                writers: Vec::new(),
            }),
            hwm: hwm.max(1),
            closed: AtomicBool::new(false),
            room: Event::new(),
            room_waiters: AtomicUsize::new(0),
        }
    }

    /// Queues `msg` if there is room.
    pub fn try_push(&self, msg: Multipart) -> Result<(), PushError> {
        let writers = {
            let mut inner = lock(&self.inner);
            if self.closed.load(Ordering::SeqCst) {
                return Err(PushError::Closed(msg));
            }
            if inner.queue.len() >= self.hwm {
                return Err(PushError::Full(msg));
            }
            inner.queue.push_back(msg);
            // Every waiting connection (a DEALER's connections share the queue): each takes
            // no more than a write's worth, so the others get the rest.
            std::mem::take(&mut inner.writers)
        };
        wake_all(writers);
        Ok(())
    }

    /// Queues `msg` even past the high-water mark (subscriptions, which must not be lost);
    /// gives it back only if the queue is closed.
    pub fn push_over_hwm(&self, msg: Multipart) -> Result<(), Multipart> {
        let writers = {
            let mut inner = lock(&self.inner);
            if self.closed.load(Ordering::SeqCst) {
                return Err(msg);
            }
            inner.queue.push_back(msg);
            std::mem::take(&mut inner.writers)
        };
        wake_all(writers);
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

    /// Whether a push would not be refused for want of room (or the queue is closed).
    fn has_room(&self) -> bool {
        self.closed.load(Ordering::SeqCst) || lock(&self.inner).queue.len() < self.hwm
    }

    /// Waits until the queue has room or is closed (a sender choosing among several queues
    /// waits on one of them, then chooses again).
    pub async fn wait_room(&self) {
        loop {
            if self.has_room() {
                return;
            }
            let listener = self.room.listen();
            let _waiting = Waiting::new(&self.room_waiters);
            if self.has_room() {
                return;
            }
            listener.await;
        }
    }

    /// [`wait_room`](Outbox::wait_room), blocking the thread; false if `deadline` passed first.
    pub fn wait_room_blocking(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.has_room() {
                return true;
            }
            let listener = self.room.listen();
            let _waiting = Waiting::new(&self.room_waiters);
            if self.has_room() {
                return true;
            }
            match deadline {
                None => listener.wait(),
                Some(d) => {
                    if listener.wait_deadline(d).is_none() && Instant::now() >= d {
                        return self.has_room();
                    }
                }
            }
        }
    }

    /// Takes every queued message (making room for waiting senders).
    pub fn take_all(&self) -> VecDeque<Multipart> {
        let mut all = VecDeque::new();
        self.take_or_wait(&mut all, usize::MAX, usize::MAX, None);
        all
    }

    /// Queues `msg`, blocking the thread until there is room or `deadline` passes.
    pub fn push_blocking(
        &self,
        mut msg: Multipart,
        deadline: Option<Instant>,
    ) -> Result<(), PushError> {
        loop {
            match self.try_push(msg) {
                Err(PushError::Full(m)) => msg = m,
                other => return other,
            }
            let listener = self.room.listen();
            let _waiting = Waiting::new(&self.room_waiters);
            match self.try_push(msg) {
                Err(PushError::Full(m)) => msg = m,
                other => return other,
            }
            match deadline {
                None => listener.wait(),
                Some(d) => {
                    if listener.wait_deadline(d).is_none() && Instant::now() >= d {
                        return self.try_push(msg);
                    }
                }
            }
        }
    }

    /// Moves messages from the front of the queue to the back of `into`: up to `max` of them
    /// and `max_bytes` of frames (but at least one). With none waiting, `writer` (if any) is
    /// woken by the next push (or close). Returns how many.
    pub fn take_or_wait(
        &self,
        into: &mut VecDeque<Multipart>,
        max: usize,
        max_bytes: usize,
        writer: Option<&IoWaker>,
    ) -> usize {
        let (n, waiters) = {
            let mut inner = lock(&self.inner);
            let n = count_within(&inner.queue, max, max_bytes);
            if n == 0 {
                if let Some(writer) = writer {
                    if !self.closed.load(Ordering::SeqCst)
                        && !inner.writers.iter().any(|w| w.same(writer))
                    {
                        inner.writers.push(writer.clone());
                    }
                }
                return 0;
            }
            if into.is_empty() && n == inner.queue.len() {
                std::mem::swap(&mut inner.queue, into);
            } else {
                into.extend(inner.queue.drain(..n));
            }
            (n, self.room_waiters.load(Ordering::SeqCst))
        };
        if waiters > 0 {
            self.room.notify(usize::MAX);
        }
        n
    }

    /// Wakes the connections waiting for messages (messages were put back for them).
    pub fn wake_writers(&self) {
        let writers = std::mem::take(&mut lock(&self.inner).writers);
        wake_all(writers);
    }

    /// Closes the queue: pushes fail from now on, and waiters wake up. Queued messages stay
    /// (a writer may still send them, or they are counted as dropped).
    pub fn close(&self) {
        let writers = {
            let mut inner = lock(&self.inner);
            self.closed.store(true, Ordering::SeqCst);
            std::mem::take(&mut inner.writers)
        };
        wake_all(writers);
        self.room.notify(usize::MAX);
    }

    /// Whether the queue is closed.
    #[allow(dead_code)]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Messages queued.
    pub fn len(&self) -> usize {
        lock(&self.inner).queue.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        lock(&self.inner).queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;

    fn msg(n: u32) -> Multipart {
        Multipart::single(Bytes::copy_from_slice(&n.to_be_bytes()))
    }

    fn take(out: &Outbox, into: &mut VecDeque<Multipart>, max: usize, bytes: usize) -> usize {
        out.take_or_wait(into, max, bytes, None)
    }

    #[test]
    fn the_hwm_holds_and_batches_come_out_in_order() {
        let out = Outbox::new(3);
        for n in 0..3 {
            assert!(out.try_push(msg(n)).is_ok());
        }
        assert!(matches!(out.try_push(msg(3)), Err(PushError::Full(_))));
        let mut got = VecDeque::new();
        assert_eq!(take(&out, &mut got, 2, usize::MAX), 2);
        assert!(out.try_push(msg(3)).is_ok());
        assert_eq!(take(&out, &mut got, 10, usize::MAX), 2);
        assert_eq!(take(&out, &mut got, 10, usize::MAX), 0);
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
            take(&out, &mut got, 10, 10),
            1,
            "one over the budget still goes"
        );
        assert_eq!(take(&out, &mut got, 10, 2000), 2, "two of 1000 fit in 2000");
        assert_eq!(take(&out, &mut got, 10, 0), 1);
        assert_eq!(got.len(), 4);
        assert_eq!(got.back(), Some(&msg(7)));
    }

    #[test]
    fn a_blocked_sender_wakes_when_room_is_made_and_at_its_deadline() {
        const N: u32 = 2_000;
        let out = Arc::new(Outbox::new(4));
        let sender = {
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                for n in 0..N {
                    assert!(out.push_blocking(msg(n), None).is_ok());
                }
            })
        };
        let mut got = VecDeque::new();
        while got.len() < N as usize {
            if take(&out, &mut got, 3, usize::MAX) == 0 {
                std::thread::yield_now();
            }
        }
        sender.join().unwrap();
        assert_eq!(Vec::from(got), (0..N).map(msg).collect::<Vec<_>>());
        let full = Outbox::new(1);
        assert!(full.try_push(msg(0)).is_ok());
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(matches!(
            full.push_blocking(msg(1), Some(deadline)),
            Err(PushError::Full(_))
        ));
    }

    #[test]
    fn close_wakes_a_blocked_sender() {
        let out = Arc::new(Outbox::new(1));
        assert!(out.try_push(msg(0)).is_ok());
        let sender = {
            let out = Arc::clone(&out);
            std::thread::spawn(move || futures::executor::block_on(out.push(msg(1))).is_err())
        };
        std::thread::sleep(Duration::from_millis(50));
        out.close();
        assert!(
            sender.join().unwrap(),
            "the blocked push gives its message back"
        );
    }
}
