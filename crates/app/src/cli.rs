//! Command-line chores: argument parsing with exit code 2, `-h` and `--version`, the `keygen`
//! subcommand of the programs that read key files, numbers, durations and sizes that say what
//! they expect, hints for start-up failures, and logging.

use std::io::Write;
use std::time::Duration;

use courier_socket::SocketError;

use crate::keys::{run_keygen, KeygenArgs};

/// How a program reads its command line: its name and version (for `--version`) and, for
/// the programs that read CURVE key files, the `keygen` subcommand with the name of the pair
/// the program itself reads by default.
///
/// ```no_run
/// # #[derive(argh::FromArgs)]
/// # /// demo
/// # struct Args {}
/// let args: Args = courier_app::Cli::new("courier-server", env!("CARGO_PKG_VERSION"))
///     .with_keygen("server")
///     .parse();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cli {
    name: &'static str,
    version: &'static str,
    keygen_name: Option<&'static str>,
}

/// What argh's answer other than the arguments means.
enum Early {
    Help(String),
    Version(String),
    Usage(String),
}

impl<T> From<Early> for Parsed<T> {
    fn from(early: Early) -> Parsed<T> {
        match early {
            Early::Help(text) | Early::Version(text) => Parsed::Print(text),
            Early::Usage(text) => Parsed::Usage(text),
        }
    }
}

/// What a command line asks for (see [`Cli::parse_from`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// Run the program with these arguments.
    Run(T),
    /// Run `keygen` with these arguments.
    Keygen {
        /// The arguments.
        args: KeygenArgs,
        /// The name of the pair to make without `--name`: the one the program reads.
        default_name: &'static str,
    },
    /// Print this to standard output and exit 0 (help, version).
    Print(String),
    /// Print this to standard error and exit 2 (bad arguments).
    Usage(String),
}

impl Cli {
    /// A program called `name` (its binary's name), at `version` (its crate's
    /// `CARGO_PKG_VERSION`).
    pub const fn new(name: &'static str, version: &'static str) -> Cli {
        Cli {
            name,
            version,
            keygen_name: None,
        }
    }

    /// Adds the `keygen` subcommand; without `--name` it creates `default_name`, the key pair
    /// the program reads when not told otherwise.
    pub const fn with_keygen(self, default_name: &'static str) -> Cli {
        Cli {
            keygen_name: Some(default_name),
            ..self
        }
    }

    /// Parses the process arguments into `T`. Help and `--version` are printed and exit 0;
    /// bad arguments print what is wrong and exit 2 (argh alone would exit 1); `keygen`
    /// runs here and exits (0, or 2 with the reason).
    pub fn parse<T: argh::TopLevelCommand>(&self) -> T {
        let mut args = Vec::new();
        for (i, arg) in std::env::args_os().enumerate().skip(1) {
            match arg.into_string() {
                Ok(arg) => args.push(arg),
                Err(arg) => usage_error(format!(
                    "argument {i} ({}) is not valid UTF-8",
                    arg.to_string_lossy()
                )),
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match self.parse_from(&args) {
            Parsed::Run(t) => t,
            Parsed::Keygen { args, default_name } => match run_keygen(&args, default_name) {
                Ok(()) => std::process::exit(0),
                Err(e) => usage_error(e),
            },
            Parsed::Print(text) => {
                // A reader that stops early (`--help | head -1`) is not an error: ignore a
                // closed pipe rather than panic as `println!` would.
                let _ = writeln!(std::io::stdout().lock(), "{}", text.trim_end());
                std::process::exit(0);
            }
            Parsed::Usage(text) => {
                eprintln!("{}", text.trim_end());
                std::process::exit(2);
            }
        }
    }

    /// What the arguments after the program name ask for; [`parse`](Cli::parse) acts on it.
    pub fn parse_from<T: argh::TopLevelCommand>(&self, args: &[&str]) -> Parsed<T> {
        if let (Some(default_name), Some((&"keygen", rest))) =
            (self.keygen_name, args.split_first())
        {
            let names = [self.name, "keygen"];
            return match self.argh::<KeygenArgs>(&names, rest) {
                Ok(args) => Parsed::Keygen { args, default_name },
                Err(Early::Help(help)) => Parsed::Print(format!(
                    "{help}\nWithout --name, the pair is named {default_name}: the one {} \
                     reads unless told otherwise (its --key-name).",
                    self.name
                )),
                Err(other) => other.into(),
            };
        }
        match self.argh::<T>(&[self.name], args) {
            Ok(t) => Parsed::Run(t),
            Err(Early::Help(help)) => Parsed::Print(match self.keygen_name {
                Some(default_name) => self.with_keygen_help(&help, default_name),
                None => help,
            }),
            Err(other) => other.into(),
        }
    }

    /// argh, plus `-h` where argh would take `--help`, `--version`, and errors that name
    /// the flag and what it expects.
    fn argh<A: argh::FromArgs>(&self, names: &[&str], args: &[&str]) -> Result<A, Early> {
        let early = match A::from_args(names, args) {
            Ok(a) => return Ok(a),
            Err(early) => early,
        };
        if early.status.is_ok() {
            return Err(Early::Help(with_short_help(&early.output)));
        }
        // Asking argh again with the alias replaced by `--help` tells whether the alias stood
        // where a flag can (not as the value of an option, not after `--`).
        if let Some(help) = help_in_place_of::<A>(names, args, "-h") {
            return Err(Early::Help(with_short_help(&help)));
        }
        if help_in_place_of::<A>(names, args, "--version").is_some() {
            return Err(Early::Version(format!("{} {}", self.name, self.version)));
        }
        Err(Early::Usage(format!(
            "error: {}\nRun {} --help for usage.",
            argh_error(&early.output),
            names.join(" ")
        )))
    }

    /// The program's help with the `keygen` subcommand added.
    fn with_keygen_help(&self, help: &str, default_name: &str) -> String {
        let name = self.name;
        let (usage, rest) = help.split_once('\n').unwrap_or((help, ""));
        format!(
            "{usage}\n       {name} keygen [--name <name>] [-d <dir>]\n{rest}\n\
             Commands:\n  \
             keygen            create a CURVE key pair (default {default_name}, the one\n                    \
             {name} reads); see `{name} keygen --help`"
        )
    }
}

/// argh's help output if `alias` (a token before any `--`) is read as `--help`.
fn help_in_place_of<A: argh::FromArgs>(
    names: &[&str],
    args: &[&str],
    alias: &str,
) -> Option<String> {
    let end = args.iter().position(|&a| a == "--").unwrap_or(args.len());
    if !args.iter().take(end).any(|&a| a == alias) {
        return None;
    }
    let swapped: Vec<&str> = args
        .iter()
        .enumerate()
        .map(|(i, &a)| if i < end && a == alias { "--help" } else { a })
        .collect();
    match A::from_args(names, &swapped) {
        Err(early) if early.status.is_ok() => Some(early.output),
        _ => None,
    }
}

/// argh's help, with `-h` and `--version` listed next to `--help`.
fn with_short_help(help: &str) -> String {
    help.replacen(
        "  --help, help      display usage information",
        "  -h, --help, help  display usage information\n  \
         --version         print the program's name and version",
        1,
    )
}

/// argh's error text, with a bad option value said as `--flag: what was expected`.
fn argh_error(output: &str) -> String {
    let output = output.trim_end();
    // argh: "Error parsing option '--send-hwm' with value '-5': <what our parser said>"; our
    // parsers already quote the value.
    output
        .strip_prefix("Error parsing option '")
        .and_then(|rest| rest.split_once("' with value '"))
        .and_then(|(flag, rest)| {
            rest.split_once("': ")
                .map(|(_, why)| format!("{flag}: {why}"))
        })
        .unwrap_or_else(|| output.to_owned())
}

/// A whole number of `what`, at least `min`.
fn whole_number(s: &str, min: usize, what: &str) -> Result<usize, String> {
    let expected = format!("expected a whole number of {what} ({min} or more), got {s:?}");
    match s.trim().parse::<usize>() {
        Ok(n) if n >= min => Ok(n),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => {
            Err(format!("{expected}: at most {}", usize::MAX))
        }
        _ => Err(expected),
    }
}

/// Parses a number of messages (a queue length such as `--send-hwm`): 1 or more.
pub fn parse_message_count(s: &str) -> Result<usize, String> {
    whole_number(s, 1, "messages")
}

/// Parses a number of frames (`--max-frames`): 1 or more.
pub fn parse_frame_count(s: &str) -> Result<usize, String> {
    whole_number(s, 1, "frames")
}

/// Parses a number of connections (`--max-connections`): 1 or more.
pub fn parse_connection_count(s: &str) -> Result<usize, String> {
    whole_number(s, 1, "connections")
}

/// Parses a TCP port number, 1 to 65535.
pub fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("expected a port number from 1 to 65535, got {s:?}")),
    }
}

/// The message for a socket that could not be set up at start-up: the error and, for the
/// causes a user can fix by choosing another address with `flag`, what to do. `what` names
/// the kind of program that usually holds an address in use ("server", "collector").
pub fn bind_error_message(e: &SocketError, what: &str, flag: &str) -> String {
    let hint = match e {
        SocketError::Endpoint(_) => Some(format!(
            "check {flag}: e.g. tcp://127.0.0.1:5556 or ipc:///tmp/courier.sock"
        )),
        SocketError::Bind { source, .. } => match source.kind() {
            std::io::ErrorKind::AddrInUse => Some(format!(
                "is another {what} already listening there? choose another with {flag}"
            )),
            std::io::ErrorKind::PermissionDenied => Some(format!(
                "ports below 1024 need privileges, ipc:// a directory you may write to; \
                 choose another with {flag}"
            )),
            std::io::ErrorKind::AddrNotAvailable => Some(format!(
                "that is not an address of this machine: use 127.0.0.1, or * for every \
                 interface, with {flag}"
            )),
            _ => None,
        },
        _ => None,
    };
    match hint {
        Some(hint) => format!("{e}\n({hint})"),
        None => e.to_string(),
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

    /// A program with a queue length, an option that takes any string and a required
    /// positional argument (as the monitor programs have).
    #[derive(argh::FromArgs, Debug, PartialEq, Eq)]
    /// demo: a test program.
    struct Demo {
        /// messages queued
        #[argh(option, default = "1000", from_str_fn(parse_message_count))]
        send_hwm: usize,
        /// any text
        #[argh(option)]
        identity: Option<String>,
        /// where to connect
        #[argh(positional)]
        host: String,
    }

    fn demo(cli: &Cli, args: &[&str]) -> Parsed<Demo> {
        cli.parse_from::<Demo>(args)
    }

    fn run(host: &str, identity: Option<&str>) -> Parsed<Demo> {
        Parsed::Run(Demo {
            send_hwm: 1000,
            identity: identity.map(str::to_owned),
            host: host.to_owned(),
        })
    }

    fn printed(parsed: Parsed<Demo>) -> String {
        match parsed {
            Parsed::Print(text) => text,
            other => panic!("expected output to print, got {other:?}"),
        }
    }

    fn usage(parsed: Parsed<Demo>) -> String {
        match parsed {
            Parsed::Usage(text) => text,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn short_h_is_help_wherever_help_is() {
        let cli = Cli::new("demo", "1.2.3");
        let help = printed(demo(&cli, &["--help"]));
        assert!(help.starts_with("Usage: demo "), "{help}");
        assert!(
            help.contains("  -h, --help, help  display usage information"),
            "{help}"
        );
        assert!(help.contains("  --version         print the program's name and version"));
        // Even with the required positional missing, and after other flags.
        assert_eq!(printed(demo(&cli, &["-h"])), help);
        assert_eq!(printed(demo(&cli, &["--send-hwm", "5", "-h"])), help);
        // As the value of an option it is a value, and after `--` a positional argument.
        assert_eq!(demo(&cli, &["--identity", "-h", "x"]), run("x", Some("-h")));
        assert_eq!(demo(&cli, &["--", "-h"]), run("-h", None));
    }

    #[test]
    fn version_prints_name_and_version() {
        let cli = Cli::new("demo", "1.2.3");
        assert_eq!(printed(demo(&cli, &["--version"])), "demo 1.2.3");
        assert_eq!(printed(demo(&cli, &["host", "--version"])), "demo 1.2.3");
        assert_eq!(
            demo(&cli, &["--identity", "--version", "x"]),
            run("x", Some("--version"))
        );
        assert_eq!(demo(&cli, &["--", "--version"]), run("--version", None));
        // An error before it is still an error.
        let err = usage(demo(&cli, &["--send-hwm", "x", "--version"]));
        assert!(err.contains("--send-hwm: expected"), "{err}");
    }

    #[test]
    fn a_bad_number_says_what_is_expected() {
        let cli = Cli::new("demo", "1.2.3");
        let err = usage(demo(&cli, &["--send-hwm", "-5", "host"]));
        assert_eq!(
            err,
            "error: --send-hwm: expected a whole number of messages (1 or more), got \"-5\"\n\
             Run demo --help for usage."
        );
        let err = usage(demo(&cli, &["host", "--no-such-flag"]));
        assert!(
            err.starts_with("error: Unrecognized argument: --no-such-flag"),
            "{err}"
        );
        assert!(err.ends_with("Run demo --help for usage."), "{err}");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_message_count("1"), Ok(1));
        assert_eq!(parse_message_count("1000"), Ok(1000));
        assert_eq!(
            parse_message_count("0"),
            Err("expected a whole number of messages (1 or more), got \"0\"".to_owned())
        );
        assert_eq!(
            parse_frame_count("1.5"),
            Err("expected a whole number of frames (1 or more), got \"1.5\"".to_owned())
        );
        assert_eq!(
            parse_connection_count("99999999999999999999999"),
            Err(format!(
                "expected a whole number of connections (1 or more), got \
                 \"99999999999999999999999\": at most {}",
                usize::MAX
            ))
        );
        assert_eq!(parse_port("5556"), Ok(5556));
        for bad in ["0", "65536", "-1", "http"] {
            assert_eq!(
                parse_port(bad),
                Err(format!(
                    "expected a port number from 1 to 65535, got {bad:?}"
                ))
            );
        }
    }

    #[test]
    fn keygen_is_a_subcommand_with_the_programs_default_name() {
        let cli = Cli::new("demo", "1.2.3").with_keygen("agent");
        assert_eq!(
            demo(&cli, &["keygen"]),
            Parsed::Keygen {
                args: KeygenArgs {
                    name: None,
                    dir: None
                },
                default_name: "agent"
            }
        );
        assert_eq!(
            demo(&cli, &["keygen", "--name", "n", "-d", "/k"]),
            Parsed::Keygen {
                args: KeygenArgs {
                    name: Some("n".to_owned()),
                    dir: Some("/k".into())
                },
                default_name: "agent"
            }
        );
        let help = printed(demo(&cli, &["keygen", "-h"]));
        assert!(
            help.starts_with("Usage: demo keygen [--name <name>] [-d <dir>]"),
            "{help}"
        );
        assert!(
            help.contains("  -h, --help, help  display usage information"),
            "{help}"
        );
        assert!(
            help.ends_with("Without --name, the pair is named agent: the one demo reads unless told otherwise (its --key-name)."),
            "{help}"
        );
        assert_eq!(printed(demo(&cli, &["keygen", "--version"])), "demo 1.2.3");
        assert_eq!(printed(demo(&cli, &["--version"])), "demo 1.2.3");
        let err = usage(demo(&cli, &["keygen", "--bogus"]));
        assert!(err.ends_with("Run demo keygen --help for usage."), "{err}");
        // The program's own help shows the subcommand.
        let help = printed(demo(&cli, &["-h"]));
        assert!(
            help.contains("\n       demo keygen [--name <name>] [-d <dir>]\n"),
            "{help}"
        );
        assert!(
            help.contains("Commands:\n  keygen            create a CURVE key pair (default agent"),
            "{help}"
        );
        // The program still runs.
        assert_eq!(demo(&cli, &["h"]), run("h", None));
        // Without keygen, the word is just an argument.
        let plain = Cli::new("demo", "1.2.3");
        assert_eq!(demo(&plain, &["keygen"]), run("keygen", None));
    }

    #[test]
    fn only_an_address_in_use_is_blamed_on_another_server() {
        use std::io::{Error, ErrorKind};
        let endpoint: courier_socket::Endpoint = "tcp://127.0.0.1:5556".parse().unwrap();
        let bind = |kind: ErrorKind| SocketError::Bind {
            endpoint: endpoint.clone(),
            source: Error::from(kind),
        };
        let in_use = bind_error_message(&bind(ErrorKind::AddrInUse), "server", "--bind");
        assert!(
            in_use.ends_with(
                "\n(is another server already listening there? choose another with --bind)"
            ),
            "{in_use}"
        );
        let denied = bind_error_message(&bind(ErrorKind::PermissionDenied), "server", "--bind");
        assert!(
            denied.contains("ports below 1024 need privileges"),
            "{denied}"
        );
        let local = bind_error_message(&bind(ErrorKind::AddrNotAvailable), "server", "--bind");
        assert!(local.contains("not an address of this machine"), "{local}");
        let other = bind(ErrorKind::Other);
        assert_eq!(
            bind_error_message(&other, "server", "--bind"),
            other.to_string()
        );
        for bad in ["foo", "tcp://127.0.0.1:70000"] {
            let e = SocketError::from(bad.parse::<courier_socket::Endpoint>().unwrap_err());
            let text = bind_error_message(&e, "server", "--bind");
            assert!(text.starts_with(&e.to_string()), "{text}");
            assert!(
                text.contains("(check --bind: e.g. tcp://127.0.0.1:5556"),
                "{text}"
            );
            assert!(!text.contains("another"), "{text}");
        }
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
