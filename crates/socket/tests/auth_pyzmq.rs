//! Authenticators (ZAP as a library API) against real libzmq clients: pyzmq PLAIN DEALERs
//! (interop-tests/python/plain_peer.py) as child processes, on 127.0.0.1, with bounded waits.
//! A handler answering 300, a handler that never answers for one user (that handshake times
//! out, the others are served meanwhile), and the User-Id the handler gave, seen by the
//! application.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use courier_interop_tests::{tcp_endpoint, Peer};
use courier_socket::{
    Endpoint, Options, Router, Security, SocketEvent, ZapReply, ZapRequestFull, ZapStatus,
};

/// Bound for what should happen at once (a Python start, a handshake).
const WAIT: Duration = Duration::from_secs(10);

fn plain_router(
    authenticator: impl Fn(ZapRequestFull) -> ZapReply + Send + Sync + 'static,
    handshake_timeout: Duration,
) -> (Router, u16) {
    let router = Router::new(Options {
        security: Security::PlainServer,
        authenticator: Some(Arc::new(authenticator)),
        handshake_timeout,
        ..Options::default()
    });
    let endpoint = within(WAIT, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let Endpoint::Tcp { port, .. } = endpoint else {
        panic!("not TCP: {endpoint}")
    };
    (router, port)
}

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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_handler_answering_300_is_a_temporary_failure_for_libzmq() {
    let (router, port) = plain_router(
        |_| ZapReply::refuse(ZapStatus::TemporaryError, "try again later"),
        WAIT,
    );
    let events = router.events();
    let mut client = pyzmq_client(port, "admin", "secret", "py-300");
    client.expect_event("handshake_failed_auth", &[("value", "300")], WAIT);
    let (ev, _) = wait_event(&events, WAIT, "HandshakeFailed", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    assert!(reason_of(&ev).contains("300"), "{ev:?}");
    assert!(router.peers().is_empty());
    client.stop();
}

#[test]
fn a_handler_that_never_answers_costs_only_that_handshake() {
    // The handler holds user "stuck" until the test ends; everyone else is decided at once.
    let gate = Arc::new(Mutex::new(()));
    let held = lock(&gate);
    let gate2 = Arc::clone(&gate);
    let (router, port) = plain_router(
        move |req: ZapRequestFull| {
            if req.credentials.first().is_some_and(|u| u == "stuck") {
                drop(lock(&gate2));
                return ZapReply::refuse(ZapStatus::InternalError, "too late");
            }
            if req.credentials == [Bytes::from("admin"), Bytes::from("secret")] {
                ZapReply::accept("admin-user")
            } else {
                ZapReply::refuse(ZapStatus::AuthFailure, "no")
            }
        },
        Duration::from_millis(800),
    );
    let events = router.events();
    let mut stuck = pyzmq_client(port, "stuck", "x", "py-stuck");
    let mut good = pyzmq_client(port, "admin", "secret", "py-good");

    // The good client is served while the stuck request is outstanding, and the application
    // sees the User-Id its handler gave.
    let msg = within(WAIT, "a message from the good client", router.recv()).unwrap();
    assert_eq!(&msg.frames()[0][..], b"py-good");
    let props = router.peer_properties(b"py-good").unwrap();
    assert_eq!(props.get("User-Id").as_deref(), Some(&b"admin-user"[..]));
    assert_eq!(
        props.get("Peer-Address").as_deref(),
        Some(&b"127.0.0.1"[..])
    );

    // The stuck one: its handshake times out on our side.
    let (ev, _) = wait_event(&events, WAIT, "the stuck handshake's timeout", |e| {
        matches!(e, SocketEvent::HandshakeFailed { reason, .. }
            if reason.to_string().contains("handshake not completed"))
    });
    drop(ev);
    assert!(!router.is_connected(b"py-stuck"));
    stuck.expect_event("disconnected", &[], WAIT);
    drop(held);
    good.stop();
    stuck.stop();
}
