//! `courier-top` without the network: this host's own samples, taken every second on a thread
//! and handed to the terminal UI through a channel, as the real viewer will hand it messages
//! from its socket. Run with `cargo run -p courier-metrics --example local_top`; `q` quits.

use std::sync::mpsc;
use std::time::Duration;

use courier_metrics::{read_hostname, run_tui, Incoming, Kind, Registry, TuiOptions};

fn main() -> std::io::Result<()> {
    let hostname = read_hostname("/").unwrap_or_else(|_| "localhost".into());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut registry = Registry::with_defaults();
        let model = registry.message(Kind::Model, hostname.clone());
        let mut sent = tx.send(model);
        while sent.is_ok() {
            sent = tx.send(registry.message(Kind::Metrics, hostname.clone()));
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    run_tui(&TuiOptions::default(), || {
        rx.try_recv().map_or(Incoming::Empty, Incoming::Message)
    })
}
