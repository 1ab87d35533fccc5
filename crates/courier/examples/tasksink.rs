//! Task sink: the ZeroMQ Guide's `tasksink` (chapter 1), a drop-in replacement for its Python
//! version (`examples/Python/tasksink.py`).
//!
//! Binds a PULL socket to `tcp://*:5558`, waits for the start of the batch (the ventilator's
//! `0`), then collects 100 results, printing `:` for every tenth and `.` for the others (no
//! newline, as the Python version), and then the time the batch took, in milliseconds as
//! Python prints a float:
//!
//! ```text
//! :.........:.........(...)Total elapsed time: 5173.455715179443 msec
//! ```
//!
//! `cargo run --release -p courier --example tasksink`

mod support;

use std::io::Write;
use std::time::Instant;

use courier::{Options, Pull};
use support::{py_float, Interrupt};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;

    // Socket to receive messages on.
    let receiver = Pull::new(Options::default());
    receiver.bind_blocking("tcp://*:5558")?;

    // Wait for the start of the batch.
    if interrupt.recv(|t| receiver.recv_timeout(t))?.is_none() {
        return Ok(());
    }

    // Start our clock now.
    let start = Instant::now();

    // Process 100 confirmations.
    for task_nbr in 0..100 {
        if interrupt.recv(|t| receiver.recv_timeout(t))?.is_none() {
            return Ok(());
        }
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(if task_nbr % 10 == 0 { b":" } else { b"." })?;
        stdout.flush()?;
    }

    // Calculate and report the duration of the batch.
    let msec = start.elapsed().as_secs_f64() * 1000.0;
    println!("Total elapsed time: {} msec", py_float(msec));
    receiver.close_blocking();
    Ok(())
}
