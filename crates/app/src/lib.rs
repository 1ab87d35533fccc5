//! # courier-app
//!
//! The small framework shared by courier's programs (server, client, and the metrics agent,
//! collector and viewer): a table of message handlers keyed by header, periodic tasks, and the
//! chores every long-running program needs (logging, Ctrl-C and SIGTERM, argument parsing
//! with exit code 2, `-h` and `--version`, the `keygen` subcommand of the programs that read
//! CURVE keys ([`Cli`]), durations such as `500ms`, and [`LinkWatch`], which turns a connecting
//! socket's events into the state of its link, logged once per change).
//!
//! It holds no networking of its own: programs own a `courier-socket` socket and call
//! [`Handlers::dispatch`] and [`Periodic::run_due`] from their loop.
//!
//! ## Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use courier_app::{Dispatch, Handlers, Periodic};
//! use courier_socket::Multipart;
//!
//! #[derive(Default)]
//! struct Ctx { hellos: u32, ticks: u32 }
//!
//! let mut handlers = Handlers::<Ctx>::new();
//! handlers.on("HELLO", |ctx, _msg| { ctx.hellos += 1; Ok(()) });
//! let mut periodic = Periodic::<Ctx>::new();
//! let start = Instant::now();
//! periodic.every(Duration::from_secs(1), start, |ctx| ctx.ticks += 1);
//!
//! let mut ctx = Ctx::default();
//! assert!(matches!(handlers.dispatch(&mut ctx, &Multipart::from("HELLO")), Dispatch::Handled));
//! assert!(matches!(handlers.dispatch(&mut ctx, &Multipart::from("NOPE")), Dispatch::Unknown));
//! periodic.run_due(start + Duration::from_secs(1), &mut ctx);
//! assert_eq!((ctx.hellos, ctx.ticks), (1, 1));
//! ```
#![forbid(unsafe_code)]

pub mod auth;
mod cli;
mod handlers;
pub mod keys;
mod link;
mod names;
mod shutdown;

pub use cli::{
    bind_error_message, init_logging, init_logging_to, parse_connection_count, parse_duration,
    parse_frame_count, parse_interval, parse_message_count, parse_port, parse_size, usage_error,
    Cli, Parsed,
};
pub use handlers::{Dispatch, HandlerError, HandlerResult, Handlers, Periodic};
pub use link::{LinkDescription, LinkState, LinkWatch};
pub use names::{describe, peer_name};
pub use shutdown::{shutdown_on_signals, Shutdown};
