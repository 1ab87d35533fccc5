//! Identity check: the ZeroMQ Guide's `identity` (chapter 3), a drop-in replacement for its
//! Python version (`examples/Python/identity.py`, with `zhelpers.dump`).
//!
//! Shows the routing ids a ROUTER puts in front of what it receives: a ROUTER bound to
//! `inproc://example` receives one message from a DEALER without a routing id of its own (the
//! ROUTER makes one up: five octets, a zero then a counter, printed in hex) and one from a
//! DEALER whose routing id is `Hello`, and dumps each:
//!
//! ```text
//! ----------------------------------------
//! [005] 0x006b8b4567
//! [028] ROUTER uses a generated UUID
//! ----------------------------------------
//! [005] Hello
//! [040] ROUTER socket uses REQ's socket identity
//! ```
//!
//! Run it by itself: `cargo run --release -p courier --example identity`

mod support;

use courier::{Bytes, Dealer, Multipart, Options, Router};
use support::{dump, Interrupt};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;
    let sink = Router::new(Options::default());
    sink.bind_blocking("inproc://example")?;

    // First allow ZeroMQ to set the identity.
    let anonymous = Dealer::new(Options::default());
    anonymous.connect("inproc://example")?;
    anonymous.send_blocking(Multipart::single("ROUTER uses a generated UUID"))?;
    let Some(message) = interrupt.recv(|t| sink.recv_timeout(t))? else {
        return Ok(());
    };
    dump(&message);

    // Then set the identity ourselves.
    let identified = Dealer::new(Options {
        routing_id: Bytes::from_static(b"Hello"),
        ..Options::default()
    });
    identified.connect("inproc://example")?;
    identified.send_blocking(Multipart::single(
        "ROUTER socket uses REQ's socket identity",
    ))?;
    let Some(message) = interrupt.recv(|t| sink.recv_timeout(t))? else {
        return Ok(());
    };
    dump(&message);

    anonymous.close_blocking();
    identified.close_blocking();
    sink.close_blocking();
    Ok(())
}
