//! PUB, XPUB, SUB and XSUB (RFC 29, publish-subscribe).
//!
//! Subscriptions travel as ZMTP 3.0 subscription messages, `\x01topic` to subscribe and
//! `\x00topic` to cancel (what libzmq 4.3 sends; a ZMTP 3.1 SUBSCRIBE or CANCEL command reaches
//! a publisher in the same form). Filtering happens on the publisher, as libzmq does: each
//! subscriber has its own send queue and gets only the messages whose first frame starts with
//! one of its topics; the subscriber filters again on receipt (a publisher that does not filter
//! costs bandwidth, not correctness).
//!
//! Counting follows libzmq: a subscriber counts its subscriptions to a topic and cancels it
//! upstream when the count returns to zero, while a publisher keeps a set of topics per
//! subscriber (so a single cancel that reaches it removes the topic).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use courier_proto::connection::PeerInfo;
use courier_proto::message::Multipart;
use courier_proto::socket_type::SocketType;

use crate::budget::Budget;
use crate::common::{recv_methods, socket_basics, Drain};
use crate::core::{lock, Core};
use crate::error::SocketError;
use crate::event::{DropReason, Reason, SocketEvent};
use crate::inbox::Inbox;
use crate::io::ConnHandle;
use crate::options::Options;
use crate::outbox::{Outbox, PushError};
use crate::pattern::{Attachment, Outgoing, Pattern};

/// The first byte of a subscription message.
const SUBSCRIBE: u8 = 1;
/// The first byte of a cancellation message.
const CANCEL: u8 = 0;

/// `\x01topic` or `\x00topic`.
fn subscription_message(kind: u8, topic: &[u8]) -> Multipart {
    let mut body = BytesMut::with_capacity(topic.len() + 1);
    body.put_u8(kind);
    body.put_slice(topic);
    Multipart::single(body.freeze())
}

/// What a message means to a publisher: a subscription, a cancellation, or neither.
enum Upstream {
    Subscribe(Bytes),
    Cancel(Bytes),
    Other,
}

/// Reads the first frame as libzmq does: a leading 1 subscribes, a leading 0 cancels.
fn upstream(msg: &Multipart) -> Upstream {
    let first = msg.first();
    match first.first() {
        Some(&SUBSCRIBE) => Upstream::Subscribe(first.slice(1..)),
        Some(&CANCEL) => Upstream::Cancel(first.slice(1..)),
        _ => Upstream::Other,
    }
}

/// Whether `topic` (a message's first frame) starts with one of `topics`.
fn matches<'a>(mut topics: impl Iterator<Item = &'a Bytes>, topic: &[u8]) -> bool {
    topics.any(|t| topic.starts_with(t))
}

// ---- publishers ------------------------------------------------------------------------------

struct Subscriber {
    queue: Arc<Outbox>,
    routing_id: Bytes,
    /// The topics this subscriber asked for (a set, as libzmq's publisher keeps).
    topics: HashSet<Bytes>,
    /// Their bytes (bounded, with their number, by the subscription limits).
    bytes: usize,
    handle: ConnHandle,
}

#[derive(Default)]
struct PublisherState {
    subscribers: HashMap<u64, Subscriber>,
    /// How many subscribers hold each topic (XPUB reports a topic's first and last).
    holders: HashMap<Bytes, usize>,
}

/// The pattern of PUB and XPUB: a send queue per subscriber and the subscriber's topics, read
/// from what it sends.
struct PublisherPattern {
    socket_type: SocketType,
    state: Mutex<PublisherState>,
    /// XPUB: where subscriptions (and other messages from subscribers) go.
    inbox: Option<Arc<Inbox>>,
    send_hwm: usize,
    /// Deliver every subscription, not only a topic's first (XPUB_VERBOSE).
    verbose_subs: bool,
    /// Deliver every cancellation, not only a topic's last (XPUB_VERBOSER).
    verbose_unsubs: bool,
    /// Most topics, and most bytes of topics, one subscriber may hold.
    max_topics: usize,
    max_bytes: usize,
}

impl Pattern for PublisherPattern {
    fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    fn attach(
        &self,
        conn_id: u64,
        peer: &PeerInfo,
        handle: ConnHandle,
    ) -> Result<Attachment, String> {
        let queue = Arc::new(Outbox::new(self.send_hwm));
        lock(&self.state).subscribers.insert(
            conn_id,
            Subscriber {
                queue: Arc::clone(&queue),
                routing_id: peer.identity.clone(),
                topics: HashSet::new(),
                bytes: 0,
                handle,
            },
        );
        Ok(Attachment {
            outgoing: Outgoing::Own(queue),
            inbound: self.inbox.clone(),
            filter_incoming: true,
            prefix: None,
            routing_id: peer.identity.clone(),
        })
    }

    fn detach(&self, conn_id: u64, _: &Attachment) {
        let mut state = lock(&self.state);
        let Some(gone) = state.subscribers.remove(&conn_id) else {
            return;
        };
        gone.queue.close();
        for topic in gone.topics {
            let last = release(&mut state.holders, &topic);
            // XPUB tells the application about topics nobody holds any more, as libzmq does.
            if let Some(inbox) = &self.inbox {
                if last || self.verbose_unsubs {
                    inbox.push_over_hwm(subscription_message(CANCEL, &topic));
                }
            }
        }
    }

    fn incoming(&self, conn_id: u64, _: &Attachment, msg: Multipart) -> Option<Multipart> {
        let notify = {
            let mut state = lock(&self.state);
            let PublisherState {
                subscribers,
                holders,
            } = &mut *state;
            let subscriber = subscribers.get_mut(&conn_id)?;
            match upstream(&msg) {
                Upstream::Subscribe(topic) => {
                    if !subscriber.topics.contains(&topic) {
                        let (topics, bytes) = (
                            subscriber.topics.len() + 1,
                            subscriber.bytes.saturating_add(topic.len()),
                        );
                        if topics > self.max_topics || bytes > self.max_bytes {
                            // A peer's subscriptions cost our memory: past the limits, the
                            // connection goes, with a reason that says which.
                            subscriber
                                .handle
                                .kick_because(Reason::TooManySubscriptions { topics, bytes });
                            return None;
                        }
                        subscriber.bytes = bytes;
                    }
                    let first = if subscriber.topics.insert(topic.clone()) {
                        let count = holders.entry(topic).or_insert(0);
                        *count += 1;
                        *count == 1
                    } else {
                        false
                    };
                    first || self.verbose_subs
                }
                Upstream::Cancel(topic) => {
                    // libzmq reports a cancellation unless other subscribers still hold the
                    // topic (a topic nobody held is reported too).
                    let others_hold = if subscriber.topics.remove(&topic) {
                        subscriber.bytes = subscriber.bytes.saturating_sub(topic.len());
                        !release(holders, &topic)
                    } else {
                        holders.contains_key(&topic)
                    };
                    !others_hold || self.verbose_unsubs
                }
                // XPUB hands anything else from a subscriber to the application; PUB drops it.
                Upstream::Other => true,
            }
        };
        (notify && self.inbox.is_some()).then_some(msg)
    }
}

/// Takes one holder of `topic` away; returns whether it was the last.
fn release(holders: &mut HashMap<Bytes, usize>, topic: &Bytes) -> bool {
    match holders.get_mut(topic) {
        Some(count) if *count > 1 => {
            *count -= 1;
            false
        }
        Some(_) => {
            holders.remove(topic);
            true
        }
        None => true,
    }
}

impl PublisherPattern {
    fn new(socket_type: SocketType, options: &Options, inbox: Option<Arc<Inbox>>) -> Self {
        PublisherPattern {
            socket_type,
            state: Mutex::new(PublisherState::default()),
            inbox,
            send_hwm: options.send_hwm,
            verbose_subs: options.xpub_verbose || options.xpub_verboser,
            verbose_unsubs: options.xpub_verboser,
            max_topics: options.max_subscriptions,
            max_bytes: options.max_subscription_bytes,
        }
    }

    /// Queues `msg` for every subscriber whose topics match its first frame; a subscriber at
    /// its high-water mark misses it. Returns the routing ids of those that missed it.
    fn publish(&self, msg: &Multipart) -> Vec<Bytes> {
        let topic = msg.first();
        let state = lock(&self.state);
        let mut missed = Vec::new();
        for subscriber in state.subscribers.values() {
            if !matches(subscriber.topics.iter(), topic) {
                continue;
            }
            if let Err(PushError::Full(_)) = subscriber.queue.try_push(msg.clone()) {
                missed.push(subscriber.routing_id.clone());
            }
        }
        missed
    }
}

impl Drain for PublisherPattern {
    fn drained(&self) -> bool {
        lock(&self.state)
            .subscribers
            .values()
            .all(|s| s.queue.is_empty())
    }
    fn unsent(&self) -> usize {
        lock(&self.state)
            .subscribers
            .values()
            .map(|s| s.queue.len())
            .sum()
    }
}

/// The send methods of PUB and XPUB: never block; a subscriber at its high-water mark misses
/// the message.
macro_rules! publish_methods {
    ($ty:ident) => {
        impl $ty {
            /// Publishes `msg` to every subscriber whose subscriptions match its first frame
            /// (prefix match). Never waits: a subscriber whose queue is at `send_hwm` misses the
            /// message (a [`SocketEvent::MessagesDropped`] event, logged at debug level so that a
            /// slow subscriber does not flood the log). With no subscriber it goes nowhere.
            pub async fn send(&self, msg: Multipart) -> Result<(), SocketError> {
                self.send_blocking(msg)
            }

            /// [`send`](Self::send) for programs without a runtime (it never blocks either).
            pub fn send_blocking(&self, msg: Multipart) -> Result<(), SocketError> {
                if self.core.no_new.fired() {
                    return Err(SocketError::Closed);
                }
                for routing_id in self.drain.publish(&msg) {
                    self.core.emit_at(
                        Some(log::Level::Debug),
                        SocketEvent::MessagesDropped {
                            routing_id,
                            count: 1,
                            reason: DropReason::QueueFull {
                                hwm: self.core.options.send_hwm,
                            },
                        },
                    );
                }
                Ok(())
            }

            /// Subscribers connected now.
            pub fn subscribers(&self) -> usize {
                lock(&self.drain.state).subscribers.len()
            }
        }
    };
}

/// A PUB socket: sends each message to every subscriber whose subscriptions match it, never
/// blocking (a subscriber at its high-water mark misses messages). Receives nothing.
pub struct Pub {
    core: Arc<Core>,
    drain: Arc<PublisherPattern>,
}

impl Pub {
    /// A PUB with these options (`send_hwm` is per subscriber).
    pub fn new(options: Options) -> Pub {
        let budget = Arc::new(Budget::new(options.max_buffered));
        let drain = Arc::new(PublisherPattern::new(SocketType::Pub, &options, None));
        Pub {
            core: Core::new(options, drain.clone(), budget),
            drain,
        }
    }
}

socket_basics!(Pub, "PUB");
publish_methods!(Pub);

impl Drop for Pub {
    fn drop(&mut self) {
        self.core.stop_now();
    }
}

/// An XPUB socket: a PUB whose application also receives the subscriptions, as `\x01topic`
/// and `\x00topic` messages: a topic's first subscription and its last cancellation (when the
/// last subscriber holding it cancels or leaves), or every one with
/// [`Options::xpub_verbose`] / [`Options::xpub_verboser`]. Other messages subscribers send are
/// received as they are. An XSUB/XPUB pair is how a forwarding proxy passes subscriptions
/// upstream.
pub struct XPub {
    core: Arc<Core>,
    drain: Arc<PublisherPattern>,
    inbox: Arc<Inbox>,
}

impl XPub {
    /// An XPUB with these options.
    pub fn new(options: Options) -> XPub {
        let budget = Arc::new(Budget::new(options.max_buffered));
        let inbox = Arc::new(Inbox::new(options.recv_hwm, Arc::clone(&budget)));
        let drain = Arc::new(PublisherPattern::new(
            SocketType::XPub,
            &options,
            Some(Arc::clone(&inbox)),
        ));
        XPub {
            core: Core::new(options, drain.clone(), budget),
            drain,
            inbox,
        }
    }
}

socket_basics!(XPub, "XPUB");
publish_methods!(XPub);
recv_methods!(XPub);

impl Drop for XPub {
    fn drop(&mut self) {
        self.core.stop_now();
    }
}

// ---- subscribers -----------------------------------------------------------------------------

#[derive(Default)]
struct SubscriberState {
    /// Each publisher's send queue (it carries our subscriptions; XSUB: also other messages).
    publishers: HashMap<u64, Arc<Outbox>>,
    /// Our topics, counted (a topic is cancelled upstream when its count returns to zero).
    topics: HashMap<Bytes, usize>,
}

/// The pattern of SUB and XSUB: a send queue per publisher, filled with our subscriptions when
/// it connects (so they survive reconnects and publisher restarts); received messages are
/// filtered by our topics.
struct SubscriberPattern {
    socket_type: SocketType,
    state: Mutex<SubscriberState>,
    inbox: Arc<Inbox>,
    send_hwm: usize,
}

impl Pattern for SubscriberPattern {
    fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    fn attach(&self, conn_id: u64, peer: &PeerInfo, _: ConnHandle) -> Result<Attachment, String> {
        let queue = Arc::new(Outbox::new(self.send_hwm));
        let mut state = lock(&self.state);
        for topic in state.topics.keys() {
            // A new queue is open: this cannot fail.
            let _ = queue.push_over_hwm(subscription_message(SUBSCRIBE, topic));
        }
        state.publishers.insert(conn_id, Arc::clone(&queue));
        Ok(Attachment {
            outgoing: Outgoing::Own(queue),
            inbound: Some(Arc::clone(&self.inbox)),
            filter_incoming: true,
            prefix: None,
            routing_id: peer.identity.clone(),
        })
    }

    fn detach(&self, conn_id: u64, _: &Attachment) {
        if let Some(queue) = lock(&self.state).publishers.remove(&conn_id) {
            queue.close();
        }
    }

    fn incoming(&self, _: u64, _: &Attachment, msg: Multipart) -> Option<Multipart> {
        let state = lock(&self.state);
        matches(state.topics.keys(), msg.first()).then_some(msg)
    }
}

impl SubscriberPattern {
    fn new(socket_type: SocketType, options: &Options, budget: &Arc<Budget>) -> Self {
        SubscriberPattern {
            socket_type,
            state: Mutex::new(SubscriberState::default()),
            inbox: Arc::new(Inbox::new(options.recv_hwm, Arc::clone(budget))),
            send_hwm: options.send_hwm,
        }
    }

    /// Counts a subscription and sends it to every publisher (libzmq forwards each one).
    fn subscribe(&self, topic: Bytes) {
        let mut state = lock(&self.state);
        let msg = subscription_message(SUBSCRIBE, &topic);
        *state.topics.entry(topic).or_insert(0) += 1;
        for queue in state.publishers.values() {
            let _ = queue.push_over_hwm(msg.clone());
        }
    }

    /// Takes one count off a subscription; at zero, cancels it at every publisher. Cancelling
    /// a topic we do not hold does nothing (as in libzmq).
    fn unsubscribe(&self, topic: &Bytes) {
        let mut state = lock(&self.state);
        let Some(count) = state.topics.get_mut(topic) else {
            return;
        };
        *count -= 1;
        if *count > 0 {
            return;
        }
        state.topics.remove(topic);
        let msg = subscription_message(CANCEL, topic);
        for queue in state.publishers.values() {
            let _ = queue.push_over_hwm(msg.clone());
        }
    }

    /// XSUB: a message that is no subscription goes to every publisher with room for it.
    /// Returns how many publishers were full.
    fn send_to_all(&self, msg: &Multipart) -> usize {
        let state = lock(&self.state);
        state
            .publishers
            .values()
            .filter(|q| matches!(q.try_push(msg.clone()), Err(PushError::Full(_))))
            .count()
    }

    /// Our topics now (each once, however many times it was subscribed).
    fn topics(&self) -> Vec<Bytes> {
        lock(&self.state).topics.keys().cloned().collect()
    }
}

impl Drain for SubscriberPattern {
    fn drained(&self) -> bool {
        lock(&self.state).publishers.values().all(|q| q.is_empty())
    }
    fn unsent(&self) -> usize {
        lock(&self.state).publishers.values().map(|q| q.len()).sum()
    }
}

/// A SUB socket: receives from all of its publishers the messages whose first frame starts
/// with one of its topics. It starts with no subscription (it receives nothing until
/// [`subscribe`](Sub::subscribe)); `subscribe(b"")` receives everything.
///
/// Subscriptions may change at any time; they are sent to every publisher connected now and
/// sent again to each publisher that connects later (a reconnect, a restarted publisher). A
/// publisher needs a moment to receive them, so messages it publishes just after a subscriber
/// connects are missed (ZeroMQ's "slow joiner").
pub struct Sub {
    core: Arc<Core>,
    drain: Arc<SubscriberPattern>,
    inbox: Arc<Inbox>,
}

impl Sub {
    /// A SUB with these options.
    pub fn new(options: Options) -> Sub {
        let budget = Arc::new(Budget::new(options.max_buffered));
        let drain = Arc::new(SubscriberPattern::new(SocketType::Sub, &options, &budget));
        let inbox = Arc::clone(&drain.inbox);
        Sub {
            core: Core::new(options, drain.clone(), budget),
            drain,
            inbox,
        }
    }

    /// Subscribes to the messages whose first frame starts with `topic` (empty: all of them).
    /// Subscribing twice to a topic takes two [`unsubscribe`](Sub::unsubscribe) calls to undo.
    pub fn subscribe(&self, topic: impl AsRef<[u8]>) {
        self.drain.subscribe(Bytes::copy_from_slice(topic.as_ref()));
    }

    /// Undoes one [`subscribe`](Sub::subscribe) of `topic` (a topic not subscribed: nothing).
    pub fn unsubscribe(&self, topic: impl AsRef<[u8]>) {
        self.drain
            .unsubscribe(&Bytes::copy_from_slice(topic.as_ref()));
    }

    /// The topics subscribed now.
    pub fn topics(&self) -> Vec<Bytes> {
        self.drain.topics()
    }
}

socket_basics!(Sub, "SUB");
recv_methods!(Sub);

impl Drop for Sub {
    fn drop(&mut self) {
        self.core.stop_now();
    }
}

/// An XSUB socket: a SUB whose application sends the subscriptions itself, as messages:
/// `\x01topic` subscribes and `\x00topic` cancels (counted as [`Sub::subscribe`] counts).
/// They go to every publisher and are sent again to publishers that connect later. Any other
/// message goes to every publisher as it is. Received messages are filtered by the
/// subscriptions, as a SUB's are.
pub struct XSub {
    core: Arc<Core>,
    drain: Arc<SubscriberPattern>,
    inbox: Arc<Inbox>,
}

impl XSub {
    /// An XSUB with these options.
    pub fn new(options: Options) -> XSub {
        let budget = Arc::new(Budget::new(options.max_buffered));
        let drain = Arc::new(SubscriberPattern::new(SocketType::XSub, &options, &budget));
        let inbox = Arc::clone(&drain.inbox);
        XSub {
            core: Core::new(options, drain.clone(), budget),
            drain,
            inbox,
        }
    }

    /// Sends `msg`: a subscription or cancellation (see [`XSub`]), or another message for every
    /// publisher. Never waits: a publisher whose queue is at `send_hwm` misses other messages
    /// (subscriptions are never dropped).
    pub async fn send(&self, msg: Multipart) -> Result<(), SocketError> {
        self.send_blocking(msg)
    }

    /// [`send`](XSub::send) for programs without a runtime (it never blocks either).
    pub fn send_blocking(&self, msg: Multipart) -> Result<(), SocketError> {
        if self.core.no_new.fired() {
            return Err(SocketError::Closed);
        }
        match upstream(&msg) {
            Upstream::Subscribe(topic) => self.drain.subscribe(topic),
            Upstream::Cancel(topic) => self.drain.unsubscribe(&topic),
            Upstream::Other => {
                let full = self.drain.send_to_all(&msg);
                if full > 0 {
                    self.core.emit_at(
                        Some(log::Level::Debug),
                        SocketEvent::MessagesDropped {
                            routing_id: Bytes::new(),
                            count: full,
                            reason: DropReason::QueueFull {
                                hwm: self.core.options.send_hwm,
                            },
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// The topics subscribed now.
    pub fn topics(&self) -> Vec<Bytes> {
        self.drain.topics()
    }
}

socket_basics!(XSub, "XSUB");
recv_methods!(XSub);

impl Drop for XSub {
    fn drop(&mut self) {
        self.core.stop_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_messages_are_read_as_libzmq_reads_them() {
        assert!(matches!(
            upstream(&subscription_message(SUBSCRIBE, b"ab")),
            Upstream::Subscribe(t) if &t[..] == b"ab"
        ));
        assert!(matches!(
            upstream(&subscription_message(CANCEL, b"")),
            Upstream::Cancel(t) if t.is_empty()
        ));
        assert!(matches!(
            upstream(&Multipart::single(Bytes::from_static(b"\x02x"))),
            Upstream::Other
        ));
        assert!(matches!(
            upstream(&Multipart::single(Bytes::new())),
            Upstream::Other
        ));
    }

    #[test]
    fn topics_match_by_prefix_and_the_empty_topic_matches_all() {
        let topics = [Bytes::from_static(b"weather.")];
        assert!(matches(topics.iter(), b"weather.paris"));
        assert!(!matches(topics.iter(), b"weather"));
        assert!(!matches(topics.iter(), b"news"));
        let all = [Bytes::new()];
        assert!(matches(all.iter(), b""));
        assert!(matches(all.iter(), b"anything"));
        assert!(!matches([].iter(), b"anything"));
    }
}
