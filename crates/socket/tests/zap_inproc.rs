//! ZAP handlers as libzmq users write them (RFC 27, issue #14 item 4): a REP socket bound to
//! `inproc://zeromq.zap.01`, receiving RFC 27's request frames and answering 200, 300, 400 or
//! 500, decides the handshakes of PLAIN and CURVE servers and of NULL sockets with a ZAP
//! domain that have no authenticator of their own. Courier and pyzmq (libzmq) clients.
//!
//! A ZAP handler is process-wide, so the tests of this file take turns (`serial`), and each
//! closes its handler before the next starts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::*;
use courier_interop_tests::{tcp_endpoint, Peer};
use courier_socket::proto::curve::{Authorizer, Keypair};
use courier_socket::proto::metadata::Metadata;
use courier_socket::proto::plain::PlainClient;
use courier_socket::zap::{handler_bound, ZAP_ENDPOINT};
use courier_socket::{
    Dealer, Endpoint, Multipart, Options, Rep, Router, Security, SocketError, SocketEvent,
    ZapReply, ZapRequestFull,
};

/// Bound for a Python start or a handshake with a Python peer.
const WAIT: Duration = Duration::from_secs(10);

/// One test at a time: the handler is the process's.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(!handler_bound(), "a ZAP handler was left bound");
    guard
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// What a handler does with one request.
enum Answer {
    /// These frames, after the version and the request id.
    Reply(Vec<Bytes>),
    /// These frames as the whole reply (a malformed one).
    Raw(Vec<Bytes>),
    /// Nothing, ever: the handler stops reading.
    Never,
}

/// A REP handler on `inproc://zeromq.zap.01`, on a thread, recording every request's frames.
struct Handler {
    requests: Arc<Mutex<Vec<Vec<Bytes>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Handler {
    /// Binds (before returning) and answers each request with `decide`.
    fn start(decide: impl Fn(&[Bytes]) -> Answer + Send + 'static) -> Handler {
        let rep = Rep::new(Options::default());
        rep.bind_blocking(ZAP_ENDPOINT).unwrap();
        assert!(handler_bound());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopping) = (Arc::clone(&requests), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut reading = true;
            while !stopping.load(Ordering::SeqCst) {
                if !reading {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                let request = match rep.recv_timeout(Duration::from_millis(20)) {
                    Ok(request) => request,
                    Err(SocketError::Timeout(_)) => continue,
                    Err(e) => panic!("ZAP handler: {e}"),
                };
                let frames = request.frames().to_vec();
                lock(&log).push(frames.clone());
                let reply = match decide(&frames) {
                    Answer::Reply(rest) => {
                        let mut all = vec![b("1.0"), frames[1].clone()];
                        all.extend(rest);
                        all
                    }
                    Answer::Raw(all) => all,
                    Answer::Never => {
                        reading = false;
                        continue;
                    }
                };
                rep.send_blocking(Multipart::new(reply).unwrap()).unwrap();
            }
            drop(rep);
        });
        Handler {
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<Vec<Bytes>> {
        lock(&self.requests).clone()
    }

    /// Stops the handler; its name is free when this returns.
    fn close(mut self) {
        assert!(self.stop_now(), "the ZAP handler's thread panicked");
    }

    /// Whether the thread ended without a panic.
    fn stop_now(&mut self) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().is_none_or(|t| t.join().is_ok())
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        // A failing test is unwinding: its own panic says what went wrong.
        let _ = self.stop_now();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The metadata frame of an accepted "admin": Role=ops.
fn admin_metadata() -> Bytes {
    let mut meta = Metadata::new();
    meta.push("Role", "ops").unwrap();
    let mut wire = BytesMut::new();
    meta.encode(&mut wire);
    wire.freeze()
}

/// Decides by RFC 27's fields: version, request id, domain, address, identity, mechanism,
/// credentials. PLAIN admin/secret: 200 (user "admin", Role=ops); PLAIN user "later": 300;
/// NULL in domain "open": 200 ("null-user"); CURVE: 200 ("curve-user"); the rest: 400.
fn by_credentials(req: &[Bytes]) -> Answer {
    let ok = |user: &str, meta: Bytes| Answer::Reply(vec![b("200"), b("OK"), b(user), meta]);
    let mechanism = std::str::from_utf8(&req[5]).unwrap();
    match (mechanism, &req[6..]) {
        ("PLAIN", [user, pass]) if user == "admin" && pass == "secret" => {
            ok("admin", admin_metadata())
        }
        ("PLAIN", [user, _]) if user == "later" => {
            Answer::Reply(vec![b("300"), b("try later"), Bytes::new(), Bytes::new()])
        }
        ("NULL", []) if req[2] == "open" => ok("null-user", Bytes::new()),
        ("CURVE", [_key]) => ok("curve-user", Bytes::new()),
        _ => Answer::Reply(vec![b("400"), b("denied"), Bytes::new(), Bytes::new()]),
    }
}

fn router(options: Options) -> (Router, Endpoint) {
    let router = Router::new(options);
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    (router, endpoint)
}

fn plain_server() -> Options {
    Options {
        routing_id: "srv".into(),
        security: Security::PlainServer,
        zap_domain: "global".into(),
        ..Options::default()
    }
}

fn dealer(endpoint: &Endpoint, id: &str, security: Security) -> Dealer {
    let dealer = Dealer::new(Options {
        routing_id: b(id),
        security,
        ..Options::default()
    });
    dealer.connect(&endpoint.to_string()).unwrap();
    dealer
}

fn plain(user: &str, password: &str) -> Security {
    Security::PlainClient(PlainClient::new(user.to_owned(), password.to_owned()).unwrap())
}

fn round_trip(router: &Router, dealer: &Dealer, id: &str) {
    within(SOON, "round trip", async {
        dealer.send(mp(&[b"hello"])).await.unwrap();
        let msg = router.recv().await.unwrap();
        assert_eq!(
            frames(&msg),
            vec![id.as_bytes().to_vec(), b"hello".to_vec()]
        );
    });
}

fn handshake_failed(
    events: &async_channel::Receiver<SocketEvent>,
    limit: Duration,
    what: &str,
) -> String {
    let (ev, _) = wait_event(events, limit, what, |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    reason_of(&ev)
}

#[test]
fn a_rep_handler_decides_plain_handshakes_from_rfc27_frames() {
    let _one = serial();
    let handler = Handler::start(by_credentials);
    let (router, endpoint) = router(plain_server());
    let router_events = router.events();

    // 200: accepted, with the user id and metadata the handler gave.
    let good = dealer(&endpoint, "good", plain("admin", "secret"));
    round_trip(&router, &good, "good");
    let props = router.peer_properties(b"good").unwrap();
    assert_eq!(props.get("User-Id").as_deref(), Some(&b"admin"[..]));
    assert_eq!(props.get("Role").as_deref(), Some(&b"ops"[..]));
    assert_eq!(
        props.get("Peer-Address").as_deref(),
        Some(&b"127.0.0.1"[..])
    );

    // The exact frames the handler received (the REQ delimiter taken off by REP).
    let seen = handler.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let request = &seen[0];
    assert_eq!(request.len(), 8, "{request:?}");
    assert_eq!(request[0], "1.0");
    assert!(!request[1].is_empty(), "a request id");
    assert_eq!(request[2], "global");
    assert_eq!(request[3], "127.0.0.1");
    assert_eq!(request[4], "srv");
    assert_eq!(request[5], "PLAIN");
    assert_eq!(request[6], "admin");
    assert_eq!(request[7], "secret");

    // 400: refused on both sides with the status code.
    let wrong = dealer(&endpoint, "wrong", plain("admin", "guess"));
    let wrong_events = wrong.events();
    let why = handshake_failed(&router_events, SOON, "the refusal on the server");
    assert!(why.contains("400") && why.contains("denied"), "{why}");
    let why = handshake_failed(&wrong_events, SOON, "the refusal on the client");
    assert!(why.contains("400"), "{why}");
    assert!(!router.is_connected(b"wrong"));
    drop(wrong);

    // 300: a temporary failure, told as such.
    let later = dealer(&endpoint, "later", plain("later", "x"));
    let later_events = later.events();
    let why = handshake_failed(&later_events, SOON, "the 300 on the client");
    assert!(why.contains("300"), "{why}");
    assert!(!router.is_connected(b"later"));

    // Each request had its own id.
    let ids: std::collections::HashSet<Bytes> =
        handler.requests().iter().map(|r| r[1].clone()).collect();
    assert!(ids.len() >= 3, "{ids:?}");
    drop(later);
    handler.close();
}

#[test]
fn null_asks_the_handler_only_with_a_zap_domain() {
    let _one = serial();
    let handler = Handler::start(by_credentials);

    // With a domain: the handler is asked (no credential frames) and decides.
    let (open, open_ep) = router(Options {
        routing_id: "null-srv".into(),
        zap_domain: "open".into(),
        ..Options::default()
    });
    let client = dealer(&open_ep, "n1", Security::Null);
    round_trip(&open, &client, "n1");
    assert_eq!(
        open.peer_properties(b"n1").map(|p| p.user_id),
        Some(b("null-user"))
    );
    let seen = handler.requests();
    assert_eq!(
        seen,
        vec![vec![
            b("1.0"),
            seen[0][1].clone(),
            b("open"),
            b("127.0.0.1"),
            b("null-srv"),
            b("NULL"),
        ]]
    );

    // Another domain: refused by the handler.
    let (closed, closed_ep) = router(Options {
        zap_domain: "closed".into(),
        ..Options::default()
    });
    let closed_events = closed.events();
    let _refused = dealer(&closed_ep, "n2", Security::Null);
    let why = handshake_failed(&closed_events, SOON, "the NULL refusal");
    assert!(why.contains("400"), "{why}");

    // No domain: the handler is not asked, as in libzmq.
    let (plain_null, plain_ep) = router(Options {
        routing_id: "no-domain".into(),
        ..Options::default()
    });
    let free = dealer(&plain_ep, "n3", Security::Null);
    round_trip(&plain_null, &free, "n3");
    let asked_for_it = handler.requests().iter().any(|r| r[4] == "no-domain");
    assert!(!asked_for_it, "{:?}", handler.requests());
    handler.close();
}

#[test]
fn curve_servers_send_the_client_key_and_keep_their_authorizer() {
    let _one = serial();
    let handler = Handler::start(by_credentials);
    let server_keys = Keypair::generate();
    let client_keys = Keypair::generate();
    let client_pub = *client_keys.public();

    // An authorizer that allows everyone leaves the decision to the handler.
    let (open, open_ep) = router(Options {
        security: Security::curve_server(server_keys.secret().clone(), Authorizer::new(|_| true)),
        ..Options::default()
    });
    let client = dealer(
        &open_ep,
        "c1",
        Security::curve_client(client_keys, *server_keys.public()),
    );
    round_trip(&open, &client, "c1");
    assert_eq!(
        open.peer_properties(b"c1").map(|p| p.user_id),
        Some(b("curve-user"))
    );
    let seen = handler.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0][2..6], [b(""), b("127.0.0.1"), b(""), b("CURVE")]);
    assert_eq!(seen[0][6..], [Bytes::copy_from_slice(&client_pub)]);

    // A key the authorizer refuses is refused (400) without asking the handler: a handler
    // never widens an allowlist.
    let (strict, strict_ep) = router(Options {
        security: Security::curve_server(server_keys.secret().clone(), Authorizer::new(|_| false)),
        ..Options::default()
    });
    let strict_events = strict.events();
    let other = Keypair::generate();
    let other_pub = Bytes::copy_from_slice(other.public());
    let _refused = dealer(
        &strict_ep,
        "c2",
        Security::curve_client(other, *server_keys.public()),
    );
    let why = handshake_failed(&strict_events, SOON, "the authorizer's refusal");
    assert!(why.contains("400"), "{why}");
    let asked_for_it = handler
        .requests()
        .iter()
        .any(|r| r.get(6) == Some(&other_pub));
    assert!(!asked_for_it);
    handler.close();
}

#[test]
fn a_handler_that_never_answers_times_out_only_those_handshakes() {
    let _one = serial();
    let stuck = Handler::start(|_| Answer::Never);
    let (router_a, endpoint_a) = router(Options {
        handshake_timeout: Duration::from_millis(500),
        ..plain_server()
    });
    let events = router_a.events();
    let waiting = dealer(&endpoint_a, "w", plain("admin", "secret"));
    let why = handshake_failed(&events, SOON, "the handshake timeout");
    assert!(why.contains("handshake not completed"), "{why}");
    assert!(!router_a.is_connected(b"w"));
    assert!(!stuck.requests().is_empty());

    // Meanwhile: a socket with its own authenticator, and a NULL socket without a domain,
    // are served.
    let (own, own_ep) = router(Options {
        security: Security::PlainServer,
        authenticator: Some(Arc::new(|_: ZapRequestFull| ZapReply::accept("own"))),
        ..Options::default()
    });
    let client = dealer(&own_ep, "o", plain("anyone", "x"));
    round_trip(&own, &client, "o");
    assert_eq!(own.peer_properties(b"o").map(|p| p.user_id), Some(b("own")));
    let (null, null_ep) = router(Options::default());
    let null_client = dealer(&null_ep, "n", Security::Null);
    round_trip(&null, &null_client, "n");

    // A handler that answers takes over: the same server accepts a new client.
    drop(waiting);
    stuck.close();
    let handler = Handler::start(by_credentials);
    let good = dealer(&endpoint_a, "g", plain("admin", "secret"));
    round_trip(&router_a, &good, "g");
    assert_eq!(
        router_a.peer_properties(b"g").map(|p| p.user_id),
        Some(b("admin"))
    );
    handler.close();
}

#[test]
fn a_malformed_reply_refuses_with_500() {
    let _one = serial();
    // Five frames, no user id nor metadata.
    let handler = Handler::start(|req| {
        Answer::Raw(vec![
            b("1.0"),
            req[1].clone(),
            b("200"),
            b("OK"),
            b("admin"),
        ])
    });
    let (router, endpoint) = router(plain_server());
    let events = router.events();
    let client = dealer(&endpoint, "m", plain("admin", "secret"));
    let client_events = client.events();
    let why = handshake_failed(&events, SOON, "the server's refusal");
    assert!(why.contains("500") && why.contains("malformed"), "{why}");
    let why = handshake_failed(&client_events, SOON, "the client's refusal");
    assert!(why.contains("500"), "{why}");
    assert!(router.peers().is_empty());
    handler.close();
}

#[test]
fn without_a_handler_plain_accepts_everyone_as_libzmq_does() {
    let _one = serial();
    let (router, endpoint) = router(plain_server());
    let client = dealer(&endpoint, "x", plain("whoever", "whatever"));
    round_trip(&router, &client, "x");
    assert_eq!(
        router.peer_properties(b"x").map(|p| p.user_id),
        Some(Bytes::new())
    );
}

// ---- pyzmq (libzmq) clients -----------------------------------------------------------------

fn pyzmq_client(port: u16, user: &str, password: &str, id: &str) -> Peer {
    let args = [
        "client",
        "--connect",
        &tcp_endpoint(port),
        "--user",
        user,
        "--password",
        password,
        "--routing-id",
        id,
        "--interval",
        "0.2",
    ];
    let mut peer = Peer::python("plain_peer.py", args, &format!("pyzmq PLAIN {id}"));
    peer.expect_event("connecting", &[], WAIT);
    peer
}

#[test]
fn pyzmq_plain_clients_are_decided_by_the_rep_handler() {
    let _one = serial();
    let handler = Handler::start(by_credentials);
    let (router, endpoint) = router(plain_server());
    let Endpoint::Tcp { port, .. } = endpoint else {
        panic!("not TCP: {endpoint}")
    };

    let mut good = pyzmq_client(port, "admin", "secret", "py-good");
    let msg = within(WAIT, "a message from the good client", router.recv()).unwrap();
    assert_eq!(&msg.frames()[0][..], b"py-good");
    let props = router.peer_properties(b"py-good").unwrap();
    assert_eq!(props.get("User-Id").as_deref(), Some(&b"admin"[..]));
    assert_eq!(props.get("Role").as_deref(), Some(&b"ops"[..]));

    let mut wrong = pyzmq_client(port, "admin", "guess", "py-wrong");
    wrong.expect_event("handshake_failed_auth", &[("value", "400")], WAIT);
    let mut later = pyzmq_client(port, "later", "x", "py-later");
    later.expect_event("handshake_failed_auth", &[("value", "300")], WAIT);
    assert!(!router.is_connected(b"py-wrong"));
    assert!(!router.is_connected(b"py-later"));

    let users: Vec<Bytes> = handler
        .requests()
        .iter()
        .filter(|r| r[5] == "PLAIN")
        .map(|r| r[6].clone())
        .collect();
    for user in ["admin", "later"] {
        assert!(users.contains(&b(user)), "{user} not asked: {users:?}");
    }
    good.stop();
    wrong.stop();
    later.stop();
    handler.close();
}
