//! The executor the connections run on: one thread by default (as libzmq has one I/O thread),
//! or as many as `ASYNC_STD_THREAD_COUNT` says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::time::Duration;

use courier_socket::runtime::{self, IO_THREADS_VAR};

#[test]
fn tasks_run_on_the_configured_number_of_io_threads() {
    let expected: usize = match std::env::var(IO_THREADS_VAR) {
        Ok(v) => v.parse().expect("ASYNC_STD_THREAD_COUNT must be a number"),
        Err(_) => 1,
    };
    let seen = runtime::block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                runtime::spawn(async move {
                    let mut seen = Vec::new();
                    for _ in 0..5 {
                        let t = std::thread::current();
                        seen.push((format!("{:?}", t.id()), t.name().map(str::to_owned)));
                        runtime::sleep(Duration::from_millis(1 + i % 3)).await;
                    }
                    seen
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await);
        }
        all
    });
    let names: BTreeSet<_> = seen.iter().map(|(_, n)| n.clone()).collect();
    assert_eq!(names, BTreeSet::from([Some("courier-io".to_owned())]));
    let threads: BTreeSet<_> = seen.iter().map(|(id, _)| id.clone()).collect();
    assert!(
        threads.len() <= expected,
        "tasks ran on {} threads, want at most {expected}",
        threads.len()
    );
}
