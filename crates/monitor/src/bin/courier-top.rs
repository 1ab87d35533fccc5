//! `courier-top`: shows the hosts a collector reports, in the terminal or as JSON lines.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use argh::FromArgs;
use courier_app::keys::{client_keys, default_curve_dir};
use courier_app::{
    init_logging_to, parse_interval, parse_port, shutdown_on_signals, usage_error, Cli, Shutdown,
};
use courier_metrics::{json_line, run_tui, status_line, Incoming, TuiOptions};
use courier_monitor::tcp_endpoint;
use courier_monitor::viewer::{run_viewer_with_status, ViewerConfig, ViewerEvent};
use courier_socket::{Options, Security};

/// courier-top: connects to a collector's viewer port over CURVE (key pair
/// CURVE_DIR/client.key_secret, collector key CURVE_DIR/collector.key; the collector must list
/// client.key in its authorized_clients) and shows a row per host: memory and CPU bars, uptime
/// and the age of the last sample, redrawn every second, with the state of the link to the
/// collector above (connecting, refused and why, silent for how long) and the latest log lines
/// below. q, Esc or Ctrl-C quits. With --json it prints one JSON line per metrics message
/// instead, for scripts, and a status line ({"status":...}) each time the link changes state.
/// `courier-top keygen` creates the viewer's key pair (client).
#[derive(FromArgs, Debug)]
struct Args {
    /// the collector's host name or address
    #[argh(positional)]
    collector_host: String,

    /// the collector's viewer port (default 5557)
    #[argh(option, default = "5557", from_str_fn(parse_port))]
    port: u16,

    /// print one JSON line per metrics message instead of the terminal UI
    #[argh(switch)]
    json: bool,

    /// how often to say hello to the collector (default 15s)
    #[argh(
        option,
        default = "Duration::from_secs(15)",
        from_str_fn(parse_interval)
    )]
    hello_interval: Duration,

    /// directory of CURVE key files (default ~/.curve)
    #[argh(option)]
    curve_dir: Option<PathBuf>,

    /// the viewer's key pair in the curve directory: NAME.key_secret (default client)
    #[argh(option, default = "\"client\".to_owned()")]
    key_name: String,

    /// the collector's public key in the curve directory: NAME.key (default collector)
    #[argh(option, default = "\"collector\".to_owned()")]
    server_key_name: String,

    /// report the link as silent when connected but nothing (not even the collector's ping,
    /// every 5s) came for this long (default 15s)
    #[argh(
        option,
        default = "Duration::from_secs(15)",
        from_str_fn(parse_interval)
    )]
    silent_after: Duration,

    /// also write logs to this file (the terminal UI shows only the latest 3 lines; with
    /// --json, logs go to standard error)
    #[argh(option)]
    log_file: Option<PathBuf>,

    /// no encryption (plain NULL mechanism), for tests on one machine only
    #[argh(switch)]
    insecure: bool,

    /// log debug details; RUST_LOG overrides
    #[argh(switch, short = 'v')]
    verbose: bool,
}

/// Log output for the terminal UI: each line to the UI (which shows the latest few) and, with
/// --log-file, to the file as well. The UI owns the terminal, so nothing may be printed.
struct UiLog {
    ui: mpsc::Sender<Incoming>,
    file: Option<std::fs::File>,
    partial: Vec<u8>,
}

impl Write for UiLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(file) = &mut self.file {
            file.write_all(buf)?;
        }
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line).trim_end().to_owned();
            // The UI may be gone already (quitting): the line is dropped, not an error.
            let _ = self.ui.send(Incoming::Log(text));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

/// Tells the UI to stop when the network side ends, however it ends (the log output holds
/// another sender, so the channel alone would never say so).
struct StopUi(mpsc::Sender<Incoming>);

impl Drop for StopUi {
    fn drop(&mut self) {
        let _ = self.0.send(Incoming::Stop);
    }
}

fn main() {
    let args: Args = Cli::new(env!("CARGO_BIN_NAME"), env!("CARGO_PKG_VERSION"))
        .with_keygen("client")
        .parse();
    let log_file = args.log_file.as_ref().map(|path| {
        std::fs::File::create(path)
            .unwrap_or_else(|e| usage_error(format!("cannot write {}: {e}", path.display())))
    });
    // The terminal UI's channel: messages, link states and log lines.
    let (tx, rx) = mpsc::channel();
    match log_file {
        Some(file) if args.json => {
            init_logging_to(args.verbose, env_logger::Target::Pipe(Box::new(file)))
        }
        None if args.json => init_logging_to(args.verbose, env_logger::Target::Stderr),
        file => {
            let ui = UiLog {
                ui: tx.clone(),
                file,
                partial: Vec::new(),
            };
            init_logging_to(args.verbose, env_logger::Target::Pipe(Box::new(ui)));
        }
    }
    let security = if args.insecure {
        Security::Null
    } else {
        let dir = args.curve_dir.clone().unwrap_or_else(default_curve_dir);
        client_keys(&dir, &args.key_name, &args.server_key_name)
            .unwrap_or_else(|e| usage_error(e))
            .0
    };
    let mut config = ViewerConfig::new(tcp_endpoint(&args.collector_host, args.port));
    config.hello_interval = args.hello_interval;
    config.silent_after = args.silent_after;
    config.socket = Options {
        security,
        ..Options::default()
    };

    if args.json {
        let shutdown = shutdown_on_signals()
            .unwrap_or_else(|e| usage_error(format!("cannot install the signal handler: {e}")));
        let print = |event| {
            let line = match event {
                ViewerEvent::Metrics(msg) => json_line(&msg, SystemTime::now()),
                ViewerEvent::Status(status) => Some(status_line(&status)),
            };
            if let Some(line) = line {
                // One line at a time, flushed: a script reading a pipe sees each at once.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}").and_then(|()| out.flush());
            }
        };
        let run = run_viewer_with_status(config, print, shutdown);
        if let Err(e) = courier_socket::runtime::block_on(run) {
            usage_error(e);
        }
        return;
    }

    // The terminal UI owns this thread; the network runs on another and passes messages over.
    let (stop, shutdown) = Shutdown::manual();
    let network = std::thread::spawn(move || {
        let _stop_ui = StopUi(tx.clone());
        let forward = move |event| {
            let _ = tx.send(match event {
                ViewerEvent::Metrics(msg) => Incoming::Message(msg),
                ViewerEvent::Status(status) => Incoming::Status(status),
            });
        };
        courier_socket::runtime::block_on(run_viewer_with_status(config, forward, shutdown))
    });
    let ui = run_tui(&TuiOptions::default(), || match rx.try_recv() {
        Ok(incoming) => incoming,
        Err(mpsc::TryRecvError::Empty) => Incoming::Empty,
        Err(mpsc::TryRecvError::Disconnected) => Incoming::Stop,
    });
    stop.close();
    let net = network.join();
    if let Err(e) = ui {
        usage_error(format!("terminal error: {e}"));
    }
    if let Ok(Err(e)) = net {
        usage_error(e);
    }
}
