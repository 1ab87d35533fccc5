//! Hello World client: the ZeroMQ Guide's `hwclient` (chapter 1), a drop-in replacement for
//! its Python version (`examples/Python/hwclient.py`).
//!
//! Connects a REQ socket to `tcp://localhost:5555`, sends `Hello` ten times and waits each
//! time for the reply, printing what the Python version prints:
//!
//! ```text
//! Connecting to hello world server...
//! Sending request 0 ...
//! Received reply 0 [ b'World' ]
//! ```
//!
//! `cargo run --release -p courier --example hwclient`

mod support;

use courier::{Multipart, Options, Req};
use support::{py_bytes, Interrupt};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;

    // Socket to talk to the server.
    println!("Connecting to hello world server...");
    let socket = Req::new(Options::default());
    socket.connect("tcp://localhost:5555")?;

    // Do 10 requests, waiting each time for a response.
    for request in 0..10 {
        println!("Sending request {request} ...");
        if !interrupt.send(|m, t| socket.send_timeout(m, t), Multipart::single("Hello"))? {
            break;
        }

        // Get the reply.
        let Some(message) = interrupt.recv(|t| socket.recv_timeout(t))? else {
            break;
        };
        println!("Received reply {request} [ {} ]", py_bytes(message.first()));
    }
    socket.close_blocking();
    Ok(())
}
