//! Helpers shared by the behaviour tests: bounded waits, event matching and a raw ZMTP peer
//! built on std::net (an independent byte-level peer, not our engine).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use courier_socket::proto::command::Command;
use courier_socket::proto::greeting::{Greeting, MechanismName};
use courier_socket::proto::metadata::{self, Metadata};
use courier_socket::{runtime, Endpoint, Multipart, SocketEvent};

/// Runs `future` on the runtime, failing the test if it takes longer than `limit`.
pub fn within<F: std::future::Future>(limit: Duration, what: &str, future: F) -> F::Output {
    runtime::block_on(runtime::timeout(limit, future))
        .unwrap_or_else(|| panic!("timed out after {limit:?}: {what}"))
}

/// Generous bound for things that should happen "at once".
pub const SOON: Duration = Duration::from_secs(5);

/// A multipart message from byte strings.
pub fn mp(frames: &[&[u8]]) -> Multipart {
    Multipart::new(frames.iter().map(|f| Bytes::copy_from_slice(f)).collect()).unwrap()
}

/// The frames of a message as byte vectors, for comparisons.
pub fn frames(msg: &Multipart) -> Vec<Vec<u8>> {
    msg.iter().map(|f| f.to_vec()).collect()
}

/// The TCP port of a bound endpoint.
pub fn port_of(endpoint: &Endpoint) -> u16 {
    match endpoint {
        Endpoint::Tcp { port, .. } => *port,
        other => panic!("not a TCP endpoint: {other}"),
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound once and released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Reads events until one matches `pred`; returns it and every event seen before it.
/// Fails the test with the events seen if none matches within `limit`.
pub fn wait_event(
    events: &async_channel::Receiver<SocketEvent>,
    limit: Duration,
    what: &str,
    pred: impl Fn(&SocketEvent) -> bool,
) -> (SocketEvent, Vec<SocketEvent>) {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = runtime::block_on(runtime::timeout(left, events.recv()));
        match next {
            Some(Ok(ev)) if pred(&ev) => return (ev, seen),
            Some(Ok(ev)) => seen.push(ev),
            Some(Err(_)) => panic!("event stream closed waiting for {what}; seen: {seen:#?}"),
            None => panic!("no {what} within {limit:?}; events seen: {seen:#?}"),
        }
    }
}

/// Every event available now.
pub fn drain_events(events: &async_channel::Receiver<SocketEvent>) -> Vec<SocketEvent> {
    let mut out = Vec::new();
    while let Ok(ev) = events.try_recv() {
        out.push(ev);
    }
    out
}

pub fn is_handshake_ok(ev: &SocketEvent) -> bool {
    matches!(ev, SocketEvent::HandshakeSucceeded { .. })
}

pub fn is_disconnected(ev: &SocketEvent) -> bool {
    matches!(ev, SocketEvent::Disconnected { .. })
}

/// The reason of a Disconnected or HandshakeFailed event.
pub fn reason_of(ev: &SocketEvent) -> String {
    match ev {
        SocketEvent::Disconnected { reason, .. } | SocketEvent::HandshakeFailed { reason, .. } => {
            reason.to_string()
        }
        other => panic!("no reason in {other:?}"),
    }
}

// ---- raw ZMTP peer -------------------------------------------------------------------------

/// Our NULL greeting bytes (as-server 0): `ff 00*8 7f 03 01 "NULL" ...`.
pub fn null_greeting() -> [u8; 64] {
    Greeting::new(MechanismName::NULL, false).encode()
}

/// A READY command frame with Socket-Type and (if given) Identity.
pub fn ready_frame(socket_type: &str, identity: Option<&[u8]>) -> Vec<u8> {
    let mut meta = Metadata::new();
    meta.push(
        metadata::SOCKET_TYPE,
        Bytes::copy_from_slice(socket_type.as_bytes()),
    )
    .unwrap();
    if let Some(id) = identity {
        meta.push(metadata::IDENTITY, Bytes::copy_from_slice(id))
            .unwrap();
    }
    let mut out = BytesMut::new();
    Command::Ready(meta).encode(&mut out);
    out.to_vec()
}

/// A PING command frame.
pub fn ping_frame(ttl_deciseconds: u16, context: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    Command::Ping {
        ttl_deciseconds,
        context: Bytes::copy_from_slice(context),
    }
    .encode(&mut out);
    out.to_vec()
}

/// A raw TCP peer speaking ZMTP by hand, with every read bounded.
pub struct RawPeer {
    pub stream: TcpStream,
}

impl RawPeer {
    pub fn connect(port: u16) -> RawPeer {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        RawPeer::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> RawPeer {
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        RawPeer { stream }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        self.stream.read_exact(&mut buf).unwrap();
        buf
    }

    /// Reads one frame: (flags, body).
    pub fn read_frame(&mut self) -> (u8, Vec<u8>) {
        let head = self.read_exact(2);
        let flags = head[0];
        let len = if flags & 0x02 != 0 {
            let mut size = [0u8; 8];
            size[0] = head[1];
            size[1..].copy_from_slice(&self.read_exact(7));
            usize::try_from(u64::from_be_bytes(size)).unwrap()
        } else {
            usize::from(head[1])
        };
        (flags, self.read_exact(len))
    }

    /// NULL handshake as a peer of type `socket_type`: sends greeting and READY, reads the
    /// other side's greeting and READY (checking them).
    pub fn handshake(&mut self, socket_type: &str, identity: Option<&[u8]>) {
        let mut out = null_greeting().to_vec();
        out.extend_from_slice(&ready_frame(socket_type, identity));
        self.write(&out);
        let greeting = self.read_exact(64);
        assert_eq!(greeting[0], 0xff);
        assert_eq!(greeting[9], 0x7f);
        assert_eq!(&greeting[10..12], &[3, 1]);
        assert_eq!(&greeting[12..16], b"NULL");
        let (flags, body) = self.read_frame();
        assert_eq!(flags, 0x04, "READY is a command frame");
        assert_eq!(&body[..6], b"\x05READY");
    }

    /// Waits until the other side closes the connection (reads and discards what comes).
    /// Returns how long it took, or None if still open after `limit`.
    pub fn wait_closed(&mut self, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        loop {
            let left = limit.saturating_sub(start.elapsed());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => return Some(start.elapsed()),
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                Err(_) => return Some(start.elapsed()),
            }
        }
    }
}

/// Accepts one connection on `listener` within `limit`.
pub fn accept_within(listener: &TcpListener, limit: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return Some(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}
