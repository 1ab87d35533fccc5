//! # courier-client
//!
//! A DEALER client for a courier server (or the pyzmq server of the original Python apps): it
//! connects to `tcp://127.0.0.1:5556` by default, sends `HELLO` every second, and says so when
//! the server has been silent for 5 seconds, then keeps trying and says when it is back.
//! Connecting never blocks: messages sent before the server exists are queued and delivered
//! when it comes up, and a restarted server is reconnected on its own.
//!
//! [`Client::on`] adds a handler per message type and [`Client::every`] a periodic task.
//!
//! ## Example
//!
//! ```no_run
//! use courier_client::{Client, ClientConfig};
//! use courier_socket::Message;
//!
//! courier_socket::runtime::block_on(async {
//!     let mut client = Client::new(ClientConfig::default());
//!     client.send(Message::File { name: "notes.txt".into(), contents: "hi".into() });
//!     client.on("CTRL", |_ctx, msg| {
//!         log::info!("server says {:?}", Message::decode(msg)?);
//!         Ok(())
//!     });
//!     let (_stop, shutdown) = courier_app::Shutdown::manual();
//!     client.run(shutdown).await
//! })?;
//! # Ok::<(), courier_client::ClientError>(())
//! ```
#![forbid(unsafe_code)]

mod client;

pub use client::{
    file_message, run, Client, ClientConfig, ClientContext, ClientError, DEFAULT_ENDPOINT,
};
