//! Simple request-reply broker: the ZeroMQ Guide's `rrbroker` (chapter 2), a drop-in
//! replacement for its Python version (`examples/Python/rrbroker.py`).
//!
//! Binds a ROUTER frontend to `tcp://*:5559` for clients (`rrclient`) and a DEALER backend to
//! `tcp://*:5560` for workers (`rrworker`), and switches messages between them, envelopes
//! and all. Where the Guide polls both sockets, this waits on both sockets' `recv` futures at
//! once with `select` (the `msgqueue` example does the same with [`courier::proxy`]). Prints
//! nothing. Runs until Ctrl-C.
//!
//! `cargo run --release -p courier --example rrbroker`

mod support;

use futures::future::{select, Either};

use courier::{Dealer, Options, Router, SocketError};
use support::Interrupt;

/// Switches messages between the sockets until one fails.
async fn broker(frontend: &Router, backend: &Dealer) -> SocketError {
    loop {
        // Whichever socket has a message first; the other's `recv` is dropped unfinished,
        // which loses nothing (a message is taken only by the future that completes).
        let from_client = std::pin::pin!(frontend.recv());
        let from_worker = std::pin::pin!(backend.recv());
        let sent = match select(from_client, from_worker).await {
            Either::Left((message, _)) => match message {
                Ok(message) => backend.send(message).await,
                Err(e) => Err(e),
            },
            Either::Right((message, _)) => match message {
                Ok(message) => frontend.send(message).await,
                Err(e) => Err(e),
            },
        };
        if let Err(e) = sent {
            return e;
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;

    // Prepare our sockets.
    let frontend = Router::new(Options::default());
    let backend = Dealer::new(Options::default());
    frontend.bind_blocking("tcp://*:5559")?;
    backend.bind_blocking("tcp://*:5560")?;

    let failed = interrupt.run(broker(&frontend, &backend));
    frontend.close_blocking();
    backend.close_blocking();
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
