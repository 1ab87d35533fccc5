//! Every call into the async runtime lives here, so that swapping async-std (which upstream
//! has deprecated in favour of smol) touches this one file.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::io::{AsyncRead, AsyncWrite};

pub use std::time::Instant;

/// A spawned task.
pub type Task<T> = async_std::task::JoinHandle<T>;

/// Runs a future in the background.
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    async_std::task::spawn(future)
}

/// Runs a future to completion on the current thread (for binaries and tests).
pub fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

/// Waits for `duration`.
pub async fn sleep(duration: Duration) {
    async_std::task::sleep(duration).await
}

/// Runs `future` for at most `duration`; `None` if it did not finish.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
    async_std::future::timeout(duration, future).await.ok()
}

/// Cancels a task and waits for it to stop.
pub async fn cancel<T>(task: Task<T>) {
    task.cancel().await;
}

/// A connected byte stream: TCP, or a Unix domain socket for `ipc://`.
#[derive(Debug, Clone)]
pub enum Stream {
    /// TCP.
    Tcp(async_std::net::TcpStream),
    /// Unix domain socket.
    #[cfg(unix)]
    Unix(async_std::os::unix::net::UnixStream),
}

impl Stream {
    /// Connects over TCP to `addr` (host:port; names are resolved) with TCP_NODELAY set.
    pub async fn connect_tcp(addr: &str) -> io::Result<Stream> {
        let stream = async_std::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Stream::Tcp(stream))
    }

    /// Connects to a Unix domain socket.
    #[cfg(unix)]
    pub async fn connect_unix(path: &std::path::Path) -> io::Result<Stream> {
        Ok(Stream::Unix(
            async_std::os::unix::net::UnixStream::connect(path).await?,
        ))
    }

    /// Shuts both directions down, waking a task blocked reading it.
    pub fn shutdown(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            #[cfg(unix)]
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_close(cx),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(s).poll_close(cx),
        }
    }
}

/// A listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(async_std::net::TcpListener),
    /// Unix domain socket, with the path to remove when it closes.
    #[cfg(unix)]
    Unix(async_std::os::unix::net::UnixListener, std::path::PathBuf),
}

impl Listener {
    /// Binds a TCP listener; returns it and the address actually bound (port 0 resolved).
    pub async fn bind_tcp(addr: &str) -> io::Result<(Listener, std::net::SocketAddr)> {
        let listener = async_std::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        Ok((Listener::Tcp(listener), local))
    }

    /// Binds a Unix domain socket, replacing a stale socket file as libzmq does.
    #[cfg(unix)]
    pub async fn bind_unix(path: &std::path::Path) -> io::Result<Listener> {
        if std::fs::symlink_metadata(path).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_socket()
        }) {
            let _ = std::fs::remove_file(path);
        }
        let listener = async_std::os::unix::net::UnixListener::bind(path).await?;
        Ok(Listener::Unix(listener, path.to_owned()))
    }

    /// Accepts one connection; returns the stream and a printable peer address.
    pub async fn accept(&self) -> io::Result<(Stream, String)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, addr) = l.accept().await?;
                stream.set_nodelay(true)?;
                Ok((Stream::Tcp(stream), addr.to_string()))
            }
            #[cfg(unix)]
            Listener::Unix(l, path) => {
                let (stream, _) = l.accept().await?;
                Ok((Stream::Unix(stream), path.display().to_string()))
            }
        }
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
