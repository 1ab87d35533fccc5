//! # courier-metrics
//!
//! The library half of courier's metrics apps, without networking: agents sample host
//! metrics, a collector forwards them, viewers show them. On the wire (as the reference Python
//! apps): `[b"CTRL", text]` with `hello`, `model` or `ping`, and
//! `[b"METR", hostname, JSON object of metric name to number, kind]` with kind `metrics` (every
//! interval) or `model` (facts that rarely change, sent when asked).
//!
//! - [`sample`]: the [`Collector`] trait, the [`Registry`] that runs collectors and skips a
//!   failing one, and the built-ins reading `/proc`: [`Uptime`] (`sys.uptime`), [`MemInfo`]
//!   (`mem.*`, kB) and [`CpuPercent`] (`cpu.percent`, 0–100, left out of the first sample).
//! - [`view`]: the viewer's per-host state fed by messages, and each row's figures.
//! - [`tui`]: the `courier-top` terminal UI (ratatui).
//! - [`json`]: the viewer's `--json` lines (metrics, and status lines).
//! - [`status`]: the viewer's link to the collector (connecting, refused and why, silent...),
//!   shown by the terminal UI and printed as `--json` status lines.
//!
//! ## A new metric
//!
//! One small impl, registered in one line:
//!
//! ```
//! use courier_metrics::{CollectError, Collector, Kind, Registry, Samples};
//!
//! struct LoadAvg;
//!
//! impl Collector for LoadAvg {
//!     fn name(&self) -> &str { "loadavg" }
//!     fn collect(&mut self, kind: Kind, out: &mut Samples) -> Result<(), CollectError> {
//!         if kind == Kind::Metrics {
//!             let text = std::fs::read_to_string("/proc/loadavg")?;
//!             out.push("sys.load1", text.split_whitespace().next().unwrap_or("").parse::<f64>()?);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let mut registry = Registry::with_defaults().with(LoadAvg);
//! let metrics = registry.collect(Kind::Metrics); // sys.uptime, mem.*, sys.load1, ...
//! let model = registry.message(Kind::Model, "my-host"); // METR my-host {"mem.total":..} model
//! # let _ = (metrics, model);
//! ```
//!
//! ## The viewer's side
//!
//! ```
//! use std::time::Instant;
//! use courier_metrics::{HostTable, Kind, Registry};
//!
//! let mut agent = Registry::with_defaults();
//! let mut table = HostTable::new();
//! let now = Instant::now();
//! table.apply(&agent.message(Kind::Model, "pi"), now);
//! table.apply(&agent.message(Kind::Metrics, "pi"), now);
//! let row = &table.rows(now)[0];
//! println!("{} mem {} cpu {} up {}", row.hostname, row.mem_text(), row.cpu_text(), row.uptime_text());
//! ```
#![forbid(unsafe_code)]

pub mod json;
pub mod sample;
pub mod status;
pub mod tui;
pub mod view;

pub use json::{json_line, status_line};
pub use sample::{
    from_fn, keys, parse_cpu_line, parse_meminfo, parse_stat, parse_uptime, read_hostname,
    CollectError, Collector, CpuPercent, CpuTimes, Kind, MemInfo, Registry, Report, Samples,
    Throttle, ToNumber, Uptime,
};
pub use status::{LinkKind, ViewerStatus};
pub use tui::{draw, run_tui, Dashboard, Incoming, TuiOptions};
pub use view::{HostRow, HostTable};
