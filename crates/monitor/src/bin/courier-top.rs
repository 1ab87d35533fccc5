//! `courier-top`: shows the hosts a collector reports, in the terminal or as JSON lines.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use argh::FromArgs;
use courier_app::keys::{client_keys, default_curve_dir};
use courier_app::{
    init_logging_to, parse_interval, parse_port, shutdown_on_signals, usage_error, Cli, Shutdown,
};
use courier_metrics::{json_line, run_tui, Incoming, TuiOptions};
use courier_monitor::tcp_endpoint;
use courier_monitor::viewer::{run_viewer, ViewerConfig};
use courier_socket::{Options, Security};

/// courier-top: connects to a collector's viewer port over CURVE (key pair
/// CURVE_DIR/client.key_secret, collector key CURVE_DIR/collector.key; the collector must list
/// client.key in its authorized_clients) and shows a row per host: memory and CPU bars, uptime
/// and the age of the last sample, redrawn every second. q, Esc or Ctrl-C quits. With --json it
/// prints one JSON line per metrics message instead, for scripts. `courier-top keygen` creates
/// the viewer's key pair (client).
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

    /// write logs to this file (the terminal UI has no room for them; with --json they go to
    /// standard error)
    #[argh(option)]
    log_file: Option<PathBuf>,

    /// no encryption (plain NULL mechanism), for tests on one machine only
    #[argh(switch)]
    insecure: bool,

    /// log debug details; RUST_LOG overrides
    #[argh(switch, short = 'v')]
    verbose: bool,
}

fn main() {
    let args: Args = Cli::new(env!("CARGO_BIN_NAME"), env!("CARGO_PKG_VERSION"))
        .with_keygen("client")
        .parse();
    match &args.log_file {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => init_logging_to(args.verbose, env_logger::Target::Pipe(Box::new(file))),
            Err(e) => usage_error(format!("cannot write {}: {e}", path.display())),
        },
        None if args.json => init_logging_to(args.verbose, env_logger::Target::Stderr),
        None => {}
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
    config.socket = Options {
        security,
        ..Options::default()
    };

    if args.json {
        let shutdown = shutdown_on_signals()
            .unwrap_or_else(|e| usage_error(format!("cannot install the signal handler: {e}")));
        let print = |msg| {
            if let Some(line) = json_line(&msg, SystemTime::now()) {
                println!("{line}");
            }
        };
        if let Err(e) = courier_socket::runtime::block_on(run_viewer(config, print, shutdown)) {
            usage_error(e);
        }
        return;
    }

    // The terminal UI owns this thread; the network runs on another and passes messages over.
    let (tx, rx) = mpsc::channel();
    let (stop, shutdown) = Shutdown::manual();
    let network = std::thread::spawn(move || {
        let forward = move |msg| {
            let _ = tx.send(msg);
        };
        courier_socket::runtime::block_on(run_viewer(config, forward, shutdown))
    });
    let ui = run_tui(&TuiOptions::default(), || match rx.try_recv() {
        Ok(msg) => Incoming::Message(msg),
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
