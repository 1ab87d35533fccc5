//! A new metric in a few lines: the 1-minute load average from `/proc/loadavg`, registered next
//! to the built-in collectors. Run with `cargo run -p courier-metrics --example loadavg`.

use courier_metrics::{CollectError, Collector, Kind, Registry, Samples};

struct LoadAvg;

impl Collector for LoadAvg {
    fn name(&self) -> &str {
        "loadavg"
    }

    fn collect(&mut self, kind: Kind, out: &mut Samples) -> Result<(), CollectError> {
        if kind == Kind::Metrics {
            let text = std::fs::read_to_string("/proc/loadavg")?;
            let load1: f64 = text.split_whitespace().next().unwrap_or_default().parse()?;
            out.push("sys.load1", load1);
        }
        Ok(())
    }
}

fn main() {
    let mut registry = Registry::with_defaults().with(LoadAvg);
    for kind in Kind::ALL {
        let values = registry.collect(kind);
        println!(
            "{kind}: {}",
            serde_json::to_string(&values).unwrap_or_default()
        );
    }
}
