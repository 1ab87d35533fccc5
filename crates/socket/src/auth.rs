//! Authentication (ZAP, RFC 27) as a library API: a socket with an [`Authenticator`] asks it
//! about every peer whose handshake reaches the decision point (NULL at once, PLAIN on HELLO,
//! CURVE on INITIATE), and the peer is accepted only on a 200.
//!
//! The authenticator may be slow (it may look things up): it never runs on an I/O thread.
//! The I/O thread hands the request to a worker of a small process-wide pool and goes on with
//! its other connections; the worker's answer comes back through the thread's mailbox (a
//! wake-up of that connection). The connection's handshake timeout bounds the wait: an
//! authenticator that never answers costs its peer the handshake and ties up one worker, but
//! holds up nobody else until [`MAX_WORKERS`] such answers are outstanding.
//!
//! Without an authenticator of its own, a socket's handshakes may instead be decided by a ZAP
//! handler written as libzmq users write one: a REP socket bound to `inproc://zeromq.zap.01`
//! speaking RFC 27's frames (see [`crate::zap`]).
//!
//! What an accepted peer was given (user id, the authenticator's metadata) and its address
//! reach the application as the peer's [`Properties`] (`Router::peer_properties`), libzmq's
//! "User-Id" and "Peer-Address" message properties.
//!
//! ## Example: PLAIN with a password check
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use courier_socket::proto::plain::PlainClient;
//! use courier_socket::{Dealer, Multipart, Options, Router, Security, ZapReply, ZapRequestFull, ZapStatus};
//!
//! let router = Router::new(Options {
//!     security: Security::PlainServer,
//!     authenticator: Some(Arc::new(|req: ZapRequestFull| {
//!         if req.credentials == ["admin", "secret"] {
//!             ZapReply::accept("admin")
//!         } else {
//!             ZapReply::refuse(ZapStatus::AuthFailure, "wrong user name or password")
//!         }
//!     })),
//!     ..Options::default()
//! });
//! let endpoint = router.bind_blocking("tcp://127.0.0.1:0")?;
//! let dealer = Dealer::new(Options {
//!     routing_id: "d1".into(),
//!     security: Security::PlainClient(PlainClient::new("admin", "secret")?),
//!     ..Options::default()
//! });
//! dealer.connect(&endpoint.to_string())?;
//! dealer.send_blocking(Multipart::single("hi"))?;
//! let msg = router.recv_timeout(Duration::from_secs(5))?;
//! let props = router.peer_properties(&msg.frames()[0]).expect("a connected peer");
//! assert_eq!(props.get("User-Id").as_deref(), Some(&b"admin"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use courier_proto::greeting::MechanismName;
use courier_proto::metadata::Metadata;

pub use courier_proto::mechanism::{ZapReply, ZapStatus};

use crate::core::lock;
use crate::io::IoWaker;

/// Most worker threads running authenticators at once, process-wide; further requests wait
/// for one to finish.
pub const MAX_WORKERS: usize = 64;
/// A worker with nothing to do for this long ends.
const WORKER_IDLE: Duration = Duration::from_secs(30);

/// What an authenticator is asked (RFC 27's request, without the envelope).
#[derive(Clone, PartialEq, Eq)]
pub struct ZapRequestFull {
    /// The socket's ZAP domain (`Options::zap_domain`; empty: none).
    pub domain: String,
    /// The peer's IP address (for `ipc://`, the path).
    pub address: String,
    /// The routing id of the socket asking (`Options::routing_id`), as libzmq sends.
    pub routing_id: Bytes,
    /// The mechanism: NULL, PLAIN or CURVE.
    pub mechanism: MechanismName,
    /// The credentials: none for NULL, user name and password for PLAIN, the client's 32-octet
    /// long-term public key for CURVE.
    pub credentials: Vec<Bytes>,
}

impl fmt::Debug for ZapRequestFull {
    // A PLAIN password must not reach a log through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZapRequestFull")
            .field("domain", &self.domain)
            .field("address", &self.address)
            .field("routing_id", &self.routing_id)
            .field("mechanism", &self.mechanism)
            .field("credentials", &self.credentials.len())
            .finish()
    }
}

/// Decides who may connect (a ZAP handler). Runs on a worker thread, never an I/O thread; it
/// may block. A panic counts as a 500.
pub trait Authenticator: Send + Sync {
    /// The answer for one peer.
    fn authenticate(&self, request: ZapRequestFull) -> ZapReply;
}

impl<F> Authenticator for F
where
    F: Fn(ZapRequestFull) -> ZapReply + Send + Sync,
{
    fn authenticate(&self, request: ZapRequestFull) -> ZapReply {
        self(request)
    }
}

impl fmt::Debug for dyn Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator(..)")
    }
}

/// What the application learns about a connected peer (libzmq's message properties).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    /// The user id the authenticator gave the peer ("User-Id"; empty without one).
    pub user_id: Bytes,
    /// The peer's address ("Peer-Address": its IP address, or the ipc path).
    pub peer_address: String,
    /// The peer's handshake metadata (Socket-Type, Identity, ...).
    pub metadata: Metadata,
    /// Properties the authenticator added.
    pub auth_metadata: Metadata,
}

impl Properties {
    /// A property by libzmq's name: "User-Id", "Peer-Address", then the authenticator's
    /// metadata, then the peer's (as `zmq_msg_gets` looks them up).
    pub fn get(&self, name: &str) -> Option<Bytes> {
        if name.eq_ignore_ascii_case("User-Id") {
            return Some(self.user_id.clone());
        }
        if name.eq_ignore_ascii_case("Peer-Address") {
            return Some(Bytes::copy_from_slice(self.peer_address.as_bytes()));
        }
        self.auth_metadata
            .get(name)
            .or_else(|| self.metadata.get(name))
            .cloned()
    }
}

/// The IP address part of a peer address as the engine knows it ("1.2.3.4:5", "[::1]:5",
/// "tcp://1.2.3.4:5"); other forms (ipc paths, host names) as they are.
pub(crate) fn address_only(peer_addr: &str) -> String {
    let bare = peer_addr.strip_prefix("tcp://").unwrap_or(peer_addr);
    match bare.parse::<std::net::SocketAddr>() {
        Ok(sa) => sa.ip().to_string(),
        Err(_) => bare.to_owned(),
    }
}

/// Keeps refusal lines to one per change: a refused peer that keeps reconnecting (libzmq
/// clients do, and so do ours) is logged at warn the first time and when its reason changes,
/// and at debug in between; a successful handshake from the address starts over.
#[derive(Default)]
pub(crate) struct RefusalLog {
    last: Mutex<std::collections::HashMap<String, String>>,
}

/// Addresses remembered at most (a flood of refused addresses cannot grow it without bound:
/// past this it starts afresh, which only costs a repeated line).
const REFUSALS_KEPT: usize = 4096;

impl RefusalLog {
    /// The level to log `event` at, if this log has a say (refusals and successes).
    pub fn level(&self, event: &crate::event::SocketEvent) -> Option<log::Level> {
        use crate::event::SocketEvent;
        match event {
            SocketEvent::HandshakeFailed { peer_addr, reason } if is_refusal(reason) => {
                let text = reason.to_string();
                let mut last = lock(&self.last);
                if last.len() >= REFUSALS_KEPT {
                    last.clear();
                }
                let key = address_only(peer_addr);
                if last.get(&key) == Some(&text) {
                    return Some(log::Level::Debug);
                }
                last.insert(key, text);
                Some(log::Level::Warn)
            }
            SocketEvent::HandshakeSucceeded { peer_addr, .. } => {
                let mut last = lock(&self.last);
                if !last.is_empty() {
                    last.remove(&address_only(peer_addr));
                }
                None
            }
            _ => None,
        }
    }
}

/// An authentication refusal: ours (the authenticator said no) or the peer's (an ERROR
/// during the handshake, e.g. "400").
fn is_refusal(reason: &crate::event::Reason) -> bool {
    use courier_proto::connection::ConnectionError;
    use courier_proto::mechanism::HandshakeError;
    matches!(
        reason,
        crate::event::Reason::Protocol(ConnectionError::Handshake(
            HandshakeError::AuthRefused { .. } | HandshakeError::PeerError { .. }
        ))
    )
}

/// Where a worker leaves its answer for the connection.
pub(crate) type ReplySlot = Arc<Mutex<Option<ZapReply>>>;

struct Job {
    authenticator: Arc<dyn Authenticator>,
    request: ZapRequestFull,
    slot: ReplySlot,
    waker: IoWaker,
}

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    idle: usize,
    workers: usize,
}

#[derive(Default)]
struct Pool {
    state: Mutex<PoolState>,
    ready: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::default)
}

/// Hands a request to a worker; the answer lands in the returned slot and `waker` is woken.
pub(crate) fn submit(
    authenticator: Arc<dyn Authenticator>,
    request: ZapRequestFull,
    waker: IoWaker,
) -> ReplySlot {
    let slot: ReplySlot = Arc::new(Mutex::new(None));
    let pool = pool();
    let spawn = {
        let mut st = lock(&pool.state);
        st.jobs.push_back(Job {
            authenticator,
            request,
            slot: Arc::clone(&slot),
            waker,
        });
        let spawn = st.idle < st.jobs.len() && st.workers < MAX_WORKERS;
        if spawn {
            st.workers += 1;
        }
        spawn
    };
    if spawn {
        let started = std::thread::Builder::new()
            .name("courier-auth".into())
            .spawn(|| work(pool));
        if let Err(e) = started {
            log::error!("cannot start an authentication worker: {e}");
            lock(&pool.state).workers -= 1;
        }
    }
    pool.ready.notify_one();
    slot
}

fn work(pool: &'static Pool) {
    loop {
        let job = {
            let mut st = lock(&pool.state);
            loop {
                if let Some(job) = st.jobs.pop_front() {
                    break Some(job);
                }
                st.idle += 1;
                let (next, timeout) = pool
                    .ready
                    .wait_timeout(st, WORKER_IDLE)
                    .unwrap_or_else(|e| e.into_inner());
                st = next;
                st.idle -= 1;
                if timeout.timed_out() && st.jobs.is_empty() {
                    st.workers -= 1;
                    break None;
                }
            }
        };
        let Some(job) = job else { return };
        let Job {
            authenticator,
            request,
            slot,
            waker,
        } = job;
        let reply = catch_unwind(AssertUnwindSafe(|| authenticator.authenticate(request)))
            .unwrap_or_else(|_| {
                log::error!("the authenticator panicked; the peer is refused with 500");
                ZapReply::refuse(ZapStatus::InternalError, "authenticator failed")
            });
        *lock(&slot) = Some(reply);
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_only_strips_ports_and_schemes() {
        assert_eq!(address_only("127.0.0.2:5555"), "127.0.0.2");
        assert_eq!(address_only("[::1]:80"), "::1");
        assert_eq!(address_only("tcp://10.1.2.3:9"), "10.1.2.3");
        assert_eq!(address_only("/tmp/sock"), "/tmp/sock");
    }

    #[test]
    fn properties_by_libzmq_name() {
        let mut auth = Metadata::new();
        auth.push("Role", "admin").unwrap();
        let mut meta = Metadata::new();
        meta.push("Socket-Type", "DEALER").unwrap();
        let p = Properties {
            user_id: "anna".into(),
            peer_address: "127.0.0.2".into(),
            metadata: meta,
            auth_metadata: auth,
        };
        assert_eq!(p.get("User-Id").as_deref(), Some(&b"anna"[..]));
        assert_eq!(p.get("Peer-Address").as_deref(), Some(&b"127.0.0.2"[..]));
        assert_eq!(p.get("Role").as_deref(), Some(&b"admin"[..]));
        assert_eq!(p.get("Socket-Type").as_deref(), Some(&b"DEALER"[..]));
        assert_eq!(p.get("Nope"), None);
    }

    #[test]
    fn refusals_are_logged_once_per_change() {
        use crate::event::{Reason, SocketEvent};
        use courier_proto::connection::ConnectionError;
        use courier_proto::mechanism::HandshakeError;
        let refused = |addr: &str, text: &str| SocketEvent::HandshakeFailed {
            peer_addr: addr.into(),
            reason: Reason::Protocol(ConnectionError::Handshake(HandshakeError::AuthRefused {
                status: ZapStatus::AuthFailure,
                text: text.into(),
            })),
        };
        let log = RefusalLog::default();
        let warn = Some(log::Level::Warn);
        let debug = Some(log::Level::Debug);
        assert_eq!(log.level(&refused("127.0.0.2:1000", "bad password")), warn);
        // The same refusal again from another port of the same address: debug.
        assert_eq!(log.level(&refused("127.0.0.2:1001", "bad password")), debug);
        // Another address, or another reason: warn.
        assert_eq!(log.level(&refused("127.0.0.3:1000", "bad password")), warn);
        assert_eq!(log.level(&refused("127.0.0.2:1002", "unknown user")), warn);
        // A success starts over.
        let ok = SocketEvent::HandshakeSucceeded {
            peer_addr: "127.0.0.2:1003".into(),
            routing_id: Bytes::new(),
        };
        assert_eq!(log.level(&ok), None);
        assert_eq!(log.level(&refused("127.0.0.2:1004", "unknown user")), warn);
        // Other failures are not its business.
        let timeout = SocketEvent::HandshakeFailed {
            peer_addr: "127.0.0.2:1".into(),
            reason: Reason::PeerClosed,
        };
        assert_eq!(log.level(&timeout), None);
    }
}
