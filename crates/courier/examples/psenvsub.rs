//! Pub-sub envelope subscriber: the ZeroMQ Guide's `psenvsub` (chapter 2), a drop-in
//! replacement for its Python version (`examples/Python/psenvsub.py`).
//!
//! Connects a SUB socket to `tcp://localhost:5563`, subscribes to envelope `B`, and prints
//! each message's envelope and content as the Python version does (its `print` of
//! `"[%s] %s\n"` ends in an empty line):
//!
//! ```text
//! [b'B'] b'We would like to see this'
//!
//! ```
//!
//! Runs until Ctrl-C.
//!
//! `cargo run --release -p courier --example psenvsub`

mod support;

use courier::{Options, Sub};
use support::{py_bytes, Interrupt};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;
    let subscriber = Sub::new(Options::default());
    subscriber.connect("tcp://localhost:5563")?;
    subscriber.subscribe("B");

    // Read the envelope with the address, then the content.
    while let Some(message) = interrupt.recv(|t| subscriber.recv_timeout(t))? {
        match message.frames() {
            [address, contents] => {
                println!("[{}] {}\n", py_bytes(address), py_bytes(contents));
            }
            // The Guide's Python unpacks exactly two frames and would stop here.
            frames => eprintln!(
                "psenvsub: skipped a message of {} frames (expected envelope and content)",
                frames.len()
            ),
        }
    }
    subscriber.close_blocking();
    Ok(())
}
