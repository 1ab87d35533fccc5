//! One ZMTP connection as a sans-IO state machine: greeting, security handshake, then framed
//! messages and heartbeats.
//!
//! The driver (courier-socket) feeds it whatever bytes arrive with [`Connection::receive`],
//! takes [`Event`]s with [`Connection::poll_event`], queues messages with
//! [`Connection::send`], and writes out what [`Connection::take_output`] returns.
//!
//! The connection also keeps the protocol timers ([`Timers`]: the handshake deadline, our
//! heartbeats and the peer's TTL), quinn-proto style: it never reads a clock, the driver passes
//! the time in. The driver sleeps until [`Connection::poll_timeout`] and then calls
//! [`Connection::handle_timeout`], which may queue a PING or fail the connection with a
//! [`Timeout`].

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

use crate::command::{Command, CommandError};
use crate::frame::{encode_header, Frame, FrameDecoder, FrameError, Limits};
use crate::greeting::{Greeting, GreetingError, GREETING_LEN};
use crate::mechanism::{HandshakeError, Mechanism, Progress, ZapReply, ZapRequest};
use crate::message::{Frames, Multipart};
use crate::metadata::{self, Metadata, MetadataError};
use crate::socket_type::SocketType;
use crate::timers::{Due, TimerState};

pub use crate::timers::{Timeout, Timers};

/// Frame bodies of at least this many bytes are not copied into the output buffer: the output
/// refers to them (see [`Connection::take_output_chunks`]), so that a large message is written
/// from its own memory, as libzmq does above its 8 KiB batch size.
pub const ZERO_COPY_MIN: usize = 8 * 1024;

/// What a connection needs to know about our side.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// Our socket type, announced in Socket-Type.
    pub socket_type: SocketType,
    /// Our routing id, announced as Identity (empty: none; DEALER/ROUTER/REQ always send the
    /// property, as libzmq does).
    pub identity: Bytes,
    /// Limits on what the peer may send.
    pub limits: Limits,
    /// Further metadata properties to announce.
    pub extra_metadata: Metadata,
    /// The protocol timers (handshake deadline, heartbeats).
    pub timers: Timers,
    /// Leave the decision about the peer to an authenticator (ZAP): a server-side mechanism
    /// asks with [`Event::AuthRequest`] and waits for [`Connection::auth_reply`]. Default false:
    /// NULL accepts everyone and CURVE asks its `Authorizer`.
    pub authenticate: bool,
}

impl ConnectionConfig {
    /// A config for `socket_type` with default limits and no routing id.
    pub fn new(socket_type: SocketType) -> Self {
        ConnectionConfig {
            socket_type,
            identity: Bytes::new(),
            limits: Limits::default(),
            extra_metadata: Metadata::new(),
            timers: Timers::default(),
            authenticate: false,
        }
    }

    fn metadata(&self) -> Result<Metadata, MetadataError> {
        let mut meta = Metadata::new();
        meta.push(metadata::SOCKET_TYPE, self.socket_type.as_str())?;
        if matches!(
            self.socket_type,
            SocketType::Dealer | SocketType::Router | SocketType::Req
        ) {
            meta.push(metadata::IDENTITY, self.identity.clone())?;
        }
        for (name, value) in self.extra_metadata.iter() {
            meta.push(name, value.clone())?;
        }
        Ok(meta)
    }
}

/// What we learned about the peer in the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's ZMTP version.
    pub version: (u8, u8),
    /// The peer's socket type.
    pub socket_type: SocketType,
    /// The peer's Identity property (empty if none).
    pub identity: Bytes,
    /// All of the peer's metadata.
    pub metadata: Metadata,
    /// The peer's authenticated public key (CURVE).
    pub public_key: Option<[u8; 32]>,
    /// The user id the authenticator gave the peer (libzmq's "User-Id" property; empty
    /// without an authenticator).
    pub user_id: Bytes,
    /// Properties the authenticator gave the peer.
    pub auth_metadata: Metadata,
}

impl PeerInfo {
    /// Whether the peer speaks ZMTP 3.1 or later (PING and PONG).
    pub fn supports_heartbeats(&self) -> bool {
        self.version >= (3, 1)
    }
}

/// Something that happened on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The handshake succeeded.
    HandshakeComplete(PeerInfo),
    /// A whole message arrived.
    Message(Multipart),
    /// The peer sent a PING; a PONG is already queued.
    Ping {
        /// The peer's time to live in deciseconds (0: none).
        ttl_deciseconds: u16,
    },
    /// The peer answered a PING.
    Pong {
        /// The context of our PING.
        context: Bytes,
    },
    /// The peer's credentials are in: the driver asks its authenticator and answers with
    /// [`Connection::auth_reply`]. Nothing more is read from the peer meanwhile; the handshake
    /// deadline still runs.
    AuthRequest(ZapRequest),
}

/// Why a connection failed. Each error closes that one connection.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionError {
    /// Bad greeting.
    #[error(transparent)]
    Greeting(#[from] GreetingError),
    /// Bad frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Bad command after the handshake.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The peer sent ERROR after the handshake.
    #[error("peer closed the connection with ERROR: {reason}")]
    PeerError {
        /// The peer's reason.
        reason: String,
    },
    /// `send` before the handshake finished.
    #[error("connection is not ready: the handshake has not finished")]
    NotReady,
    /// The connection failed earlier and can no longer be used.
    #[error("connection already failed")]
    Failed,
    /// Our own metadata could not be encoded.
    #[error("invalid local metadata: {0}")]
    LocalMetadata(#[from] MetadataError),
    /// A protocol timer expired (see [`Connection::handle_timeout`]).
    #[error(transparent)]
    Timeout(#[from] Timeout),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Greeting,
    Handshake,
    /// Waiting for the authenticator: input stays in the driver's buffer.
    Authenticating,
    Active,
    Failed,
}

/// A ZMTP connection state machine.
#[derive(Debug)]
pub struct Connection {
    config: ConnectionConfig,
    mechanism: Box<dyn Mechanism>,
    ours: Greeting,
    phase: Phase,
    peer_version: (u8, u8),
    decoder: FrameDecoder,
    partial: Frames,
    /// Bytes in `partial` (the limits are checked again after the mechanism's decode: with
    /// CURVE each wire frame is a whole box, so the frame decoder cannot see message bounds).
    partial_len: usize,
    scratch: Vec<Frame>,
    events: VecDeque<Event>,
    /// Output not yet taken: `chunks` (whole pieces, large frame bodies among them), then
    /// `output` (small frames copied together).
    chunks: Vec<Bytes>,
    chunks_len: usize,
    output: BytesMut,
    peer: Option<PeerInfo>,
    timers: TimerState,
    /// What the authenticator said about an accepted peer: user id and properties.
    auth: Option<(Bytes, Metadata)>,
}

impl Connection {
    /// A connection for our side; our greeting is queued for output at once. `now` starts the
    /// handshake clock.
    pub fn new(config: ConnectionConfig, mut mechanism: Box<dyn Mechanism>, now: Instant) -> Self {
        if config.authenticate {
            mechanism.enable_authenticator();
        }
        let ours = Greeting::new(mechanism.name(), mechanism.as_server());
        let mut output = BytesMut::with_capacity(256);
        output.extend_from_slice(&ours.encode());
        Connection {
            decoder: FrameDecoder::new(config.limits),
            timers: TimerState::new(config.timers, now),
            config,
            mechanism,
            ours,
            phase: Phase::Greeting,
            peer_version: (0, 0),
            partial: Frames::new(),
            partial_len: 0,
            scratch: Vec::new(),
            events: VecDeque::new(),
            chunks: Vec::new(),
            chunks_len: 0,
            output,
            peer: None,
            auth: None,
        }
    }

    /// Whether the handshake waits for the authenticator's answer.
    pub fn awaiting_auth(&self) -> bool {
        self.phase == Phase::Authenticating
    }

    /// The authenticator's answer to [`Event::AuthRequest`]: with 200 the handshake goes on
    /// with what `input` holds (the bytes that arrived meanwhile); any other status queues an
    /// ERROR carrying the status code (as libzmq does) and fails the connection with
    /// [`HandshakeError::AuthRefused`]. An answer with no request pending (e.g. one that came
    /// after the handshake deadline) fails with [`ConnectionError::Failed`] or
    /// [`HandshakeError::NoAuthPending`] and sends nothing.
    pub fn auth_reply(
        &mut self,
        reply: ZapReply,
        input: &mut BytesMut,
        now: Instant,
    ) -> Result<(), ConnectionError> {
        match self.phase {
            Phase::Authenticating => {}
            Phase::Failed => return Err(ConnectionError::Failed),
            _ => {
                self.phase = Phase::Failed;
                return Err(HandshakeError::NoAuthPending.into());
            }
        }
        self.phase = Phase::Handshake;
        let mut out = std::mem::take(&mut self.scratch);
        let progress = self.mechanism.auth_reply(&reply, &mut out);
        self.write_frames(&mut out);
        self.scratch = out;
        let result = match progress {
            Ok(p) => {
                if reply.is_success() {
                    self.auth = Some((reply.user_id, reply.metadata));
                }
                self.on_progress(p, now)
                    .and_then(|()| self.receive_inner(input, now))
            }
            Err(e) => {
                self.queue_error(&e);
                Err(e.into())
            }
        };
        if result.is_err() {
            self.phase = Phase::Failed;
        }
        result
    }

    /// Whether the handshake is done and messages flow.
    pub fn is_active(&self) -> bool {
        self.phase == Phase::Active
    }

    /// The peer, once the handshake is done.
    pub fn peer(&self) -> Option<&PeerInfo> {
        self.peer.as_ref()
    }

    /// Our config.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// Bytes of the frames of a multipart message received so far, not yet a whole message
    /// (what the connection holds besides the driver's undecoded input).
    pub fn partial_message_len(&self) -> usize {
        self.partial_len
    }

    /// How many bytes the decoder wants before it can progress (a read-size hint).
    pub fn wanted(&self, buffered: usize) -> usize {
        match self.phase {
            Phase::Greeting => GREETING_LEN.saturating_sub(buffered).max(1),
            _ => self.decoder.wanted(buffered),
        }
    }

    /// Consumes as much of `input` as forms whole greeting, commands and frames, queuing events
    /// and output. An error means the connection must be closed (after writing any output: it
    /// may hold an ERROR command for the peer).
    ///
    /// `now` is when these bytes arrived: every call counts as hearing from the peer (for the
    /// heartbeat timeout and the peer's TTL), even one that completes no frame, so a driver
    /// calls it only after reading something.
    pub fn receive(&mut self, input: &mut BytesMut, now: Instant) -> Result<(), ConnectionError> {
        self.timers.on_receive(now);
        let result = self.receive_inner(input, now);
        if result.is_err() {
            self.phase = Phase::Failed;
        }
        result
    }

    fn receive_inner(&mut self, input: &mut BytesMut, now: Instant) -> Result<(), ConnectionError> {
        loop {
            match self.phase {
                Phase::Failed => return Err(ConnectionError::Failed),
                // The bytes wait in `input` for the authenticator's answer.
                Phase::Authenticating => return Ok(()),
                Phase::Greeting => {
                    let Some(theirs) = Greeting::decode(input)? else {
                        return Ok(());
                    };
                    input.advance(GREETING_LEN);
                    self.ours.check_peer(&theirs)?;
                    self.peer_version = theirs.version;
                    self.phase = Phase::Handshake;
                    let meta = self.config.metadata()?;
                    let mut out = std::mem::take(&mut self.scratch);
                    let progress = self.mechanism.start(&theirs, &meta, &mut out);
                    self.write_frames(&mut out);
                    self.scratch = out;
                    self.on_progress(progress?, now)?;
                }
                Phase::Handshake => {
                    let Some(frame) = self.decoder.decode(input)? else {
                        return Ok(());
                    };
                    if !frame.command {
                        return Err(HandshakeError::MessageBeforeReady.into());
                    }
                    let mut out = std::mem::take(&mut self.scratch);
                    let progress = self.mechanism.on_command(frame.body, &mut out);
                    self.write_frames(&mut out);
                    self.scratch = out;
                    match progress {
                        Ok(p) => self.on_progress(p, now)?,
                        Err(e) => {
                            self.queue_error(&e);
                            return Err(e.into());
                        }
                    }
                }
                Phase::Active => {
                    let Some(frame) = self.decoder.decode(input)? else {
                        return Ok(());
                    };
                    let frame = self.mechanism.decode(frame)?;
                    if frame.command {
                        self.on_command(frame.body)?;
                    } else {
                        let limits = &self.config.limits;
                        self.partial_len = self.partial_len.saturating_add(frame.body.len());
                        if frame.body.len() > limits.max_frame_size {
                            return Err(FrameError::FrameTooLarge {
                                len: frame.body.len() as u64,
                                max: limits.max_frame_size,
                            }
                            .into());
                        }
                        if self.partial_len > limits.max_message_size {
                            return Err(FrameError::MessageTooLarge {
                                len: self.partial_len as u64,
                                max: limits.max_message_size,
                            }
                            .into());
                        }
                        if self.partial.len() >= limits.max_frames_per_message {
                            return Err(FrameError::TooManyFrames {
                                max: limits.max_frames_per_message,
                            }
                            .into());
                        }
                        self.partial.push(frame.body);
                        if !frame.more {
                            self.partial_len = 0;
                            let frames = std::mem::take(&mut self.partial);
                            // Never empty: we just pushed a frame.
                            if let Some(msg) = Multipart::from_inline(frames) {
                                self.events.push_back(Event::Message(msg));
                            }
                        }
                    }
                }
            }
        }
    }

    fn on_progress(&mut self, progress: Progress, now: Instant) -> Result<(), ConnectionError> {
        let metadata = match progress {
            Progress::Continue => return Ok(()),
            Progress::Authenticate(request) => {
                self.phase = Phase::Authenticating;
                self.events.push_back(Event::AuthRequest(request));
                return Ok(());
            }
            Progress::Done(metadata) => metadata,
        };
        let info = match self.check_peer_metadata(metadata) {
            Ok(info) => info,
            Err(e) => {
                self.queue_error(&e);
                return Err(e.into());
            }
        };
        self.phase = Phase::Active;
        // From now on each wire frame may carry the mechanism's overhead (CURVE: 33 octets
        // of MESSAGE around each frame); the frames it carries are checked against the
        // configured limits after `decode`.
        let overhead = self.mechanism.frame_overhead();
        if overhead > 0 {
            let mut wire = self.config.limits;
            wire.max_frame_size = wire.max_frame_size.saturating_add(overhead);
            wire.max_message_size = wire.max_message_size.saturating_add(overhead);
            self.decoder = FrameDecoder::new(wire);
        }
        self.timers.on_active(now, info.supports_heartbeats());
        self.peer = Some(info.clone());
        self.events.push_back(Event::HandshakeComplete(info));
        Ok(())
    }

    fn check_peer_metadata(&self, metadata: Metadata) -> Result<PeerInfo, HandshakeError> {
        let theirs = metadata
            .get(metadata::SOCKET_TYPE)
            .ok_or(HandshakeError::MissingSocketType)?;
        let ours = self.config.socket_type;
        let socket_type = SocketType::from_wire(theirs)
            .filter(|&t| ours.compatible_with(t))
            .ok_or_else(|| HandshakeError::IncompatibleSocketType {
                ours,
                theirs: theirs.escape_ascii().to_string(),
            })?;
        Ok(PeerInfo {
            version: self.peer_version,
            socket_type,
            identity: metadata
                .get(metadata::IDENTITY)
                .cloned()
                .unwrap_or_default(),
            metadata,
            public_key: self.mechanism.peer_public_key(),
            user_id: self
                .auth
                .as_ref()
                .map(|(u, _)| u.clone())
                .unwrap_or_default(),
            auth_metadata: self
                .auth
                .as_ref()
                .map(|(_, m)| m.clone())
                .unwrap_or_default(),
        })
    }

    fn is_publisher(&self) -> bool {
        matches!(self.config.socket_type, SocketType::Pub | SocketType::XPub)
    }

    fn on_command(&mut self, body: Bytes) -> Result<(), ConnectionError> {
        match Command::parse(&body)? {
            Command::Ping {
                ttl_deciseconds,
                context,
            } => {
                self.send_command(&Command::Pong { context })?;
                self.timers.on_peer_ping(ttl_deciseconds);
                self.events.push_back(Event::Ping { ttl_deciseconds });
            }
            Command::Pong { context } => self.events.push_back(Event::Pong { context }),
            Command::Error { reason } => {
                return Err(ConnectionError::PeerError {
                    reason: String::from_utf8_lossy(&reason).into_owned(),
                })
            }
            // A ZMTP 3.1 subscription reaches a publisher as the ZMTP 3.0 subscription message
            // (what libzmq 4.3 sends): one form for the pattern layer to read.
            Command::Subscribe { topic } if self.is_publisher() => {
                self.events.push_back(subscription_message(1, &topic));
            }
            Command::Cancel { topic } if self.is_publisher() => {
                self.events.push_back(subscription_message(0, &topic));
            }
            // READY again, subscriptions to a socket that is no publisher, and unknown commands
            // mean nothing here; libzmq ignores them too.
            Command::Ready(_)
            | Command::Subscribe { .. }
            | Command::Cancel { .. }
            | Command::Other(_) => {}
        }
        Ok(())
    }

    /// Queues an ERROR command telling the peer why we refuse it (best effort; the
    /// connection closes after it).
    fn queue_error(&mut self, error: &HandshakeError) {
        if matches!(error, HandshakeError::PeerError { .. }) {
            return;
        }
        // The mechanism says what to tell the peer, if anything (a CURVE client never sends
        // ERROR; a CURVE server refusing a client says "400", as libzmq does).
        let Some(reason) = self.mechanism.error_reason(error) else {
            return;
        };
        self.mechanism.error_frame(reason).encode(&mut self.output);
    }

    fn write_frames(&mut self, frames: &mut Vec<Frame>) {
        for frame in frames.drain(..) {
            frame.encode(&mut self.output);
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Moves all queued events to the back of `into`, in order (without moving each one when
    /// `into` is empty: the queues are swapped). A driver that hands events on after releasing
    /// its lock on the connection keeps one `into` for good.
    pub fn take_events(&mut self, into: &mut VecDeque<Event>) {
        if into.is_empty() {
            std::mem::swap(&mut self.events, into);
        } else {
            into.append(&mut self.events);
        }
    }

    /// Queues a message for output.
    pub fn send(&mut self, msg: &Multipart) -> Result<(), ConnectionError> {
        match self.phase {
            Phase::Active => {}
            Phase::Failed => return Err(ConnectionError::Failed),
            _ => return Err(ConnectionError::NotReady),
        }
        let frames = msg.frames();
        let last = frames.len().saturating_sub(1);
        for (i, body) in frames.iter().enumerate() {
            let frame = self.mechanism.encode(Frame::data(body.clone(), i < last))?;
            self.push_frame(frame);
        }
        Ok(())
    }

    /// Appends a frame to the output: small ones copied into the buffer, large bodies by
    /// reference.
    fn push_frame(&mut self, frame: Frame) {
        if frame.body.len() < ZERO_COPY_MIN {
            frame.encode(&mut self.output);
            return;
        }
        encode_header(
            &mut self.output,
            frame.more,
            frame.command,
            frame.body.len(),
        );
        let head = self.output.split().freeze();
        self.chunks_len += head.len() + frame.body.len();
        self.chunks.push(head);
        self.chunks.push(frame.body);
    }

    /// Tells the peer why we are about to close an established connection (an ERROR command,
    /// through the mechanism, e.g. a routing id already in use); the connection fails.
    pub fn send_error(&mut self, reason: &str) -> Result<(), ConnectionError> {
        let reason = Bytes::copy_from_slice(reason.as_bytes());
        let result = self.send_command(&Command::Error { reason });
        self.phase = Phase::Failed;
        result
    }

    /// Queues a PING (ZMTP 3.1 peers only; ignored for 3.0 peers). `ttl_deciseconds` asks
    /// the peer to close the connection if it hears nothing from us for that long.
    pub fn ping(&mut self, ttl_deciseconds: u16, context: Bytes) -> Result<(), ConnectionError> {
        if !self
            .peer
            .as_ref()
            .is_some_and(PeerInfo::supports_heartbeats)
        {
            return Ok(());
        }
        self.send_command(&Command::Ping {
            ttl_deciseconds,
            context,
        })
    }

    /// The earliest instant at which [`Connection::handle_timeout`] has something to do (None:
    /// no timer runs, e.g. after the connection failed).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Failed => None,
            Phase::Active => self.timers.deadline(true),
            Phase::Greeting | Phase::Handshake | Phase::Authenticating => {
                self.timers.deadline(false)
            }
        }
    }

    /// Fires the timers due at `now`: fails the connection with a [`Timeout`] when the handshake
    /// deadline, the heartbeat timeout after a PING or the peer's TTL has passed, and queues a
    /// PING when one is due. Calling it early or again is harmless: it acts only on what is
    /// due. On a connection that has already failed it does nothing.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ConnectionError> {
        let active = match self.phase {
            Phase::Failed => return Ok(()),
            Phase::Active => true,
            Phase::Greeting | Phase::Handshake | Phase::Authenticating => false,
        };
        let result = match self.timers.fire(now, active) {
            Ok(Due::Nothing) => Ok(()),
            Ok(Due::Ping) => {
                let ttl = self.timers.ping_ttl();
                self.ping(ttl, Bytes::new())
            }
            Err(timeout) => Err(timeout.into()),
        };
        if result.is_err() {
            self.phase = Phase::Failed;
        }
        result
    }

    fn send_command(&mut self, cmd: &Command) -> Result<(), ConnectionError> {
        // A failed connection sends nothing more (with CURVE that would also spend nonces).
        match self.phase {
            Phase::Active => {}
            Phase::Failed => return Err(ConnectionError::Failed),
            Phase::Greeting | Phase::Handshake | Phase::Authenticating => {
                return Err(ConnectionError::NotReady)
            }
        }
        let frame = self.mechanism.encode(cmd.to_frame())?;
        frame.encode(&mut self.output);
        Ok(())
    }

    /// Whether output is waiting to be written.
    pub fn has_output(&self) -> bool {
        !self.output.is_empty() || !self.chunks.is_empty()
    }

    /// Bytes queued for output.
    pub fn output_len(&self) -> usize {
        self.chunks_len + self.output.len()
    }

    /// Takes all queued output as one contiguous buffer (large frame bodies are copied into it;
    /// a driver that can write vectored I/O should use [`Connection::take_output_chunks`]).
    pub fn take_output(&mut self) -> BytesMut {
        if self.chunks.is_empty() {
            return self.output.split();
        }
        let mut all = BytesMut::with_capacity(self.output_len());
        for chunk in self.chunks.drain(..) {
            all.extend_from_slice(&chunk);
        }
        all.extend_from_slice(&self.output.split());
        self.chunks_len = 0;
        all
    }

    /// Takes all queued output as pieces to write in order (e.g. with one vectored write),
    /// appending them to `out`: frame headers and small frames copied together, large frame
    /// bodies ([`ZERO_COPY_MIN`] and up) as the `Bytes` they were sent as, not copied.
    pub fn take_output_chunks(&mut self, out: &mut Vec<Bytes>) {
        out.append(&mut self.chunks);
        self.chunks_len = 0;
        if !self.output.is_empty() {
            out.push(self.output.split().freeze());
        }
    }
}

/// A ZMTP 3.0 subscription message: `1` (subscribe) or `0` (cancel), then the topic.
fn subscription_message(flag: u8, topic: &[u8]) -> Event {
    let mut msg = BytesMut::with_capacity(1 + topic.len());
    msg.extend_from_slice(&[flag]);
    msg.extend_from_slice(topic);
    Event::Message(Multipart::single(msg.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::null::Null;
    use std::time::Duration;

    fn conn(t: SocketType, id: &'static [u8]) -> Connection {
        let mut cfg = ConnectionConfig::new(t);
        cfg.identity = Bytes::from_static(id);
        Connection::new(cfg, Box::new(Null::new()), Instant::now())
    }

    /// Moves bytes between two connections until neither has output; returns the events.
    fn pump(a: &mut Connection, b: &mut Connection) -> (Vec<Event>, Vec<Event>) {
        pump_at(a, b, Instant::now())
    }

    /// [`pump`], with all bytes arriving at `now`. Like a driver, it calls `receive` only when
    /// bytes arrived (each call counts as hearing from the peer).
    fn pump_at(a: &mut Connection, b: &mut Connection, now: Instant) -> (Vec<Event>, Vec<Event>) {
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        let (mut ina, mut inb) = (BytesMut::new(), BytesMut::new());
        while a.has_output() || b.has_output() {
            inb.extend_from_slice(&a.take_output());
            ina.extend_from_slice(&b.take_output());
            if !ina.is_empty() {
                a.receive(&mut ina, now).unwrap();
            }
            if !inb.is_empty() {
                b.receive(&mut inb, now).unwrap();
            }
        }
        while let Some(e) = a.poll_event() {
            ea.push(e);
        }
        while let Some(e) = b.poll_event() {
            eb.push(e);
        }
        (ea, eb)
    }

    #[test]
    fn null_handshake_dealer_router() {
        let mut d = conn(SocketType::Dealer, b"client-1");
        let mut r = conn(SocketType::Router, b"");
        let (ed, er) = pump(&mut d, &mut r);
        let Event::HandshakeComplete(peer) = &er[0] else {
            panic!("{er:?}")
        };
        assert_eq!(peer.socket_type, SocketType::Dealer);
        assert_eq!(&peer.identity[..], b"client-1");
        assert_eq!(peer.version, (3, 1));
        assert!(
            matches!(&ed[0], Event::HandshakeComplete(p) if p.socket_type == SocketType::Router)
        );
        assert!(d.is_active() && r.is_active());
    }

    /// The wire form of a command frame.
    fn command_bytes(cmd: &Command) -> BytesMut {
        let mut out = BytesMut::new();
        cmd.encode(&mut out);
        out
    }

    #[test]
    fn a_publisher_reads_subscribe_and_cancel_commands_as_subscription_messages() {
        let mut p = conn(SocketType::Pub, b"");
        let mut s = conn(SocketType::Sub, b"");
        pump(&mut p, &mut s);
        let now = Instant::now();
        let mut wire = command_bytes(&Command::Subscribe {
            topic: Bytes::from_static(b"weather"),
        });
        wire.extend_from_slice(&command_bytes(&Command::Cancel {
            topic: Bytes::new(),
        }));
        p.receive(&mut wire, now).unwrap();
        assert_eq!(
            p.poll_event(),
            Some(Event::Message(Multipart::single(&b"\x01weather"[..])))
        );
        assert_eq!(
            p.poll_event(),
            Some(Event::Message(Multipart::single(&b"\x00"[..])))
        );
        assert_eq!(p.poll_event(), None);
    }

    #[test]
    fn other_sockets_ignore_subscribe_commands() {
        let mut d = conn(SocketType::Dealer, b"");
        let mut r = conn(SocketType::Router, b"");
        pump(&mut d, &mut r);
        let mut wire = command_bytes(&Command::Subscribe {
            topic: Bytes::from_static(b"x"),
        });
        r.receive(&mut wire, Instant::now()).unwrap();
        assert_eq!(r.poll_event(), None);
        assert!(r.is_active());
    }

    #[test]
    fn messages_and_heartbeats() {
        let mut d = conn(SocketType::Dealer, b"");
        let mut r = conn(SocketType::Router, b"");
        pump(&mut d, &mut r);
        let msg = Multipart::new(vec![
            Bytes::from_static(b"HELLO"),
            Bytes::new(),
            Bytes::from(vec![b'x'; 300]),
        ])
        .unwrap();
        d.send(&msg).unwrap();
        d.ping(30, Bytes::from_static(b"c")).unwrap();
        let (ed, er) = pump(&mut d, &mut r);
        assert_eq!(
            er,
            vec![
                Event::Message(msg),
                Event::Ping {
                    ttl_deciseconds: 30
                }
            ]
        );
        assert_eq!(
            ed,
            vec![Event::Pong {
                context: Bytes::from_static(b"c")
            }]
        );
    }

    #[test]
    fn large_bodies_are_output_by_reference_in_order() {
        let mut d = conn(SocketType::Dealer, b"");
        let mut r = conn(SocketType::Router, b"");
        pump(&mut d, &mut r);
        let big = Bytes::from(vec![7u8; ZERO_COPY_MIN]);
        let msgs = [
            Multipart::new(vec![Bytes::from_static(b"A"), big.clone()]).unwrap(),
            Multipart::single(Bytes::from_static(b"small")),
            Multipart::new(vec![big.clone(), Bytes::from_static(b"tail")]).unwrap(),
        ];
        for m in &msgs {
            d.send(m).unwrap();
        }
        d.ping(0, Bytes::from_static(b"p")).unwrap();
        let total = d.output_len();
        let mut chunks = Vec::new();
        d.take_output_chunks(&mut chunks);
        assert!(!d.has_output());
        assert_eq!(d.output_len(), 0);
        assert_eq!(chunks.iter().map(Bytes::len).sum::<usize>(), total);
        // Both large bodies are the sender's own memory, not copies.
        let shared: Vec<_> = chunks
            .iter()
            .filter(|c| c.as_ptr() == big.as_ptr())
            .collect();
        assert_eq!(shared.len(), 2);
        // In order on the wire: the peer gets the three messages, then the PING.
        let mut wire = wire_of(&chunks);
        r.receive(&mut wire, Instant::now()).unwrap();
        let mut events = Vec::new();
        while let Some(e) = r.poll_event() {
            events.push(e);
        }
        let mut expected: Vec<Event> = msgs.iter().cloned().map(Event::Message).collect();
        expected.push(Event::Ping { ttl_deciseconds: 0 });
        assert_eq!(events, expected);
        // The contiguous form carries the same bytes.
        for m in &msgs {
            d.send(m).unwrap();
        }
        d.ping(0, Bytes::from_static(b"p")).unwrap();
        assert_eq!(d.take_output(), wire_of(&chunks));
    }

    #[test]
    fn take_events_keeps_order_and_appends() {
        let mut d = conn(SocketType::Dealer, b"");
        let mut r = conn(SocketType::Router, b"");
        pump(&mut d, &mut r);
        let one = Multipart::single(Bytes::from_static(b"one"));
        let two = Multipart::single(Bytes::from_static(b"two"));
        let mut events = VecDeque::new();
        for m in [&one, &two] {
            d.send(m).unwrap();
            r.receive(&mut d.take_output(), Instant::now()).unwrap();
            r.take_events(&mut events);
        }
        r.take_events(&mut events);
        assert!(r.poll_event().is_none());
        assert_eq!(
            Vec::from(events),
            vec![Event::Message(one), Event::Message(two)]
        );
    }

    fn wire_of(chunks: &[Bytes]) -> BytesMut {
        let mut all = BytesMut::new();
        for c in chunks {
            all.extend_from_slice(c);
        }
        all
    }

    #[test]
    fn nothing_is_sent_on_a_failed_connection() {
        let mut d = conn(SocketType::Dealer, b"");
        let mut r = conn(SocketType::Router, b"");
        pump(&mut d, &mut r);
        assert!(r
            .receive(&mut BytesMut::from(&b"\x08\x00"[..]), Instant::now())
            .is_err());
        r.take_output();
        assert_eq!(r.ping(10, Bytes::new()), Err(ConnectionError::Failed));
        assert_eq!(r.send_error("bye"), Err(ConnectionError::Failed));
        assert!(!r.has_output());
    }

    #[test]
    fn send_before_handshake_is_refused() {
        let mut d = conn(SocketType::Dealer, b"");
        assert_eq!(
            d.send(&Multipart::single(&b"x"[..])),
            Err(ConnectionError::NotReady)
        );
    }

    #[test]
    fn incompatible_socket_types_are_refused_with_error_command() {
        let mut d = conn(SocketType::Dealer, b"");
        let mut p = conn(SocketType::Pub, b"");
        let mut to_d = BytesMut::new();
        let mut to_p = BytesMut::new();
        to_p.extend_from_slice(&d.take_output());
        to_d.extend_from_slice(&p.take_output());
        d.receive(&mut to_d, Instant::now()).unwrap();
        p.receive(&mut to_p, Instant::now()).unwrap();
        to_d.extend_from_slice(&p.take_output());
        let err = d.receive(&mut to_d, Instant::now()).unwrap_err();
        assert_eq!(
            err,
            ConnectionError::Handshake(HandshakeError::IncompatibleSocketType {
                ours: SocketType::Dealer,
                theirs: "PUB".into()
            })
        );
        // The ERROR command for the peer is queued.
        let out = d.take_output();
        assert!(out.windows(5).any(|w| w == b"ERROR"), "{out:?}");
        assert_eq!(
            d.receive(&mut BytesMut::new(), Instant::now()),
            Err(ConnectionError::Failed)
        );
    }

    #[test]
    fn mechanism_mismatch_is_refused() {
        let mut d = conn(SocketType::Dealer, b"");
        let mut input = BytesMut::from(
            &Greeting::new(crate::greeting::MechanismName::CURVE, true).encode()[..],
        );
        assert!(matches!(
            d.receive(&mut input, Instant::now()),
            Err(ConnectionError::Greeting(
                GreetingError::MechanismMismatch { .. }
            ))
        ));
    }

    #[test]
    fn data_before_ready_is_refused() {
        let mut d = conn(SocketType::Dealer, b"");
        let mut input = BytesMut::from(
            &Greeting::new(crate::greeting::MechanismName::NULL, false).encode()[..],
        );
        input.extend_from_slice(b"\x00\x01x");
        assert_eq!(
            d.receive(&mut input, Instant::now()),
            Err(ConnectionError::Handshake(
                HandshakeError::MessageBeforeReady
            ))
        );
    }

    #[test]
    fn peer_error_in_handshake() {
        let mut d = conn(SocketType::Dealer, b"");
        let mut input = BytesMut::from(
            &Greeting::new(crate::greeting::MechanismName::NULL, false).encode()[..],
        );
        Command::Error {
            reason: Bytes::from_static(b"go away"),
        }
        .encode(&mut input);
        assert_eq!(
            d.receive(&mut input, Instant::now()),
            Err(ConnectionError::Handshake(HandshakeError::PeerError {
                reason: "go away".into()
            }))
        );
    }

    #[test]
    fn missing_socket_type() {
        let mut d = conn(SocketType::Dealer, b"");
        let mut input = BytesMut::from(
            &Greeting::new(crate::greeting::MechanismName::NULL, false).encode()[..],
        );
        Command::Ready(Metadata::new()).encode(&mut input);
        assert_eq!(
            d.receive(&mut input, Instant::now()),
            Err(ConnectionError::Handshake(
                HandshakeError::MissingSocketType
            ))
        );
    }

    // Protocol timers. Instants are made up (`t0 + ...`): nothing sleeps.

    const MS: Duration = Duration::from_millis(1);
    const SEC: Duration = Duration::from_secs(1);

    fn timed(t: SocketType, timers: Timers, now: Instant) -> Connection {
        let mut cfg = ConnectionConfig::new(t);
        cfg.timers = timers;
        Connection::new(cfg, Box::new(Null::new()), now)
    }

    /// A DEALER (with `timers`) and a ROUTER (no timers) whose handshake completes at `at`.
    fn pair_active_at(timers: Timers, t0: Instant, at: Instant) -> (Connection, Connection) {
        let mut d = timed(SocketType::Dealer, timers, t0);
        let mut r = timed(SocketType::Router, Timers::default(), t0);
        pump_at(&mut d, &mut r, at);
        assert!(d.is_active() && r.is_active());
        (d, r)
    }

    fn heartbeats(ivl: Duration, timeout: Option<Duration>, ttl: Option<Duration>) -> Timers {
        Timers {
            heartbeat_ivl: Some(ivl),
            heartbeat_timeout: timeout,
            heartbeat_ttl: ttl,
            ..Timers::default()
        }
    }

    /// The wire form of a PING over NULL: a short command frame.
    fn ping_wire(ttl_deciseconds: u16) -> Vec<u8> {
        let mut wire = vec![0x04, 0x07, 0x04];
        wire.extend_from_slice(b"PING");
        wire.extend_from_slice(&ttl_deciseconds.to_be_bytes());
        wire
    }

    fn events(c: &mut Connection) -> Vec<Event> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }

    #[test]
    fn handshake_deadline_fires_at_the_limit_and_not_before() {
        let t0 = Instant::now();
        let limit = 5 * SEC;
        let timers = Timers {
            handshake_timeout: Some(limit),
            ..Timers::default()
        };
        let mut d = timed(SocketType::Dealer, timers, t0);
        assert_eq!(d.poll_timeout(), Some(t0 + limit));
        // The greeting arrives (the handshake is under way, not done): the deadline stands.
        let mut r = timed(SocketType::Router, Timers::default(), t0);
        d.receive(
            &mut BytesMut::from(&r.take_output()[..GREETING_LEN]),
            t0 + SEC,
        )
        .unwrap();
        // Our greeting and READY: what is left to write when the deadline passes.
        d.take_output();
        assert!(!d.is_active());
        assert_eq!(d.poll_timeout(), Some(t0 + limit));
        assert_eq!(d.handle_timeout(t0 + limit - MS), Ok(()));
        assert!(!d.has_output());
        let err = d.handle_timeout(t0 + limit).unwrap_err();
        assert_eq!(err, ConnectionError::Timeout(Timeout::Handshake { limit }));
        assert_eq!(err.to_string(), "handshake not completed within 5s");
        // Failed: no timers left, nothing more to send.
        assert_eq!(d.poll_timeout(), None);
        assert!(!d.has_output());
        assert_eq!(
            d.receive(&mut BytesMut::new(), t0 + limit),
            Err(ConnectionError::Failed)
        );
    }

    #[test]
    fn completed_handshake_clears_the_handshake_deadline() {
        let t0 = Instant::now();
        let timers = Timers {
            handshake_timeout: Some(5 * SEC),
            ..Timers::default()
        };
        let (mut d, _r) = pair_active_at(timers, t0, t0 + SEC);
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(d.handle_timeout(t0 + 60 * SEC), Ok(()));
        assert!(d.is_active());
        assert!(!d.has_output());
    }

    #[test]
    fn ping_is_queued_at_the_interval_with_our_ttl() {
        let t0 = Instant::now();
        let t1 = t0 + 100 * MS;
        // 2.59 s announces 25 deciseconds (rounded down).
        let (mut d, mut r) = pair_active_at(heartbeats(SEC, None, Some(2590 * MS)), t0, t1);
        // The interval counts from the end of the handshake.
        assert_eq!(d.poll_timeout(), Some(t1 + SEC));
        assert_eq!(d.handle_timeout(t1 + SEC - MS), Ok(()));
        assert!(!d.has_output());
        assert_eq!(d.handle_timeout(t1 + SEC), Ok(()));
        let wire = d.take_output();
        assert_eq!(&wire[..], &ping_wire(25)[..]);
        r.receive(&mut BytesMut::from(&wire[..]), t1 + SEC).unwrap();
        assert_eq!(
            events(&mut r),
            vec![Event::Ping {
                ttl_deciseconds: 25
            }]
        );
        // The next PING is due an interval later (and so is this one's timeout).
        assert_eq!(d.poll_timeout(), Some(t1 + 2 * SEC));
    }

    #[test]
    fn unanswered_ping_times_out_at_sent_plus_timeout() {
        let t0 = Instant::now();
        let (mut d, _r) = pair_active_at(heartbeats(10 * SEC, Some(3 * SEC), None), t0, t0);
        d.handle_timeout(t0 + 10 * SEC).unwrap();
        assert_eq!(&d.take_output()[..], &ping_wire(0)[..]);
        assert_eq!(d.poll_timeout(), Some(t0 + 13 * SEC));
        assert_eq!(d.handle_timeout(t0 + 13 * SEC - MS), Ok(()));
        let err = d.handle_timeout(t0 + 13 * SEC).unwrap_err();
        assert_eq!(
            err,
            ConnectionError::Timeout(Timeout::Heartbeat {
                silent_for: 3 * SEC
            })
        );
        assert_eq!(
            err.to_string(),
            "heartbeat timeout: nothing heard for 3s after a PING"
        );
        assert_eq!(d.poll_timeout(), None);
    }

    #[test]
    fn peer_ttl_closes_at_last_receive_plus_ttl_and_data_pushes_it_back() {
        let t0 = Instant::now();
        let (mut d, mut r) = pair_active_at(Timers::default(), t0, t0);
        // The ROUTER hears a PING asking for 3 s at t0 + 1 s.
        d.ping(30, Bytes::new()).unwrap();
        r.receive(&mut d.take_output(), t0 + SEC).unwrap();
        assert_eq!(r.poll_timeout(), Some(t0 + 4 * SEC));
        assert_eq!(r.handle_timeout(t0 + 4 * SEC - MS), Ok(()));
        // A message at t0 + 2 s pushes the deadline to t0 + 5 s.
        d.send(&Multipart::single(&b"x"[..])).unwrap();
        r.receive(&mut d.take_output(), t0 + 2 * SEC).unwrap();
        assert_eq!(r.poll_timeout(), Some(t0 + 5 * SEC));
        assert_eq!(r.handle_timeout(t0 + 4 * SEC), Ok(()));
        assert!(r.is_active());
        let err = r.handle_timeout(t0 + 5 * SEC).unwrap_err();
        assert_eq!(
            err,
            ConnectionError::Timeout(Timeout::PeerTtl { ttl: 3 * SEC })
        );
        assert_eq!(err.to_string(), "the peer's heartbeat TTL of 3s expired");
    }

    #[test]
    fn heartbeat_timeout_defaults_to_the_interval() {
        let t0 = Instant::now();
        let (mut d, _r) = pair_active_at(heartbeats(SEC, None, None), t0, t0);
        d.handle_timeout(t0 + SEC).unwrap();
        assert_eq!(&d.take_output()[..], &ping_wire(0)[..]);
        assert_eq!(d.handle_timeout(t0 + 2 * SEC - MS), Ok(()));
        assert_eq!(
            d.handle_timeout(t0 + 2 * SEC),
            Err(ConnectionError::Timeout(Timeout::Heartbeat {
                silent_for: SEC
            }))
        );
    }

    #[test]
    fn answered_ping_does_not_time_out() {
        let t0 = Instant::now();
        let (mut d, mut r) = pair_active_at(heartbeats(SEC, None, None), t0, t0);
        d.handle_timeout(t0 + SEC).unwrap();
        r.receive(&mut d.take_output(), t0 + SEC).unwrap();
        let mut pong = r.take_output();
        assert!(pong.len() > 1);
        // One byte of the PONG (no whole frame yet) is already word from the peer.
        let mut first = pong.split_to(1);
        d.receive(&mut first, t0 + 1500 * MS).unwrap();
        assert!(events(&mut d).is_empty());
        // So its timeout is gone: next is the PING after this one.
        assert_eq!(d.poll_timeout(), Some(t0 + 2 * SEC));
        assert_eq!(d.handle_timeout(t0 + 2 * SEC), Ok(()));
        assert_eq!(&d.take_output()[..], &ping_wire(0)[..]);
        first.unsplit(pong);
        d.receive(&mut first, t0 + 2500 * MS).unwrap();
        assert_eq!(
            events(&mut d),
            vec![Event::Pong {
                context: Bytes::new()
            }]
        );
        // That answered the second PING too.
        assert_eq!(d.handle_timeout(t0 + 3 * SEC), Ok(()));
        assert!(d.is_active());
    }

    #[test]
    fn zmtp_3_0_peer_gets_no_heartbeat_timers() {
        let t0 = Instant::now();
        let timers = Timers {
            handshake_timeout: Some(SEC),
            ..heartbeats(SEC, None, Some(SEC))
        };
        let mut d = timed(SocketType::Dealer, timers, t0);
        let mut input = BytesMut::from(
            &Greeting {
                version: (3, 0),
                ..Greeting::new(crate::greeting::MechanismName::NULL, false)
            }
            .encode()[..],
        );
        let mut meta = Metadata::new();
        meta.push(metadata::SOCKET_TYPE, "ROUTER").unwrap();
        Command::Ready(meta).encode(&mut input);
        d.receive(&mut input, t0).unwrap();
        assert_eq!(d.peer().map(|p| p.version), Some((3, 0)));
        d.take_output();
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(d.handle_timeout(t0 + 3600 * SEC), Ok(()));
        assert!(!d.has_output());
        assert!(d.is_active());
    }

    #[test]
    fn no_ping_after_failure() {
        let t0 = Instant::now();
        let (mut d, _r) = pair_active_at(heartbeats(SEC, None, None), t0, t0);
        // A frame header with an unknown flag bit: the connection fails.
        assert!(d
            .receive(&mut BytesMut::from(&b"\x08\x00"[..]), t0 + 500 * MS)
            .is_err());
        d.take_output();
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(d.handle_timeout(t0 + SEC), Ok(()));
        assert_eq!(d.handle_timeout(t0 + 10 * SEC), Ok(()));
        assert!(!d.has_output());

        // Likewise after a timer failed it.
        let (mut d, _r) = pair_active_at(heartbeats(SEC, None, None), t0, t0);
        d.handle_timeout(t0 + SEC).unwrap();
        d.take_output();
        assert!(d.handle_timeout(t0 + 2 * SEC).is_err());
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(d.handle_timeout(t0 + 3 * SEC), Ok(()));
        assert!(!d.has_output());
    }

    #[test]
    fn handle_timeout_early_or_twice_is_a_no_op() {
        let t0 = Instant::now();
        let timers = Timers {
            handshake_timeout: Some(SEC),
            ..heartbeats(SEC, Some(5 * SEC), Some(3 * SEC))
        };
        let mut d = timed(SocketType::Dealer, timers, t0);
        let greeting = d.take_output();
        for at in [t0, t0 + SEC - MS] {
            assert_eq!(d.handle_timeout(at), Ok(()));
            assert_eq!(d.poll_timeout(), Some(t0 + SEC));
            assert!(!d.has_output());
        }
        let mut r = timed(SocketType::Router, Timers::default(), t0);
        r.receive(&mut BytesMut::from(&greeting[..]), t0).unwrap();
        d.receive(&mut r.take_output(), t0 + 500 * MS).unwrap();
        assert!(d.is_active());
        d.take_output();
        let t1 = t0 + 500 * MS;
        for at in [t1, t1 + SEC - MS] {
            assert_eq!(d.handle_timeout(at), Ok(()));
            assert_eq!(d.poll_timeout(), Some(t1 + SEC));
            assert!(!d.has_output());
        }
        // Due: one PING, however often it is called at that moment.
        d.handle_timeout(t1 + SEC).unwrap();
        d.handle_timeout(t1 + SEC).unwrap();
        assert_eq!(&d.take_output()[..], &ping_wire(30)[..]);
        assert_eq!(d.poll_timeout(), Some(t1 + 2 * SEC));
    }

    #[test]
    fn poll_timeout_is_the_earliest_live_deadline() {
        let t0 = Instant::now();
        let (mut d, mut r) = pair_active_at(heartbeats(2 * SEC, Some(SEC), None), t0, t0);
        // The peer asks for 10 s: the next PING (t0 + 2 s) comes first.
        r.ping(100, Bytes::new()).unwrap();
        d.receive(&mut r.take_output(), t0).unwrap();
        assert_eq!(d.poll_timeout(), Some(t0 + 2 * SEC));
        // PING sent at t0 + 2 s: its timeout (t0 + 3 s) comes before the next PING (t0 + 4 s).
        d.handle_timeout(t0 + 2 * SEC).unwrap();
        assert_eq!(d.poll_timeout(), Some(t0 + 3 * SEC));
        // The peer answers, asking for 1 s now: its TTL (t0 + 3.5 s) comes first.
        r.ping(10, Bytes::new()).unwrap();
        d.receive(&mut r.take_output(), t0 + 2500 * MS).unwrap();
        assert_eq!(d.poll_timeout(), Some(t0 + 3500 * MS));
        // A PING with TTL 0 withdraws it: the next PING again.
        r.ping(0, Bytes::new()).unwrap();
        d.receive(&mut r.take_output(), t0 + 3 * SEC).unwrap();
        assert_eq!(d.poll_timeout(), Some(t0 + 4 * SEC));
        assert_eq!(d.handle_timeout(t0 + 3600 * MS), Ok(()));
        assert!(d.is_active());
    }

    #[test]
    fn deadlines_beyond_the_clock_never_fire() {
        let t0 = Instant::now();
        let timers = Timers {
            handshake_timeout: Some(Duration::MAX),
            ..Timers::default()
        };
        let mut d = timed(SocketType::Dealer, timers, t0);
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(d.handle_timeout(t0 + 3600 * SEC), Ok(()));
        let (mut d, _r) = pair_active_at(heartbeats(Duration::MAX, None, None), t0, t0);
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(d.handle_timeout(t0 + 3600 * SEC), Ok(()));
        assert!(!d.has_output());
    }

    #[test]
    fn zero_heartbeat_interval_means_no_heartbeats() {
        let t0 = Instant::now();
        let (mut d, _r) = pair_active_at(heartbeats(Duration::ZERO, None, None), t0, t0);
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(d.handle_timeout(t0 + SEC), Ok(()));
        assert!(!d.has_output());
    }

    // ZAP: the authenticator's decision point.

    use crate::curve::{Authorizer, ClientConfig, CurveConfig, Keypair, ServerConfig};
    use crate::greeting::MechanismName;
    use crate::mechanism::{ZapReply, ZapRequest, ZapStatus};
    use crate::plain::{PlainClient, PlainServer};

    fn with_mechanism(t: SocketType, m: Box<dyn Mechanism>, authenticate: bool) -> Connection {
        let mut cfg = ConnectionConfig::new(t);
        cfg.identity = Bytes::from_static(b"c1");
        cfg.authenticate = authenticate;
        cfg.timers.handshake_timeout = Some(Duration::from_secs(5));
        Connection::new(cfg, m, Instant::now())
    }

    /// Pumps a client and a server; the server's authenticator is `decide`. Returns the
    /// requests it saw and each side's result and events.
    #[allow(clippy::type_complexity)]
    fn pump_zap(
        c: &mut Connection,
        s: &mut Connection,
        decide: impl Fn(&ZapRequest) -> ZapReply,
    ) -> (
        Vec<ZapRequest>,
        Result<(), ConnectionError>,
        Result<(), ConnectionError>,
        Vec<Event>,
    ) {
        let now = Instant::now();
        let (mut inc, mut ins) = (BytesMut::new(), BytesMut::new());
        let (mut rc, mut rs) = (Ok(()), Ok(()));
        let mut requests = Vec::new();
        let mut server_events = Vec::new();
        for _ in 0..20 {
            ins.extend_from_slice(&c.take_output());
            inc.extend_from_slice(&s.take_output());
            if rc.is_ok() && !inc.is_empty() {
                rc = c.receive(&mut inc, now);
            }
            if rs.is_ok() && !ins.is_empty() {
                rs = s.receive(&mut ins, now);
            }
            while let Some(e) = s.poll_event() {
                if let Event::AuthRequest(req) = &e {
                    assert!(s.awaiting_auth());
                    // Nothing is processed while the authenticator decides.
                    assert_eq!(s.receive(&mut ins, now), Ok(()));
                    let reply = decide(req);
                    requests.push(req.clone());
                    rs = s.auth_reply(reply, &mut ins, now);
                }
                server_events.push(e);
            }
            if !c.has_output() && !s.has_output() {
                break;
            }
        }
        (requests, rc, rs, server_events)
    }

    fn complete(events: &[Event]) -> Option<&PeerInfo> {
        events.iter().find_map(|e| match e {
            Event::HandshakeComplete(p) => Some(p),
            _ => None,
        })
    }

    #[test]
    fn zap_null_accepted_gives_the_user_id() {
        let mut c = with_mechanism(SocketType::Dealer, Box::new(Null::new()), false);
        let mut s = with_mechanism(SocketType::Router, Box::new(Null::new()), true);
        let mut props = Metadata::new();
        props.push("Hello", "World").unwrap();
        let (reqs, rc, rs, events) = pump_zap(&mut c, &mut s, |_| ZapReply {
            metadata: props.clone(),
            ..ZapReply::accept("anna")
        });
        assert_eq!((rc, rs), (Ok(()), Ok(())));
        assert_eq!(
            reqs,
            vec![ZapRequest {
                mechanism: MechanismName::NULL,
                credentials: vec![]
            }]
        );
        let peer = complete(&events).unwrap();
        assert_eq!(&peer.user_id[..], b"anna");
        assert_eq!(peer.auth_metadata, props);
        assert!(c.is_active() && s.is_active());
    }

    #[test]
    fn zap_refusal_sends_the_status_code_and_fails_with_it() {
        for status in [
            ZapStatus::TemporaryError,
            ZapStatus::AuthFailure,
            ZapStatus::InternalError,
        ] {
            let mut c = with_mechanism(SocketType::Dealer, Box::new(Null::new()), false);
            let mut s = with_mechanism(SocketType::Router, Box::new(Null::new()), true);
            let (_, rc, rs, events) =
                pump_zap(&mut c, &mut s, |_| ZapReply::refuse(status, "go away"));
            assert_eq!(
                rs,
                Err(ConnectionError::Handshake(HandshakeError::AuthRefused {
                    status,
                    text: "go away".into()
                }))
            );
            assert_eq!(
                rc,
                Err(ConnectionError::Handshake(HandshakeError::PeerError {
                    reason: status.code().into()
                }))
            );
            assert!(complete(&events).is_none());
        }
    }

    #[test]
    fn zap_without_reply_times_out_at_the_handshake_deadline() {
        let t0 = Instant::now();
        let mut c = with_mechanism(SocketType::Dealer, Box::new(Null::new()), false);
        let mut s = with_mechanism(SocketType::Router, Box::new(Null::new()), true);
        let mut ins = BytesMut::from(&c.take_output()[..]);
        s.receive(&mut ins, t0).unwrap();
        assert!(matches!(s.poll_event(), Some(Event::AuthRequest(_))));
        assert!(s.awaiting_auth());
        // The deadline stands while the authenticator decides (5 s from the connection's start).
        let deadline = s.poll_timeout().unwrap();
        assert!(deadline >= t0 + Duration::from_secs(5));
        assert_eq!(s.handle_timeout(deadline - MS), Ok(()));
        assert!(s.awaiting_auth());
        let err = s.handle_timeout(deadline).unwrap_err();
        assert!(matches!(
            err,
            ConnectionError::Timeout(Timeout::Handshake { .. })
        ));
        // A late answer changes nothing.
        assert_eq!(
            s.auth_reply(ZapReply::accept(""), &mut ins, t0),
            Err(ConnectionError::Failed)
        );
    }

    #[test]
    fn auth_reply_without_request_fails() {
        let mut s = with_mechanism(SocketType::Router, Box::new(Null::new()), false);
        assert_eq!(
            s.auth_reply(ZapReply::accept(""), &mut BytesMut::new(), Instant::now()),
            Err(ConnectionError::Handshake(HandshakeError::NoAuthPending))
        );
    }

    #[test]
    fn zap_plain_gets_credentials_and_refuses_a_wrong_password() {
        let decide = |req: &ZapRequest| {
            if req.credentials == [Bytes::from("admin"), Bytes::from("secret")] {
                ZapReply::accept("admin")
            } else {
                ZapReply::refuse(ZapStatus::AuthFailure, "bad password")
            }
        };
        let mut c = with_mechanism(
            SocketType::Dealer,
            Box::new(PlainClient::new("admin", "secret").unwrap()),
            false,
        );
        let mut s = with_mechanism(SocketType::Router, Box::new(PlainServer::new()), true);
        let (reqs, rc, rs, events) = pump_zap(&mut c, &mut s, decide);
        assert_eq!((rc, rs), (Ok(()), Ok(())));
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].mechanism, MechanismName::PLAIN);
        assert_eq!(&complete(&events).unwrap().user_id[..], b"admin");
        assert_eq!(&complete(&events).unwrap().identity[..], b"c1");

        let mut c = with_mechanism(
            SocketType::Dealer,
            Box::new(PlainClient::new("admin", "guess").unwrap()),
            false,
        );
        let mut s = with_mechanism(SocketType::Router, Box::new(PlainServer::new()), true);
        let (_, rc, rs, _) = pump_zap(&mut c, &mut s, decide);
        assert!(matches!(
            rs,
            Err(ConnectionError::Handshake(HandshakeError::AuthRefused {
                status: ZapStatus::AuthFailure,
                ..
            }))
        ));
        assert_eq!(
            rc,
            Err(ConnectionError::Handshake(HandshakeError::PeerError {
                reason: "400".into()
            }))
        );
    }

    #[test]
    fn zap_curve_gets_the_client_key_and_overrides_the_authorizer() {
        let server_keys = Keypair::generate();
        let client_keys = Keypair::generate();
        let client_pub = *client_keys.public();
        // The authorizer refuses everyone: with an authenticator it is not asked.
        let server = CurveConfig::Server(ServerConfig::new(
            server_keys.secret().clone(),
            Authorizer::new(|_| false),
        ));
        let client = CurveConfig::Client(ClientConfig::new(client_keys, *server_keys.public()));
        let mut c = with_mechanism(SocketType::Dealer, client.mechanism(), false);
        let mut s = with_mechanism(SocketType::Router, server.mechanism(), true);
        let (reqs, rc, rs, events) = pump_zap(&mut c, &mut s, |_| ZapReply::accept("k"));
        assert_eq!((rc, rs), (Ok(()), Ok(())));
        assert_eq!(
            reqs,
            vec![ZapRequest {
                mechanism: MechanismName::CURVE,
                credentials: vec![Bytes::copy_from_slice(&client_pub)]
            }]
        );
        let peer = complete(&events).unwrap();
        assert_eq!(peer.public_key, Some(client_pub));
        assert_eq!(&peer.user_id[..], b"k");
        // Messages flow through the CURVE session.
        c.send(&Multipart::single(&b"hi"[..])).unwrap();
        s.receive(&mut c.take_output(), Instant::now()).unwrap();
        assert!(matches!(s.poll_event(), Some(Event::Message(m)) if m.frames()[0] == "hi"));

        let mut c = with_mechanism(SocketType::Dealer, client.mechanism(), false);
        let mut s = with_mechanism(SocketType::Router, server.mechanism(), true);
        let (_, _, rs, _) = pump_zap(&mut c, &mut s, |_| {
            ZapReply::refuse(ZapStatus::AuthFailure, "unknown key")
        });
        assert!(matches!(
            rs,
            Err(ConnectionError::Handshake(
                HandshakeError::AuthRefused { .. }
            ))
        ));
    }

    #[test]
    fn plain_without_authenticator_completes() {
        let mut c = with_mechanism(
            SocketType::Dealer,
            Box::new(PlainClient::new("u", "p").unwrap()),
            false,
        );
        let mut s = with_mechanism(SocketType::Router, Box::new(PlainServer::new()), false);
        let (reqs, rc, rs, events) = pump_zap(&mut c, &mut s, |_| unreachable!());
        assert!(reqs.is_empty());
        assert_eq!((rc, rs), (Ok(()), Ok(())));
        assert!(complete(&events).unwrap().user_id.is_empty());
    }
}
