//! Task worker: the ZeroMQ Guide's `taskwork` (chapter 1), a drop-in replacement for its
//! Python version (`examples/Python/taskwork.py`).
//!
//! Connects a PULL socket to the ventilator at `tcp://localhost:5557` and a PUSH socket to
//! the sink at `tcp://localhost:5558`. For each task (a workload in milliseconds, as text) it
//! prints a `.` (no newline, as the Python version), sleeps that long, and sends the sink an
//! empty message. Runs until Ctrl-C.
//!
//! `cargo run --release -p courier --example taskwork`

mod support;

use std::io::Write;
use std::time::Duration;

use courier::{Multipart, Options, Pull, Push};
use support::Interrupt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;

    // Socket to receive messages on.
    let receiver = Pull::new(Options::default());
    receiver.connect("tcp://localhost:5557")?;

    // Socket to send messages to.
    let sender = Push::new(Options::default());
    sender.connect("tcp://localhost:5558")?;

    // Process tasks for ever.
    while let Some(task) = interrupt.recv(|t| receiver.recv_timeout(t))? {
        // Simple progress indicator for the viewer.
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(b".")?;
        stdout.flush()?;
        drop(stdout);

        // Do the work.
        let text = String::from_utf8_lossy(task.first());
        match text.trim().parse::<u64>() {
            Ok(msec) => {
                if !interrupt.sleep(Duration::from_millis(msec)) {
                    break;
                }
            }
            // Python's int() would stop the worker; a worker that outlives a bad task is
            // kinder, and the sink still gets its result.
            Err(_) => eprintln!("taskwork: not a workload: {text:?}"),
        }

        // Send the result to the sink.
        if !interrupt.send(|m, t| sender.send_timeout(m, t), Multipart::single(""))? {
            break;
        }
    }
    receiver.close_blocking();
    sender.close_blocking();
    Ok(())
}
