//! The client role: HELLO, then INITIATE once WELCOME proves the server holds its secret key.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use zeroize::Zeroizing;

use super::crypto::{self, BoxKey};
use super::session::{NonceCounter, Session, MESSAGE_OVERHEAD};
use super::{key32, u64_be, ClientConfig, CurveError, PublicKey, Rng, SecretKey};
use crate::command::{Command, RawCommand};
use crate::curve::UNAUTHORIZED_REASON;
use crate::frame::Frame;
use crate::greeting::{Greeting, MechanismName};
use crate::mechanism::{HandshakeError, Mechanism, Progress};
use crate::metadata::Metadata;
use crate::null::command_name;

pub(crate) const HELLO_NAME: &[u8; 6] = b"\x05HELLO";
pub(crate) const HELLO_LEN: usize = 200;
pub(crate) const HELLO_PADDING: usize = 72;
pub(crate) const HELLO_NONCE_PREFIX: &[u8; 16] = b"CurveZMQHELLO---";
pub(crate) const WELCOME_LEN: usize = 168;
pub(crate) const WELCOME_NONCE_PREFIX: &[u8; 8] = b"WELCOME-";
pub(crate) const COOKIE_LEN: usize = 96;
pub(crate) const INITIATE_NAME: &[u8; 9] = b"\x08INITIATE";
pub(crate) const INITIATE_MIN_LEN: usize = 257;
pub(crate) const INITIATE_NONCE_PREFIX: &[u8; 16] = b"CurveZMQINITIATE";
pub(crate) const VOUCH_NONCE_PREFIX: &[u8; 8] = b"VOUCH---";
pub(crate) const READY_NAME: &[u8; 6] = b"\x05READY";
pub(crate) const READY_MIN_LEN: usize = 30;
pub(crate) const READY_NONCE_PREFIX: &[u8; 16] = b"CurveZMQREADY---";

enum State {
    /// Before `start`.
    Start,
    /// HELLO sent; `hello_key` is Box(S, c'), which also opens WELCOME.
    ExpectWelcome {
        hello_key: BoxKey,
    },
    /// INITIATE sent; `key` is Box(S', c').
    ExpectReady {
        key: BoxKey,
    },
    Active(Session),
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Start => "start",
            State::ExpectWelcome { .. } => "expecting WELCOME",
            State::ExpectReady { .. } => "expecting READY",
            State::Active(_) => "active",
            State::Failed => "failed",
        }
    }
}

/// The CURVE client handshake and message codec of one connection.
pub struct CurveClient {
    config: ClientConfig,
    rng: Rng,
    state: State,
    /// Our transient secret key c' (made in `start`).
    transient: Option<SecretKey>,
    nonces: NonceCounter,
    /// Our metadata, for INITIATE.
    metadata: Bytes,
}

impl fmt::Debug for CurveClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveClient")
            .field("keypair", &self.config.keypair)
            .field(
                "server_key",
                &crate::z85::encode_key(&self.config.server_key),
            )
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

impl CurveClient {
    /// A client handshake using the operating system's random numbers.
    pub fn new(config: ClientConfig) -> Self {
        CurveClient::with_rng(config, Box::new(rand_core::OsRng))
    }

    /// A client handshake drawing its random numbers from `rng`: 32 octets for the transient
    /// secret key when the handshake starts, then 16 for the vouch's long nonce on WELCOME.
    /// (For known-answer tests; use [`CurveClient::new`] otherwise.)
    pub fn with_rng(config: ClientConfig, rng: Rng) -> Self {
        CurveClient {
            config,
            rng,
            state: State::Start,
            transient: None,
            nonces: NonceCounter::new(),
            metadata: Bytes::new(),
        }
    }

    fn hello(&mut self, metadata: &Metadata, out: &mut Vec<Frame>) -> Result<(), CurveError> {
        let transient = SecretKey::generate_with(self.rng.as_mut())?;
        let hello_key = BoxKey::shared(&self.config.server_key, transient.as_bytes()).ok_or(
            CurveError::WeakKey {
                what: "server public key",
            },
        )?;
        let short = self.nonces.take()?;
        let signature = hello_key.seal(
            &crypto::nonce(HELLO_NONCE_PREFIX, &short.to_be_bytes()),
            &[0u8; 64],
        );
        let mut hello = BytesMut::with_capacity(HELLO_LEN);
        hello.extend_from_slice(HELLO_NAME);
        hello.extend_from_slice(&[1, 0]);
        hello.put_bytes(0, HELLO_PADDING);
        hello.extend_from_slice(&transient.public_key());
        hello.put_u64(short);
        hello.extend_from_slice(&signature);
        out.push(Frame::command(hello.freeze()));

        let mut meta = BytesMut::new();
        metadata.encode(&mut meta);
        self.metadata = meta.freeze();
        self.transient = Some(transient);
        self.state = State::ExpectWelcome { hello_key };
        Ok(())
    }

    fn welcome(
        &mut self,
        hello_key: &BoxKey,
        body: &[u8],
        out: &mut Vec<Frame>,
    ) -> Result<State, CurveError> {
        if body.len() != WELCOME_LEN {
            return Err(CurveError::Malformed {
                command: "WELCOME",
                reason: "not 168 octets",
            });
        }
        let long_nonce = body.get(8..24).unwrap_or_default();
        let plain = hello_key
            .open(
                &crypto::nonce(WELCOME_NONCE_PREFIX, long_nonce),
                body.get(24..).unwrap_or_default(),
            )
            .ok_or(CurveError::ServerKeyMismatch {
                server_key: self.config.server_key,
            })?;
        // 128 octets: the box was 144.
        let server_transient = key32(plain.get(..32).unwrap_or_default());
        let cookie = plain.get(32..32 + COOKIE_LEN).unwrap_or_default();
        let transient = self.transient.as_ref().ok_or(CurveError::Malformed {
            command: "WELCOME",
            reason: "received before HELLO was sent",
        })?;
        let weak = CurveError::WeakKey {
            what: "server transient key",
        };
        let key = BoxKey::shared(&server_transient, transient.as_bytes()).ok_or(weak.clone())?;
        let vouch_key = BoxKey::shared(&server_transient, self.config.keypair.secret().as_bytes())
            .ok_or(weak)?;

        // vouch = long nonce, Box[C' + S](C->S')
        let mut vouch_nonce = [0u8; 16];
        self.rng.try_fill_bytes(&mut vouch_nonce)?;
        let mut vouched = [0u8; 64];
        vouched
            .iter_mut()
            .zip(transient.public_key().iter().chain(&self.config.server_key))
            .for_each(|(slot, b)| *slot = *b);
        let vouch = vouch_key.seal(&crypto::nonce(VOUCH_NONCE_PREFIX, &vouch_nonce), &vouched);

        // Box[C + vouch + metadata](C'->S')
        let mut plain = Zeroizing::new(Vec::with_capacity(128 + self.metadata.len()));
        plain.extend_from_slice(self.config.keypair.public());
        plain.extend_from_slice(&vouch_nonce);
        plain.extend_from_slice(&vouch);
        plain.extend_from_slice(&self.metadata);
        let short = self.nonces.take()?;
        let sealed = key.seal(
            &crypto::nonce(INITIATE_NONCE_PREFIX, &short.to_be_bytes()),
            &plain,
        );

        let mut initiate =
            BytesMut::with_capacity(INITIATE_NAME.len() + COOKIE_LEN + 8 + sealed.len());
        initiate.extend_from_slice(INITIATE_NAME);
        initiate.extend_from_slice(cookie);
        initiate.put_u64(short);
        initiate.extend_from_slice(&sealed);
        out.push(Frame::command(initiate.freeze()));
        // The transient secret key lives on only in the precomputed key.
        self.transient = None;
        Ok(State::ExpectReady { key })
    }

    fn ready(&self, key: BoxKey, body: &[u8]) -> Result<(State, Metadata), CurveError> {
        if body.len() < READY_MIN_LEN {
            return Err(CurveError::Malformed {
                command: "READY",
                reason: "shorter than 30 octets",
            });
        }
        let short = body.get(6..14).unwrap_or_default();
        let plain = key
            .open(
                &crypto::nonce(READY_NONCE_PREFIX, short),
                body.get(14..).unwrap_or_default(),
            )
            .ok_or(CurveError::BadBox { command: "READY" })?;
        let metadata = Metadata::decode(&Bytes::copy_from_slice(&plain))?;
        let session = Session::new(key, true, self.nonces, u64_be(short));
        Ok((State::Active(session), metadata))
    }

    fn on_command_inner(
        &mut self,
        body: &Bytes,
        out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError> {
        let raw = RawCommand::parse(body)?;
        let state = std::mem::replace(&mut self.state, State::Failed);
        match state {
            State::ExpectWelcome { hello_key } if raw.is("WELCOME") => {
                self.state = self.welcome(&hello_key, body, out)?;
                Ok(Progress::Continue)
            }
            State::ExpectReady { key } if raw.is("READY") => {
                let (state, metadata) = self.ready(key, body)?;
                self.state = state;
                Ok(Progress::Done(metadata))
            }
            State::ExpectWelcome { .. } | State::ExpectReady { .. } if raw.is("ERROR") => {
                match Command::from_raw(raw)? {
                    Command::Error { reason } => {
                        let mut reason = String::from_utf8_lossy(&reason).into_owned();
                        if reason == UNAUTHORIZED_REASON {
                            // libzmq's (and our) answer after a ZAP 400.
                            reason.push_str(
                                " (the server does not accept our client public key: it must be \
                                 in the server's authorized clients)",
                            );
                        }
                        Err(HandshakeError::PeerError { reason })
                    }
                    other => Err(unexpected(&other, "ERROR")),
                }
            }
            State::ExpectWelcome { .. } => Err(unexpected_raw(&raw, "WELCOME or ERROR")),
            State::ExpectReady { .. } => Err(unexpected_raw(&raw, "READY or ERROR")),
            State::Start | State::Active(_) | State::Failed => {
                Err(unexpected_raw(&raw, "no handshake command"))
            }
        }
    }
}

pub(crate) fn unexpected(cmd: &Command, expected: &'static str) -> HandshakeError {
    HandshakeError::UnexpectedCommand {
        name: command_name(cmd),
        mechanism: MechanismName::CURVE,
        expected,
    }
}

pub(crate) fn unexpected_raw(raw: &RawCommand, expected: &'static str) -> HandshakeError {
    HandshakeError::UnexpectedCommand {
        name: raw.name_lossy(),
        mechanism: MechanismName::CURVE,
        expected,
    }
}

impl Mechanism for CurveClient {
    fn name(&self) -> MechanismName {
        MechanismName::CURVE
    }

    fn as_server(&self) -> bool {
        false
    }

    fn start(
        &mut self,
        _peer: &Greeting,
        metadata: &Metadata,
        out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError> {
        if !matches!(self.state, State::Start) {
            return Err(CurveError::Malformed {
                command: "HELLO",
                reason: "the handshake has already started",
            }
            .into());
        }
        self.state = State::Failed;
        self.hello(metadata, out)?;
        Ok(Progress::Continue)
    }

    fn on_command(
        &mut self,
        body: Bytes,
        out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError> {
        self.on_command_inner(&body, out)
    }

    fn encode(&mut self, frame: Frame) -> Result<Frame, HandshakeError> {
        match &mut self.state {
            State::Active(session) => Ok(session.encode(frame)?),
            _ => Err(HandshakeError::MessageBeforeReady),
        }
    }

    fn decode(&mut self, frame: Frame) -> Result<Frame, HandshakeError> {
        match &mut self.state {
            State::Active(session) => Ok(session.decode(frame)?),
            _ => Err(HandshakeError::MessageBeforeReady),
        }
    }

    fn peer_public_key(&self) -> Option<PublicKey> {
        matches!(self.state, State::Active(_)).then_some(self.config.server_key)
    }

    fn frame_overhead(&self) -> usize {
        MESSAGE_OVERHEAD
    }

    /// RFC 26: a client never sends ERROR; it just closes the connection.
    fn error_reason(&self, _error: &HandshakeError) -> Option<Bytes> {
        None
    }
}
