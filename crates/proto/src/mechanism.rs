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
    /// The authenticator (ZAP handler) refused the peer with a status other than 200.
    #[error("authentication refused ({status}): {text}")]
    AuthRefused {
        /// The status: 300 (temporary), 400 (refused) or 500 (handler error).
        status: ZapStatus,
        /// The handler's status text.
        text: String,
    },
    /// The driver answered an authentication request that was never made.
    #[error("authentication reply without a pending request")]
    NoAuthPending,
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
    /// The peer's credentials are in: the authenticator (ZAP handler) decides. The handshake
    /// waits until [`Mechanism::auth_reply`] is called with its answer.
    Authenticate(ZapRequest),
}

/// A ZAP status code (RFC 27).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZapStatus {
    /// 200: the peer is accepted.
    Success,
    /// 300: a temporary failure (the peer may try again later).
    TemporaryError,
    /// 400: the peer is refused.
    AuthFailure,
    /// 500: the handler failed.
    InternalError,
}

impl ZapStatus {
    /// The code as sent on the wire (and, as libzmq does, as the ERROR reason on refusal).
    pub fn code(self) -> &'static str {
        match self {
            ZapStatus::Success => "200",
            ZapStatus::TemporaryError => "300",
            ZapStatus::AuthFailure => "400",
            ZapStatus::InternalError => "500",
        }
    }

    /// The status for an RFC 27 code, if it is one.
    pub fn from_code(code: &[u8]) -> Option<ZapStatus> {
        match code {
            b"200" => Some(ZapStatus::Success),
            b"300" => Some(ZapStatus::TemporaryError),
            b"400" => Some(ZapStatus::AuthFailure),
            b"500" => Some(ZapStatus::InternalError),
            _ => None,
        }
    }
}

impl fmt::Display for ZapStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What a server-side mechanism asks the authenticator about: the mechanism and the client's
/// credentials in RFC 27's form (NULL: none; PLAIN: user name and password; CURVE: the
/// client's 32-octet long-term public key). The driver adds what it knows (domain, peer
/// address, routing id).
#[derive(Clone, PartialEq, Eq)]
pub struct ZapRequest {
    /// The mechanism.
    pub mechanism: MechanismName,
    /// The credentials frames.
    pub credentials: Vec<Bytes>,
}

impl fmt::Debug for ZapRequest {
    // A PLAIN password must not reach a log through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZapRequest")
            .field("mechanism", &self.mechanism)
            .field("credentials", &self.credentials.len())
            .finish()
    }
}

/// The authenticator's answer (RFC 27's reply, without the envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapReply {
    /// 200 accepts the peer; anything else refuses it with an ERROR carrying the code.
    pub status_code: ZapStatus,
    /// Why, for logs.
    pub status_text: String,
    /// The user id the peer is known by (libzmq's "User-Id" message property).
    pub user_id: Bytes,
    /// Properties of the peer, from the handler.
    pub metadata: Metadata,
}

impl ZapReply {
    /// A 200 reply for `user_id`.
    pub fn accept(user_id: impl Into<Bytes>) -> Self {
        ZapReply {
            status_code: ZapStatus::Success,
            status_text: "OK".into(),
            user_id: user_id.into(),
            metadata: Metadata::new(),
        }
    }

    /// A refusal with `status` (300, 400 or 500) and a text saying why.
    pub fn refuse(status: ZapStatus, text: impl Into<String>) -> Self {
        ZapReply {
            status_code: status,
            status_text: text.into(),
            user_id: Bytes::new(),
            metadata: Metadata::new(),
        }
    }

    /// Whether the peer is accepted.
    pub fn is_success(&self) -> bool {
        self.status_code == ZapStatus::Success
    }

    /// The handshake error of a refusal (None for 200).
    pub fn refusal(&self) -> Option<HandshakeError> {
        (!self.is_success()).then(|| HandshakeError::AuthRefused {
            status: self.status_code,
            text: self.status_text.clone(),
        })
    }
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

    /// Asks the mechanism to leave its decision about the peer to an authenticator: a
    /// server-side mechanism then answers [`Progress::Authenticate`] once it has the peer's
    /// credentials. Mechanisms that authenticate nobody (clients) ignore it.
    fn enable_authenticator(&mut self) {}

    /// The authenticator's answer to [`Progress::Authenticate`]: with 200 the handshake goes
    /// on (commands to send are pushed to `out`); any other status fails it with
    /// [`HandshakeError::AuthRefused`].
    fn auth_reply(
        &mut self,
        reply: &ZapReply,
        out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError> {
        let _ = (reply, out);
        Err(HandshakeError::NoAuthPending)
    }

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

    /// The ERROR command carrying `reason` (PLAIN's differs: libzmq's form, see
    /// [`crate::plain`]).
    fn error_frame(&self, reason: Bytes) -> Frame {
        crate::command::Command::Error { reason }.to_frame()
    }

    /// The reason of the ERROR command to send when the handshake fails with `error`, or `None`
    /// to close without one (a CURVE client never sends ERROR; a CURVE server refusing a client
    /// sends "400" as libzmq does).
    ///
    /// By default an authenticator's refusal is told by its status code alone, as libzmq does
    /// (a libzmq peer reads "300", "400" or "500"), and anything else by its text.
    fn error_reason(&self, error: &HandshakeError) -> Option<Bytes> {
        match error {
            HandshakeError::AuthRefused { status, .. } => {
                Some(Bytes::from_static(status.code().as_bytes()))
            }
            _ => Some(Bytes::from(error.to_string())),
        }
    }
}
