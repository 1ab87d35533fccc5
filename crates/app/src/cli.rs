//! Command-line chores: argument parsing with exit code 2, durations, sizes, logging.

use std::io::Write;
use std::time::Duration;

/// Parses the process arguments into `T`; prints help and exits 0 for `--help`, or prints the
/// error and exits 2 for bad arguments (argh alone would exit 1).
pub fn parse_args<T: argh::TopLevelCommand>() -> T {
    let args: Vec<String> = std::env::args().collect();
    let cmd = args
        .first()
        .map(|a| {
            std::path::Path::new(a)
                .file_name()
                .map_or(a.as_str(), |n| n.to_str().unwrap_or(a))
        })
        .unwrap_or("courier")
        .to_owned();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match T::from_args(&[&cmd], &rest) {
        Ok(t) => t,
        Err(early) => match early.status {
            Ok(()) => {
                // A reader that stops early (`--help | head -1`) is not an error: ignore a
                // closed pipe rather than panic as `println!` would.
                use std::io::Write as _;
                let _ = writeln!(std::io::stdout().lock(), "{}", early.output);
                std::process::exit(0);
            }
            Err(()) => {
                eprintln!("{}", early.output.trim_end());
                eprintln!("Run {cmd} --help for usage.");
                std::process::exit(2);
            }
        },
    }
}

/// Prints `message` as a usage or setup error and exits with status 2.
pub fn usage_error(message: impl std::fmt::Display) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2);
}

/// Parses a duration such as `500ms`, `1s`, `2m` or `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?} ({e}); use e.g. 500ms, 1s, 2m"))
}

/// Parses a duration that must not be zero (an interval).
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("{s:?}: the interval must be more than zero")),
        d => Ok(d),
    }
}

/// Parses a size in bytes: `1048576`, `64KiB`, `64MiB`, `1GiB` (also `k`, `M`, `G`, `KB`,
/// `MB`, `GB` as powers of 1024).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let n: usize = number
        .parse()
        .map_err(|_| format!("invalid size {s:?}; use e.g. 65536, 64KiB, 16MiB"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size unit in {s:?}; use B, KiB, MiB or GiB"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Logs to standard output with millisecond timestamps, at `info` unless `verbose` or
/// `RUST_LOG` says otherwise.
pub fn init_logging(verbose: bool) {
    init_logging_to(verbose, env_logger::Target::Stdout);
}

/// Like [`init_logging`], to another target (standard error, or a file for a terminal UI).
pub fn init_logging_to(verbose: bool, target: env_logger::Target) {
    let default = if verbose { "debug" } else { "info" };
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default));
    builder.target(target).format(|buf, record| {
        let ts = buf.timestamp_millis();
        writeln!(
            buf,
            "{ts} {:<5} {}: {}",
            record.level(),
            record.target().split("::").next().unwrap_or(""),
            record.args()
        )
    });
    let _ = builder.try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_interval("0s").is_err());
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5XB").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }
}
