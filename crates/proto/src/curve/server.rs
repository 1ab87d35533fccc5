//! The server role: WELCOME with a cookie, then READY (or ERROR) once INITIATE authenticates
//! the client.
//!
//! Between HELLO and INITIATE the server keeps only a cookie key and the HELLO's short nonce,
//! as RFC 26 asks: its transient key pair is discarded once WELCOME is sent and comes back,
//! with the client's transient public key, in the cookie that INITIATE returns.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use zeroize::Zeroizing;

use super::client::{
    unexpected_raw, COOKIE_LEN, HELLO_LEN, HELLO_NONCE_PREFIX, HELLO_PADDING, INITIATE_MIN_LEN,
    INITIATE_NONCE_PREFIX, READY_NAME, READY_NONCE_PREFIX, VOUCH_NONCE_PREFIX,
    WELCOME_NONCE_PREFIX,
};
use super::crypto::{self, BoxKey};
use super::session::{check_nonce, NonceCounter, Session, MESSAGE_OVERHEAD};
use super::UNAUTHORIZED_REASON;
use super::{key32, u64_be, CurveError, PublicKey, Rng, SecretKey, ServerConfig};
use crate::command::RawCommand;
use crate::frame::Frame;
use crate::greeting::{Greeting, MechanismName};
use crate::mechanism::{HandshakeError, Mechanism, Progress, ZapReply, ZapRequest};
use crate::metadata::Metadata;

const WELCOME_NAME: &[u8; 8] = b"\x07WELCOME";
const COOKIE_NONCE_PREFIX: &[u8; 8] = b"COOKIE--";

enum State {
    /// Before `start`, or waiting for HELLO.
    ExpectHello,
    /// WELCOME sent. All we keep: the cookie key and the HELLO's short nonce.
    ExpectInitiate {
        cookie_key: Zeroizing<[u8; 32]>,
        hello_nonce: u64,
    },
    /// INITIATE verified; the authenticator decides about the client key.
    Authenticating(Box<Verified>),
    Active(Session),
    Failed,
}

/// What a verified INITIATE gave: enough to send READY once the client is accepted.
struct Verified {
    key: BoxKey,
    client_key: PublicKey,
    /// The client's INITIATE short nonce.
    short: u64,
    metadata: Metadata,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::ExpectHello => "expecting HELLO",
            State::ExpectInitiate { .. } => "expecting INITIATE",
            State::Authenticating(_) => "authenticating",
            State::Active(_) => "active",
            State::Failed => "failed",
        }
    }
}

/// The CURVE server handshake and message codec of one connection.
pub struct CurveServer {
    config: ServerConfig,
    rng: Rng,
    state: State,
    /// Our metadata, for READY.
    metadata: Bytes,
    /// The client's long-term public key, once authorized.
    client_key: Option<PublicKey>,
    /// An authenticator (ZAP) decides instead of the config's `Authorizer`.
    authenticate: bool,
}

impl fmt::Debug for CurveServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveServer")
            .field("keypair", &self.config.keypair)
            .field("state", &self.state.name())
            .field(
                "client_key",
                &self.client_key.as_ref().map(crate::z85::encode_key),
            )
            .finish_non_exhaustive()
    }
}

impl CurveServer {
    /// A server handshake using the operating system's random numbers.
    pub fn new(config: ServerConfig) -> Self {
        CurveServer::with_rng(config, Box::new(rand_core::OsRng))
    }

    /// A server handshake drawing its random numbers from `rng`, on HELLO: 32 octets for the
    /// transient secret key, 32 for the cookie key, 16 for the cookie's long nonce and 16 for
    /// WELCOME's. (For known-answer tests; use [`CurveServer::new`] otherwise.)
    pub fn with_rng(config: ServerConfig, rng: Rng) -> Self {
        CurveServer {
            config,
            rng,
            state: State::ExpectHello,
            metadata: Bytes::new(),
            client_key: None,
            authenticate: false,
        }
    }

    fn hello(&mut self, body: &[u8], out: &mut Vec<Frame>) -> Result<State, CurveError> {
        if body.len() != HELLO_LEN {
            return Err(CurveError::Malformed {
                command: "HELLO",
                reason: "not 200 octets",
            });
        }
        let (major, minor) = (
            body.get(6).copied().unwrap_or(0),
            body.get(7).copied().unwrap_or(0),
        );
        if (major, minor) != (1, 0) {
            return Err(CurveError::UnsupportedVersion { major, minor });
        }
        if body
            .get(8..8 + HELLO_PADDING)
            .is_some_and(|pad| pad.iter().any(|&b| b != 0))
        {
            return Err(CurveError::Malformed {
                command: "HELLO",
                reason: "the anti-amplification padding is not zero",
            });
        }
        let client_transient = key32(body.get(80..112).unwrap_or_default());
        let short = body.get(112..120).unwrap_or_default();
        let hello_key = BoxKey::shared(&client_transient, self.config.keypair.secret().as_bytes())
            .ok_or(CurveError::WeakKey {
                what: "client transient key",
            })?;
        let signature = hello_key
            .open(
                &crypto::nonce(HELLO_NONCE_PREFIX, short),
                body.get(120..).unwrap_or_default(),
            )
            .ok_or(CurveError::BadBox { command: "HELLO" })?;
        if signature.iter().any(|&b| b != 0) {
            return Err(CurveError::Malformed {
                command: "HELLO",
                reason: "the signature box does not hold 64 zero octets",
            });
        }

        // Our transient key pair, sealed with C' in a cookie that only we can open.
        let transient = SecretKey::generate_with(self.rng.as_mut())?;
        let mut cookie_key = Zeroizing::new([0u8; 32]);
        self.rng.try_fill_bytes(cookie_key.as_mut_slice())?;
        let mut cookie_nonce = [0u8; 16];
        self.rng.try_fill_bytes(&mut cookie_nonce)?;
        let mut welcome_nonce = [0u8; 16];
        self.rng.try_fill_bytes(&mut welcome_nonce)?;

        let mut cookie_plain = Zeroizing::new([0u8; 64]);
        cookie_plain
            .iter_mut()
            .zip(client_transient.iter().chain(transient.as_bytes()))
            .for_each(|(slot, b)| *slot = *b);
        let cookie_box = BoxKey::secret(&cookie_key).seal(
            &crypto::nonce(COOKIE_NONCE_PREFIX, &cookie_nonce),
            cookie_plain.as_slice(),
        );

        let mut welcome_plain = Vec::with_capacity(32 + COOKIE_LEN);
        welcome_plain.extend_from_slice(&transient.public_key());
        welcome_plain.extend_from_slice(&cookie_nonce);
        welcome_plain.extend_from_slice(&cookie_box);
        let welcome_box = hello_key.seal(
            &crypto::nonce(WELCOME_NONCE_PREFIX, &welcome_nonce),
            &welcome_plain,
        );
        let mut welcome = BytesMut::with_capacity(8 + 16 + welcome_box.len());
        welcome.extend_from_slice(WELCOME_NAME);
        welcome.extend_from_slice(&welcome_nonce);
        welcome.extend_from_slice(&welcome_box);
        out.push(Frame::command(welcome.freeze()));
        Ok(State::ExpectInitiate {
            cookie_key,
            hello_nonce: u64_be(short),
        })
    }

    fn initiate(
        &mut self,
        cookie_key: &[u8; 32],
        hello_nonce: u64,
        body: &[u8],
    ) -> Result<Verified, CurveError> {
        if body.len() < INITIATE_MIN_LEN {
            return Err(CurveError::Malformed {
                command: "INITIATE",
                reason: "shorter than 257 octets",
            });
        }
        // The cookie gives back C' and our transient secret key s'.
        let cookie = BoxKey::secret(cookie_key)
            .open(
                &crypto::nonce(COOKIE_NONCE_PREFIX, body.get(9..25).unwrap_or_default()),
                body.get(25..9 + COOKIE_LEN).unwrap_or_default(),
            )
            .ok_or(CurveError::BadBox {
                command: "INITIATE cookie",
            })?;
        let client_transient = key32(cookie.get(..32).unwrap_or_default());
        let transient = SecretKey::from_bytes(key32(cookie.get(32..64).unwrap_or_default()));
        drop(cookie);

        let short = u64_be(body.get(105..113).unwrap_or_default());
        check_nonce("INITIATE", short, hello_nonce)?;
        let key =
            BoxKey::shared(&client_transient, transient.as_bytes()).ok_or(CurveError::WeakKey {
                what: "client transient key",
            })?;
        let plain = key
            .open(
                &crypto::nonce(INITIATE_NONCE_PREFIX, &short.to_be_bytes()),
                body.get(113..).unwrap_or_default(),
            )
            .ok_or(CurveError::BadBox {
                command: "INITIATE",
            })?;
        // At least 128 octets: the box was at least 144.
        let client_key = key32(plain.get(..32).unwrap_or_default());
        let vouch_key =
            BoxKey::shared(&client_key, transient.as_bytes()).ok_or(CurveError::WeakKey {
                what: "client public key",
            })?;
        let vouch = vouch_key
            .open(
                &crypto::nonce(VOUCH_NONCE_PREFIX, plain.get(32..48).unwrap_or_default()),
                plain.get(48..128).unwrap_or_default(),
            )
            .ok_or(CurveError::BadBox {
                command: "INITIATE vouch",
            })?;
        if vouch.get(..32) != Some(&client_transient[..])
            || vouch.get(32..64) != Some(&self.config.keypair.public()[..])
        {
            return Err(CurveError::VouchMismatch);
        }
        let metadata = Metadata::decode(&Bytes::copy_from_slice(
            plain.get(128..).unwrap_or_default(),
        ))?;
        Ok(Verified {
            key,
            client_key,
            short,
            metadata,
        })
    }

    /// READY for an accepted client: the session starts.
    fn ready(
        &mut self,
        verified: Verified,
        out: &mut Vec<Frame>,
    ) -> Result<(State, Metadata), CurveError> {
        let Verified {
            key,
            client_key,
            short,
            metadata,
        } = verified;
        // READY: Box[metadata](S'->C'), our first short nonce.
        let mut nonces = NonceCounter::new();
        let ours = nonces.take()?;
        let sealed = key.seal(
            &crypto::nonce(READY_NONCE_PREFIX, &ours.to_be_bytes()),
            &self.metadata,
        );
        let mut ready = BytesMut::with_capacity(READY_NAME.len() + 8 + sealed.len());
        ready.extend_from_slice(READY_NAME);
        ready.put_u64(ours);
        ready.extend_from_slice(&sealed);
        out.push(Frame::command(ready.freeze()));
        self.client_key = Some(client_key);
        Ok((
            State::Active(Session::new(key, false, nonces, short)),
            metadata,
        ))
    }

    fn on_command_inner(
        &mut self,
        body: &Bytes,
        out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError> {
        let raw = RawCommand::parse(body)?;
        let state = std::mem::replace(&mut self.state, State::Failed);
        match state {
            State::ExpectHello if raw.is("HELLO") => {
                self.state = self.hello(body, out)?;
                Ok(Progress::Continue)
            }
            State::ExpectInitiate {
                cookie_key,
                hello_nonce,
            } if raw.is("INITIATE") => {
                let verified = self.initiate(&cookie_key, hello_nonce, body)?;
                if self.authenticate {
                    let credentials = vec![Bytes::copy_from_slice(&verified.client_key)];
                    self.state = State::Authenticating(Box::new(verified));
                    return Ok(Progress::Authenticate(ZapRequest {
                        mechanism: MechanismName::CURVE,
                        credentials,
                    }));
                }
                if !self.config.authorizer.allows(&verified.client_key) {
                    return Err(CurveError::Unauthorized {
                        client_key: verified.client_key,
                    }
                    .into());
                }
                let (state, metadata) = self.ready(verified, out)?;
                self.state = state;
                Ok(Progress::Done(metadata))
            }
            State::ExpectHello => Err(unexpected_raw(&raw, "HELLO")),
            State::ExpectInitiate { .. } => Err(unexpected_raw(&raw, "INITIATE")),
            State::Authenticating(_) | State::Active(_) | State::Failed => {
                Err(unexpected_raw(&raw, "no handshake command"))
            }
        }
    }
}

impl Mechanism for CurveServer {
    fn name(&self) -> MechanismName {
        MechanismName::CURVE
    }

    fn as_server(&self) -> bool {
        true
    }

    fn start(
        &mut self,
        _peer: &Greeting,
        metadata: &Metadata,
        _out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError> {
        let mut meta = BytesMut::new();
        metadata.encode(&mut meta);
        self.metadata = meta.freeze();
        Ok(Progress::Continue)
    }

    fn on_command(
        &mut self,
        body: Bytes,
        out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError> {
        self.on_command_inner(&body, out)
    }

    fn enable_authenticator(&mut self) {
        self.authenticate = true;
    }

    fn auth_reply(
        &mut self,
        reply: &ZapReply,
        out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError> {
        let State::Authenticating(verified) = std::mem::replace(&mut self.state, State::Failed)
        else {
            return Err(HandshakeError::NoAuthPending);
        };
        if let Some(refusal) = reply.refusal() {
            return Err(refusal);
        }
        let (state, metadata) = self.ready(*verified, out)?;
        self.state = state;
        Ok(Progress::Done(metadata))
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
        self.client_key
    }

    fn frame_overhead(&self) -> usize {
        MESSAGE_OVERHEAD
    }

    /// A refused client hears "400", as from libzmq after a ZAP 400; other failures are
    /// explained in the reason.
    fn error_reason(&self, error: &HandshakeError) -> Option<Bytes> {
        match error {
            HandshakeError::Curve(CurveError::Unauthorized { .. }) => {
                Some(Bytes::from_static(UNAUTHORIZED_REASON.as_bytes()))
            }
            HandshakeError::AuthRefused { status, .. } => {
                Some(Bytes::from_static(status.code().as_bytes()))
            }
            // Like libzmq, answer only an authorization failure; for anything else (a HELLO
            // made for another server key, a bad box) just close: an ERROR is final for a
            // libzmq client, which would then never retry.
            _ => None,
        }
    }
}
