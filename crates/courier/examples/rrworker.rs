//! Request-reply worker: the ZeroMQ Guide's `rrworker` (chapter 2), a drop-in replacement for
//! its Python version (`examples/Python/rrworker.py`).
//!
//! Connects a REP socket to the broker's backend at `tcp://localhost:5560` (`rrbroker` or
//! `msgqueue`), prints each request as `Received request: b'Hello'` and replies `World`. Runs
//! until Ctrl-C.
//!
//! `cargo run --release -p courier --example rrworker`

mod support;

use courier::{Multipart, Options, Rep};
use support::{py_bytes, Interrupt};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;
    let socket = Rep::new(Options::default());
    socket.connect("tcp://localhost:5560")?;

    while let Some(message) = interrupt.recv(|t| socket.recv_timeout(t))? {
        println!("Received request: {}", py_bytes(message.first()));
        socket.send_blocking(Multipart::single("World"))?;
    }
    socket.close_blocking();
    Ok(())
}
