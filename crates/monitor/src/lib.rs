//! # courier-monitor
//!
//! courier's metrics apps, speaking the wire protocol of the reference Python apps so that
//! both can be mixed in one fleet:
//!
//! - [`agent`]: samples host metrics (a [`courier_metrics::Registry`]) and sends them to the
//!   collector: `CTRL hello` first, model data when the collector asks `CTRL model` (at most
//!   once per 5 s), then `METR metrics` every interval.
//! - [`collector`]: a ROUTER for agents and one for viewers; caches model data per host, asks
//!   hosts without it, forwards every `METR` to every viewer, pings everyone, drops the silent.
//! - [`viewer`]: the network side of `courier-top`: says `hello` to the collector and hands
//!   every `METR` it receives to a callback.
//!
//! Every connection uses CURVE in the programs (keys `agent`, `collector`, `client` in
//! `~/.curve`, as the reference apps); the libraries take any `courier_socket::Options`.
//!
//! ## Example: an agent with one extra metric
//!
//! ```no_run
//! use courier_metrics::{from_fn, Registry};
//! use courier_monitor::agent::{run_agent, AgentConfig};
//!
//! let mut registry = Registry::with_defaults();
//! registry.register(from_fn("answer", |_kind, out| {
//!     out.push("app.answer", 42);
//!     Ok(())
//! }));
//! let config = AgentConfig::new("tcp://127.0.0.1:5556", "my-host");
//! let (_stop, shutdown) = courier_app::Shutdown::manual();
//! courier_socket::runtime::block_on(run_agent(config, registry, shutdown))?;
//! # Ok::<(), courier_socket::SocketError>(())
//! ```
#![forbid(unsafe_code)]

pub mod agent;
pub mod collector;
pub mod viewer;

use courier_socket::Message;

/// `CTRL hello`.
pub fn hello() -> Message {
    control(Message::CTRL_HELLO)
}

/// `CTRL text`.
pub fn control(text: &str) -> Message {
    Message::Control {
        text: text.to_owned(),
    }
}

/// `tcp://HOST:PORT`, with brackets around an IPv6 address.
pub fn tcp_endpoint(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("tcp://[{host}]:{port}")
    } else {
        format!("tcp://{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(tcp_endpoint("10.0.0.1", 5556), "tcp://10.0.0.1:5556");
        assert_eq!(tcp_endpoint("::1", 5557), "tcp://[::1]:5557");
        assert_eq!(tcp_endpoint("host.example", 1), "tcp://host.example:1");
    }
}
