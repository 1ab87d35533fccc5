//! The sockets' futures are plain futures: the same exchange works under tokio, smol and
//! async-std, and with no runtime at all through the blocking calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use common::*;
use courier_socket::{Dealer, Options, Router, Sleep};

/// A DEALER and a ROUTER exchange messages both ways, with one of courier's own timers in
/// between (woken by courier's I/O thread, not by the runtime).
async fn exchange() -> Vec<Vec<Vec<u8>>> {
    let router = Router::new(Options::default());
    let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
    let dealer = Dealer::new(Options::default());
    dealer.connect(&endpoint.to_string()).unwrap();
    let mut seen = Vec::new();
    for i in 0..3u8 {
        dealer.send(mp(&[b"ping", &[i]])).await.unwrap();
        let msg = router.recv().await.unwrap();
        seen.push(frames(&msg)[1..].to_vec());
        let mut reply = mp(&[b"pong", &[i]]);
        reply.push_front(msg.first().clone());
        router.send(reply).await.unwrap();
        seen.push(frames(&dealer.recv().await.unwrap()));
        Sleep::after(Duration::from_millis(5)).await;
    }
    dealer.close().await;
    router.close().await;
    seen
}

fn expected() -> Vec<Vec<Vec<u8>>> {
    (0..3u8)
        .flat_map(|i| {
            [
                vec![b"ping".to_vec(), vec![i]],
                vec![b"pong".to_vec(), vec![i]],
            ]
        })
        .collect()
}

#[test]
fn under_tokio_current_thread() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seen = rt.block_on(async { tokio::time::timeout(SOON, exchange()).await.unwrap() });
    assert_eq!(seen, expected());
}

#[test]
fn under_tokio_multi_thread() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seen = rt.block_on(async {
        let task = tokio::spawn(exchange());
        tokio::time::timeout(SOON, task).await.unwrap().unwrap()
    });
    assert_eq!(seen, expected());
}

#[test]
fn under_smol() {
    let seen = smol::block_on(async {
        let task = smol::spawn(exchange());
        let limit = async {
            smol::Timer::after(SOON).await;
            panic!("timed out under smol");
        };
        smol::future::or(task, limit).await
    });
    assert_eq!(seen, expected());
}

#[test]
fn under_async_std() {
    let seen = async_std::task::block_on(async {
        async_std::future::timeout(SOON, async_std::task::spawn(exchange()))
            .await
            .unwrap()
    });
    assert_eq!(seen, expected());
}

#[test]
fn with_no_runtime_through_the_blocking_calls() {
    let router = Router::new(Options::default());
    let endpoint = router.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let dealer = Dealer::new(Options::default());
    dealer.connect(&endpoint.to_string()).unwrap();
    let mut seen = Vec::new();
    for i in 0..3u8 {
        dealer.send_blocking(mp(&[b"ping", &[i]])).unwrap();
        let msg = router.recv_timeout(SOON).unwrap();
        seen.push(frames(&msg)[1..].to_vec());
        let mut reply = mp(&[b"pong", &[i]]);
        reply.push_front(msg.first().clone());
        router.send_timeout(reply, SOON).unwrap();
        seen.push(frames(&dealer.recv_timeout(SOON).unwrap()));
    }
    assert_eq!(seen, expected());
    // Nothing more comes: the timeout says so.
    let quiet = Duration::from_millis(50);
    assert!(matches!(
        dealer.recv_timeout(quiet),
        Err(courier_socket::SocketError::Timeout(d)) if d == quiet
    ));
    assert_eq!(dealer.close_blocking(), 0);
    router.close_blocking();
}

#[test]
fn a_blocking_send_times_out_at_the_high_water_mark() {
    // No peer: the queue fills to its high-water mark and stays full.
    let dealer = Dealer::new(Options {
        send_hwm: 2,
        linger: Duration::ZERO,
        ..Options::default()
    });
    dealer
        .connect(&format!("tcp://127.0.0.1:{}", free_port()))
        .unwrap();
    dealer.send_blocking(mp(&[b"1"])).unwrap();
    dealer.send_blocking(mp(&[b"2"])).unwrap();
    let wait = Duration::from_millis(50);
    assert!(matches!(
        dealer.send_timeout(mp(&[b"3"]), wait),
        Err(courier_socket::SocketError::Timeout(d)) if d == wait
    ));
    assert_eq!(dealer.queued(), 2);
    assert_eq!(dealer.close_blocking(), 2);
}
