//! `courier-client`: the command-line front of the courier-client library.

use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use courier_app::keys::{client_keys, default_curve_dir};
use courier_app::{
    bind_error_message, init_logging, parse_duration, parse_interval, parse_message_count,
    parse_size, usage_error, Cli,
};
use courier_client::{file_message, Client, ClientConfig, DEFAULT_ENDPOINT};
use courier_socket::proto::frame::Limits;
use courier_socket::{Endpoint, Message, Options, Security};

/// courier-client: a ZeroMQ DEALER that sends HELLO to its server every interval and reports
/// when the server goes silent and when it comes back. It never blocks on connecting: what it
/// sends before the server is up is queued and delivered when it is, and it reconnects on its
/// own. Works with courier-server and with pyzmq/libzmq ROUTER servers. Logs go to standard
/// output; Ctrl-C or SIGTERM stops it cleanly.
///
/// With --curve, the connection is encrypted and authenticated with CurveZMQ, compatible with
/// libzmq: the client's key pair comes from CURVE_DIR/KEY_NAME.key_secret and the server's
/// public key from CURVE_DIR/SERVER_KEY_NAME.key; a server that cannot prove it holds the
/// matching secret key gets nothing. `courier-client keygen` creates the client's key pair in
/// the format pyzmq's zmq.auth uses.
///
/// With --plain-user and --plain-password-file, the client logs in with ZeroMQ PLAIN (user
/// name and password, as libzmq's): the password is read from a file, never from the command
/// line, and crosses the network in the clear.
///
/// --connect also takes libzmq's source-address form, tcp://SRC_IP:0;HOST:PORT, to connect
/// from a given local address.
#[derive(FromArgs, Debug)]
struct Args {
    /// server endpoint (default tcp://127.0.0.1:5556; ipc:///path for a Unix socket;
    /// tcp://SRC_IP:0;HOST:PORT to connect from the local address SRC_IP)
    #[argh(option, default = "DEFAULT_ENDPOINT.to_owned()")]
    connect: String,

    /// how often to send HELLO (default 1s; e.g. 500ms, 2s)
    #[argh(
        option,
        default = "Duration::from_secs(1)",
        from_str_fn(parse_interval)
    )]
    interval: Duration,

    /// report the server unresponsive after this long without hearing from it (default 5s)
    #[argh(
        option,
        default = "Duration::from_secs(5)",
        from_str_fn(parse_interval)
    )]
    server_timeout: Duration,

    /// send this file to the server as a FILE message (name and contents) at start
    #[argh(option)]
    send_file: Vec<PathBuf>,

    /// routing id to present to the server (default: none, the server makes one up)
    #[argh(option)]
    identity: Option<String>,

    /// largest message sent to or accepted from the server, all frames together (default
    /// 64MiB; a larger --send-file also needs the server's --max-message-size raised)
    #[argh(option, default = "64 << 20", from_str_fn(parse_size))]
    max_message_size: usize,

    /// messages queued while the server is away before sending waits (default 1000)
    #[argh(option, default = "1000", from_str_fn(parse_message_count))]
    send_hwm: usize,

    /// longest wait between reconnection attempts (default 1s; the first is 100ms)
    #[argh(
        option,
        default = "Duration::from_secs(1)",
        from_str_fn(parse_interval)
    )]
    reconnect_max: Duration,

    /// send a ZMTP PING this often and reconnect if the server stays silent as long again
    /// (default: off, as in libzmq; e.g. 2s)
    #[argh(option, from_str_fn(parse_interval))]
    heartbeat: Option<Duration>,

    /// on shutdown, wait this long for queued messages to go out (default 2s)
    #[argh(
        option,
        default = "Duration::from_secs(2)",
        from_str_fn(parse_duration)
    )]
    linger: Duration,

    /// encrypt and authenticate with CURVE (default: off, plain NULL mechanism)
    #[argh(switch)]
    curve: bool,

    /// directory of CURVE key files (default ~/.curve)
    #[argh(option)]
    curve_dir: Option<PathBuf>,

    /// name of the client's key pair in the curve directory: NAME.key_secret (default client)
    #[argh(option, default = "\"client\".to_owned()")]
    key_name: String,

    /// name of the server's public key file in the curve directory: NAME.key (default server)
    #[argh(option, default = "\"server\".to_owned()")]
    server_key_name: String,

    /// log in with PLAIN as this user (needs --plain-password-file)
    #[argh(option)]
    plain_user: Option<String>,

    /// file holding the PLAIN password (its first line; the password is never taken from
    /// the command line)
    #[argh(option)]
    plain_password_file: Option<PathBuf>,

    /// log debug details (connection attempts, each HELLO sent); RUST_LOG overrides
    #[argh(switch, short = 'v')]
    verbose: bool,
}

fn curve_security(args: &Args) -> Security {
    let dir = args.curve_dir.clone().unwrap_or_else(default_curve_dir);
    let (security, public_z85) =
        client_keys(&dir, &args.key_name, &args.server_key_name).unwrap_or_else(|e| usage_error(e));
    log::info!(
        "CURVE on; client public key {public_z85} (the server must list it in its \
         authorized_clients); server key from {}",
        dir.join(format!("{}.key", args.server_key_name)).display()
    );
    security
}

/// The PLAIN client settings: the user from the flag, the password from its file.
fn plain_security(user: &str, file: &std::path::Path) -> Security {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| {
        usage_error(format!(
            "cannot read the password file {}: {e}",
            file.display()
        ))
    });
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(file).is_ok_and(|m| m.permissions().mode() & 0o044 != 0) {
            log::warn!(
                "the password file {} can be read by other users; restrict it with: chmod 600 {}",
                file.display(),
                file.display()
            );
        }
    }
    // The first line, without its line end: an editor's final newline is not part of it.
    let password = text.lines().next().unwrap_or_default();
    let client =
        courier_socket::proto::plain::PlainClient::new(user.to_owned(), password.to_owned())
            .unwrap_or_else(|e| usage_error(e));
    log::info!("PLAIN on; logging in as {user} (the password crosses the network in the clear)");
    Security::PlainClient(client)
}

fn main() {
    let args: Args = Cli::new(env!("CARGO_BIN_NAME"), env!("CARGO_PKG_VERSION"))
        .with_keygen("client")
        .parse();
    // Bad arguments are said before anything else happens (and before connecting).
    if let Err(e) = args.connect.parse::<Endpoint>() {
        usage_error(bind_error_message(&e.into(), "server", "--connect"));
    }
    if args.max_message_size == 0 {
        usage_error("--max-message-size must be more than zero");
    }
    // Files are read (and refused when too large for a message) before connecting.
    let files: Vec<Message> = args
        .send_file
        .iter()
        .map(|path| file_message(path, args.max_message_size).unwrap_or_else(|e| usage_error(e)))
        .collect();
    init_logging(args.verbose);
    let security = match (&args.plain_user, &args.plain_password_file) {
        (Some(_), _) | (_, Some(_)) if args.curve => usage_error(
            "--curve and PLAIN (--plain-user) cannot be combined: a client uses one mechanism",
        ),
        (Some(user), Some(file)) => plain_security(user, file),
        (Some(_), None) => usage_error(
            "--plain-user needs --plain-password-file FILE (the password is never taken from the \
             command line)",
        ),
        (None, Some(_)) => usage_error("--plain-password-file needs --plain-user NAME"),
        (None, None) if args.curve => curve_security(&args),
        (None, None) => Security::Null,
    };
    if args
        .identity
        .as_ref()
        .is_some_and(|id| id.is_empty() || id.len() > 255)
    {
        usage_error("--identity must be 1 to 255 bytes");
    }
    let config = ClientConfig {
        connect: args.connect,
        interval: args.interval,
        server_timeout: args.server_timeout,
        socket: Options {
            routing_id: args.identity.map(Into::into).unwrap_or_default(),
            limits: Limits {
                max_frame_size: args.max_message_size,
                max_message_size: args.max_message_size,
                ..Limits::default()
            },
            send_hwm: args.send_hwm,
            reconnect_ivl_max: args.reconnect_max,
            heartbeat_ivl: args.heartbeat,
            heartbeat_ttl: args.heartbeat.map(|d| d * 2),
            linger: args.linger,
            security,
            ..Options::default()
        },
    };
    let mut client = Client::new(config);
    for (path, msg) in args.send_file.iter().zip(files) {
        if let Message::File { contents, .. } = &msg {
            // The file's size, as the user knows it (the message adds the header and name).
            log::info!("will send {} ({} bytes)", path.display(), contents.len());
        }
        client.send(msg);
    }
    let shutdown = courier_app::shutdown_on_signals()
        .unwrap_or_else(|e| usage_error(format!("cannot install the signal handler: {e}")));
    if let Err(e) = courier_socket::runtime::block_on(client.run(shutdown)) {
        usage_error(e);
    }
}
