//! Pub-sub envelope publisher: the ZeroMQ Guide's `psenvpub` (chapter 2), a drop-in
//! replacement for its Python version (`examples/Python/psenvpub.py`).
//!
//! Binds a PUB socket to `tcp://*:5563` and every second publishes two messages of two
//! frames each, an envelope (the topic) and the content: `[A, We don't want to see this]` and
//! `[B, We would like to see this]`. Prints nothing. Runs until Ctrl-C.
//!
//! `cargo run --release -p courier --example psenvpub`

mod support;

use std::time::Duration;

use courier::{Bytes, Multipart, Options, Pub};
use support::Interrupt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;
    let publisher = Pub::new(Options::default());
    publisher.bind_blocking("tcp://*:5563")?;

    loop {
        // Write two messages, each with an envelope and content.
        publisher.send_blocking(Multipart::from_frames([
            Bytes::from_static(b"A"),
            Bytes::from_static(b"We don't want to see this"),
        ])?)?;
        publisher.send_blocking(Multipart::from_frames([
            Bytes::from_static(b"B"),
            Bytes::from_static(b"We would like to see this"),
        ])?)?;
        if !interrupt.sleep(Duration::from_secs(1)) {
            break;
        }
    }
    publisher.close_blocking();
    Ok(())
}
