//! `courier-server`: the command-line front of the courier-server library.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use argh::FromArgs;
use courier_app::auth::{
    parse_ip_rule, plain_exposure_warning, Authenticator, CurveKeys, IpRule, PasswordFile,
};
use courier_app::keys::{default_curve_dir, server_keys, Allowlist, ClientPolicy, KeyError};
use courier_app::{
    bind_error_message, init_logging, parse_connection_count, parse_duration, parse_frame_count,
    parse_interval, parse_message_count, parse_size, usage_error, Cli,
};
use courier_server::{ServerConfig, ServerError, DEFAULT_ENDPOINT};
use courier_socket::proto::frame::Limits;
use courier_socket::{Endpoint, Options, Security};

/// courier-server: a ZeroMQ ROUTER that learns each client from its first message, sends it
/// HELLO every interval while it keeps talking, and forgets it once it goes silent. Speaks
/// ZMTP 3.1, so pyzmq/libzmq DEALER clients work as well as courier-client. Logs go to standard
/// output; Ctrl-C or SIGTERM stops it cleanly.
///
/// With --curve, every connection is encrypted and authenticated with CurveZMQ, compatible with
/// libzmq: the server's key pair is read from CURVE_DIR/KEY_NAME.key_secret, and only clients
/// whose public key is in CURVE_DIR/authorized_clients/*.key may connect (the directory is
/// re-read when it changes, or on SIGHUP). `courier-server keygen` creates the server's key
/// pair in the format pyzmq's zmq.auth uses.
///
/// With --plain-passwords, clients log in with a user name and password (ZeroMQ PLAIN, as
/// libzmq's): PLAIN sends the password in the clear, so use it only on trusted networks.
/// --allow-ip and --deny-ip filter clients by address under every mechanism, as pyzmq's
/// Authenticator does.
#[derive(FromArgs, Debug)]
struct Args {
    /// endpoint to listen on (default tcp://127.0.0.1:5556; tcp://*:5556 for every interface,
    /// ipc:///path for a Unix socket)
    #[argh(option, default = "DEFAULT_ENDPOINT.to_owned()")]
    bind: String,

    /// how often to send HELLO to each live client (default 1s; e.g. 500ms, 2s)
    #[argh(
        option,
        default = "Duration::from_secs(1)",
        from_str_fn(parse_interval)
    )]
    interval: Duration,

    /// forget a client not heard from for this long (default 10s)
    #[argh(
        option,
        default = "Duration::from_secs(10)",
        from_str_fn(parse_interval)
    )]
    stale_after: Duration,

    /// how often to log a summary: clients known, messages in and out per second, connections
    /// refused (default 10s; each message is logged only with -v)
    #[argh(
        option,
        default = "Duration::from_secs(10)",
        from_str_fn(parse_interval)
    )]
    summary_interval: Duration,

    /// save received FILE messages in this directory (default: only log them); names that
    /// would escape the directory are refused
    #[argh(option)]
    inbox: Option<PathBuf>,

    /// largest message a client may send, all frames together (default 64MiB; e.g. 1MiB)
    #[argh(option, default = "64 << 20", from_str_fn(parse_size))]
    max_message_size: usize,

    /// most frames in one message (default 1024)
    #[argh(option, default = "1024", from_str_fn(parse_frame_count))]
    max_frames: usize,

    /// close a connection that has not finished the ZMTP handshake in this time (default 10s)
    #[argh(
        option,
        default = "Duration::from_secs(10)",
        from_str_fn(parse_interval)
    )]
    handshake_timeout: Duration,

    /// most simultaneous client connections (default 10000)
    #[argh(option, default = "10_000", from_str_fn(parse_connection_count))]
    max_connections: usize,

    /// most simultaneous connections from one IP address, so that one address cannot take
    /// every slot (default 256)
    #[argh(option, default = "256", from_str_fn(parse_connection_count))]
    max_per_address: usize,

    /// most ZMTP/CURVE handshakes in progress at once; more connections wait in the accept
    /// queue, so a flood of handshakes cannot starve established clients (default 512)
    #[argh(option, default = "512", from_str_fn(parse_connection_count))]
    max_handshakes: usize,

    /// receive-memory budget: most bytes held for partial messages and messages not yet
    /// handled, across all clients; at 7/8 of it clients with large partial messages stop being
    /// read (TCP pushes back), the rest is kept for small messages (default 128MiB)
    #[argh(option, default = "128 << 20", from_str_fn(parse_size))]
    max_buffered: usize,

    /// close a connection whose partial message grows by less than 4KiB in this time, freeing
    /// its memory (default 30s)
    #[argh(
        option,
        default = "Duration::from_secs(30)",
        from_str_fn(parse_interval)
    )]
    stall_timeout: Duration,

    /// send a ZMTP PING this often and close connections silent for as long again
    /// (default: off, as in libzmq; e.g. 5s)
    #[argh(option, from_str_fn(parse_interval))]
    heartbeat: Option<Duration>,

    /// messages queued per client before new ones for it are dropped (default 1000)
    #[argh(option, default = "1000", from_str_fn(parse_message_count))]
    send_hwm: usize,

    /// on shutdown, wait this long for queued messages to go out (default 1s)
    #[argh(
        option,
        default = "Duration::from_secs(1)",
        from_str_fn(parse_duration)
    )]
    linger: Duration,

    /// encrypt and authenticate with CURVE (default: off, plain NULL mechanism)
    #[argh(switch)]
    curve: bool,

    /// directory of CURVE key files (default ~/.curve)
    #[argh(option)]
    curve_dir: Option<PathBuf>,

    /// name of the server's key pair in the curve directory: NAME.key_secret (default server)
    #[argh(option, default = "\"server\".to_owned()")]
    key_name: String,

    /// directory of the public .key files of the clients allowed to connect (default
    /// CURVE_DIR/authorized_clients)
    #[argh(option)]
    authorized_clients: Option<PathBuf>,

    /// with --curve, accept any client key (encryption without client authentication)
    #[argh(switch)]
    allow_any_client: bool,

    /// enable PLAIN: FILE holds one user:password per line (# comments and blank lines
    /// allowed; re-read when it changes). Passwords cross the network in the clear
    #[argh(option)]
    plain_passwords: Option<PathBuf>,

    /// accept clients only from this address or CIDR block (repeatable; e.g. 127.0.0.2,
    /// 10.0.0.0/8, ::1); the allow list wins over --deny-ip
    #[argh(option, from_str_fn(parse_ip_rule))]
    allow_ip: Vec<IpRule>,

    /// refuse clients from this address or CIDR block (repeatable); with no --allow-ip,
    /// every other address is accepted
    #[argh(option, from_str_fn(parse_ip_rule))]
    deny_ip: Vec<IpRule>,

    /// log debug details (each message received, each HELLO sent); RUST_LOG overrides
    #[argh(switch, short = 'v')]
    verbose: bool,
}

/// The CURVE server settings from the flags, and the allowlist to refresh (if any).
fn curve_security(args: &Args) -> (Security, Option<Allowlist>) {
    let dir = args.curve_dir.clone().unwrap_or_else(default_curve_dir);
    let policy = if args.allow_any_client {
        log::warn!("--allow-any-client: any client key is accepted (encrypted, not authenticated)");
        ClientPolicy::Any
    } else {
        ClientPolicy::Allowlist(
            args.authorized_clients
                .clone()
                .unwrap_or_else(|| dir.join("authorized_clients")),
        )
    };
    let keys = server_keys(&dir, &args.key_name, &policy).unwrap_or_else(|e| {
        if matches!(e, KeyError::Allowlist { .. }) {
            usage_error(format!(
                "{e}\n  create it and copy there the public .key files of the clients to allow, \
                 or pass --allow-any-client"
            ))
        }
        usage_error(e)
    });
    log::info!(
        "CURVE on; server public key {} (clients need it in their server .key file)",
        keys.public_z85
    );
    (keys.security, keys.allowlist)
}

fn join(rules: &[IpRule]) -> String {
    rules
        .iter()
        .map(IpRule::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let args: Args = Cli::new(env!("CARGO_BIN_NAME"), env!("CARGO_PKG_VERSION"))
        .with_keygen("server")
        .parse();
    // A malformed endpoint is a bad argument: say so before anything else happens.
    if let Err(e) = args.bind.parse::<Endpoint>() {
        usage_error(bind_error_message(&e.into(), "server", "--bind"));
    }
    if args.max_message_size == 0 {
        usage_error("--max-message-size must be more than zero");
    }
    if args.curve && args.plain_passwords.is_some() {
        usage_error(
            "--curve and --plain-passwords cannot be combined: a server uses one mechanism",
        );
    }
    init_logging(args.verbose);
    // Every decision about a client goes through one authenticator (pyzmq's semantics): the
    // address rules, then the mechanism's check. The CURVE allowlist is one use of it.
    let auth = Authenticator::new();
    auth.allow(args.allow_ip.iter().copied());
    auth.deny(args.deny_ip.iter().copied());
    let mut use_auth = !args.allow_ip.is_empty() || !args.deny_ip.is_empty();
    let mut password_file = None;
    let (security, allowlist) = if args.curve {
        let (security, allowlist) = curve_security(&args);
        let keys = match &allowlist {
            Some(list) => CurveKeys::Directory(list.clone()),
            None => CurveKeys::Any,
        };
        auth.configure_curve("*", keys);
        use_auth = true;
        (security, allowlist)
    } else if let Some(path) = &args.plain_passwords {
        let file = PasswordFile::load(path, "*", &auth).unwrap_or_else(|e| usage_error(e));
        password_file = Some(file);
        use_auth = true;
        if let Some(warning) = plain_exposure_warning(&args.bind) {
            log::warn!("{warning}");
        }
        (Security::PlainServer, None)
    } else {
        (Security::Null, None)
    };
    if !args.allow_ip.is_empty() {
        log::info!("accepting clients only from: {}", join(&args.allow_ip));
    } else if !args.deny_ip.is_empty() {
        log::info!("refusing clients from: {}", join(&args.deny_ip));
    }
    let config = ServerConfig {
        bind: args.bind,
        interval: args.interval,
        stale_after: args.stale_after,
        summary_interval: args.summary_interval,
        inbox: args.inbox,
        socket: Options {
            limits: Limits {
                max_frame_size: args.max_message_size,
                max_message_size: args.max_message_size,
                max_frames_per_message: args.max_frames,
            },
            handshake_timeout: args.handshake_timeout,
            max_connections: Some(args.max_connections),
            max_connections_per_address: Some(args.max_per_address),
            max_handshakes: Some(args.max_handshakes),
            max_buffered: args.max_buffered,
            stall_timeout: Some(args.stall_timeout),
            heartbeat_ivl: args.heartbeat,
            heartbeat_ttl: args.heartbeat.map(|d| d * 2),
            send_hwm: args.send_hwm,
            linger: args.linger,
            security,
            authenticator: use_auth
                .then(|| Arc::new(auth.clone()) as Arc<dyn courier_socket::Authenticator>),
            ..Options::default()
        },
    };
    let shutdown = courier_app::shutdown_on_signals()
        .unwrap_or_else(|e| usage_error(format!("cannot install the signal handler: {e}")));
    let result = courier_socket::runtime::block_on(async {
        let mut server = courier_server::Server::new(config);
        if let Some(list) = allowlist {
            server.every(Duration::from_secs(1), move |_| {
                list.refresh();
            });
        }
        if let Some(mut file) = password_file {
            server.every(Duration::from_secs(1), move |_| {
                file.refresh();
            });
        }
        server.bind().await?.run(shutdown).await
    });
    match result {
        Ok(()) => {}
        Err(ServerError::Socket(e)) => usage_error(bind_error_message(&e, "server", "--bind")),
        Err(e) => usage_error(e),
    }
}
