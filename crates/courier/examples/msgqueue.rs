//! Simple message queuing broker: the ZeroMQ Guide's `msgqueue` (chapter 2), a drop-in
//! replacement for its Python version (`examples/Python/msgqueue.py`).
//!
//! The same as `rrbroker` (a ROUTER frontend bound to `tcp://*:5559` for clients, a DEALER
//! backend bound to `tcp://*:5560` for workers) but with the built-in proxy, libzmq's
//! `zmq_proxy`: [`courier::proxy`]. Prints nothing. Runs until Ctrl-C.
//!
//! `cargo run --release -p courier --example msgqueue`

mod support;

use courier::{proxy, Dealer, Options, Router};
use support::Interrupt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;

    // Socket facing clients.
    let frontend = Router::new(Options::default());
    frontend.bind_blocking("tcp://*:5559")?;

    // Socket facing services.
    let backend = Dealer::new(Options::default());
    backend.bind_blocking("tcp://*:5560")?;

    // Runs until a socket fails, or Ctrl-C.
    let failed = interrupt.run(proxy(&frontend, &backend));
    frontend.close_blocking();
    backend.close_blocking();
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
