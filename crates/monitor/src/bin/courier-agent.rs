//! `courier-agent`: samples this host's metrics and sends them to a collector.

use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use courier_app::keys::{client_keys, default_curve_dir};
use courier_app::{
    init_logging, parse_interval, parse_port, shutdown_on_signals, usage_error, Cli,
};
use courier_metrics::{read_hostname, Registry};
use courier_monitor::agent::{run_agent, AgentConfig};
use courier_monitor::tcp_endpoint;
use courier_socket::{Options, Security};

/// courier-agent: samples this host (uptime, memory from /proc/meminfo, CPU use from /proc/stat)
/// and sends the samples to a courier or Python collector over CURVE: it says hello, answers
/// the collector's model request with mem.total and mem.swap.total, then sends metrics every
/// interval. If the collector stays silent it says so and says hello again; it never gives up.
/// Keys: CURVE_DIR/agent.key_secret and the collector's public key CURVE_DIR/collector.key
/// (create the first with `courier-agent keygen`, and copy collector.key from the collector's
/// machine, where `courier-collector keygen` made it). Ctrl-C or SIGTERM stops it.
#[derive(FromArgs, Debug)]
struct Args {
    /// the collector's host name or address
    #[argh(positional)]
    collector_host: String,

    /// the collector's agent port (default 5556)
    #[argh(option, default = "5556", from_str_fn(parse_port))]
    port: u16,

    /// how often to send metrics (default 1s)
    #[argh(
        option,
        default = "Duration::from_secs(1)",
        from_str_fn(parse_interval)
    )]
    interval: Duration,

    /// say hello again after this long without hearing from the collector (default 10s)
    #[argh(
        option,
        default = "Duration::from_secs(10)",
        from_str_fn(parse_interval)
    )]
    silence: Duration,

    /// host name to report (default: this machine's)
    #[argh(option)]
    hostname: Option<String>,

    /// directory of CURVE key files (default ~/.curve)
    #[argh(option)]
    curve_dir: Option<PathBuf>,

    /// the agent's key pair in the curve directory: NAME.key_secret (default agent)
    #[argh(option, default = "\"agent\".to_owned()")]
    key_name: String,

    /// the collector's public key in the curve directory: NAME.key (default collector)
    #[argh(option, default = "\"collector\".to_owned()")]
    server_key_name: String,

    /// no encryption (plain NULL mechanism), for tests on one machine only
    #[argh(switch)]
    insecure: bool,

    /// log debug details; RUST_LOG overrides
    #[argh(switch, short = 'v')]
    verbose: bool,
}

fn main() {
    let args: Args = Cli::new(env!("CARGO_BIN_NAME"), env!("CARGO_PKG_VERSION"))
        .with_keygen("agent")
        .parse();
    init_logging(args.verbose);
    let security = if args.insecure {
        log::warn!("--insecure: metrics travel unencrypted");
        Security::Null
    } else {
        let dir = args.curve_dir.clone().unwrap_or_else(default_curve_dir);
        let (security, public) = client_keys(&dir, &args.key_name, &args.server_key_name)
            .unwrap_or_else(|e| usage_error(e));
        log::info!("CURVE on; agent public key {public}");
        security
    };
    let hostname = args
        .hostname
        .clone()
        .or_else(|| read_hostname("/").ok())
        .unwrap_or_else(|| "localhost".to_owned());
    let mut config = AgentConfig::new(tcp_endpoint(&args.collector_host, args.port), hostname);
    config.interval = args.interval;
    config.silence = args.silence;
    config.socket = Options {
        security,
        ..Options::default()
    };
    let shutdown = shutdown_on_signals()
        .unwrap_or_else(|e| usage_error(format!("cannot install the signal handler: {e}")));
    if let Err(e) =
        courier_socket::runtime::block_on(run_agent(config, Registry::with_defaults(), shutdown))
    {
        usage_error(e);
    }
}
