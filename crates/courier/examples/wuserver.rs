//! Weather update server: the ZeroMQ Guide's `wuserver` (chapter 1), a drop-in replacement
//! for its Python version (`examples/Python/wuserver.py`).
//!
//! Binds a PUB socket to `tcp://*:5556` and publishes random weather updates for ever, each
//! one frame `"ZIPCODE TEMPERATURE RELHUMIDITY"` (zipcode 1 to 99999, temperature -80 to 134,
//! relative humidity 10 to 59: Python's `randrange(1, 100000)`, `randrange(-80, 135)`,
//! `randrange(10, 60)`). Prints nothing. Runs until Ctrl-C.
//!
//! `cargo run --release -p courier --example wuserver`

mod support;

use courier::{Multipart, Options, Pub};
use support::{Interrupt, Rng};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interrupt = Interrupt::install()?;
    let socket = Pub::new(Options::default());
    socket.bind_blocking("tcp://*:5556")?;

    let mut rng = Rng::new();
    while !interrupt.fired() {
        let zipcode = rng.randint(1, 99_999);
        let temperature = rng.randint(-80, 134);
        let relhumidity = rng.randint(10, 59);
        // A PUB never blocks: an update a subscriber cannot take is dropped for it.
        socket.send_blocking(Multipart::single(format!(
            "{zipcode} {temperature} {relhumidity}"
        )))?;
    }
    socket.close_blocking();
    Ok(())
}
