//! `inproc://`: sockets of one process joined by their queues, without TCP or ZMTP.
//!
//! The process keeps a registry of bound names and of the sockets connecting to each name.
//! A bind joins every socket already connecting to the name (so connecting before the bind
//! works, as in libzmq 4), and a connect joins the socket bound now, if any; a connecting
//! socket stays registered, so a socket that binds the name later (after the first one closed)
//! is joined too, as a reconnect would. Each join is a pipe (`io::pipe`) run by an I/O
//! thread: it moves messages from one socket's send queues into the other's receive queue
//! through the same pattern layer as a network connection, without copying a body.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::core::{lock, Core};
use crate::endpoint::Endpoint;
use crate::error::SocketError;
use crate::io::{self, Command};

#[derive(Default)]
struct Registry {
    bound: HashMap<String, Weak<Core>>,
    connecting: HashMap<String, Vec<Weak<Core>>>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// A socket that is neither gone nor closing.
fn alive(core: &Weak<Core>) -> Option<Arc<Core>> {
    core.upgrade().filter(|c| !c.no_new.fired())
}

/// Whether a live socket is bound to `name` now.
pub(crate) fn is_bound(name: &str) -> bool {
    lock(registry()).bound.get(name).and_then(alive).is_some()
}

/// Binds `name` for `core` and joins the sockets already connecting to it.
pub(crate) fn bind(core: &Arc<Core>, name: &str) -> Result<(), SocketError> {
    let mut reg = lock(registry());
    if reg.bound.get(name).and_then(alive).is_some() {
        return Err(SocketError::Bind {
            endpoint: Endpoint::Inproc(name.to_owned()),
            source: std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another socket of this process is bound to this inproc name",
            ),
        });
    }
    reg.bound.insert(name.to_owned(), Arc::downgrade(core));
    let connectors = reg.connecting.entry(name.to_owned()).or_default();
    connectors.retain(|c| c.strong_count() > 0);
    let peers: Vec<Arc<Core>> = connectors.iter().filter_map(alive).collect();
    drop(reg);
    for peer in peers {
        join(&peer, core, name)?;
    }
    Ok(())
}

/// Registers `core` as connecting to `name` and joins the socket bound to it, if any.
pub(crate) fn connect(core: &Arc<Core>, name: &str) -> Result<(), SocketError> {
    let mut reg = lock(registry());
    let connectors = reg.connecting.entry(name.to_owned()).or_default();
    connectors.retain(|c| c.strong_count() > 0);
    connectors.push(Arc::downgrade(core));
    let bound = reg.bound.get(name).and_then(alive);
    drop(reg);
    match bound {
        Some(binder) => join(core, &binder, name),
        None => Ok(()),
    }
}

/// Hands a new pipe between `connector` and `binder` to an I/O thread.
fn join(connector: &Arc<Core>, binder: &Arc<Core>, name: &str) -> Result<(), SocketError> {
    let thread = io::context().pick().map_err(|source| SocketError::Bind {
        endpoint: Endpoint::Inproc(name.to_owned()),
        source,
    })?;
    thread.send(Command::Pipe {
        connector: Arc::clone(connector),
        binder: Arc::clone(binder),
        name: format!("inproc://{name}"),
    });
    Ok(())
}
