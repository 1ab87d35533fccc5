//! Weather update proxy: the ZeroMQ Guide's `wuproxy` (chapter 2), as an XSUB/XPUB forwarder
//! (libzmq's `zmq_proxy` between them, as the Guide's C version does).
//!
//! The Guide's proxy joins two networks: it connects to the weather server on one LAN
//! (`tcp://192.168.55.210:5556`) and publishes on another (`tcp://10.1.1.0:8100`). This port
//! keeps the Guide's ports but stays on loopback: it connects an XSUB socket to
//! `tcp://127.0.0.1:5556` (where `wuserver` publishes) and binds an XPUB socket to
//! `tcp://127.0.0.1:8100` for subscribers. Subscriptions travel upstream through it, so the
//! weather server filters for the proxy's subscribers; updates travel downstream. Prints
//! nothing. Runs until Ctrl-C.
//!
//! `cargo run --release -p courier --example wuproxy`

mod support;

use courier::{proxy, Options, XPub, XSub};
use support::Interrupt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;

    // This is where the weather server sits.
    let frontend = XSub::new(Options::default());
    frontend.connect("tcp://127.0.0.1:5556")?;

    // This is our public endpoint for subscribers.
    let backend = XPub::new(Options::default());
    backend.bind_blocking("tcp://127.0.0.1:8100")?;

    // Run the proxy until the user interrupts us.
    let failed = interrupt.run(proxy(&frontend, &backend));
    frontend.close_blocking();
    backend.close_blocking();
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
