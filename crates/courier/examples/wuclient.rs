//! Weather update client: the ZeroMQ Guide's `wuclient` (chapter 1), a drop-in replacement
//! for its Python version (`examples/Python/wuclient.py`).
//!
//! Connects a SUB socket to `tcp://localhost:5556`, subscribes to the zipcode given as the
//! first argument (default `10001`, New York), collects 100 updates and prints their average
//! temperature as Python prints it:
//!
//! ```text
//! Collecting updates from weather server...
//! Average temperature for zipcode '10001' was 27.43 F
//! ```
//!
//! The subscription is a prefix, as in the Guide: `1` takes every zipcode starting with 1.
//!
//! `cargo run --release -p courier --example wuclient -- 10001`

mod support;

use courier::{Options, Sub};
use support::{py_float, Interrupt};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;

    // Socket to talk to the server.
    let socket = Sub::new(Options::default());
    println!("Collecting updates from weather server...");
    socket.connect("tcp://localhost:5556")?;

    // Subscribe to the zipcode, default is NYC, 10001.
    let zip_filter = std::env::args().nth(1).unwrap_or_else(|| "10001".into());
    socket.subscribe(&zip_filter);

    // Process 100 updates.
    let mut total_temp: i64 = 0;
    let mut updates: u32 = 0;
    while updates < 100 {
        let Some(update) = interrupt.recv(|t| socket.recv_timeout(t))? else {
            socket.close_blocking();
            return Ok(());
        };
        let text = String::from_utf8_lossy(update.first());
        match text.split_whitespace().collect::<Vec<_>>().as_slice() {
            [_zipcode, temperature, _relhumidity] => match temperature.parse::<i64>() {
                Ok(t) => total_temp += t,
                Err(_) => return Err(format!("not a weather update: {text:?}").into()),
            },
            // Python's unpacking would fail the same way.
            _ => return Err(format!("not a weather update: {text:?}").into()),
        }
        updates += 1;
    }
    println!(
        "Average temperature for zipcode '{zip_filter}' was {} F",
        py_float(total_temp as f64 / f64::from(updates))
    );
    socket.close_blocking();
    Ok(())
}
