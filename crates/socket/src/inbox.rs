//! A socket's receive queue: its connections deliver to it, the application takes from it.
//!
//! A connection hands over all the messages decoded from one read at once (one lock and one
//! wake-up per read, not per message: at 64-byte messages a read brings hundreds), and when the
//! queue is empty it swaps its batch in without moving the messages. The queue holds at most
//! `hwm` messages; a connection with more waits for room, and meanwhile does not read, so TCP
//! pushes back on its peer.

use std::collections::VecDeque;
use std::sync::Mutex;

use courier_proto::message::Multipart;
use event_listener::{Event, EventListener};

use crate::core::lock;

/// The receive queue shared by a socket's connections.
pub(crate) struct Inbox {
    queue: Mutex<VecDeque<Multipart>>,
    hwm: usize,
    /// Messages are waiting (notified for as many listeners as there are messages).
    ready: Event,
    /// The queue went below its high-water mark.
    room: Event,
}

impl Inbox {
    /// An empty queue that holds up to `hwm` messages (at least one).
    pub fn new(hwm: usize) -> Inbox {
        Inbox {
            queue: Mutex::new(VecDeque::new()),
            hwm: hwm.max(1),
            ready: Event::new(),
            room: Event::new(),
        }
    }

    /// Moves messages from the front of `batch` to the queue while there is room; returns
    /// whether `batch` is now empty.
    pub fn push(&self, batch: &mut VecDeque<Multipart>) -> bool {
        if batch.is_empty() {
            return true;
        }
        let queued = {
            let mut queue = lock(&self.queue);
            let room = self.hwm.saturating_sub(queue.len());
            if room == 0 {
                return false;
            }
            if queue.is_empty() && batch.len() <= room {
                std::mem::swap(&mut *queue, batch);
            } else {
                let n = room.min(batch.len());
                queue.extend(batch.drain(..n));
            }
            queue.len()
        };
        self.ready.notify(queued);
        batch.is_empty()
    }

    /// A listener woken when room is made; make it, then `push` again, then wait on it.
    pub fn room_listener(&self) -> EventListener {
        self.room.listen()
    }

    /// Takes the next message if one is waiting.
    pub fn try_pop(&self) -> Option<Multipart> {
        let (msg, was_full) = {
            let mut queue = lock(&self.queue);
            let was_full = queue.len() >= self.hwm;
            (queue.pop_front(), was_full)
        };
        if was_full && msg.is_some() {
            self.room.notify(usize::MAX);
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

    /// Messages waiting.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.queue).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(n: u8) -> Multipart {
        Multipart::single(Bytes::copy_from_slice(&[n]))
    }

    fn batch(range: std::ops::Range<u8>) -> VecDeque<Multipart> {
        range.map(msg).collect()
    }

    #[test]
    fn batches_keep_their_order_and_the_hwm_holds() {
        let inbox = Inbox::new(5);
        let mut a = batch(0..3);
        assert!(inbox.push(&mut a));
        let mut b = batch(3..8);
        assert!(!inbox.push(&mut b), "only 2 of 5 fit");
        assert_eq!(inbox.len(), 5);
        assert_eq!(b.len(), 3);
        assert!(!inbox.push(&mut b), "no room at all");
        for n in 0..2 {
            assert_eq!(inbox.try_pop(), Some(msg(n)));
        }
        assert!(!inbox.push(&mut b));
        assert_eq!(b.len(), 1);
        for n in 2..7 {
            assert_eq!(inbox.try_pop(), Some(msg(n)));
        }
        assert!(inbox.push(&mut b));
        assert_eq!(inbox.try_pop(), Some(msg(7)));
        assert_eq!(inbox.try_pop(), None);
    }

    #[test]
    fn a_waiting_receiver_is_woken_and_a_full_queue_makes_room() {
        let inbox = std::sync::Arc::new(Inbox::new(2));
        let taker = {
            let inbox = std::sync::Arc::clone(&inbox);
            std::thread::spawn(move || {
                crate::runtime::block_on(async {
                    let mut got = Vec::new();
                    for _ in 0..6 {
                        got.push(inbox.pop().await);
                    }
                    got
                })
            })
        };
        let mut pending = batch(0..6);
        crate::runtime::block_on(async {
            while !inbox.push(&mut pending) {
                let room = inbox.room_listener();
                if inbox.push(&mut pending) {
                    break;
                }
                room.await;
            }
        });
        let got = taker.join().unwrap();
        assert_eq!(got, (0..6).map(msg).collect::<Vec<_>>());
    }
}
