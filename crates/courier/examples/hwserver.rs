//! Hello World server: the ZeroMQ Guide's `hwserver` (chapter 1), a drop-in replacement for
//! its Python version (`examples/Python/hwserver.py`).
//!
//! Binds a REP socket to `tcp://*:5555`, expects `Hello` from clients and replies `World`
//! after a second of "work", printing `Received request: b'Hello'` for each request as the
//! Python version does. Runs until Ctrl-C.
//!
//! `cargo run --release -p courier --example hwserver`

mod support;

use std::time::Duration;

use courier::{Multipart, Options, Rep};
use support::{py_bytes, Interrupt};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;
    let socket = Rep::new(Options::default());
    socket.bind_blocking("tcp://*:5555")?;

    // Wait for the next request from a client.
    while let Some(message) = interrupt.recv(|t| socket.recv_timeout(t))? {
        println!("Received request: {}", py_bytes(message.first()));

        // Do some 'work'.
        if !interrupt.sleep(Duration::from_secs(1)) {
            break;
        }

        // Send the reply back to the client.
        socket.send_blocking(Multipart::single("World"))?;
    }
    socket.close_blocking();
    Ok(())
}
