//! Task ventilator: the ZeroMQ Guide's `taskvent` (chapter 1), a drop-in replacement for its
//! Python version (`examples/Python/taskvent.py`).
//!
//! Binds a PUSH socket to `tcp://*:5557` for the workers and connects another to the sink at
//! `tcp://localhost:5558`. Waits for Enter (start the workers and the sink first), sends the
//! sink `0` (start of batch), then 100 tasks to the workers, each a random workload from 1 to
//! 100 (milliseconds, as text), and prints their total:
//!
//! ```text
//! Press Enter when the workers are ready:
//! Sending tasks to workers...
//! Total expected cost: 5050 msec
//! ```
//!
//! `cargo run --release -p courier --example taskvent`

mod support;

use std::time::Duration;

use courier::{Multipart, Options, Push};
use support::{Interrupt, Rng};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;

    // Socket to send messages on.
    let sender = Push::new(Options::default());
    sender.bind_blocking("tcp://*:5557")?;

    // Socket with direct access to the sink: used to synchronize the start of the batch.
    let sink = Push::new(Options::default());
    sink.connect("tcp://localhost:5558")?;

    println!("Press Enter when the workers are ready: ");
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line)? == 0 {
        // Python's input() fails at end of input the same way.
        return Err("standard input closed before Enter".into());
    }
    println!("Sending tasks to workers...");

    // The first message is "0" and signals the start of the batch.
    if !interrupt.send(|m, t| sink.send_timeout(m, t), Multipart::single("0"))? {
        return Ok(());
    }

    // Send 100 tasks.
    let mut rng = Rng::new();
    let mut total_msec = 0;
    for _ in 0..100 {
        // Random workload from 1 to 100 msecs.
        let workload = rng.randint(1, 100);
        total_msec += workload;
        let task = Multipart::single(workload.to_string());
        if !interrupt.send(|m, t| sender.send_timeout(m, t), task)? {
            return Ok(());
        }
    }
    println!("Total expected cost: {total_msec} msec");

    // Give ZeroMQ time to deliver (closing also waits up to the linger for queued tasks).
    interrupt.sleep(Duration::from_secs(1));
    sender.close_blocking();
    sink.close_blocking();
    Ok(())
}
