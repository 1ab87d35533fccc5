//! ZAP handlers as libzmq has them: a socket of this process (usually a REP) bound to
//! [`ZAP_ENDPOINT`], `inproc://zeromq.zap.01`, answering RFC 27's requests.
//!
//! While such a handler is bound, it decides the handshakes of every socket that has no
//! [`Authenticator`](crate::Authenticator) of its own and that libzmq would ask about:
//! PLAIN and CURVE servers always, NULL sockets only with a [`zap_domain`] set. The others
//! (clients, NULL without a domain) never ask. Without a handler bound, PLAIN accepts
//! everyone, NULL everyone and CURVE asks its `Authorizer`, as before (libzmq without a
//! handler, ZMQ_ZAP_ENFORCE_DOMAIN off). A CURVE server's `Authorizer` still has a say with a
//! handler: a key it refuses is refused (400) without asking the handler, so that binding a
//! handler never widens an allowlist; `Authorizer::new(|_| true)` leaves everything to the
//! handler, as libzmq does.
//!
//! The requests go out from one process-wide DEALER connected to the handler, each with its
//! own request id, so that a slow handler holds up no I/O thread and no worker: the I/O
//! thread queues the request without waiting, a dispatcher thread matches each reply to its
//! connection by id and wakes it. The connection's handshake timeout bounds the wait; a
//! handler that never answers costs its peers their handshakes and nothing else. A reply
//! that is not RFC 27's (seven frames, version 1.0, status 200/300/400/500, metadata in
//! ZMTP's form) refuses its peer with 500, as libzmq fails the handshake on one.
//!
//! [`zap_domain`]: crate::Options::zap_domain
//!
//! ## Example: a REP handler
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use courier_socket::proto::plain::PlainClient;
//! use courier_socket::{zap, Dealer, Multipart, Options, Rep, Router, Security};
//!
//! let handler = Rep::new(Options::default());
//! handler.bind_blocking(zap::ZAP_ENDPOINT)?;
//! let answering = std::thread::spawn(move || -> Result<(), courier_socket::SocketError> {
//!     // version, request id, domain, address, identity, mechanism, credentials...
//!     let request = handler.recv_timeout(Duration::from_secs(5))?;
//!     let f = request.frames();
//!     let ok = f[5] == "PLAIN" && f[6] == "admin" && f[7] == "secret";
//!     let (code, user) = if ok { ("200", "admin") } else { ("400", "") };
//!     // version, the request id echoed, status code, status text, user id, metadata
//!     let id = f[1].clone();
//!     let reply = [Bytes::from("1.0"), id, code.into(), "".into(), user.into(), "".into()];
//!     handler.send_blocking(Multipart::from_frames(reply).expect("frames"))?;
//!     handler.close_blocking();
//!     Ok(())
//! });
//!
//! let router = Router::new(Options { security: Security::PlainServer, ..Options::default() });
//! let endpoint = router.bind_blocking("tcp://127.0.0.1:0")?;
//! let dealer = Dealer::new(Options {
//!     security: Security::PlainClient(PlainClient::new("admin", "secret")?),
//!     ..Options::default()
//! });
//! dealer.connect(&endpoint.to_string())?;
//! dealer.send_blocking(Multipart::single("hi"))?;
//! let msg = router.recv_timeout(Duration::from_secs(5))?;
//! let props = router.peer_properties(&msg.frames()[0]).expect("a connected peer");
//! assert_eq!(props.get("User-Id").as_deref(), Some(&b"admin"[..]));
//! answering.join().expect("handler thread")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use courier_proto::curve::CurveConfig;
use courier_proto::greeting::MechanismName;
use courier_proto::message::Multipart;
use courier_proto::zap::{decode_reply, encode_request, reply_request_id, RequestFields};

use crate::auth::{ReplySlot, ZapReply, ZapRequestFull, ZapStatus};
use crate::core::lock;
use crate::dealer::Dealer;
use crate::error::SocketError;
use crate::io::IoWaker;
use crate::options::{Options, Security, WhenFull};

/// Where libzmq looks for a ZAP handler (RFC 27).
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";
/// [`ZAP_ENDPOINT`] without its scheme, as the inproc registry knows it.
const ZAP_NAME: &str = "zeromq.zap.01";

/// Requests waiting for the handler at most; past it a peer is refused with 300 (try again
/// later) rather than letting a stuck handler grow memory without bound.
const MAX_PENDING: usize = 10_000;
/// How often the dispatcher forgets requests whose handshakes are over.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Whether a ZAP handler is bound in this process now.
pub fn handler_bound() -> bool {
    crate::inproc::is_bound(ZAP_NAME)
}

/// Whether the handshakes of a socket with these options go to the ZAP handler: it has no
/// authenticator, libzmq would ask ZAP for its mechanism, and a handler is bound.
pub(crate) fn decides(options: &Options) -> bool {
    options.authenticator.is_none() && asks_zap(options) && handler_bound()
}

/// libzmq's rule: PLAIN and CURVE servers always ask, NULL only with a ZAP domain.
fn asks_zap(options: &Options) -> bool {
    match &options.security {
        Security::Null => !options.zap_domain.is_empty(),
        Security::PlainServer => true,
        Security::Curve(config) => matches!(config, CurveConfig::Server(_)),
        Security::PlainClient(_) => false,
    }
}

/// A request waiting for its reply.
struct Waiting {
    slot: ReplySlot,
    waker: IoWaker,
    /// Past this its handshake has timed out: nobody waits for the answer.
    until: Instant,
}

/// The process's side of the handler: one DEALER and the requests it has out.
struct Client {
    dealer: Dealer,
    pending: Mutex<HashMap<Bytes, Waiting>>,
    next_id: AtomicU64,
}

/// The client, made on first use with its dispatcher thread; None if that thread could not
/// be started.
fn client() -> Option<&'static Client> {
    static CLIENT: OnceLock<Option<Arc<Client>>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let dealer = Dealer::new(Options {
                send_hwm: MAX_PENDING,
                recv_hwm: MAX_PENDING,
                // Requests are sent from I/O threads, which must never wait.
                when_full: WhenFull::Error,
                linger: Duration::ZERO,
                ..Options::default()
            });
            if let Err(e) = dealer.connect(ZAP_ENDPOINT) {
                log::error!("cannot connect to the ZAP handler: {e}");
                return None;
            }
            let client = Arc::new(Client {
                dealer,
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
            });
            let replies = Arc::clone(&client);
            let started = std::thread::Builder::new()
                .name("courier-zap".into())
                .spawn(move || dispatch(&replies));
            match started {
                Ok(_) => Some(client),
                Err(e) => {
                    log::error!("cannot start the ZAP reply dispatcher: {e}");
                    None
                }
            }
        })
        .as_deref()
}

/// Matches replies to their connections, for the life of the process.
fn dispatch(client: &Client) {
    loop {
        match client.dealer.recv_timeout(SWEEP_EVERY) {
            Ok(reply) => client.answer(&reply),
            Err(SocketError::Timeout(_)) => {}
            Err(e) => {
                log::error!("the ZAP handler's replies can no longer be read: {e}");
                return;
            }
        }
        let now = Instant::now();
        lock(&client.pending).retain(|_, w| w.until > now);
    }
}

impl Client {
    /// Hands a reply to the connection waiting for it.
    fn answer(&self, reply: &Multipart) {
        let (id, answer) = match decode_reply(reply) {
            Ok(decoded) => decoded,
            Err(e) => {
                let Some(id) = reply_request_id(reply) else {
                    log::warn!("a malformed ZAP reply without a request id was dropped: {e}");
                    return;
                };
                log::warn!("malformed ZAP reply ({e}): its peer is refused with 500");
                let text = format!("malformed ZAP reply: {e}");
                (id.clone(), ZapReply::refuse(ZapStatus::InternalError, text))
            }
        };
        let Some(waiting) = lock(&self.pending).remove(&id) else {
            log::debug!("ZAP reply {id:?} came after its handshake ended");
            return;
        };
        fill(&waiting.slot, &waiting.waker, answer);
    }

    /// Sends a request; the reply will land in `slot`.
    fn ask(&self, request: &ZapRequestFull, slot: &ReplySlot, waker: &IoWaker, until: Instant) {
        let id = Bytes::from(self.next_id.fetch_add(1, Ordering::Relaxed).to_string());
        {
            let mut pending = lock(&self.pending);
            if pending.len() >= MAX_PENDING {
                drop(pending);
                log::warn!("{MAX_PENDING} ZAP requests are waiting for the handler: peer refused");
                let busy = ZapReply::refuse(ZapStatus::TemporaryError, "ZAP handler busy");
                fill(slot, waker, busy);
                return;
            }
            pending.insert(
                id.clone(),
                Waiting {
                    slot: Arc::clone(slot),
                    waker: waker.clone(),
                    until,
                },
            );
        }
        let msg = encode_request(&RequestFields {
            request_id: &id,
            domain: &request.domain,
            address: &request.address,
            identity: &request.routing_id,
            mechanism: request.mechanism,
            credentials: &request.credentials,
        });
        if let Err(e) = self.dealer.try_send(msg) {
            lock(&self.pending).remove(&id);
            log::warn!("cannot queue a ZAP request ({e}): peer refused with 300");
            let busy = ZapReply::refuse(ZapStatus::TemporaryError, "ZAP handler unreachable");
            fill(slot, waker, busy);
        }
    }
}

/// Answers a connection.
fn fill(slot: &ReplySlot, waker: &IoWaker, reply: ZapReply) {
    *lock(slot) = Some(reply);
    waker.wake();
}

/// Asks the ZAP handler about a peer, without waiting (called on an I/O thread): the answer
/// lands in the returned slot and `waker` is woken. `timeout` is the handshake timeout.
pub(crate) fn submit(
    request: ZapRequestFull,
    security: &Security,
    waker: IoWaker,
    timeout: Duration,
) -> ReplySlot {
    let slot: ReplySlot = Arc::new(Mutex::new(None));
    // A CURVE allowlist is not widened by a handler (see the module's docs).
    if let Security::Curve(CurveConfig::Server(config)) = security {
        let key = request
            .credentials
            .first()
            .and_then(|k| <[u8; 32]>::try_from(k.as_ref()).ok());
        if request.mechanism == MechanismName::CURVE {
            let allowed = key.is_some_and(|k| config.authorizer.allows(&k));
            if !allowed {
                let named = key.map_or_else(|| "?".into(), |k| courier_proto::z85::encode_key(&k));
                let text = format!("client key {named} not allowed");
                fill(
                    &slot,
                    &waker,
                    ZapReply::refuse(ZapStatus::AuthFailure, text),
                );
                return slot;
            }
        }
    }
    if !handler_bound() {
        // It went away since the connection began: as libzmq without a handler (CURVE's
        // authorizer has just accepted the key).
        fill(&slot, &waker, ZapReply::accept(Bytes::new()));
        return slot;
    }
    match client() {
        Some(client) => client.ask(&request, &slot, &waker, Instant::now() + timeout),
        None => {
            let failed = ZapReply::refuse(ZapStatus::InternalError, "ZAP handler unreachable");
            fill(&slot, &waker, failed);
        }
    }
    slot
}
