//! Authentication through an `Authenticator` (ZAP as a library API): PLAIN, NULL and CURVE
//! handshakes decided by it, refusals told to both sides, a slow authenticator stalling
//! nobody else, and what an accepted peer was given visible as its properties.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use courier_socket::proto::curve::{Authorizer, Keypair};
use courier_socket::proto::greeting::MechanismName;
use courier_socket::proto::plain::PlainClient;
use courier_socket::{
    Authenticator, Dealer, Endpoint, Options, Router, Security, SocketEvent, ZapReply,
    ZapRequestFull, ZapStatus,
};

fn plain_router(authenticator: Arc<dyn Authenticator>, timeout: Duration) -> (Router, Endpoint) {
    let router = Router::new(Options {
        security: Security::PlainServer,
        authenticator: Some(authenticator),
        zap_domain: "global".into(),
        handshake_timeout: timeout,
        ..Options::default()
    });
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    (router, endpoint)
}

fn plain_dealer(endpoint: &Endpoint, id: &str, user: &str, password: &str) -> Dealer {
    let dealer = Dealer::new(Options {
        routing_id: Bytes::copy_from_slice(id.as_bytes()),
        security: Security::PlainClient(
            PlainClient::new(user.to_owned(), password.to_owned()).unwrap(),
        ),
        ..Options::default()
    });
    dealer.connect(&endpoint.to_string()).unwrap();
    dealer
}

/// Accepts "admin"/"secret" as user "admin"; refuses anything else with 400.
fn passwords(req: ZapRequestFull) -> ZapReply {
    if req.credentials == [Bytes::from("admin"), Bytes::from("secret")] {
        ZapReply::accept("admin")
    } else {
        ZapReply::refuse(ZapStatus::AuthFailure, "wrong user name or password")
    }
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

#[test]
fn plain_right_password_is_accepted_with_its_user_id_and_address() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let (router, endpoint) = plain_router(
        Arc::new(move |req: ZapRequestFull| {
            lock(&log).push(req.clone());
            passwords(req)
        }),
        Duration::from_secs(10),
    );
    let dealer = plain_dealer(&endpoint, "d1", "admin", "secret");
    round_trip(&router, &dealer, "d1");
    let props = router
        .peer_properties(b"d1")
        .expect("properties of a connected peer");
    assert_eq!(&props.user_id[..], b"admin");
    assert_eq!(props.get("User-Id").as_deref(), Some(&b"admin"[..]));
    assert_eq!(
        props.get("Peer-Address").as_deref(),
        Some(&b"127.0.0.1"[..])
    );
    assert_eq!(props.get("Socket-Type").as_deref(), Some(&b"DEALER"[..]));
    let seen = lock(&seen);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].domain, "global");
    assert_eq!(seen[0].address, "127.0.0.1");
    assert_eq!(seen[0].mechanism, MechanismName::PLAIN);
}

#[test]
fn plain_wrong_password_is_refused_on_both_sides() {
    let (router, endpoint) = plain_router(Arc::new(passwords), Duration::from_secs(10));
    let router_events = router.events();
    let dealer = plain_dealer(&endpoint, "d2", "admin", "guess");
    let dealer_events = dealer.events();
    let (ev, _) = wait_event(&router_events, SOON, "HandshakeFailed", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    let why = reason_of(&ev);
    assert!(
        why.contains("400") && why.contains("wrong user name"),
        "{why}"
    );
    let (ev, _) = wait_event(&dealer_events, SOON, "HandshakeFailed", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    assert!(reason_of(&ev).contains("400"), "{ev:?}");
    assert!(router.peers().is_empty());
}

#[test]
fn a_temporary_failure_is_told_as_300() {
    let (router, endpoint) = plain_router(
        Arc::new(|_| ZapReply::refuse(ZapStatus::TemporaryError, "try later")),
        Duration::from_secs(10),
    );
    let dealer = plain_dealer(&endpoint, "d3", "admin", "secret");
    let dealer_events = dealer.events();
    let (ev, _) = wait_event(&dealer_events, SOON, "HandshakeFailed", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    assert!(reason_of(&ev).contains("300"), "{ev:?}");
    assert!(router.peers().is_empty());
}

#[test]
fn an_authenticator_that_never_answers_costs_only_its_peer_the_handshake() {
    // The authenticator holds "stuck" until the test ends (the gate closes), and answers
    // everyone else at once.
    let gate = Arc::new(Mutex::new(()));
    let held = lock(&gate);
    let gate2 = Arc::clone(&gate);
    let calls = Arc::new(AtomicUsize::new(0));
    let calls2 = Arc::clone(&calls);
    let (router, endpoint) = plain_router(
        Arc::new(move |req: ZapRequestFull| {
            calls2.fetch_add(1, Ordering::SeqCst);
            if req.credentials.first().is_some_and(|u| u == "stuck") {
                drop(lock(&gate2));
                return ZapReply::refuse(ZapStatus::InternalError, "late");
            }
            passwords(req)
        }),
        Duration::from_millis(500),
    );
    let router_events = router.events();
    let stuck = plain_dealer(&endpoint, "s", "stuck", "x");
    // The stuck handshake times out on the router...
    let (ev, _) = wait_event(&router_events, SOON, "HandshakeFailed", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    assert!(reason_of(&ev).contains("handshake not completed"), "{ev:?}");
    // ...while a good client is served, with the stuck request still outstanding.
    let good = plain_dealer(&endpoint, "g", "admin", "secret");
    round_trip(&router, &good, "g");
    assert!(calls.load(Ordering::SeqCst) >= 2);
    assert!(!router.is_connected(b"s"));
    drop(held);
    drop(stuck);
}

#[test]
fn null_peers_are_decided_by_address() {
    let router = Router::new(Options {
        authenticator: Some(Arc::new(|req: ZapRequestFull| {
            assert_eq!(req.mechanism, MechanismName::NULL);
            assert!(req.credentials.is_empty());
            if req.address == "127.0.0.1" {
                ZapReply::accept("local")
            } else {
                ZapReply::refuse(ZapStatus::AuthFailure, "address not allowed")
            }
        })),
        ..Options::default()
    });
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let dealer = Dealer::new(Options {
        routing_id: "n1".into(),
        ..Options::default()
    });
    dealer.connect(&endpoint.to_string()).unwrap();
    round_trip(&router, &dealer, "n1");
    assert_eq!(
        router.peer_properties(b"n1").map(|p| p.user_id),
        Some(Bytes::from("local"))
    );
}

#[test]
fn curve_with_an_authenticator_sees_the_client_key() {
    let server_keys = Keypair::generate();
    let client_keys = Keypair::generate();
    let client_pub = *client_keys.public();
    let router = Router::new(Options {
        // The authorizer refuses everyone: the authenticator decides instead.
        security: Security::curve_server(server_keys.secret().clone(), Authorizer::new(|_| false)),
        authenticator: Some(Arc::new(move |req: ZapRequestFull| {
            if req.credentials == [Bytes::copy_from_slice(&client_pub)] {
                ZapReply::accept("curve-user")
            } else {
                ZapReply::refuse(ZapStatus::AuthFailure, "unknown key")
            }
        })),
        ..Options::default()
    });
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let dealer = Dealer::new(Options {
        routing_id: "c1".into(),
        security: Security::curve_client(client_keys, *server_keys.public()),
        ..Options::default()
    });
    dealer.connect(&endpoint.to_string()).unwrap();
    round_trip(&router, &dealer, "c1");
    assert_eq!(router.peer_public_key(b"c1"), Some(client_pub));
    assert_eq!(
        router.peer_properties(b"c1").map(|p| p.user_id),
        Some(Bytes::from("curve-user"))
    );
}

#[test]
fn a_panicking_authenticator_refuses_with_500() {
    let (router, endpoint) = plain_router(
        Arc::new(|_: ZapRequestFull| -> ZapReply { panic!("handler bug") }),
        Duration::from_secs(10),
    );
    let dealer = plain_dealer(&endpoint, "p", "admin", "secret");
    let events = dealer.events();
    let (ev, _) = wait_event(&events, SOON, "HandshakeFailed", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    assert!(reason_of(&ev).contains("500"), "{ev:?}");
    assert!(router.peers().is_empty());
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_source_address_endpoint_connects_from_that_address() {
    let router = Router::new(Options {
        authenticator: Some(Arc::new(|req: ZapRequestFull| {
            if req.address == "127.0.0.2" {
                ZapReply::accept("from-2")
            } else {
                ZapReply::refuse(ZapStatus::AuthFailure, "only 127.0.0.2")
            }
        })),
        ..Options::default()
    });
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let port = port_of(&endpoint);
    let dealer = Dealer::new(Options {
        routing_id: "src2".into(),
        ..Options::default()
    });
    dealer
        .connect(&format!("tcp://127.0.0.2:0;127.0.0.1:{port}"))
        .unwrap();
    round_trip(&router, &dealer, "src2");
    let props = router.peer_properties(b"src2").unwrap();
    assert_eq!(props.peer_address, "127.0.0.2");
    assert_eq!(&props.user_id[..], b"from-2");

    // From 127.0.0.3: refused by the authenticator on the address it connected from.
    let events = router.events();
    let other = Dealer::new(Options {
        routing_id: "src3".into(),
        ..Options::default()
    });
    other
        .connect(&format!("tcp://127.0.0.3:0;127.0.0.1:{port}"))
        .unwrap();
    let (ev, _) = wait_event(
        &events,
        SOON,
        "HandshakeFailed",
        |e| matches!(e, SocketEvent::HandshakeFailed { peer_addr, .. } if peer_addr.starts_with("127.0.0.3")),
    );
    assert!(reason_of(&ev).contains("only 127.0.0.2"), "{ev:?}");
    assert!(!router.is_connected(b"src3"));
}
