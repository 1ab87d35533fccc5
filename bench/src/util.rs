//! Small helpers shared by the driver and the peers: command-line flags, /proc readings,
//! percentiles, and the line protocol between a peer and the driver.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Message headers (frame 0 of every benchmark message).
pub const DATA: &[u8] = b"DATA";
/// Ends a throughput, latency or pipelined run.
pub const END: &[u8] = b"END";
/// The receiver's answer to END (and to BIG).
pub const ACK: &[u8] = b"ACK";
/// A small message exchanged before the timed part, so that connecting is not timed.
pub const WARM: &[u8] = b"WARM";
/// The one large message.
pub const BIG: &[u8] = b"BIG";
/// The driver's word (a line on a `fan-pub`'s standard input) that every subscriber is in:
/// the timed part starts.
pub const GO: &str = "GO";
/// What a `fan-sub` prints once every one of its SUB sockets has received a message.
pub const SUBSCRIBED: &str = "SUBSCRIBED";
/// How many SUB sockets the fan-out case runs.
pub const FANOUT_SUBSCRIBERS: usize = 10;

/// `--name value` flags and `--switch` switches, in any order.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    values: HashMap<String, String>,
}

impl Flags {
    /// Parses `args`: `--name value` pairs, or `--name` alone (a switch, value "true") when the
    /// next word also starts with `--` or there is none.
    pub fn parse(args: &[String]) -> Result<Flags, String> {
        let mut values = HashMap::new();
        let mut it = args.iter().peekable();
        while let Some(arg) = it.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!(
                    "unexpected argument {arg:?} (flags are --name value)"
                ));
            };
            let value = match it.peek() {
                Some(next) if !next.starts_with("--") => it.next().cloned().unwrap_or_default(),
                _ => "true".to_owned(),
            };
            values.insert(name.to_owned(), value);
        }
        Ok(Flags { values })
    }

    /// A flag's value, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether a switch is on.
    pub fn on(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v != "false" && v != "0")
    }

    /// A number flag with a default.
    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: not a number: {v:?}")),
        }
    }

    /// A duration flag in (fractional) seconds, with a default.
    pub fn secs(&self, name: &str, default: f64) -> Result<Duration, String> {
        let s: f64 = self.num(name, default)?;
        if !(s.is_finite() && s >= 0.0) {
            return Err(format!("--{name}: bad number of seconds {s}"));
        }
        Ok(Duration::from_secs_f64(s))
    }

    /// The names given, for error messages.
    pub fn names(&self) -> Vec<&str> {
        self.values.keys().map(String::as_str).collect()
    }
}

/// A `VmXXX:` field of /proc/PID/status, in KiB (`pid` None: this process).
pub fn proc_status_kb(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// User plus system CPU seconds used so far by a process (`pid` None: this process).
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after ")" (state is
    // field 3, the first after it). Linux reports them in USER_HZ, 100 per second.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Seconds since the Unix epoch (a clock shared by the processes of a run).
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The value at quantile `q` (0..=1) of sorted samples (nearest rank).
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    sorted.get(idx).copied().unwrap_or(0)
}

/// Summary of round-trip times in nanoseconds, in microseconds.
pub fn latency_summary(mut rtts_ns: Vec<u64>) -> Value {
    rtts_ns.sort_unstable();
    let us = |ns: u64| ns as f64 / 1000.0;
    let mean = if rtts_ns.is_empty() {
        0.0
    } else {
        rtts_ns.iter().map(|&n| n as f64).sum::<f64>() / rtts_ns.len() as f64 / 1000.0
    };
    serde_json::json!({
        "samples": rtts_ns.len(),
        "min_us": us(rtts_ns.first().copied().unwrap_or(0)),
        "p50_us": us(quantile(&rtts_ns, 0.50)),
        "p99_us": us(quantile(&rtts_ns, 0.99)),
        "p999_us": us(quantile(&rtts_ns, 0.999)),
        "max_us": us(rtts_ns.last().copied().unwrap_or(0)),
        "mean_us": mean,
    })
}

/// Adds this process's CPU time and memory high-water mark to a result object.
pub fn with_process_stats(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        obj.insert("cpu_s".into(), cpu_seconds(None).into());
        obj.insert(
            "peak_rss_kb".into(),
            proc_status_kb(None, "VmHWM").unwrap_or(0).into(),
        );
    }
    v
}

/// What the driver has said on a `fan-pub`'s standard input: `GO` (start the timed part),
/// then the end of input (stop repeating `END`).
#[derive(Debug, Default)]
pub struct DriverSignals {
    go: std::sync::atomic::AtomicBool,
    done: std::sync::atomic::AtomicBool,
}

impl DriverSignals {
    /// Watches standard input on a thread of its own.
    pub fn watch_stdin() -> std::sync::Arc<DriverSignals> {
        let signals = std::sync::Arc::new(DriverSignals::default());
        let s = std::sync::Arc::clone(&signals);
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::stdin().lock().lines() {
                match line {
                    Ok(l) if l.trim() == GO => {
                        s.go.store(true, std::sync::atomic::Ordering::Release);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            s.done.store(true, std::sync::atomic::Ordering::Release);
        });
        signals
    }

    /// Whether `GO` has come.
    pub fn go(&self) -> bool {
        self.go.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether standard input has ended.
    pub fn done(&self) -> bool {
        self.done.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// The result of a `fan-sub`: messages received by each SUB socket (the one that started the
/// clock not counted), their body bytes, and the time from the first `DATA` any of them
/// received to the last `END`.
pub fn fanout_result(per_sub: &[u64], body_bytes: u64, secs: f64) -> Value {
    let msgs: u64 = per_sub.iter().sum();
    let rate = if secs > 0.0 { msgs as f64 / secs } else { 0.0 };
    serde_json::json!({
        "subscribers": per_sub.len(),
        "msgs": msgs,
        "body_bytes": body_bytes,
        "secs": secs,
        "msg_per_s": rate,
        "mb_per_s": if secs > 0.0 { body_bytes as f64 / secs / 1e6 } else { 0.0 },
        "per_sub_min": per_sub.iter().min().copied().unwrap_or(0),
        "per_sub_max": per_sub.iter().max().copied().unwrap_or(0),
    })
}

/// Tells the driver where a binding peer listens (first line of its output).
pub fn announce_ready(endpoint: &str) {
    println!("READY {endpoint}");
}

/// The last line of a peer's output: its result, or an error.
pub fn print_result(result: Result<Value, String>) -> i32 {
    match result {
        Ok(v) => {
            println!("{}", with_process_stats(v));
            0
        }
        Err(e) => {
            println!("{}", serde_json::json!({ "error": e }));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(quantile(&v, 0.5), 500);
        assert_eq!(quantile(&v, 0.99), 990);
        assert_eq!(quantile(&v, 0.999), 999);
        assert_eq!(quantile(&v, 1.0), 1000);
        assert_eq!(quantile(&[], 0.5), 0);
        assert_eq!(quantile(&[7], 0.999), 7);
    }

    #[test]
    fn flags_take_values_and_switches() {
        let args: Vec<String> = ["--size", "64", "--curve", "--role", "echo"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let f = Flags::parse(&args).unwrap_or_default();
        assert_eq!(f.num("size", 0usize), Ok(64));
        assert!(f.on("curve"));
        assert_eq!(f.get("role"), Some("echo"));
        assert!(!f.on("quick"));
    }

    #[test]
    fn this_process_has_cpu_time_and_rss() {
        assert!(cpu_seconds(None).is_some());
        assert!(proc_status_kb(None, "VmHWM").unwrap_or(0) > 0);
    }
}
