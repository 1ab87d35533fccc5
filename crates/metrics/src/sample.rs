//! Collecting samples: the [`Collector`] trait, the [`Registry`] that runs collectors, and the
//! built-in collectors [`MemInfo`], [`CpuPercent`] and [`Uptime`].
//!
//! Every built-in reads a file under a root directory (`/` by default, a fixture directory in
//! tests) and hands the text to a pure parsing function ([`parse_meminfo`], [`parse_stat`],
//! [`parse_cpu_line`], [`parse_uptime`]).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::num::{ParseFloatError, ParseIntError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use courier_proto::message::{Message, MetricValues};
use serde_json::Number;

/// The metric names the built-in collectors send and the viewer reads.
pub mod keys {
    /// Seconds since boot (float), from `/proc/uptime`. Metrics.
    pub const SYS_UPTIME: &str = "sys.uptime";
    /// Busy share of all CPUs since the previous sample, 0–100. Metrics.
    pub const CPU_PERCENT: &str = "cpu.percent";
    /// `MemTotal`, kB. Model.
    pub const MEM_TOTAL: &str = "mem.total";
    /// `SwapTotal`, kB. Model.
    pub const MEM_SWAP_TOTAL: &str = "mem.swap.total";
    /// `MemFree`, kB. Metrics.
    pub const MEM_FREE: &str = "mem.free";
    /// `MemAvailable`, kB. Metrics.
    pub const MEM_AVAIL: &str = "mem.avail";
    /// `Buffers`, kB. Metrics.
    pub const MEM_BUFFERS: &str = "mem.buffers";
    /// `Cached`, kB. Metrics.
    pub const MEM_CACHED: &str = "mem.cached";
    /// `Dirty`, kB. Metrics.
    pub const MEM_DIRTY: &str = "mem.dirty";
    /// `Writeback`, kB. Metrics.
    pub const MEM_WRITEBACK: &str = "mem.writeback";
    /// `SwapFree`, kB. Metrics.
    pub const MEM_SWAP_FREE: &str = "mem.swap.free";
}

/// What a collection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Live samples, sent every interval; `metrics` on the wire.
    Metrics,
    /// Facts that rarely change (total memory), sent when asked; `model` on the wire.
    Model,
}

impl Kind {
    /// Both kinds.
    pub const ALL: [Kind; 2] = [Kind::Metrics, Kind::Model];

    /// The wire name: [`Message::KIND_METRICS`] or [`Message::KIND_MODEL`].
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Metrics => Message::KIND_METRICS,
            Kind::Model => Message::KIND_MODEL,
        }
    }

    /// The kind named `kind` on the wire, if it is one of the two.
    pub fn from_wire(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// A `METR` message of this kind.
    pub fn message(self, hostname: impl Into<String>, values: MetricValues) -> Message {
        Message::Metrics {
            hostname: hostname.into(),
            values,
            kind: self.as_str().into(),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value [`Samples::push`] accepts: any integer, `f32`, `f64`, or a JSON number.
pub trait ToNumber {
    /// The JSON number, or `None` for a float that JSON cannot hold (NaN, ±infinity).
    fn to_number(self) -> Option<Number>;
}

macro_rules! int_to_number {
    ($($t:ty),*) => {$(
        impl ToNumber for $t {
            fn to_number(self) -> Option<Number> {
                Some(Number::from(self))
            }
        }
    )*};
}
int_to_number!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl ToNumber for f64 {
    fn to_number(self) -> Option<Number> {
        Number::from_f64(self)
    }
}

impl ToNumber for f32 {
    fn to_number(self) -> Option<Number> {
        Number::from_f64(f64::from(self))
    }
}

impl ToNumber for Number {
    fn to_number(self) -> Option<Number> {
        Some(self)
    }
}

/// The samples one collector produces in one collection: metric name to number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Samples {
    values: MetricValues,
}

impl Samples {
    /// No samples.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value` (replacing an earlier value), and returns `true`; a NaN or
    /// infinite float is not stored (JSON has no such numbers) and returns `false`.
    pub fn push(&mut self, key: impl Into<String>, value: impl ToNumber) -> bool {
        match value.to_number() {
            Some(n) => {
                self.values.insert(key.into(), n);
                true
            }
            None => false,
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Number> {
        self.values.get(key)
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The samples, sorted by name.
    pub fn values(&self) -> &MetricValues {
        &self.values
    }

    /// Consumes the samples, returning them.
    pub fn into_values(self) -> MetricValues {
        self.values
    }
}

/// Why a collector could not collect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// An I/O error without a path (from `?` on an [`io::Error`]).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// Text that should hold numbers does not.
    #[error("cannot parse {what}: {detail}")]
    Parse {
        /// What was parsed, e.g. a file name.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A float did not parse (from `?` on [`str::parse`]).
    #[error("invalid number: {0}")]
    ParseFloat(#[from] ParseFloatError),
    /// An integer did not parse (from `?` on [`str::parse`]).
    #[error("invalid number: {0}")]
    ParseInt(#[from] ParseIntError),
    /// Anything else, in words.
    #[error("{0}")]
    Other(String),
}

impl CollectError {
    /// A [`CollectError::Parse`].
    pub fn parse(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Parse {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// Reads a whole text file, naming it in the error.
pub fn read_text(path: &Path) -> Result<String, CollectError> {
    std::fs::read_to_string(path).map_err(|source| CollectError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A source of samples. A new metric is one small impl and one
/// [`Registry::register`] call; see the crate docs for an example.
pub trait Collector: Send {
    /// A short name for logs, e.g. `meminfo`.
    fn name(&self) -> &str;

    /// Pushes this collector's samples of `kind` into `out`; a collector with nothing to say
    /// about `kind` pushes nothing and returns `Ok`. On error, whatever it pushed is dropped.
    fn collect(&mut self, kind: Kind, out: &mut Samples) -> Result<(), CollectError>;
}

/// A collector made of a name and a closure; see [`from_fn`].
pub struct FromFn<F> {
    name: String,
    f: F,
}

impl<F> fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromFn").field("name", &self.name).finish()
    }
}

/// A collector from a closure, for metrics that need no state:
///
/// ```
/// use courier_metrics::{from_fn, Kind, Registry};
///
/// let mut registry = Registry::new();
/// registry.register(from_fn("answer", |kind, out| {
///     if kind == Kind::Metrics {
///         out.push("answer", 42);
///     }
///     Ok(())
/// }));
/// assert_eq!(registry.collect(Kind::Metrics)["answer"], 42.into());
/// ```
pub fn from_fn<F>(name: impl Into<String>, f: F) -> Box<FromFn<F>>
where
    F: FnMut(Kind, &mut Samples) -> Result<(), CollectError> + Send,
{
    Box::new(FromFn {
        name: name.into(),
        f,
    })
}

impl<F> Collector for FromFn<F>
where
    F: FnMut(Kind, &mut Samples) -> Result<(), CollectError> + Send,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&mut self, kind: Kind, out: &mut Samples) -> Result<(), CollectError> {
        (self.f)(kind, out)
    }
}

/// The collectors of an agent, run in registration order.
///
/// [`Registry::collect`] merges their samples; a collector that fails is logged and skipped
/// (a warning when it starts failing, debug messages while it keeps failing, and a note when it
/// recovers), so one broken metric never stops the others. A name pushed by two collectors
/// keeps the value of the later one.
#[derive(Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

struct Entry {
    collector: Box<dyn Collector>,
    failing: bool,
}

/// The result of [`Registry::collect_report`]: the merged samples and who failed.
#[derive(Debug, Default)]
pub struct Report {
    /// The samples of every collector that succeeded.
    pub values: MetricValues,
    /// The name and error of every collector that failed.
    pub failures: Vec<(String, CollectError)>,
}

impl Registry {
    /// No collectors.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in collectors reading the real `/proc`: [`Uptime`], [`MemInfo`] and
    /// [`CpuPercent`].
    pub fn with_defaults() -> Self {
        Self::with_defaults_at("/")
    }

    /// The built-in collectors reading `<root>/proc/...` (for tests and containers).
    pub fn with_defaults_at(root: impl AsRef<Path>) -> Self {
        let root = root.as_ref();
        let mut registry = Self::new();
        registry
            .register(Box::new(Uptime::at_root(root)))
            .register(Box::new(MemInfo::at_root(root)))
            .register(Box::new(CpuPercent::at_root(root)));
        registry
    }

    /// Adds a collector, run after those already registered.
    pub fn register(&mut self, collector: Box<dyn Collector>) -> &mut Self {
        self.entries.push(Entry {
            collector,
            failing: false,
        });
        self
    }

    /// Adds a collector, builder style: `Registry::with_defaults().with(LoadAvg)`.
    pub fn with(mut self, collector: impl Collector + 'static) -> Self {
        self.register(Box::new(collector));
        self
    }

    /// The collectors' names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.collector.name()).collect()
    }

    /// The number of collectors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no collector is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Runs every collector for `kind` and merges their samples; failures are logged and
    /// skipped.
    pub fn collect(&mut self, kind: Kind) -> MetricValues {
        self.collect_report(kind).values
    }

    /// Like [`Registry::collect`], also returning the failures.
    pub fn collect_report(&mut self, kind: Kind) -> Report {
        let mut report = Report::default();
        for entry in &mut self.entries {
            let name = entry.collector.name().to_owned();
            let mut samples = Samples::new();
            match entry.collector.collect(kind, &mut samples) {
                Ok(()) => {
                    if std::mem::replace(&mut entry.failing, false) {
                        log::info!("collector {name} works again");
                    }
                    for (key, value) in samples.into_values() {
                        if report.values.insert(key.clone(), value).is_some() {
                            log::debug!("collector {name} overrides metric {key}");
                        }
                    }
                }
                Err(err) => {
                    if std::mem::replace(&mut entry.failing, true) {
                        log::debug!("collector {name} still failing ({kind}): {err}");
                    } else {
                        log::warn!("collector {name} failed ({kind}), skipping it: {err}");
                    }
                    report.failures.push((name, err));
                }
            }
        }
        report
    }

    /// Collects `kind` and wraps the samples in a `METR` message from `hostname`.
    pub fn message(&mut self, kind: Kind, hostname: impl Into<String>) -> Message {
        let values = self.collect(kind);
        kind.message(hostname, values)
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("collectors", &self.names())
            .finish()
    }
}

/// Parses `/proc/meminfo` into field name to value (kB for the fields that have a unit).
///
/// Lines that are not `Name: number [unit]` are skipped, so a kernel adding odd lines does
/// not break the parse.
pub fn parse_meminfo(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let value = rest.split_whitespace().next()?.parse().ok()?;
            Some((name.trim().to_owned(), value))
        })
        .collect()
}

/// Memory figures from `/proc/meminfo`, in kB.
///
/// Metrics: `mem.free`, `mem.avail`, `mem.buffers`, `mem.cached`, `mem.dirty`,
/// `mem.writeback`, `mem.swap.free`. Model: `mem.total`, `mem.swap.total`. A field the kernel
/// does not report (`MemAvailable` before Linux 3.14) is left out; a file with none of them is
/// an error.
#[derive(Debug, Clone)]
pub struct MemInfo {
    path: PathBuf,
}

impl MemInfo {
    /// `/proc/meminfo` field and metric name of the metrics.
    pub const METRICS: [(&'static str, &'static str); 7] = [
        ("MemFree", keys::MEM_FREE),
        ("MemAvailable", keys::MEM_AVAIL),
        ("Buffers", keys::MEM_BUFFERS),
        ("Cached", keys::MEM_CACHED),
        ("Dirty", keys::MEM_DIRTY),
        ("Writeback", keys::MEM_WRITEBACK),
        ("SwapFree", keys::MEM_SWAP_FREE),
    ];
    /// `/proc/meminfo` field and metric name of the model.
    pub const MODEL: [(&'static str, &'static str); 2] = [
        ("MemTotal", keys::MEM_TOTAL),
        ("SwapTotal", keys::MEM_SWAP_TOTAL),
    ];

    /// Reads `/proc/meminfo`.
    pub fn new() -> Self {
        Self::at_root("/")
    }

    /// Reads `<root>/proc/meminfo`.
    pub fn at_root(root: impl AsRef<Path>) -> Self {
        Self {
            path: root.as_ref().join("proc/meminfo"),
        }
    }
}

impl Default for MemInfo {
    fn default() -> Self {
        Self::new()
    }
}

impl Collector for MemInfo {
    fn name(&self) -> &str {
        "meminfo"
    }

    fn collect(&mut self, kind: Kind, out: &mut Samples) -> Result<(), CollectError> {
        let fields = match kind {
            Kind::Metrics => &Self::METRICS[..],
            Kind::Model => &Self::MODEL[..],
        };
        let info = parse_meminfo(&read_text(&self.path)?);
        let mut found = false;
        for (field, key) in fields {
            if let Some(&value) = info.get(*field) {
                found |= out.push(*key, value);
            }
        }
        match found {
            true => Ok(()),
            false => Err(CollectError::parse(
                self.path.display().to_string(),
                "none of the expected fields (MemTotal, MemFree, ...) found",
            )),
        }
    }
}

/// The aggregate CPU times of `/proc/stat`, in clock ticks since boot.
///
/// `guest` and `guest_nice` are left out: the kernel already counts them in `user` and `nice`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Normal processes in user mode.
    pub user: u64,
    /// Niced processes in user mode.
    pub nice: u64,
    /// Kernel mode.
    pub system: u64,
    /// Idle.
    pub idle: u64,
    /// Idle waiting for I/O.
    pub iowait: u64,
    /// Servicing interrupts.
    pub irq: u64,
    /// Servicing softirqs.
    pub softirq: u64,
    /// Stolen by the hypervisor.
    pub steal: u64,
}

impl CpuTimes {
    /// All ticks.
    pub fn total(&self) -> u64 {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
        ]
        .iter()
        .fold(0u64, |sum, t| sum.saturating_add(*t))
    }

    /// Idle ticks, I/O wait included.
    pub fn idle_total(&self) -> u64 {
        self.idle.saturating_add(self.iowait)
    }

    /// The busy share of the ticks between `earlier` and `self`, 0–100; `None` when no tick
    /// passed or a counter went backwards (a different host or a reset).
    pub fn busy_percent_since(&self, earlier: &CpuTimes) -> Option<f64> {
        let ticks = self.total().checked_sub(earlier.total())?;
        let idle = self.idle_total().checked_sub(earlier.idle_total())?;
        if ticks == 0 {
            return None;
        }
        let busy = ticks.saturating_sub(idle);
        Some((busy as f64 * 100.0 / ticks as f64).clamp(0.0, 100.0))
    }
}

/// Parses one `cpu` line of `/proc/stat` (`cpu  user nice system idle ...`, or a per-CPU
/// `cpuN` line). At least the first four numbers are required; missing later ones (old
/// kernels) count as 0.
pub fn parse_cpu_line(line: &str) -> Result<CpuTimes, CollectError> {
    let mut fields = line.split_whitespace();
    match fields.next() {
        Some(label) if label.starts_with("cpu") => {}
        _ => return Err(CollectError::parse("/proc/stat cpu line", "no `cpu` label")),
    }
    let mut numbers = [0u64; 8];
    let mut count = 0;
    for (slot, field) in numbers.iter_mut().zip(fields) {
        *slot = field.parse()?;
        count += 1;
    }
    if count < 4 {
        return Err(CollectError::parse(
            "/proc/stat cpu line",
            format!("{count} numbers, expected at least 4"),
        ));
    }
    let [user, nice, system, idle, iowait, irq, softirq, steal] = numbers;
    Ok(CpuTimes {
        user,
        nice,
        system,
        idle,
        iowait,
        irq,
        softirq,
        steal,
    })
}

/// Parses the aggregate `cpu ` line of a whole `/proc/stat`.
pub fn parse_stat(text: &str) -> Result<CpuTimes, CollectError> {
    let line = text
        .lines()
        .find(|line| line.split_whitespace().next() == Some("cpu"))
        .ok_or_else(|| CollectError::parse("/proc/stat", "no aggregate `cpu` line"))?;
    parse_cpu_line(line)
}

/// `cpu.percent`: the busy share of all CPUs, 0–100 (one decimal), over the ticks between
/// two collections, from `/proc/stat`.
///
/// The first collection has nothing to compare with, so it sends no `cpu.percent` (rather
/// than a made-up 0); neither does a collection made before a clock tick has passed (the
/// earlier sample is kept as the baseline) or after the counters went backwards (a new
/// baseline). The model has no CPU figures.
#[derive(Debug, Clone)]
pub struct CpuPercent {
    path: PathBuf,
    previous: Option<CpuTimes>,
}

impl CpuPercent {
    /// Reads `/proc/stat`.
    pub fn new() -> Self {
        Self::at_root("/")
    }

    /// Reads `<root>/proc/stat`.
    pub fn at_root(root: impl AsRef<Path>) -> Self {
        Self {
            path: root.as_ref().join("proc/stat"),
            previous: None,
        }
    }

    /// Feeds one sample of the CPU times; returns the busy percentage since the baseline,
    /// if there is one (see the type's docs).
    pub fn update(&mut self, current: CpuTimes) -> Option<f64> {
        let Some(previous) = self.previous else {
            self.previous = Some(current);
            return None;
        };
        let percent = current.busy_percent_since(&previous);
        if percent.is_some() || current.total() != previous.total() {
            self.previous = Some(current);
        }
        percent.map(|p| (p * 10.0).round() / 10.0)
    }
}

impl Default for CpuPercent {
    fn default() -> Self {
        Self::new()
    }
}

impl Collector for CpuPercent {
    fn name(&self) -> &str {
        "cpu"
    }

    fn collect(&mut self, kind: Kind, out: &mut Samples) -> Result<(), CollectError> {
        if kind == Kind::Metrics {
            let times = parse_stat(&read_text(&self.path)?)?;
            if let Some(percent) = self.update(times) {
                out.push(keys::CPU_PERCENT, percent);
            }
        }
        Ok(())
    }
}

/// Parses `/proc/uptime` (`seconds-up seconds-idle`) into the seconds since boot.
pub fn parse_uptime(text: &str) -> Result<f64, CollectError> {
    let first = text
        .split_whitespace()
        .next()
        .ok_or_else(|| CollectError::parse("/proc/uptime", "empty"))?;
    let seconds: f64 = first.parse()?;
    match seconds.is_finite() && seconds >= 0.0 {
        true => Ok(seconds),
        false => Err(CollectError::parse(
            "/proc/uptime",
            format!("{first} seconds"),
        )),
    }
}

/// `sys.uptime`: seconds since boot (a float), from `/proc/uptime`. Metrics only.
#[derive(Debug, Clone)]
pub struct Uptime {
    path: PathBuf,
}

impl Uptime {
    /// Reads `/proc/uptime`.
    pub fn new() -> Self {
        Self::at_root("/")
    }

    /// Reads `<root>/proc/uptime`.
    pub fn at_root(root: impl AsRef<Path>) -> Self {
        Self {
            path: root.as_ref().join("proc/uptime"),
        }
    }
}

impl Default for Uptime {
    fn default() -> Self {
        Self::new()
    }
}

impl Collector for Uptime {
    fn name(&self) -> &str {
        "uptime"
    }

    fn collect(&mut self, kind: Kind, out: &mut Samples) -> Result<(), CollectError> {
        if kind == Kind::Metrics {
            out.push(keys::SYS_UPTIME, parse_uptime(&read_text(&self.path)?)?);
        }
        Ok(())
    }
}

/// The host name from `<root>/proc/sys/kernel/hostname` (what `hostname` prints), for the
/// `METR` hostname frame.
pub fn read_hostname(root: impl AsRef<Path>) -> Result<String, CollectError> {
    let path = root.as_ref().join("proc/sys/kernel/hostname");
    let name = read_text(&path)?.trim().to_owned();
    match name.is_empty() {
        true => Err(CollectError::parse(path.display().to_string(), "empty")),
        false => Ok(name),
    }
}

/// Lets something happen at most once per interval: the agent answers `CTRL model` at most
/// once per [`Throttle::MODEL_INTERVAL`].
#[derive(Debug, Clone)]
pub struct Throttle {
    interval: Duration,
    last: Option<Instant>,
}

impl Throttle {
    /// How often the agent answers a model request at most: 5 s.
    pub const MODEL_INTERVAL: Duration = Duration::from_secs(5);

    /// At most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
        }
    }

    /// Whether it may happen at `now`; if so, `now` starts the next interval.
    pub fn ready(&mut self, now: Instant) -> bool {
        let ready = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if ready {
            self.last = Some(now);
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempRoot(PathBuf);

    impl TempRoot {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("courier-metrics-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("proc")).unwrap();
            Self(dir)
        }

        fn write(&self, file: &str, text: &str) {
            std::fs::write(self.0.join("proc").join(file), text).unwrap();
        }
    }

    impl Drop for TempRoot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn collect(c: &mut dyn Collector, kind: Kind) -> Result<MetricValues, CollectError> {
        let mut out = Samples::new();
        c.collect(kind, &mut out).map(|()| out.into_values())
    }

    fn n(v: &MetricValues, key: &str) -> f64 {
        v[key].as_f64().unwrap()
    }

    #[test]
    fn kind_names() {
        assert_eq!(Kind::Metrics.as_str(), "metrics");
        assert_eq!(Kind::Model.to_string(), "model");
        assert_eq!(Kind::from_wire("model"), Some(Kind::Model));
        assert_eq!(Kind::from_wire("metrics"), Some(Kind::Metrics));
        assert_eq!(Kind::from_wire("Metrics"), None);
        let msg = Kind::Model.message("h", MetricValues::new());
        assert_eq!(msg, Message::model("h", MetricValues::new()));
    }

    #[test]
    fn samples_push_ints_and_floats() {
        let mut s = Samples::new();
        assert!(s.push("a", 1u64));
        assert!(s.push(String::from("b"), -2i32));
        assert!(s.push("c", 2.5f64));
        assert!(s.push("d", 0.5f32));
        assert!(!s.push("nan", f64::NAN));
        assert!(!s.push("inf", f32::INFINITY));
        assert_eq!(s.len(), 4);
        assert!(s.get("a").unwrap().is_u64());
        assert!(s.get("b").unwrap().is_i64());
        assert!(s.get("c").unwrap().is_f64());
        assert_eq!(s.get("nan"), None);
        let wire = Kind::Metrics.message("h", s.into_values()).encode();
        assert_eq!(wire.frames()[2], &br#"{"a":1,"b":-2,"c":2.5,"d":0.5}"#[..]);
    }

    #[test]
    fn meminfo_parses_real_text() {
        let text = "MemTotal:       24684084 kB\nMemAvailable:   23458164 kB\n\
                    HugePages_Total:       0\nbogus line\nNoNumber: x kB\n";
        let info = parse_meminfo(text);
        assert_eq!(info.get("MemTotal"), Some(&24_684_084));
        assert_eq!(info.get("MemAvailable"), Some(&23_458_164));
        assert_eq!(info.get("HugePages_Total"), Some(&0));
        assert_eq!(info.len(), 3);
        assert!(parse_meminfo("").is_empty());
    }

    #[test]
    fn meminfo_collector_from_fixture() {
        let mut mem = MemInfo::at_root(fixtures());
        let metrics = collect(&mut mem, Kind::Metrics).unwrap();
        let keys: Vec<_> = metrics.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "mem.avail",
                "mem.buffers",
                "mem.cached",
                "mem.dirty",
                "mem.free",
                "mem.swap.free",
                "mem.writeback"
            ]
        );
        assert_eq!(metrics["mem.free"], 18_808_820u64.into());
        assert_eq!(metrics["mem.avail"], 23_458_164u64.into());
        assert_eq!(metrics["mem.writeback"], 128u64.into());
        assert_eq!(metrics["mem.swap.free"], 1_048_576u64.into());
        let model = collect(&mut mem, Kind::Model).unwrap();
        assert_eq!(model.len(), 2);
        assert_eq!(model["mem.total"], 24_684_084u64.into());
        assert_eq!(model["mem.swap.total"], 2_097_148u64.into());
        // The model has no mem.avail: the viewer must take it from the metrics.
        assert!(!model.contains_key("mem.avail"));
    }

    #[test]
    fn meminfo_missing_fields() {
        let root = TempRoot::new("meminfo");
        root.write("meminfo", "MemTotal: 100 kB\nMemFree: 40 kB\n");
        let mut mem = MemInfo::at_root(&root.0);
        let metrics = collect(&mut mem, Kind::Metrics).unwrap();
        assert_eq!(metrics.len(), 1, "an old kernel without MemAvailable");
        assert_eq!(collect(&mut mem, Kind::Model).unwrap().len(), 1);
        root.write("meminfo", "garbage\n");
        let err = collect(&mut mem, Kind::Metrics).unwrap_err();
        assert!(matches!(err, CollectError::Parse { .. }), "{err}");
        let err = collect(&mut MemInfo::at_root("/nonexistent"), Kind::Model).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot read /nonexistent/proc/meminfo"));
    }

    #[test]
    fn cpu_line() {
        let t = parse_cpu_line("cpu  96918 0 15837 118331 708 0 103 160 7 9").unwrap();
        assert_eq!(
            t,
            CpuTimes {
                user: 96918,
                nice: 0,
                system: 15837,
                idle: 118331,
                iowait: 708,
                irq: 0,
                softirq: 103,
                steal: 160
            }
        );
        assert_eq!(t.total(), 96918 + 15837 + 118331 + 708 + 103 + 160);
        assert_eq!(t.idle_total(), 118331 + 708);
        let old = parse_cpu_line("cpu0 1 2 3 4").unwrap();
        assert_eq!((old.idle, old.iowait, old.steal), (4, 0, 0));
        assert!(parse_cpu_line("cpu 1 2 3").is_err());
        assert!(parse_cpu_line("intr 1 2 3 4").is_err());
        assert!(parse_cpu_line("cpu 1 2 x 4").is_err());
        assert!(parse_cpu_line("").is_err());
    }

    #[test]
    fn stat_picks_aggregate_line() {
        let text = std::fs::read_to_string(fixtures().join("proc/stat")).unwrap();
        assert_eq!(parse_stat(&text).unwrap().user, 96918);
        assert!(parse_stat("cpu0 1 2 3 4\n").is_err());
    }

    #[test]
    fn cpu_percent_between_samples() {
        let times = |busy: u64, idle: u64| CpuTimes {
            user: busy,
            idle,
            ..CpuTimes::default()
        };
        assert_eq!(times(30, 70).busy_percent_since(&times(0, 0)), Some(30.0));
        assert_eq!(times(5, 5).busy_percent_since(&times(5, 5)), None);
        assert_eq!(times(1, 5).busy_percent_since(&times(5, 5)), None);

        let mut cpu = CpuPercent::new();
        assert_eq!(cpu.update(times(100, 100)), None, "first sample: no delta");
        assert_eq!(cpu.update(times(100, 100)), None, "no tick passed");
        assert_eq!(cpu.update(times(125, 175)), Some(25.0));
        assert_eq!(cpu.update(times(125, 275)), Some(0.0));
        assert_eq!(cpu.update(times(425, 275)), Some(100.0));
        assert_eq!(cpu.update(times(0, 0)), None, "counters reset");
        assert_eq!(cpu.update(times(1, 2)), Some(33.3));
    }

    #[test]
    fn cpu_collector_omits_first_sample() {
        let root = TempRoot::new("stat");
        root.write("stat", "cpu  100 0 0 100 0 0 0 0 0 0\ncpu0 1 2 3 4\n");
        let mut cpu = CpuPercent::at_root(&root.0);
        assert!(collect(&mut cpu, Kind::Metrics).unwrap().is_empty());
        root.write("stat", "cpu  150 0 50 200 0 0 0 0 0 0\n");
        let v = collect(&mut cpu, Kind::Metrics).unwrap();
        assert_eq!(n(&v, "cpu.percent"), 50.0);
        assert!(collect(&mut cpu, Kind::Model).unwrap().is_empty());
        root.write("stat", "nothing\n");
        assert!(collect(&mut cpu, Kind::Metrics).is_err());
    }

    #[test]
    fn uptime() {
        assert_eq!(parse_uptime("266706.51 520000.02\n").unwrap(), 266_706.51);
        assert!(parse_uptime("").is_err());
        assert!(parse_uptime("x 1").is_err());
        assert!(parse_uptime("-1 1").is_err());
        assert!(parse_uptime("inf 1").is_err());
        let v = collect(&mut Uptime::at_root(fixtures()), Kind::Metrics).unwrap();
        assert_eq!(n(&v, "sys.uptime"), 266_706.51);
        assert!(collect(&mut Uptime::at_root(fixtures()), Kind::Model)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn defaults_from_fixtures() {
        let mut registry = Registry::with_defaults_at(fixtures());
        assert_eq!(registry.names(), ["uptime", "meminfo", "cpu"]);
        let metrics = registry.collect(Kind::Metrics);
        assert_eq!(metrics.len(), 8, "{metrics:?}");
        assert!(!metrics.contains_key("cpu.percent"), "first sample omitted");
        let model = registry.message(Kind::Model, "fixture");
        let wire = model.encode();
        assert_eq!(
            wire.frames(),
            [
                &b"METR"[..],
                b"fixture",
                br#"{"mem.swap.total":2097148,"mem.total":24684084}"#,
                b"model"
            ]
        );
    }

    #[test]
    fn defaults_on_this_machine() {
        let mut registry = Registry::with_defaults();
        let _ = registry.collect(Kind::Metrics);
        std::thread::sleep(Duration::from_millis(30));
        let report = registry.collect_report(Kind::Metrics);
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert!(n(&report.values, "sys.uptime") > 0.0);
        assert!(n(&report.values, "mem.avail") > 0.0);
        if let Some(cpu) = report.values.get("cpu.percent") {
            assert!((0.0..=100.0).contains(&cpu.as_f64().unwrap()));
        }
        assert!(!read_hostname("/").unwrap().is_empty());
    }

    #[test]
    fn failing_collector_is_skipped() {
        let mut calls = 0;
        let mut registry = Registry::new();
        registry
            .register(from_fn("ok", |_, out| {
                out.push("ok", 1);
                out.push("shared", 1);
                Ok(())
            }))
            .register(from_fn("broken", move |_, out| {
                calls += 1;
                out.push("partial", 1);
                match calls {
                    1 | 2 => Err(CollectError::Other("no luck".into())),
                    _ => Ok(()),
                }
            }))
            .register(from_fn("later", |_, out| {
                out.push("shared", 2);
                Ok(())
            }));
        assert_eq!(registry.len(), 3);
        let report = registry.collect_report(Kind::Metrics);
        assert_eq!(report.values.keys().collect::<Vec<_>>(), ["ok", "shared"]);
        assert_eq!(
            report.values["shared"],
            2.into(),
            "the later collector wins"
        );
        assert_eq!(report.failures.len(), 1);
        assert_eq!(report.failures[0].0, "broken");
        assert_eq!(report.failures[0].1.to_string(), "no luck");
        assert_eq!(registry.collect(Kind::Metrics).len(), 2);
        assert_eq!(registry.collect(Kind::Metrics).len(), 3, "recovered");
        assert!(format!("{registry:?}").contains("broken"));
    }

    #[test]
    fn question_mark_conversions() {
        fn parse(text: &str) -> Result<(f64, u32), CollectError> {
            let mut it = text.split(' ');
            Ok((
                it.next().unwrap_or("").parse()?,
                it.next().unwrap_or("").parse()?,
            ))
        }
        assert_eq!(parse("1.5 2").unwrap(), (1.5, 2));
        assert!(matches!(parse("x 2"), Err(CollectError::ParseFloat(_))));
        assert!(matches!(parse("1 x"), Err(CollectError::ParseInt(_))));
        let err: CollectError = io::Error::other("boom").into();
        assert_eq!(err.to_string(), "I/O error: boom");
    }

    #[test]
    fn throttle() {
        let start = Instant::now();
        let mut t = Throttle::new(Throttle::MODEL_INTERVAL);
        assert!(t.ready(start));
        assert!(!t.ready(start + Duration::from_secs(4)));
        assert!(t.ready(start + Duration::from_secs(5)));
        assert!(!t.ready(start + Duration::from_secs(9)));
        assert!(t.ready(start + Duration::from_secs(60)));
    }
}
