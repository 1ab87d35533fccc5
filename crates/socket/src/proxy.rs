//! A proxy between two sockets (libzmq's `zmq_proxy`): what one receives, the other sends,
//! in both directions, with an optional capture socket that gets a copy of everything.
//!
//! The classic uses: a ROUTER frontend and a DEALER backend make a request-reply broker
//! (clients' REQs connect to the frontend, workers' REPs to the backend); an XSUB frontend and
//! an XPUB backend make a publish-subscribe forwarder (subscriptions flow upstream, messages
//! downstream); a PULL and a PUSH make a pipeline streamer.
//!
//! [`proxy`] is a future that runs until a socket fails; to stop it, drop it, e.g. by
//! selecting it against a shutdown signal. Waiting on several sockets at once is the same
//! thing: their `recv` futures are ordinary futures, so `futures::future::select` (or any
//! runtime's `select!`) over them takes whichever message comes first:
//!
//! ```
//! use std::time::Duration;
//! use futures::future::{select, Either};
//! use courier_socket::{runtime, Multipart, Options, Pull, Push};
//!
//! let (a, b) = (Pull::new(Options::default()), Pull::new(Options::default()));
//! let endpoint_b = b.bind_blocking("tcp://127.0.0.1:0")?;
//! let _endpoint_a = a.bind_blocking("tcp://127.0.0.1:0")?;
//! let push = Push::new(Options::default());
//! push.connect(&endpoint_b.to_string())?;
//! push.send_blocking(Multipart::single("to b"))?;
//!
//! let which = runtime::block_on(async {
//!     match select(Box::pin(a.recv()), Box::pin(b.recv())).await {
//!         Either::Left((msg, _)) => ("a", msg),
//!         Either::Right((msg, _)) => ("b", msg),
//!     }
//! });
//! assert_eq!(which.0, "b");
//! assert_eq!(&which.1?.first()[..], b"to b");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::future::Future;

use futures::future::{select, Either};
use futures::pin_mut;

use courier_proto::message::Multipart;

use crate::error::SocketError;
use crate::{Dealer, Pair, Pub, Pull, Push, Router, Sub, XPub, XSub};

mod sealed {
    pub trait Sealed {}
}

/// A socket a [`proxy`] can use: DEALER, ROUTER, PUB, SUB, XPUB, XSUB, PUSH, PULL or PAIR.
/// (REQ and REP are not: their strict alternation does not fit a proxy, as in libzmq.)
pub trait ProxySocket: sealed::Sealed {
    /// The next message this socket receives (never ready for a socket that receives
    /// nothing, such as PUB).
    #[doc(hidden)]
    fn proxy_recv(&self) -> impl Future<Output = Result<Multipart, SocketError>> + Send;
    /// Sends `msg` as the socket's `send` does.
    #[doc(hidden)]
    fn proxy_send(&self, msg: Multipart) -> impl Future<Output = Result<(), SocketError>> + Send;
}

macro_rules! proxies {
    (both: $($ty:ident),*) => {$(
        impl sealed::Sealed for $ty {}
        impl ProxySocket for $ty {
            fn proxy_recv(&self) -> impl Future<Output = Result<Multipart, SocketError>> + Send {
                self.recv()
            }
            fn proxy_send(&self, msg: Multipart) -> impl Future<Output = Result<(), SocketError>> + Send {
                self.send(msg)
            }
        }
    )*};
    (send: $($ty:ident),*) => {$(
        impl sealed::Sealed for $ty {}
        impl ProxySocket for $ty {
            fn proxy_recv(&self) -> impl Future<Output = Result<Multipart, SocketError>> + Send {
                futures::future::pending()
            }
            fn proxy_send(&self, msg: Multipart) -> impl Future<Output = Result<(), SocketError>> + Send {
                self.send(msg)
            }
        }
    )*};
    (recv: $($ty:ident),*) => {$(
        impl sealed::Sealed for $ty {}
        impl ProxySocket for $ty {
            fn proxy_recv(&self) -> impl Future<Output = Result<Multipart, SocketError>> + Send {
                self.recv()
            }
            fn proxy_send(&self, _: Multipart) -> impl Future<Output = Result<(), SocketError>> + Send {
                // Unreachable in a sound proxy (the other side of a SUB or PULL receives
                // nothing); an error rather than a silent drop if it happens.
                futures::future::ready(Err(SocketError::CannotSend))
            }
        }
    )*};
}

proxies!(both: Dealer, Router, XPub, XSub, Pair);
proxies!(send: Pub, Push);
proxies!(recv: Sub, Pull);

/// Forwards messages between `frontend` and `backend`, both ways, until a socket fails;
/// returns that error. Each direction goes at its own pace (one waiting for room does not
/// hold up the other). Drop the future to stop the proxy.
pub async fn proxy<F: ProxySocket, B: ProxySocket>(frontend: &F, backend: &B) -> SocketError {
    both_ways(frontend, backend, None::<&Pub>).await
}

/// [`proxy`], sending a copy of every message (both ways) to `capture` first, as libzmq's
/// capture socket gets (a PUB, PUSH, DEALER or PAIR, say).
pub async fn proxy_with_capture<F: ProxySocket, B: ProxySocket, C: ProxySocket>(
    frontend: &F,
    backend: &B,
    capture: &C,
) -> SocketError {
    both_ways(frontend, backend, Some(capture)).await
}

/// [`proxy`] for programs without a runtime: blocks the calling thread until a socket fails.
pub fn proxy_blocking<F: ProxySocket, B: ProxySocket>(frontend: &F, backend: &B) -> SocketError {
    crate::runtime::block_on(proxy(frontend, backend))
}

async fn both_ways<F: ProxySocket, B: ProxySocket, C: ProxySocket>(
    frontend: &F,
    backend: &B,
    capture: Option<&C>,
) -> SocketError {
    let down = forward(frontend, backend, capture);
    let up = forward(backend, frontend, capture);
    pin_mut!(down, up);
    match select(down, up).await {
        Either::Left((e, _)) | Either::Right((e, _)) => e,
    }
}

async fn forward<A: ProxySocket, B: ProxySocket, C: ProxySocket>(
    from: &A,
    to: &B,
    capture: Option<&C>,
) -> SocketError {
    loop {
        let msg = match from.proxy_recv().await {
            Ok(msg) => msg,
            Err(e) => return e,
        };
        if let Some(capture) = capture {
            // Frames are reference-counted: the copy costs no body copy.
            if let Err(e) = capture.proxy_send(msg.clone()).await {
                return e;
            }
        }
        if let Err(e) = to.proxy_send(msg).await {
            return e;
        }
    }
}
