//! The security mechanism interface: what a handshake (NULL now, CURVE later) must provide so
//! that the connection's framing never changes.
//!
//! A mechanism is a sans-IO state machine. The connection hands it command frames received
//! during the handshake and writes out the frames it asks for; when the mechanism reports the
//! peer's metadata the handshake is done, and from then on every frame goes through
//! [`Mechanism::encode`] and [`Mechanism::decode`] (identity for NULL, boxes for CURVE).

use std::fmt;

use bytes::Bytes;
use thiserror::Error;

use crate::command::CommandError;
use crate::curve::CurveError;
use crate::frame::Frame;
use crate::greeting::{Greeting, MechanismName};
use crate::metadata::Metadata;
use crate::socket_type::SocketType;

/// Why a handshake failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The peer refused us with an ERROR command.
    #[error("peer refused the handshake: {reason}")]
    PeerError {
        /// The peer's reason, as text.
        reason: String,
    },
    /// A command that has no place at this step of the handshake.
    #[error("unexpected {name} command during the {mechanism} handshake ({expected} expected)")]
    UnexpectedCommand {
        /// The command name.
        name: String,
        /// The mechanism.
        mechanism: MechanismName,
        /// What was expected.
        expected: &'static str,
    },
    /// A data frame arrived before the handshake finished.
    #[error("message frame received before the handshake finished")]
    MessageBeforeReady,
    /// The peer's metadata has no Socket-Type property.
    #[error("peer sent no Socket-Type property")]
    MissingSocketType,
    /// The peer's socket type is unknown or cannot talk to ours.
    #[error("socket type mismatch: a {ours} socket cannot talk to a {theirs} peer")]
    IncompatibleSocketType {
        /// Our socket type.
        ours: SocketType,
        /// The peer's Socket-Type property.
        theirs: String,
    },
    /// A malformed command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The CURVE handshake failed, or a CURVE connection received a bad MESSAGE.
    #[error(transparent)]
    Curve(#[from] CurveError),
    /// The mechanism refused the peer for a reason of its own (bad box, unknown key, ...).
    #[error("{mechanism} handshake failed: {reason}")]
    Mechanism {
        /// The mechanism.
        mechanism: MechanismName,
        /// What went wrong.
        reason: String,
    },
}

/// What a mechanism says after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// More commands are needed.
    Continue,
    /// The handshake is complete; the peer's metadata.
    Done(Metadata),
}

/// A security mechanism's state machine for one connection.
pub trait Mechanism: Send + fmt::Debug {
    /// The name announced in our greeting.
    fn name(&self) -> MechanismName;

    /// The as-server flag of our greeting.
    fn as_server(&self) -> bool;

    /// Called once the peer's greeting has been accepted: push the first commands to send.
    /// `metadata` is ours (Socket-Type, Identity, ...), to be sent in READY or its equivalent.
    fn start(
        &mut self,
        peer: &Greeting,
        metadata: &Metadata,
        out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError>;

    /// A command frame body received during the handshake.
    fn on_command(&mut self, body: Bytes, out: &mut Vec<Frame>)
        -> Result<Progress, HandshakeError>;

    /// After the handshake: turns a frame we send into what goes on the wire.
    fn encode(&mut self, frame: Frame) -> Result<Frame, HandshakeError>;

    /// After the handshake: turns a frame from the wire into the frame the peer sent.
    fn decode(&mut self, frame: Frame) -> Result<Frame, HandshakeError>;

    /// The peer's authenticated public key, for mechanisms that have one.
    fn peer_public_key(&self) -> Option<[u8; 32]> {
        None
    }

    /// Octets that [`Mechanism::encode`] adds to a frame once the handshake is done (CURVE's
    /// MESSAGE command: name, nonce, tag and flags, 33), so that the connection can allow for
    /// them when it checks wire frames against its limits.
    fn frame_overhead(&self) -> usize {
        0
    }

    /// The reason of the ERROR command to send when the handshake fails with `error`, or `None`
    /// to close without one (a CURVE client never sends ERROR; a CURVE server refusing a client
    /// sends "400" as libzmq does).
    fn error_reason(&self, error: &HandshakeError) -> Option<Bytes> {
        Some(Bytes::from(error.to_string()))
    }
}
