//! Request-reply client: the ZeroMQ Guide's `rrclient` (chapter 2), a drop-in replacement for
//! its Python version (`examples/Python/rrclient.py`).
//!
//! Connects a REQ socket to the broker's frontend at `tcp://localhost:5559` (`rrbroker` or
//! `msgqueue`), sends `Hello` ten times and prints each reply as the Python version does:
//!
//! ```text
//! Received reply 1 [b'World']
//! ```
//!
//! `cargo run --release -p courier --example rrclient`

mod support;

use courier::{Multipart, Options, Req};
use support::{py_bytes, Interrupt};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;
    let socket = Req::new(Options::default());
    socket.connect("tcp://localhost:5559")?;

    // Do 10 requests, waiting each time for a response.
    for request in 1..=10 {
        if !interrupt.send(|m, t| socket.send_timeout(m, t), Multipart::single("Hello"))? {
            break;
        }
        let Some(message) = interrupt.recv(|t| socket.recv_timeout(t))? else {
            break;
        };
        println!("Received reply {request} [{}]", py_bytes(message.first()));
    }
    socket.close_blocking();
    Ok(())
}
