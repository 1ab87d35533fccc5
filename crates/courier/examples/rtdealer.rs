//! Custom routing, ROUTER to DEALER: the ZeroMQ Guide's `rtdealer` (chapter 3), a drop-in
//! replacement for its Python version (`examples/Python/rtdealer.py`).
//!
//! A ROUTER bound to `ipc://routing.ipc` (a socket file in the current directory) sends ten
//! workloads to two DEALER workers by their routing ids, `A` twice as often as `B`, then
//! `END` to each. Each worker, a thread here as in the Guide, counts what it got and prints,
//! in the order they finish:
//!
//! ```text
//! A received: 7
//! B received: 3
//! ```
//!
//! Run it by itself: `cargo run --release -p courier --example rtdealer`

mod support;

use std::thread;
use std::time::Duration;

use courier::{Bytes, Dealer, Multipart, Options, Router, SocketError};
use support::{Interrupt, Rng};

/// A worker: counts the workloads it receives until `END`, then prints the count.
fn worker(name: &'static str, interrupt: Interrupt) -> Result<(), SocketError> {
    let worker = Dealer::new(Options {
        routing_id: Bytes::from_static(name.as_bytes()),
        ..Options::default()
    });
    worker.connect("ipc://routing.ipc")?;

    let mut total = 0;
    // We receive one part, with the workload.
    while let Some(request) = interrupt.recv(|t| worker.recv_timeout(t))? {
        if &request.first()[..] == b"END" {
            println!("{name} received: {total}");
            break;
        }
        total += 1;
    }
    worker.close_blocking();
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;
    let client = Router::new(Options::default());
    client.bind_blocking("ipc://routing.ipc")?;

    let workers = ["A", "B"].map(|name| {
        let interrupt = interrupt.clone();
        thread::spawn(move || worker(name, interrupt))
    });

    // Wait for the threads to connect (a ROUTER drops what it sends to an unknown peer).
    interrupt.sleep(Duration::from_secs(1));

    // Send 10 tasks scattered to A twice as often as B.
    let mut rng = Rng::new();
    for _ in 0..10 {
        // Two message parts: first the address, then the workload.
        let address = if rng.randint(0, 2) > 0 { "A" } else { "B" };
        client.send_blocking(Multipart::from_frames([
            Bytes::from_static(address.as_bytes()),
            Bytes::from_static(b"This is the workload"),
        ])?)?;
    }
    for address in ["A", "B"] {
        client.send_blocking(Multipart::from_frames([
            Bytes::from_static(address.as_bytes()),
            Bytes::from_static(b"END"),
        ])?)?;
    }

    for handle in workers {
        match handle.join() {
            Ok(result) => result?,
            Err(_) => return Err("a worker thread panicked".into()),
        }
    }
    client.close_blocking();
    Ok(())
}
