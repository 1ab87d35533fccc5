//! `courier-server`: the command-line front of the courier-server library.

use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use courier_app::{
    init_logging, parse_args, parse_duration, parse_interval, parse_size, usage_error,
};
use courier_server::{ServerConfig, ServerError, DEFAULT_ENDPOINT};
use courier_socket::proto::frame::Limits;
use courier_socket::Options;

/// courier-server: a ZeroMQ ROUTER that learns each client from its first message, sends it
/// HELLO every interval while it keeps talking, and forgets it once it goes silent. Speaks
/// ZMTP 3.1, so pyzmq/libzmq DEALER clients work as well as courier-client. Logs go to standard
/// output; Ctrl-C or SIGTERM stops it cleanly.
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

    /// save received FILE messages in this directory (default: only log them); names that
    /// would escape the directory are refused
    #[argh(option)]
    inbox: Option<PathBuf>,

    /// largest message a client may send, all frames together (default 64MiB; e.g. 1MiB)
    #[argh(option, default = "64 << 20", from_str_fn(parse_size))]
    max_message_size: usize,

    /// most frames in one message (default 1024)
    #[argh(option, default = "1024")]
    max_frames: usize,

    /// close a connection that has not finished the ZMTP handshake in this time (default 10s)
    #[argh(
        option,
        default = "Duration::from_secs(10)",
        from_str_fn(parse_interval)
    )]
    handshake_timeout: Duration,

    /// most simultaneous client connections (default 10000)
    #[argh(option, default = "10_000")]
    max_connections: usize,

    /// send a ZMTP PING this often and close connections silent for as long again
    /// (default: off, as in libzmq; e.g. 5s)
    #[argh(option, from_str_fn(parse_interval))]
    heartbeat: Option<Duration>,

    /// messages queued per client before new ones for it are dropped (default 1000)
    #[argh(option, default = "1000")]
    send_hwm: usize,

    /// on shutdown, wait this long for queued messages to go out (default 1s)
    #[argh(
        option,
        default = "Duration::from_secs(1)",
        from_str_fn(parse_duration)
    )]
    linger: Duration,

    /// log debug details (connections, handshakes, each HELLO sent); RUST_LOG overrides
    #[argh(switch, short = 'v')]
    verbose: bool,
}

fn main() {
    let args: Args = parse_args();
    init_logging(args.verbose);
    if args.max_frames == 0 || args.max_message_size == 0 {
        usage_error("--max-message-size and --max-frames must be more than zero");
    }
    let config = ServerConfig {
        bind: args.bind,
        interval: args.interval,
        stale_after: args.stale_after,
        inbox: args.inbox,
        socket: Options {
            limits: Limits {
                max_frame_size: args.max_message_size,
                max_message_size: args.max_message_size,
                max_frames_per_message: args.max_frames,
            },
            handshake_timeout: args.handshake_timeout,
            max_connections: Some(args.max_connections),
            heartbeat_ivl: args.heartbeat,
            heartbeat_ttl: args.heartbeat.map(|d| d * 2),
            send_hwm: args.send_hwm,
            linger: args.linger,
            ..Options::default()
        },
    };
    let shutdown = courier_app::shutdown_on_signals()
        .unwrap_or_else(|e| usage_error(format!("cannot install the signal handler: {e}")));
    let result = courier_socket::runtime::block_on(async {
        courier_server::Server::new(config)
            .bind()
            .await?
            .run(shutdown)
            .await
    });
    match result {
        Ok(()) => {}
        Err(ServerError::Socket(e)) => usage_error(format!(
            "{e}\n(is another server already listening there? choose another with --bind)"
        )),
        Err(e) => usage_error(e),
    }
}
