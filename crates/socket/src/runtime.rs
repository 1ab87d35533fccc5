//! Every call into the async runtime lives here, so that swapping async-std (which upstream
//! has deprecated in favour of smol) touches this one file.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Async;
use futures::io::{AsyncRead, AsyncWrite};

pub use std::time::Instant;

/// A spawned task.
pub type Task<T> = async_std::task::JoinHandle<T>;

/// Environment variable that sets how many threads run the connections (default 1).
pub const IO_THREADS_VAR: &str = "ASYNC_STD_THREAD_COUNT";

/// Sets up async-std's executor on first use: one thread for all connections by default, as
/// libzmq has one I/O thread, or `ASYNC_STD_THREAD_COUNT` threads if that is set. (async-std's
/// own default, one thread per CPU, puts a message through one more thread hand-off: on two
/// cores that measured 1.5x the round-trip time and half the throughput.)
fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        async_global_executor::init_with_config(
            async_global_executor::GlobalExecutorConfig::default()
                .with_env_var(IO_THREADS_VAR)
                .with_min_threads(1)
                .with_thread_name_fn(|| "courier-io".to_owned()),
        );
    });
}

/// Runs a future in the background.
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    init();
    async_std::task::spawn(future)
}

/// Runs a future to completion on the current thread (for binaries and tests).
pub fn block_on<F: Future>(future: F) -> F::Output {
    init();
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

/// A timer that can be moved without being re-created (re-created timers cost a reactor
/// registration each). As a future it resolves once its time has come; [`Timer::set_at`]
/// re-arms it.
#[derive(Debug)]
pub struct Timer(async_io::Timer);

impl Timer {
    /// A timer that never fires until set.
    pub fn never() -> Timer {
        Timer(async_io::Timer::never())
    }

    /// Makes the timer fire at `at`.
    pub fn set_at(&mut self, at: Instant) {
        self.0.set_at(at);
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx).map(|_| ())
    }
}

/// Cancels a task and waits for it to stop.
pub async fn cancel<T>(task: Task<T>) {
    task.cancel().await;
}

/// A connected byte stream: TCP, or a Unix domain socket for `ipc://`. Clones share the
/// socket (a connection's reader and writer each hold one).
///
/// Built on async-io's `Async` (the reactor under both async-std and smol) rather than
/// async-std's wrappers, for [`Stream::readable`]: waiting for data before reading spares a
/// read that would only say "nothing yet" (EAGAIN) after each message.
#[derive(Debug, Clone)]
pub enum Stream {
    /// TCP.
    Tcp(Arc<Async<std::net::TcpStream>>),
    /// Unix domain socket.
    #[cfg(unix)]
    Unix(Arc<Async<std::os::unix::net::UnixStream>>),
}

/// Resolves `addr` (host:port; names are resolved off the executor's threads).
async fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    use async_std::net::ToSocketAddrs;
    Ok(addr.to_socket_addrs().await?.collect())
}

/// Tries `op` on each address in turn; the last error if none works.
async fn first_working<T, F, Fut>(addr: &str, op: F) -> io::Result<T>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut last = None;
    for a in resolve(addr).await? {
        match op(a).await {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr} resolves to no address"),
        )
    }))
}

impl Stream {
    /// Connects over TCP to `addr` (host:port; names are resolved) with TCP_NODELAY set.
    pub async fn connect_tcp(addr: &str) -> io::Result<Stream> {
        let stream = first_working(addr, Async::<std::net::TcpStream>::connect).await?;
        stream.get_ref().set_nodelay(true)?;
        Ok(Stream::Tcp(Arc::new(stream)))
    }

    /// Connects to a Unix domain socket.
    #[cfg(unix)]
    pub async fn connect_unix(path: &std::path::Path) -> io::Result<Stream> {
        let stream = Async::<std::os::unix::net::UnixStream>::connect(path).await?;
        Ok(Stream::Unix(Arc::new(stream)))
    }

    /// Waits until there is something to read (data, end of stream or an error), without
    /// reading it.
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.readable().await,
            #[cfg(unix)]
            Stream::Unix(s) => s.readable().await,
        }
    }

    /// Shuts both directions down, waking a task blocked reading it.
    pub fn shutdown(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.get_ref().shutdown(std::net::Shutdown::Both),
            #[cfg(unix)]
            Stream::Unix(s) => s.get_ref().shutdown(std::net::Shutdown::Both),
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
            Stream::Tcp(s) => Pin::new(&mut &**s).poll_read(cx, buf),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(&mut &**s).poll_read(cx, buf),
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
            Stream::Tcp(s) => Pin::new(&mut &**s).poll_write(cx, buf),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(&mut &**s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(&mut &**s).poll_write_vectored(cx, bufs),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(&mut &**s).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(&mut &**s).poll_flush(cx),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(&mut &**s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(&mut &**s).poll_close(cx),
            #[cfg(unix)]
            Stream::Unix(s) => Pin::new(&mut &**s).poll_close(cx),
        }
    }
}

/// A listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(Async<std::net::TcpListener>),
    /// Unix domain socket, with the path to remove when it closes.
    #[cfg(unix)]
    Unix(Async<std::os::unix::net::UnixListener>, std::path::PathBuf),
}

impl Listener {
    /// Binds a TCP listener; returns it and the address actually bound (port 0 resolved).
    pub async fn bind_tcp(addr: &str) -> io::Result<(Listener, SocketAddr)> {
        let listener = first_working(
            addr,
            |a| async move { Async::<std::net::TcpListener>::bind(a) },
        )
        .await?;
        let local = listener.get_ref().local_addr()?;
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
        let listener = Async::<std::os::unix::net::UnixListener>::bind(path)?;
        Ok(Listener::Unix(listener, path.to_owned()))
    }

    /// Accepts one connection; returns the stream and a printable peer address.
    pub async fn accept(&self) -> io::Result<(Stream, String)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, addr) = l.accept().await?;
                stream.get_ref().set_nodelay(true)?;
                Ok((Stream::Tcp(Arc::new(stream)), addr.to_string()))
            }
            #[cfg(unix)]
            Listener::Unix(l, path) => {
                let (stream, _) = l.accept().await?;
                Ok((Stream::Unix(Arc::new(stream)), path.display().to_string()))
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
