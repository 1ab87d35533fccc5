//! `courier-collector`: gathers agents' metrics and forwards them to viewers.

use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use courier_app::keys::{default_curve_dir, server_keys, Allowlist, ClientPolicy, KeyError};
use courier_app::{
    bind_error_message, init_logging, parse_connection_count, parse_interval, parse_port,
    parse_size, shutdown_on_signals, usage_error, Cli,
};
use courier_monitor::collector::{BoundCollector, CollectorConfig};
use courier_monitor::tcp_endpoint;
use courier_socket::{Endpoint, Options, Security, SocketError};

/// courier-collector: a ROUTER for agents on LISTEN_IP:5556 and one for viewers (default
/// tcp://127.0.0.1:5557), both over CURVE with the key pair CURVE_DIR/collector.key_secret.
/// It answers an agent's hello with a model request, caches each host's model, asks hosts that
/// send metrics without one, forwards every metrics message to every viewer, gives a new
/// viewer the cached models, pings everyone every 5 s and forgets peers silent for 30 s.
/// Agents: any key by default (--agents-allowlist DIR to restrict). Viewers: only keys in
/// CURVE_DIR/authorized_clients. `courier-collector keygen` creates the collector's key pair.
/// Ctrl-C or SIGTERM stops it.
#[derive(FromArgs, Debug)]
struct Args {
    /// address to listen on for agents (e.g. 0.0.0.0, 127.0.0.1)
    #[argh(positional)]
    listen_ip: String,

    /// port for agents (default 5556)
    #[argh(option, default = "5556", from_str_fn(parse_port))]
    port: u16,

    /// endpoint for viewers (default tcp://127.0.0.1:5557)
    #[argh(option, default = "\"tcp://127.0.0.1:5557\".to_owned()")]
    viewer_bind: String,

    /// how often to ping agents and viewers (default 5s)
    #[argh(
        option,
        default = "Duration::from_secs(5)",
        from_str_fn(parse_interval)
    )]
    ping_interval: Duration,

    /// forget an agent or viewer silent for this long (default 30s)
    #[argh(
        option,
        default = "Duration::from_secs(30)",
        from_str_fn(parse_interval)
    )]
    stale_after: Duration,

    /// directory of CURVE key files (default ~/.curve)
    #[argh(option)]
    curve_dir: Option<PathBuf>,

    /// the collector's key pair in the curve directory: NAME.key_secret (default collector)
    #[argh(option, default = "\"collector\".to_owned()")]
    key_name: String,

    /// accept only agents whose public .key file is in this directory (default: any agent)
    #[argh(option)]
    agents_allowlist: Option<PathBuf>,

    /// public .key files of the viewers allowed (default CURVE_DIR/authorized_clients)
    #[argh(option)]
    authorized_clients: Option<PathBuf>,

    /// receive-memory budget of each of the two sockets (agents, viewers): most bytes held
    /// for partial and unhandled messages; see courier-server --help (default 128MiB)
    #[argh(option, default = "128 << 20", from_str_fn(parse_size))]
    max_buffered: usize,

    /// most simultaneous connections from one IP address on each socket (default 256)
    #[argh(option, default = "256", from_str_fn(parse_connection_count))]
    max_per_address: usize,

    /// no encryption (plain NULL mechanism), for tests on one machine only
    #[argh(switch)]
    insecure: bool,

    /// log debug details; RUST_LOG overrides
    #[argh(switch, short = 'v')]
    verbose: bool,
}

fn security(args: &Args, policy: ClientPolicy, lists: &mut Vec<Allowlist>) -> Security {
    if args.insecure {
        return Security::Null;
    }
    let dir = args.curve_dir.clone().unwrap_or_else(default_curve_dir);
    let keys = server_keys(&dir, &args.key_name, &policy).unwrap_or_else(|e| {
        if matches!(e, KeyError::Allowlist { .. }) {
            usage_error(format!(
                "{e}\n  create it and copy there the public .key files of the viewers to allow \
                 (courier-top reads client.key_secret; its client.key goes there)"
            ))
        }
        usage_error(e)
    });
    lists.extend(keys.allowlist);
    keys.security
}

fn main() {
    let args: Args = Cli::new(env!("CARGO_BIN_NAME"), env!("CARGO_PKG_VERSION"))
        .with_keygen("collector")
        .parse();
    let agent_endpoint = tcp_endpoint(&args.listen_ip, args.port);
    // Malformed endpoints are bad arguments: say so before anything else happens.
    for (endpoint, flag) in [
        (&agent_endpoint, "LISTEN_IP and --port"),
        (&args.viewer_bind, "--viewer-bind"),
    ] {
        if let Err(e) = endpoint.parse::<Endpoint>() {
            usage_error(bind_error_message(&e.into(), "collector", flag));
        }
    }
    init_logging(args.verbose);
    let dir = args.curve_dir.clone().unwrap_or_else(default_curve_dir);
    let mut lists = Vec::new();
    let agent_policy = args
        .agents_allowlist
        .clone()
        .map_or(ClientPolicy::Any, ClientPolicy::Allowlist);
    let viewer_policy = ClientPolicy::Allowlist(
        args.authorized_clients
            .clone()
            .unwrap_or_else(|| dir.join("authorized_clients")),
    );
    let agent_security = security(&args, agent_policy, &mut lists);
    let viewer_security = security(&args, viewer_policy, &mut lists);
    if args.insecure {
        log::warn!("--insecure: metrics travel unencrypted and anyone may connect");
    }
    let mut config = CollectorConfig::new(agent_endpoint.clone(), &args.viewer_bind);
    config.ping_interval = args.ping_interval;
    config.stale_after = args.stale_after;
    config.agent_socket = Options {
        security: agent_security,
        max_buffered: args.max_buffered,
        max_connections_per_address: Some(args.max_per_address),
        ..Options::default()
    };
    config.viewer_socket = Options {
        security: viewer_security,
        max_buffered: args.max_buffered,
        max_connections_per_address: Some(args.max_per_address),
        ..Options::default()
    };
    let shutdown = shutdown_on_signals()
        .unwrap_or_else(|e| usage_error(format!("cannot install the signal handler: {e}")));
    let result = courier_socket::runtime::block_on(async move {
        let collector = BoundCollector::bind(config).await?;
        if !lists.is_empty() {
            courier_socket::runtime::spawn(async move {
                loop {
                    courier_socket::runtime::sleep(Duration::from_secs(1)).await;
                    for list in &lists {
                        list.refresh();
                    }
                }
            });
        }
        collector.run(shutdown).await
    });
    if let Err(e) = result {
        // Name the flag that chose the address that failed.
        let flag = match &e {
            SocketError::Bind { endpoint, .. }
                if args.viewer_bind.parse::<Endpoint>().as_ref() == Ok(endpoint) =>
            {
                "--viewer-bind"
            }
            _ => "LISTEN_IP and --port",
        };
        usage_error(bind_error_message(&e, "collector", flag));
    }
}
