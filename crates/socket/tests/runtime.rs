//! The I/O threads that run the connections: one by default (as libzmq has one I/O thread), or
//! as many as `COURIER_IO_THREADS` says; connections spread across them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use courier_socket::{runtime, Dealer, Options, Router, IO_THREADS_VAR};

/// Names of this process's threads (Linux: /proc/self/task/*/comm).
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

#[test]
fn connections_run_on_the_configured_number_of_io_threads() {
    let expected: usize = ["COURIER_IO_THREADS", "ASYNC_STD_THREAD_COUNT"]
        .iter()
        .find_map(|v| std::env::var(v).ok())
        .map_or(1, |v| {
            v.parse().expect("the I/O thread count must be a number")
        });
    assert_eq!(IO_THREADS_VAR, "COURIER_IO_THREADS");
    let router = Router::new(Options::default());
    let endpoint = router.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let dealers: Vec<Dealer> = (0..4)
        .map(|_| {
            let d = Dealer::new(Options::default());
            d.connect(&endpoint.to_string()).unwrap();
            d.send_blocking(mp(&[b"hi"])).unwrap();
            d
        })
        .collect();
    for _ in 0..4 {
        router.recv_timeout(SOON).unwrap();
    }
    assert_eq!(runtime::io_threads(), expected);
    let io = thread_names()
        .iter()
        .filter(|n| n.as_str() == runtime::IO_THREAD_NAME)
        .count();
    assert_eq!(io, expected, "threads: {:?}", thread_names());
    drop(dealers);
    router.close_blocking();
}

#[test]
fn a_message_sent_after_a_distant_timer_goes_out_at_once() {
    use futures::FutureExt;
    let router = Router::new(Options::default());
    let endpoint = router.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let dealer = Dealer::new(Options::default());
    dealer.connect(&endpoint.to_string()).unwrap();
    dealer.send_blocking(mp(&[b"first"])).unwrap();
    router.recv_timeout(SOON).unwrap();
    // Let the I/O thread go back to waiting on its poller.
    std::thread::sleep(std::time::Duration::from_millis(100));
    // A timer due long after the test's patience registers without waking the I/O thread...
    let mut distant = courier_socket::Sleep::after(std::time::Duration::from_secs(60));
    assert!((&mut distant).now_or_never().is_none());
    // ...and must not keep the next message waiting for it.
    dealer.send_blocking(mp(&[b"second"])).unwrap();
    let got = router
        .recv_timeout(SOON)
        .expect("the message waited for the distant timer");
    assert_eq!(frames(&got)[1], b"second");
    drop(distant);
}
