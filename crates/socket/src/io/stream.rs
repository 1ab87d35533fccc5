//! Non-blocking byte streams and listeners (TCP, and Unix domain sockets for `ipc://`), as the
//! I/O threads register them with their poller.

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;

use mio::event::Source;
use mio::{Interest, Registry, Token};

/// A connected, non-blocking byte stream.
#[derive(Debug)]
pub(crate) enum Stream {
    /// TCP.
    Tcp(mio::net::TcpStream),
    /// Unix domain socket.
    #[cfg(unix)]
    Unix(mio::net::UnixStream),
}

impl Stream {
    /// Starts a non-blocking TCP connect (it completes when the stream becomes writable).
    pub fn connect_tcp(addr: SocketAddr) -> io::Result<Stream> {
        Ok(Stream::Tcp(mio::net::TcpStream::connect(addr)?))
    }

    /// Starts a non-blocking TCP connect from the local address `source` (bound first, as
    /// libzmq does for `tcp://SRC;HOST:PORT`). mio cannot bind a stream before connecting
    /// it, so the socket is made with socket2 and handed to mio.
    pub fn connect_tcp_from(addr: SocketAddr, source: SocketAddr) -> io::Result<Stream> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket.bind(&source.into())?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            // Non-blocking: the connect completes when the stream becomes writable.
            #[cfg(unix)]
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let std_stream: std::net::TcpStream = socket.into();
        Ok(Stream::Tcp(mio::net::TcpStream::from_std(std_stream)))
    }

    /// Starts a non-blocking connect to a Unix domain socket.
    #[cfg(unix)]
    pub fn connect_unix(path: &std::path::Path) -> io::Result<Stream> {
        Ok(Stream::Unix(mio::net::UnixStream::connect(path)?))
    }

    /// Whether a connect started by `connect_*` has finished: `Ok(true)` connected,
    /// `Ok(false)` still in progress, `Err` failed.
    pub fn connect_finished(&self) -> io::Result<bool> {
        let (error, peer) = match self {
            Stream::Tcp(s) => (s.take_error(), s.peer_addr().map(|_| ())),
            #[cfg(unix)]
            Stream::Unix(s) => (s.take_error(), s.peer_addr().map(|_| ())),
        };
        if let Some(e) = error? {
            return Err(e);
        }
        match peer {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The socket's pending error (SO_ERROR), if any.
    pub fn take_error(&self) -> Option<io::Error> {
        let e = match self {
            Stream::Tcp(s) => s.take_error(),
            #[cfg(unix)]
            Stream::Unix(s) => s.take_error(),
        };
        e.unwrap_or_else(Some)
    }

    /// Sets TCP_NODELAY (TCP only): ZeroMQ messages are written as soon as they are queued.
    pub fn set_nodelay(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nodelay(true),
            #[cfg(unix)]
            Stream::Unix(_) => Ok(()),
        }
    }

    /// Reads what has arrived.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }

    /// Writes as much of `bufs` as the socket takes.
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            #[cfg(unix)]
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    /// Shuts both directions down.
    pub fn shutdown(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            #[cfg(unix)]
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }

    fn source(&mut self) -> &mut dyn Source {
        match self {
            Stream::Tcp(s) => s,
            #[cfg(unix)]
            Stream::Unix(s) => s,
        }
    }

    /// Registers for both directions, edge-triggered, once for the stream's life.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            self.source(),
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    /// Removes the registration.
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(self.source());
    }
}

/// A listening socket.
#[derive(Debug)]
pub(crate) enum Listener {
    /// TCP.
    Tcp(mio::net::TcpListener),
    /// Unix domain socket, with the path to remove when it closes.
    #[cfg(unix)]
    Unix(mio::net::UnixListener, std::path::PathBuf),
}

impl Listener {
    /// Binds a TCP listener to the first of `addrs` that works; returns it and the address
    /// actually bound (port 0 resolved).
    pub fn bind_tcp(addrs: &[SocketAddr]) -> io::Result<(Listener, SocketAddr)> {
        let mut last = None;
        for &addr in addrs {
            match mio::net::TcpListener::bind(addr) {
                Ok(l) => {
                    let local = l.local_addr()?;
                    return Ok((Listener::Tcp(l), local));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address resolves to nothing",
            )
        }))
    }

    /// Binds a Unix domain socket, replacing a stale socket file as libzmq does.
    #[cfg(unix)]
    pub fn bind_unix(path: &std::path::Path) -> io::Result<Listener> {
        if std::fs::symlink_metadata(path).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_socket()
        }) {
            let _ = std::fs::remove_file(path);
        }
        let listener = mio::net::UnixListener::bind(path)?;
        Ok(Listener::Unix(listener, path.to_owned()))
    }

    /// Accepts one waiting connection; returns the stream, a printable peer address, and the
    /// peer's IP address (TCP).
    pub fn accept(&self) -> io::Result<(Stream, String, Option<std::net::IpAddr>)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, addr) = l.accept()?;
                Ok((Stream::Tcp(stream), addr.to_string(), Some(addr.ip())))
            }
            #[cfg(unix)]
            Listener::Unix(l, path) => {
                let (stream, _) = l.accept()?;
                Ok((Stream::Unix(stream), path.display().to_string(), None))
            }
        }
    }

    /// Registers for incoming connections, edge-triggered.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => registry.register(l, token, Interest::READABLE),
            #[cfg(unix)]
            Listener::Unix(l, _) => registry.register(l, token, Interest::READABLE),
        }
    }

    /// Removes the registration.
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = match self {
            Listener::Tcp(l) => registry.deregister(l),
            #[cfg(unix)]
            Listener::Unix(l, _) => registry.deregister(l),
        };
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Resolves `host:port` (blocking: the I/O threads call it only for IP literals, and on a
/// helper thread for names).
pub(crate) fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr} resolves to no address"),
        ));
    }
    Ok(addrs)
}

/// `host:port` as addresses without asking a resolver, if the host is an IP literal.
pub(crate) fn literal(addr: &str) -> Option<Vec<SocketAddr>> {
    addr.parse::<SocketAddr>().ok().map(|a| vec![a])
}
