//! # courier-server
//!
//! A ROUTER server for courier clients (and for the pyzmq clients of the original Python
//! apps): it listens on `tcp://127.0.0.1:5556` by default, learns a client from its routing id
//! on its first message, remembers when it last heard from it, sends `HELLO` every second to
//! each client heard from in the last 10 seconds, and forgets the stale ones.
//!
//! It handles `HELLO` and `FILE` (logged, and saved in an inbox directory if one is set) out of
//! the box; [`Server::on`] adds a handler for any other message type and [`Server::every`] a
//! periodic task, without touching the engine.
//!
//! ## Example
//!
//! ```no_run
//! use std::time::Duration;
//! use courier_server::{Server, ServerConfig};
//! use courier_socket::Message;
//!
//! courier_socket::runtime::block_on(async {
//!     let mut server = Server::new(ServerConfig::default());
//!     // Answer CTRL "ping" with CTRL "pong".
//!     server.on("CTRL", |ctx, msg| {
//!         if let Message::Control { text } = Message::decode(msg)? {
//!             if text == "ping" {
//!                 ctx.reply(Message::Control { text: "pong".into() });
//!             }
//!         }
//!         Ok(())
//!     });
//!     server.every(Duration::from_secs(60), |ctx| {
//!         log::info!("{} clients", ctx.clients().count());
//!     });
//!     let (_stop, shutdown) = courier_app::Shutdown::manual();
//!     server.bind().await?.run(shutdown).await
//! })?;
//! # Ok::<(), courier_server::ServerError>(())
//! ```
#![forbid(unsafe_code)]

mod inbox;
mod server;

pub use inbox::{safe_file_name, save_file, InboxError};
pub use server::{
    run, BoundServer, ClientRecord, Server, ServerConfig, ServerContext, ServerError,
    DEFAULT_ENDPOINT,
};
