//! The viewer's state: what is known of each host, fed by `METR` messages, and the figures of
//! its row on screen. Pure: time comes in as an argument.
//!
//! ```
//! use std::time::Instant;
//! use courier_metrics::view::HostTable;
//! use courier_proto::message::{Message, MetricValues};
//!
//! let values = |pairs: &[(&str, u64)]| -> MetricValues {
//!     pairs.iter().map(|&(k, v)| (k.to_owned(), v.into())).collect()
//! };
//! let now = Instant::now();
//! let mut table = HostTable::new();
//! table.apply(&Message::model("pi", values(&[("mem.total", 1000)])), now);
//! table.apply(&Message::metrics("pi", values(&[("mem.avail", 580), ("cpu.percent", 7)])), now);
//! let rows = table.rows(now);
//! assert_eq!((rows[0].mem_text(), rows[0].cpu_text()), ("42%".to_owned(), "7%".to_owned()));
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use courier_proto::message::{Message, MetricValues};

use crate::sample::{keys, Kind};

/// One message's values and when it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The values as sent.
    pub values: MetricValues,
    /// When the viewer got them.
    pub at: Instant,
}

impl Received {
    /// The value of `key` as a float, if present.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).and_then(serde_json::Number::as_f64)
    }
}

/// What is known about one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Host {
    model: Option<Received>,
    metrics: Option<Received>,
}

impl Host {
    /// The latest model (`mem.total`, `mem.swap.total`), if one came.
    pub fn model(&self) -> Option<&Received> {
        self.model.as_ref()
    }

    /// The latest metrics sample, if one came.
    pub fn metrics(&self) -> Option<&Received> {
        self.metrics.as_ref()
    }

    /// When the host was last heard from (model or metrics).
    pub fn last_heard(&self) -> Option<Instant> {
        let model = self.model.as_ref().map(|r| r.at);
        let metrics = self.metrics.as_ref().map(|r| r.at);
        model.max(metrics)
    }

    /// The figures of this host's row at `now`.
    pub fn row(&self, hostname: &str, now: Instant) -> HostRow {
        // Total memory comes from the model only (the reference viewer summed parts of the
        // metrics instead), available memory from the latest metrics only (the model has none).
        let total = self
            .model
            .as_ref()
            .and_then(|m| m.get(keys::MEM_TOTAL))
            .filter(|t| t.is_finite() && *t > 0.0);
        let avail = self
            .metrics
            .as_ref()
            .and_then(|m| m.get(keys::MEM_AVAIL))
            .filter(|a| a.is_finite());
        let used = total.zip(avail).map(|(t, a)| (t - a).clamp(0.0, t));
        let metric = |key| self.metrics.as_ref().and_then(|m| m.get(key));
        HostRow {
            hostname: hostname.to_owned(),
            mem_total_kb: total,
            mem_used_kb: used,
            mem_percent: total.zip(used).map(|(t, u)| u * 100.0 / t),
            // A 0–100 value is a percentage as is (the reference multiplied it by 100).
            cpu_percent: metric(keys::CPU_PERCENT)
                .filter(|c| c.is_finite())
                .map(|c| c.clamp(0.0, 100.0)),
            uptime: metric(keys::SYS_UPTIME).and_then(|s| Duration::try_from_secs_f64(s).ok()),
            age: self
                .metrics
                .as_ref()
                .map(|m| now.saturating_duration_since(m.at)),
        }
    }
}

/// What [`HostTable::apply`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A `METR` of kind `metrics`: the host's latest metrics were replaced.
    Metrics,
    /// A `METR` of kind `model`: the host's model was replaced.
    Model,
    /// Not a `METR`, or a `METR` of an unknown kind: nothing changed.
    Ignored,
}

/// Every host heard from, by hostname.
#[derive(Debug, Clone, Default)]
pub struct HostTable {
    hosts: BTreeMap<String, Host>,
}

impl HostTable {
    /// No hosts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes in a message received at `now`. A `METR` replaces the host's model or latest
    /// metrics, by its kind; anything else is ignored.
    pub fn apply(&mut self, msg: &Message, now: Instant) -> Applied {
        let Message::Metrics {
            hostname,
            values,
            kind,
        } = msg
        else {
            return Applied::Ignored;
        };
        let Some(kind) = Kind::from_wire(kind) else {
            log::debug!("ignoring METR of unknown kind {kind:?} from {hostname:?}");
            return Applied::Ignored;
        };
        let host = self.hosts.entry(hostname.clone()).or_default();
        let received = Some(Received {
            values: values.clone(),
            at: now,
        });
        match kind {
            Kind::Metrics => {
                host.metrics = received;
                Applied::Metrics
            }
            Kind::Model => {
                host.model = received;
                Applied::Model
            }
        }
    }

    /// The host called `hostname`.
    pub fn host(&self, hostname: &str) -> Option<&Host> {
        self.hosts.get(hostname)
    }

    /// Every host, sorted by hostname.
    pub fn hosts(&self) -> impl Iterator<Item = (&str, &Host)> {
        self.hosts.iter().map(|(name, host)| (name.as_str(), host))
    }

    /// The hosts with metrics but no model yet (a viewer may ask for one).
    pub fn without_model(&self) -> impl Iterator<Item = &str> {
        self.hosts()
            .filter(|(_, h)| h.model.is_none())
            .map(|(name, _)| name)
    }

    /// The number of hosts.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether no host was heard from.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Forgets the hosts not heard from within `max_silence` before `now`; returns how many.
    pub fn forget_silent(&mut self, now: Instant, max_silence: Duration) -> usize {
        let before = self.hosts.len();
        self.hosts.retain(|_, host| {
            host.last_heard()
                .is_some_and(|at| now.saturating_duration_since(at) <= max_silence)
        });
        before - self.hosts.len()
    }

    /// One row per host at `now`, sorted by hostname.
    pub fn rows(&self, now: Instant) -> Vec<HostRow> {
        self.hosts()
            .map(|(name, host)| host.row(name, now))
            .collect()
    }
}

/// The figures of one host's row; `None` is unknown (shown as `?`).
#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    /// The host name.
    pub hostname: String,
    /// `mem.total` of the model, kB.
    pub mem_total_kb: Option<f64>,
    /// Total minus `mem.avail` of the latest metrics, kB.
    pub mem_used_kb: Option<f64>,
    /// Used memory in percent of the total; needs both a model and metrics.
    pub mem_percent: Option<f64>,
    /// `cpu.percent` of the latest metrics, clamped to 0–100.
    pub cpu_percent: Option<f64>,
    /// `sys.uptime` of the latest metrics (as of that sample).
    pub uptime: Option<Duration>,
    /// Time since the latest metrics arrived.
    pub age: Option<Duration>,
}

impl HostRow {
    /// Memory used, e.g. `42%`, or `?`.
    pub fn mem_text(&self) -> String {
        format_percent(self.mem_percent)
    }

    /// CPU busy, e.g. `7%`, or `?`.
    pub fn cpu_text(&self) -> String {
        format_percent(self.cpu_percent)
    }

    /// Uptime, e.g. `3d 04:05:06`, or `?`.
    pub fn uptime_text(&self) -> String {
        self.uptime.map_or_else(|| "?".into(), format_uptime)
    }

    /// Age of the latest metrics, e.g. `3s`, or `?`.
    pub fn age_text(&self) -> String {
        self.age.map_or_else(|| "?".into(), format_age)
    }
}

/// A percentage rounded to a whole number and clamped to 0–100, `42%`, or `?` for unknown
/// (or NaN).
pub fn format_percent(percent: Option<f64>) -> String {
    match percent {
        Some(p) if !p.is_nan() => format!("{:.0}%", p.clamp(0.0, 100.0)),
        _ => "?".into(),
    }
}

/// `3d 04:05:06`, or `04:05:06` under a day.
pub fn format_uptime(uptime: Duration) -> String {
    let secs = uptime.as_secs();
    let (days, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match days {
        0 => format!("{h:02}:{m:02}:{s:02}"),
        _ => format!("{days}d {h:02}:{m:02}:{s:02}"),
    }
}

/// A short age: `5s`, `3m07s`, `2h05m`, `4d03h`.
pub fn format_age(age: Duration) -> String {
    let secs = age.as_secs();
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs / 3600 % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Number;

    fn values(pairs: &[(&str, f64)]) -> MetricValues {
        pairs
            .iter()
            .map(|&(k, v)| (k.to_owned(), Number::from_f64(v).unwrap()))
            .collect()
    }

    fn model(host: &str, total: f64) -> Message {
        Message::model(
            host,
            values(&[("mem.total", total), ("mem.swap.total", 0.0)]),
        )
    }

    fn metrics(host: &str, pairs: &[(&str, f64)]) -> Message {
        Message::metrics(host, values(pairs))
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn full_row() {
        let t0 = Instant::now();
        let mut table = HostTable::new();
        assert_eq!(table.apply(&model("pi", 1_000_000.0), t0), Applied::Model);
        let sample = metrics(
            "pi",
            &[
                ("mem.avail", 580_000.0),
                ("cpu.percent", 12.5),
                ("sys.uptime", 273_906.4),
            ],
        );
        assert_eq!(table.apply(&sample, t0 + secs(1)), Applied::Metrics);
        let rows = table.rows(t0 + secs(4));
        assert_eq!(
            rows,
            [HostRow {
                hostname: "pi".into(),
                mem_total_kb: Some(1_000_000.0),
                mem_used_kb: Some(420_000.0),
                mem_percent: Some(42.0),
                cpu_percent: Some(12.5),
                uptime: Some(Duration::from_secs_f64(273_906.4)),
                age: Some(secs(3)),
            }]
        );
        let row = &rows[0];
        assert_eq!(row.mem_text(), "42%");
        assert_eq!(row.cpu_text(), "12%");
        assert_eq!(row.uptime_text(), "3d 04:05:06");
        assert_eq!(row.age_text(), "3s");
    }

    #[test]
    fn memory_unknown_until_model_and_metrics() {
        let t0 = Instant::now();
        let mut table = HostTable::new();
        // Metrics alone: no total, even though the parts are there (the reference summed
        // free + buffers + cached + ... into a total; we only trust mem.total of the model).
        let parts = [
            ("mem.free", 100.0),
            ("mem.avail", 300.0),
            ("mem.buffers", 100.0),
            ("mem.cached", 100.0),
        ];
        table.apply(&metrics("a", &parts), t0);
        let row = &table.rows(t0)[0];
        assert_eq!((row.mem_percent, row.mem_text()), (None, "?".into()));
        assert_eq!(table.without_model().collect::<Vec<_>>(), ["a"]);
        // Model alone: it has no mem.avail, so still unknown.
        table.apply(&model("b", 1000.0), t0);
        let row = &table.rows(t0)[1];
        assert_eq!(row.hostname, "b");
        assert_eq!((row.mem_percent, row.age), (None, None));
        assert_eq!(
            (row.cpu_text(), row.uptime_text(), row.age_text()),
            ("?".into(), "?".into(), "?".into())
        );
        // Both: total from the model, avail from the metrics.
        table.apply(&model("a", 1000.0), t0);
        assert_eq!(table.rows(t0)[0].mem_percent, Some(70.0));
        assert_eq!(table.without_model().count(), 0);
    }

    #[test]
    fn model_avail_and_metrics_total_are_not_used() {
        let t0 = Instant::now();
        let mut table = HostTable::new();
        // A model that (wrongly) carries mem.avail must not stand in for the metrics.
        let odd_model = Message::model("h", values(&[("mem.total", 1000.0), ("mem.avail", 1.0)]));
        table.apply(&odd_model, t0);
        assert_eq!(table.rows(t0)[0].mem_percent, None);
        // Metrics that carry a mem.total do not replace the model's.
        table.apply(
            &metrics("h", &[("mem.total", 2000.0), ("mem.avail", 250.0)]),
            t0,
        );
        assert_eq!(table.rows(t0)[0].mem_percent, Some(75.0));
    }

    #[test]
    fn kinds_replace_separately() {
        let t0 = Instant::now();
        let mut table = HostTable::new();
        table.apply(&model("h", 1000.0), t0);
        table.apply(
            &metrics("h", &[("mem.avail", 500.0), ("cpu.percent", 10.0)]),
            t0,
        );
        // A later sample without cpu.percent: the latest metrics are replaced as a whole.
        table.apply(&metrics("h", &[("mem.avail", 250.0)]), t0 + secs(1));
        let row = &table.rows(t0 + secs(1))[0];
        assert_eq!((row.mem_percent, row.cpu_percent), (Some(75.0), None));
        // A new model keeps the metrics.
        table.apply(&model("h", 500.0), t0 + secs(2));
        assert_eq!(table.rows(t0 + secs(2))[0].mem_percent, Some(50.0));
        let host = table.host("h").unwrap();
        assert_eq!(host.last_heard(), Some(t0 + secs(2)));
        assert_eq!(host.metrics().unwrap().at, t0 + secs(1));
        assert_eq!(host.model().unwrap().get("mem.total"), Some(500.0));
    }

    #[test]
    fn cpu_percent_is_a_percentage_as_is() {
        let t0 = Instant::now();
        let mut table = HostTable::new();
        for (host, cpu) in [
            ("a", 0.5),
            ("b", 42.4),
            ("c", 100.0),
            ("d", 250.0),
            ("e", -3.0),
        ] {
            table.apply(&metrics(host, &[("cpu.percent", cpu)]), t0);
        }
        let cpus: Vec<_> = table.rows(t0).iter().map(HostRow::cpu_text).collect();
        assert_eq!(cpus, ["0%", "42%", "100%", "100%", "0%"]);
        assert_eq!(table.rows(t0)[1].cpu_percent, Some(42.4));
    }

    #[test]
    fn used_memory_is_clamped() {
        let t0 = Instant::now();
        let mut table = HostTable::new();
        table.apply(&model("more", 1000.0), t0);
        table.apply(&metrics("more", &[("mem.avail", 2000.0)]), t0);
        table.apply(&model("zero", 0.0), t0);
        table.apply(&metrics("zero", &[("mem.avail", 0.0)]), t0);
        table.apply(&model("neg", 1000.0), t0);
        table.apply(&metrics("neg", &[("mem.avail", -5.0)]), t0);
        let rows = table.rows(t0);
        let pct: Vec<_> = rows.iter().map(|r| r.mem_percent).collect();
        assert_eq!(pct, [Some(0.0), Some(100.0), None]);
    }

    #[test]
    fn ignores_other_messages_and_kinds() {
        let t0 = Instant::now();
        let mut table = HostTable::new();
        let ignored = [
            Message::Hello,
            Message::Control {
                text: "model".into(),
            },
            Message::Metrics {
                hostname: "h".into(),
                values: values(&[("mem.total", 1.0)]),
                kind: "custom".into(),
            },
        ];
        for msg in &ignored {
            assert_eq!(table.apply(msg, t0), Applied::Ignored);
        }
        assert!(table.is_empty());
    }

    #[test]
    fn rows_sorted_and_bad_uptime() {
        let t0 = Instant::now();
        let mut table = HostTable::new();
        for host in ["zeta", "alpha", "mid"] {
            table.apply(&metrics(host, &[("sys.uptime", -1.0)]), t0);
        }
        let rows = table.rows(t0);
        let names: Vec<_> = rows.iter().map(|r| r.hostname.as_str()).collect();
        assert_eq!(names, ["alpha", "mid", "zeta"]);
        assert_eq!(rows[0].uptime, None);
        assert_eq!(table.len(), 3);
        assert_eq!(table.hosts().count(), 3);
    }

    #[test]
    fn forget_silent_hosts() {
        let t0 = Instant::now();
        let mut table = HostTable::new();
        table.apply(&metrics("old", &[]), t0);
        table.apply(&metrics("new", &[]), t0 + secs(20));
        assert_eq!(table.forget_silent(t0 + secs(30), secs(15)), 1);
        assert_eq!(table.hosts().map(|(n, _)| n).collect::<Vec<_>>(), ["new"]);
        // Asking for a time before the arrival saturates instead of panicking.
        assert_eq!(table.rows(t0)[0].age, Some(Duration::ZERO));
    }

    #[test]
    fn formats() {
        assert_eq!(
            format_uptime(secs(3 * 86_400 + 4 * 3600 + 5 * 60 + 6)),
            "3d 04:05:06"
        );
        assert_eq!(format_uptime(secs(59)), "00:00:59");
        assert_eq!(format_uptime(secs(86_399)), "23:59:59");
        assert_eq!(format_uptime(secs(86_400)), "1d 00:00:00");
        assert_eq!(format_uptime(secs(400 * 86_400)), "400d 00:00:00");
        assert_eq!(format_age(Duration::from_millis(999)), "0s");
        assert_eq!(format_age(secs(59)), "59s");
        assert_eq!(format_age(secs(187)), "3m07s");
        assert_eq!(format_age(secs(2 * 3600 + 5 * 60 + 9)), "2h05m");
        assert_eq!(format_age(secs(4 * 86_400 + 3 * 3600)), "4d03h");
        assert_eq!(format_percent(Some(41.5)), "42%");
        assert_eq!(format_percent(Some(99.6)), "100%");
        assert_eq!(format_percent(Some(f64::NAN)), "?");
        assert_eq!(format_percent(None), "?");
    }
}
