//! The proxy (libzmq's zmq_proxy): a ROUTER/DEALER request broker with a capture socket, and
//! an XSUB/XPUB forwarder, with courier peers on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use courier_socket::{
    proxy, proxy_with_capture, runtime, Dealer, Options, Pub, Pull, Push, Rep, Req, Router,
    SocketError, Sub, XPub, XSub,
};
use futures::future::{select, Either};

/// Runs `proxy` on a thread until `stop` is closed; returns what stopped it (None: `stop`).
fn run_until_stopped<F>(proxy: F, stop: async_channel::Receiver<()>) -> Option<SocketError>
where
    F: std::future::Future<Output = SocketError>,
{
    runtime::block_on(async {
        let proxy = std::pin::pin!(proxy);
        let stopped = std::pin::pin!(stop.recv());
        match select(proxy, stopped).await {
            Either::Left((e, _)) => Some(e),
            Either::Right(_) => None,
        }
    })
}

#[test]
fn a_router_dealer_proxy_brokers_requests_and_captures_them() {
    let frontend = Router::new(Options::default());
    let backend = Dealer::new(Options::default());
    let front = frontend.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let back = backend.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let capture = Push::new(Options::default());
    let tap = Pull::new(Options::default());
    let tap_end = tap.bind_blocking("tcp://127.0.0.1:0").unwrap();
    capture.connect(&tap_end.to_string()).unwrap();

    let workers: Vec<Rep> = (0..2).map(|_| Rep::new(Options::default())).collect();
    for w in &workers {
        w.connect(&back.to_string()).unwrap();
    }
    let clients: Vec<Req> = (0..3).map(|_| Req::new(Options::default())).collect();
    for c in &clients {
        c.connect(&front.to_string()).unwrap();
    }
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    std::thread::scope(|s| {
        let running = s.spawn(|| {
            run_until_stopped(proxy_with_capture(&frontend, &backend, &capture), stop_rx)
        });
        for (w, worker) in workers.iter().enumerate() {
            s.spawn(move || {
                // Serves until the clients are done.
                while let Ok(body) = worker.recv_timeout(Duration::from_secs(2)) {
                    let mut reply = frames(&body);
                    reply.push(format!("by worker {w}").into_bytes());
                    let reply: Vec<&[u8]> = reply.iter().map(Vec::as_slice).collect();
                    worker.send_blocking(mp(&reply)).unwrap();
                }
            });
        }
        for round in 0..3 {
            for (i, c) in clients.iter().enumerate() {
                c.send_blocking(mp(&[format!("c{i}r{round}").as_bytes()]))
                    .unwrap();
            }
            for (i, c) in clients.iter().enumerate() {
                let reply = frames(&c.recv_timeout(SOON).unwrap());
                assert_eq!(reply[0], format!("c{i}r{round}").into_bytes(), "{reply:?}");
                assert!(reply[1].starts_with(b"by worker "), "{reply:?}");
            }
        }
        // Every request and every reply was captured: [client id, "", body...].
        let mut captured = Vec::new();
        for _ in 0..18 {
            let msg = frames(&tap.recv_timeout(SOON).unwrap());
            assert_eq!(msg[1], Vec::<u8>::new(), "{msg:?}");
            captured.push(String::from_utf8(msg[2].clone()).unwrap());
        }
        for i in 0..3 {
            for round in 0..3 {
                let body = format!("c{i}r{round}");
                assert_eq!(
                    captured.iter().filter(|c| **c == body).count(),
                    2,
                    "{body}: request and reply in {captured:?}"
                );
            }
        }
        stop_tx.close();
        assert!(running.join().unwrap().is_none(), "the proxy failed");
    });
}

#[test]
fn an_xsub_xpub_proxy_forwards_subscriptions_up_and_messages_down() {
    let frontend = XSub::new(Options::default());
    let backend = XPub::new(Options::default());
    let front = frontend.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let back = backend.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let publisher = Pub::new(Options::default());
    publisher.connect(&front.to_string()).unwrap();
    let sub = Sub::new(Options::default());
    sub.subscribe("w.");
    sub.connect(&back.to_string()).unwrap();
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    std::thread::scope(|s| {
        let running = s.spawn(|| run_until_stopped(proxy(&frontend, &backend), stop_rx));
        let deadline = Instant::now() + SOON;
        let mut n = 0;
        let first = loop {
            assert!(Instant::now() < deadline, "nothing came through the proxy");
            publisher
                .send_blocking(mp(&[format!("v.{n}").as_bytes()]))
                .unwrap();
            publisher
                .send_blocking(mp(&[format!("w.{n}").as_bytes()]))
                .unwrap();
            n += 1;
            if let Ok(msg) = sub.recv_timeout(Duration::from_millis(10)) {
                break msg;
            }
        };
        assert!(first.first().starts_with(b"w."), "{first:?}");
        // The subscription reached the publisher through the proxy: it filters there.
        publisher.send_blocking(mp(&[b"v.last"])).unwrap();
        publisher.send_blocking(mp(&[b"w.last"])).unwrap();
        loop {
            let msg = sub.recv_timeout(SOON).unwrap();
            assert!(msg.first().starts_with(b"w."), "{msg:?}");
            if &msg.first()[..] == b"w.last" {
                break;
            }
        }
        stop_tx.close();
        assert!(running.join().unwrap().is_none(), "the proxy failed");
    });
}
