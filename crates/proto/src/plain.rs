//! The PLAIN mechanism (RFC 24): a user name and password in the clear, checked by the server.
//!
//! ```text
//! C: HELLO     username-len username password-len password   (each 0-255 octets)
//! S: WELCOME                                                  (or ERROR with the status code)
//! C: INITIATE  metadata
//! S: READY     metadata
//! ```
//!
//! ## libzmq's ERROR
//!
//! libzmq's PLAIN mechanism spells its ERROR prefix `"\x05ERROR"` in C, where the hex escape
//! swallows the `E` (`\x05E` is one octet, 0x5E): its PLAIN ERROR goes out as `0x5E "RROR"`,
//! reason length, reason, and its PLAIN client recognises only that form (an RFC 24 ERROR
//! makes it report a protocol error instead of the refusal). So [`PlainServer`] refuses in
//! libzmq's form ([`PlainCommand::LibzmqError`]), and [`PlainClient`] reads both forms.
//!
//! PLAIN protects nothing on the wire: anyone who can read the traffic reads the password.
//! Use it on trusted networks only (or use CURVE).
//!
//! The server checks the credentials through an authenticator (ZAP): with one enabled
//! ([`Mechanism::enable_authenticator`]) HELLO answers [`Progress::Authenticate`] with the user
//! name and password, and WELCOME waits for the answer. Without one the server accepts every
//! user, as libzmq does without a ZAP handler; courier's programs always enable one.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use crate::command::{put_name, Command, CommandError, RawCommand};
use crate::frame::Frame;
use crate::greeting::{Greeting, MechanismName};
use crate::mechanism::{HandshakeError, Mechanism, Progress, ZapReply, ZapRequest};
use crate::metadata::Metadata;

/// The start of libzmq's PLAIN ERROR command: a command name of length 0x5E and then "RROR"
/// (see the module docs).
pub const LIBZMQ_ERROR_PREFIX: &[u8] = b"\x5eRROR";

/// Longest user name or password (RFC 24: a one-octet length).
pub const MAX_CREDENTIAL_LEN: usize = 255;

/// Why PLAIN credentials cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlainError {
    /// The user name is longer than 255 octets.
    #[error("the PLAIN user name is {len} octets; at most 255 fit in HELLO")]
    UsernameTooLong {
        /// Its length.
        len: usize,
    },
    /// The password is longer than 255 octets.
    #[error("the PLAIN password is {len} octets; at most 255 fit in HELLO")]
    PasswordTooLong {
        /// Its length.
        len: usize,
    },
}

/// A PLAIN command (the ones RFC 24 defines; ERROR is ZMTP's).
#[derive(Clone, PartialEq, Eq)]
pub enum PlainCommand {
    /// The client's credentials.
    Hello {
        /// The user name (0-255 octets).
        username: Bytes,
        /// The password (0-255 octets).
        password: Bytes,
    },
    /// The server accepts the credentials.
    Welcome,
    /// The client's metadata.
    Initiate(Metadata),
    /// The server's metadata.
    Ready(Metadata),
    /// A refusal.
    Error {
        /// The reason (libzmq: the ZAP status code).
        reason: Bytes,
    },
    /// A refusal in libzmq's form (`0x5E "RROR"`, reason length, reason; see the module docs).
    LibzmqError {
        /// The reason (the ZAP status code).
        reason: Bytes,
    },
}

impl fmt::Debug for PlainCommand {
    // The password stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlainCommand::Hello { username, .. } => f
                .debug_struct("Hello")
                .field("username", username)
                .finish_non_exhaustive(),
            PlainCommand::Welcome => f.write_str("Welcome"),
            PlainCommand::Initiate(m) => f.debug_tuple("Initiate").field(m).finish(),
            PlainCommand::Ready(m) => f.debug_tuple("Ready").field(m).finish(),
            PlainCommand::Error { reason } => {
                f.debug_struct("Error").field("reason", reason).finish()
            }
            PlainCommand::LibzmqError { reason } => f
                .debug_struct("LibzmqError")
                .field("reason", reason)
                .finish(),
        }
    }
}

impl PlainCommand {
    /// Interprets a command frame body. Every length is checked against the frame: a
    /// truncated or padded command is an error.
    pub fn parse(body: &Bytes) -> Result<PlainCommand, CommandError> {
        if let Some(rest) = body.strip_prefix(LIBZMQ_ERROR_PREFIX) {
            let reason = match rest.split_first() {
                Some((&len, reason)) if reason.len() == usize::from(len) => reason,
                _ => {
                    return Err(CommandError::Malformed {
                        name: "ERROR",
                        reason: "reason length does not match the frame",
                    })
                }
            };
            return Ok(PlainCommand::LibzmqError {
                reason: body.slice(body.len() - reason.len()..),
            });
        }
        let raw = RawCommand::parse(body)?;
        PlainCommand::from_raw(raw)
    }

    /// Interprets a split command.
    pub fn from_raw(raw: RawCommand) -> Result<PlainCommand, CommandError> {
        let data = &raw.data;
        match raw.name.as_ref() {
            b"HELLO" => {
                let (username, rest) = short_string(data, "HELLO", "user name runs past the end")?;
                let (password, rest) = short_string(&rest, "HELLO", "password runs past the end")?;
                if !rest.is_empty() {
                    return Err(CommandError::Malformed {
                        name: "HELLO",
                        reason: "octets after the password",
                    });
                }
                Ok(PlainCommand::Hello { username, password })
            }
            b"WELCOME" if data.is_empty() => Ok(PlainCommand::Welcome),
            b"WELCOME" => Err(CommandError::Malformed {
                name: "WELCOME",
                reason: "PLAIN WELCOME carries no data",
            }),
            b"INITIATE" => Metadata::decode(data)
                .map(PlainCommand::Initiate)
                .map_err(|_| CommandError::Malformed {
                    name: "INITIATE",
                    reason: "malformed metadata",
                }),
            b"READY" | b"ERROR" => match Command::from_raw(raw)? {
                Command::Ready(m) => Ok(PlainCommand::Ready(m)),
                Command::Error { reason } => Ok(PlainCommand::Error { reason }),
                _ => Err(CommandError::TruncatedName),
            },
            _ => Err(CommandError::Malformed {
                name: "PLAIN handshake",
                reason: "not a PLAIN command (HELLO, WELCOME, INITIATE, READY or ERROR)",
            }),
        }
    }

    /// The command frame body. HELLO credentials longer than 255 octets cannot be encoded
    /// (the constructors of [`PlainClient`] refuse them); here they are cut to 255.
    pub fn encode_body(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            PlainCommand::Hello { username, password } => {
                put_name(&mut out, b"HELLO");
                for s in [username, password] {
                    let s = s.get(..s.len().min(MAX_CREDENTIAL_LEN)).unwrap_or_default();
                    out.put_u8(u8::try_from(s.len()).unwrap_or(u8::MAX));
                    out.extend_from_slice(s);
                }
            }
            PlainCommand::Welcome => put_name(&mut out, b"WELCOME"),
            PlainCommand::Initiate(m) => {
                put_name(&mut out, b"INITIATE");
                m.encode(&mut out);
            }
            PlainCommand::Ready(m) => return Command::Ready(m.clone()).encode_body(),
            PlainCommand::Error { reason } => {
                return Command::Error {
                    reason: reason.clone(),
                }
                .encode_body()
            }
            PlainCommand::LibzmqError { reason } => {
                let reason = reason.get(..reason.len().min(255)).unwrap_or_default();
                out.extend_from_slice(LIBZMQ_ERROR_PREFIX);
                out.put_u8(u8::try_from(reason.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(reason);
            }
        }
        out.freeze()
    }

    /// As a command frame.
    pub fn to_frame(&self) -> Frame {
        Frame::command(self.encode_body())
    }

    fn name(&self) -> &'static str {
        match self {
            PlainCommand::Hello { .. } => "HELLO",
            PlainCommand::Welcome => "WELCOME",
            PlainCommand::Initiate(_) => "INITIATE",
            PlainCommand::Ready(_) => "READY",
            PlainCommand::Error { .. } | PlainCommand::LibzmqError { .. } => "ERROR",
        }
    }
}

/// A one-octet length and that many octets; the rest.
fn short_string(
    data: &Bytes,
    name: &'static str,
    reason: &'static str,
) -> Result<(Bytes, Bytes), CommandError> {
    let (&len, _) = data.split_first().ok_or(CommandError::Malformed {
        name,
        reason: "missing length",
    })?;
    let end = 1 + usize::from(len);
    if data.len() < end {
        return Err(CommandError::Malformed { name, reason });
    }
    Ok((data.slice(1..end), data.slice(end..)))
}

fn unexpected(cmd: &PlainCommand, expected: &'static str) -> HandshakeError {
    HandshakeError::UnexpectedCommand {
        name: cmd.name().into(),
        mechanism: MechanismName::PLAIN,
        expected,
    }
}

fn peer_error(reason: &Bytes) -> HandshakeError {
    HandshakeError::PeerError {
        reason: String::from_utf8_lossy(reason).into_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    ExpectWelcome,
    ExpectReady,
    Done,
}

/// The PLAIN client handshake of one connection.
#[derive(Clone)]
pub struct PlainClient {
    username: Bytes,
    password: Bytes,
    state: ClientState,
    metadata: Metadata,
}

impl fmt::Debug for PlainClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainClient")
            .field("username", &self.username)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl PlainClient {
    /// A client that logs in as `username` with `password` (each at most 255 octets).
    pub fn new(username: impl Into<Bytes>, password: impl Into<Bytes>) -> Result<Self, PlainError> {
        let (username, password) = (username.into(), password.into());
        if username.len() > MAX_CREDENTIAL_LEN {
            return Err(PlainError::UsernameTooLong {
                len: username.len(),
            });
        }
        if password.len() > MAX_CREDENTIAL_LEN {
            return Err(PlainError::PasswordTooLong {
                len: password.len(),
            });
        }
        Ok(PlainClient {
            username,
            password,
            state: ClientState::ExpectWelcome,
            metadata: Metadata::new(),
        })
    }

    /// The user name.
    pub fn username(&self) -> &Bytes {
        &self.username
    }
}

impl Mechanism for PlainClient {
    fn name(&self) -> MechanismName {
        MechanismName::PLAIN
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
        self.metadata = metadata.clone();
        out.push(
            PlainCommand::Hello {
                username: self.username.clone(),
                password: self.password.clone(),
            }
            .to_frame(),
        );
        Ok(Progress::Continue)
    }

    fn on_command(
        &mut self,
        body: Bytes,
        out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError> {
        let cmd = PlainCommand::parse(&body)?;
        match (self.state, &cmd) {
            (_, PlainCommand::Error { reason } | PlainCommand::LibzmqError { reason }) => {
                Err(peer_error(reason))
            }
            (ClientState::ExpectWelcome, PlainCommand::Welcome) => {
                out.push(PlainCommand::Initiate(std::mem::take(&mut self.metadata)).to_frame());
                self.state = ClientState::ExpectReady;
                Ok(Progress::Continue)
            }
            (ClientState::ExpectReady, PlainCommand::Ready(meta)) => {
                self.state = ClientState::Done;
                Ok(Progress::Done(meta.clone()))
            }
            (ClientState::ExpectWelcome, _) => Err(unexpected(&cmd, "WELCOME or ERROR")),
            (ClientState::ExpectReady, _) => Err(unexpected(&cmd, "READY or ERROR")),
            (ClientState::Done, _) => Err(unexpected(&cmd, "no handshake command")),
        }
    }

    fn encode(&mut self, frame: Frame) -> Result<Frame, HandshakeError> {
        Ok(frame)
    }

    fn decode(&mut self, frame: Frame) -> Result<Frame, HandshakeError> {
        Ok(frame)
    }

    /// A PLAIN client closes without ERROR (as libzmq's does): nothing it could say helps a
    /// server that refused it or sent something odd.
    fn error_reason(&self, _error: &HandshakeError) -> Option<Bytes> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    ExpectHello,
    /// HELLO handed to the authenticator.
    Authenticating,
    ExpectInitiate,
    Done,
}

/// The PLAIN server handshake of one connection.
#[derive(Debug, Clone)]
pub struct PlainServer {
    state: ServerState,
    authenticate: bool,
    metadata: Metadata,
}

impl Default for PlainServer {
    fn default() -> Self {
        PlainServer::new()
    }
}

impl PlainServer {
    /// A server handshake; call [`Mechanism::enable_authenticator`] (or let the connection do
    /// it) to have the credentials checked.
    pub fn new() -> Self {
        PlainServer {
            state: ServerState::ExpectHello,
            authenticate: false,
            metadata: Metadata::new(),
        }
    }
}

impl Mechanism for PlainServer {
    fn name(&self) -> MechanismName {
        MechanismName::PLAIN
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
        self.metadata = metadata.clone();
        Ok(Progress::Continue)
    }

    fn enable_authenticator(&mut self) {
        self.authenticate = true;
    }

    fn on_command(
        &mut self,
        body: Bytes,
        out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError> {
        let cmd = PlainCommand::parse(&body)?;
        match (self.state, cmd) {
            (_, PlainCommand::Error { reason } | PlainCommand::LibzmqError { reason }) => {
                Err(peer_error(&reason))
            }
            (ServerState::ExpectHello, PlainCommand::Hello { username, password }) => {
                if self.authenticate {
                    self.state = ServerState::Authenticating;
                    return Ok(Progress::Authenticate(ZapRequest {
                        mechanism: MechanismName::PLAIN,
                        credentials: vec![username, password],
                    }));
                }
                out.push(PlainCommand::Welcome.to_frame());
                self.state = ServerState::ExpectInitiate;
                Ok(Progress::Continue)
            }
            (ServerState::ExpectInitiate, PlainCommand::Initiate(meta)) => {
                out.push(PlainCommand::Ready(std::mem::take(&mut self.metadata)).to_frame());
                self.state = ServerState::Done;
                Ok(Progress::Done(meta))
            }
            (ServerState::ExpectHello, cmd) => Err(unexpected(&cmd, "HELLO")),
            (ServerState::ExpectInitiate, cmd) => Err(unexpected(&cmd, "INITIATE")),
            (ServerState::Authenticating | ServerState::Done, cmd) => {
                Err(unexpected(&cmd, "no handshake command"))
            }
        }
    }

    fn auth_reply(
        &mut self,
        reply: &ZapReply,
        out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError> {
        if self.state != ServerState::Authenticating {
            return Err(HandshakeError::NoAuthPending);
        }
        if let Some(refusal) = reply.refusal() {
            return Err(refusal);
        }
        out.push(PlainCommand::Welcome.to_frame());
        self.state = ServerState::ExpectInitiate;
        Ok(Progress::Continue)
    }

    fn encode(&mut self, frame: Frame) -> Result<Frame, HandshakeError> {
        Ok(frame)
    }

    fn decode(&mut self, frame: Frame) -> Result<Frame, HandshakeError> {
        Ok(frame)
    }

    /// In libzmq's form, the only one a libzmq PLAIN client recognises (see the module docs).
    fn error_frame(&self, reason: Bytes) -> Frame {
        PlainCommand::LibzmqError { reason }.to_frame()
    }

    /// A refused client hears the status code, as from libzmq; a malformed handshake is
    /// closed without a word, as libzmq does (an ERROR is final for a libzmq client).
    fn error_reason(&self, error: &HandshakeError) -> Option<Bytes> {
        match error {
            HandshakeError::AuthRefused { status, .. } => {
                Some(Bytes::from_static(status.code().as_bytes()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::ZapStatus;
    use crate::metadata::SOCKET_TYPE;

    fn meta(socket_type: &str) -> Metadata {
        let mut m = Metadata::new();
        m.push(SOCKET_TYPE, socket_type.to_owned()).unwrap();
        m
    }

    fn greeting(as_server: bool) -> Greeting {
        Greeting::new(MechanismName::PLAIN, as_server)
    }

    fn one(out: &mut Vec<Frame>) -> Bytes {
        assert_eq!(out.len(), 1, "one command expected");
        out.remove(0).body
    }

    #[test]
    fn hello_wire_layout() {
        let body = PlainCommand::Hello {
            username: Bytes::from_static(b"admin"),
            password: Bytes::from_static(b"secret"),
        }
        .encode_body();
        assert_eq!(&body[..], b"\x05HELLO\x05admin\x06secret");
        assert_eq!(&PlainCommand::Welcome.encode_body()[..], b"\x07WELCOME");
        let empty = PlainCommand::Hello {
            username: Bytes::new(),
            password: Bytes::new(),
        };
        assert_eq!(&empty.encode_body()[..], b"\x05HELLO\x00\x00");
        assert_eq!(PlainCommand::parse(&empty.encode_body()), Ok(empty));
    }

    #[test]
    fn round_trips() {
        for cmd in [
            PlainCommand::Hello {
                username: Bytes::from(vec![b'u'; 255]),
                password: Bytes::from(vec![b'p'; 255]),
            },
            PlainCommand::Welcome,
            PlainCommand::Initiate(meta("DEALER")),
            PlainCommand::Ready(meta("ROUTER")),
            PlainCommand::Error {
                reason: Bytes::from_static(b"400"),
            },
            PlainCommand::LibzmqError {
                reason: Bytes::from_static(b"400"),
            },
        ] {
            assert_eq!(PlainCommand::parse(&cmd.encode_body()), Ok(cmd));
        }
    }

    #[test]
    fn hello_as_libzmq_4_3_sends_it() {
        // Captured from a pyzmq 27 / libzmq 4.3.5 PLAIN client (user admin, password bad):
        // a short command frame, flags 0x04, 16 octets.
        let wire = b"\x04\x10\x05HELLO\x05admin\x03bad";
        let mut buf = bytes::BytesMut::from(&wire[..]);
        let frame = crate::frame::FrameDecoder::new(crate::frame::Limits::default())
            .decode(&mut buf)
            .unwrap()
            .unwrap();
        assert!(frame.command);
        let hello = PlainCommand::Hello {
            username: "admin".into(),
            password: "bad".into(),
        };
        assert_eq!(PlainCommand::parse(&frame.body), Ok(hello.clone()));
        let mut ours = bytes::BytesMut::new();
        hello.to_frame().encode(&mut ours);
        assert_eq!(&ours[..], &wire[..]);
    }

    #[test]
    fn libzmq_error_form_as_libzmq_4_3_sends_it() {
        // Captured from a pyzmq 27 / libzmq 4.3.5 PLAIN server refusing a wrong password.
        let wire = Bytes::from_static(b"\x5eRROR\x03400");
        assert_eq!(
            PlainCommand::parse(&wire),
            Ok(PlainCommand::LibzmqError {
                reason: Bytes::from_static(b"400")
            })
        );
        assert_eq!(PlainServer::new().error_frame("400".into()).body, wire);
        assert_eq!(
            PlainCommand::parse(&Bytes::from_static(b"\x5eRROR\x04400")),
            Err(CommandError::Malformed {
                name: "ERROR",
                reason: "reason length does not match the frame"
            })
        );
    }

    #[test]
    fn rejects_each_bad_length() {
        let cases: [(&[u8], &str); 6] = [
            (b"\x05HELLO", "missing length"),
            (b"\x05HELLO\x05adm", "user name runs past the end"),
            (b"\x05HELLO\x05admin", "missing length"),
            (b"\x05HELLO\x05admin\x06secre", "password runs past the end"),
            (
                b"\x05HELLO\x05admin\x06secretX",
                "octets after the password",
            ),
            (b"\x07WELCOMEx", "PLAIN WELCOME carries no data"),
        ];
        for (body, reason) in cases {
            let err = PlainCommand::parse(&Bytes::copy_from_slice(body)).unwrap_err();
            let CommandError::Malformed { reason: got, .. } = err else {
                panic!("{body:?}: {err:?}");
            };
            assert_eq!(got, reason, "{body:?}");
        }
        assert_eq!(
            PlainCommand::parse(&Bytes::from_static(b"\x08INITIATE\x01")),
            Err(CommandError::Malformed {
                name: "INITIATE",
                reason: "malformed metadata"
            })
        );
    }

    #[test]
    fn client_refuses_credentials_over_255() {
        assert_eq!(
            PlainClient::new(vec![b'u'; 256], "p").unwrap_err(),
            PlainError::UsernameTooLong { len: 256 }
        );
        assert_eq!(
            PlainClient::new("u", vec![b'p'; 300]).unwrap_err(),
            PlainError::PasswordTooLong { len: 300 }
        );
        assert!(PlainClient::new(vec![b'u'; 255], vec![b'p'; 255]).is_ok());
    }

    #[test]
    fn debug_hides_the_password() {
        let c = PlainClient::new("alice", "hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        let h = PlainCommand::Hello {
            username: "alice".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{h:?}").contains("hunter2"));
    }

    /// Runs a client against a server with an authenticator that answers `reply`.
    fn handshake(reply: ZapReply) -> (Result<Progress, HandshakeError>, Vec<Frame>) {
        let mut client = PlainClient::new("alice", "hunter2").unwrap();
        let mut server = PlainServer::new();
        server.enable_authenticator();
        let mut out = Vec::new();
        assert_eq!(
            server.start(&greeting(false), &meta("ROUTER"), &mut out),
            Ok(Progress::Continue)
        );
        assert!(out.is_empty());
        client
            .start(&greeting(true), &meta("DEALER"), &mut out)
            .unwrap();
        let hello = one(&mut out);
        let Ok(Progress::Authenticate(req)) = server.on_command(hello, &mut out) else {
            panic!("the server must ask the authenticator");
        };
        assert_eq!(req.mechanism, MechanismName::PLAIN);
        assert_eq!(
            req.credentials,
            vec![Bytes::from("alice"), "hunter2".into()]
        );
        assert!(out.is_empty(), "WELCOME waits for the answer");
        let result = server.auth_reply(&reply, &mut out);
        if result.is_err() {
            return (result, out);
        }
        let welcome = one(&mut out);
        assert_eq!(&welcome[..], b"\x07WELCOME");
        assert_eq!(client.on_command(welcome, &mut out), Ok(Progress::Continue));
        let initiate = one(&mut out);
        assert_eq!(
            server.on_command(initiate, &mut out),
            Ok(Progress::Done(meta("DEALER")))
        );
        let ready = one(&mut out);
        (client.on_command(ready, &mut out), out)
    }

    #[test]
    fn accepted_handshake_exchanges_metadata() {
        let (result, out) = handshake(ZapReply::accept("alice"));
        assert_eq!(result, Ok(Progress::Done(meta("ROUTER"))));
        assert!(out.is_empty());
    }

    #[test]
    fn refusal_is_an_error_with_the_status_code() {
        for status in [
            ZapStatus::TemporaryError,
            ZapStatus::AuthFailure,
            ZapStatus::InternalError,
        ] {
            let (result, out) = handshake(ZapReply::refuse(status, "no such user"));
            let err = result.unwrap_err();
            assert_eq!(
                err,
                HandshakeError::AuthRefused {
                    status,
                    text: "no such user".into()
                }
            );
            assert!(out.is_empty());
            let server = PlainServer::new();
            assert_eq!(
                server.error_reason(&err),
                Some(Bytes::from_static(status.code().as_bytes()))
            );
        }
    }

    #[test]
    fn client_reports_the_servers_error() {
        let mut client = PlainClient::new("alice", "x").unwrap();
        let mut out = Vec::new();
        client
            .start(&greeting(true), &meta("DEALER"), &mut out)
            .unwrap();
        let err = client
            .on_command(
                PlainCommand::Error {
                    reason: "400".into(),
                }
                .encode_body(),
                &mut out,
            )
            .unwrap_err();
        assert_eq!(
            err,
            HandshakeError::PeerError {
                reason: "400".into()
            }
        );
        assert_eq!(client.error_reason(&err), None);
    }

    #[test]
    fn server_without_authenticator_welcomes_at_once() {
        let mut server = PlainServer::new();
        let mut out = Vec::new();
        server
            .start(&greeting(false), &meta("ROUTER"), &mut out)
            .unwrap();
        let hello = PlainCommand::Hello {
            username: "u".into(),
            password: "p".into(),
        };
        assert_eq!(
            server.on_command(hello.encode_body(), &mut out),
            Ok(Progress::Continue)
        );
        assert_eq!(&one(&mut out)[..], b"\x07WELCOME");
        assert_eq!(
            server.auth_reply(&ZapReply::accept(""), &mut out),
            Err(HandshakeError::NoAuthPending)
        );
    }

    #[test]
    fn commands_out_of_order_are_refused() {
        let mut server = PlainServer::new();
        let mut out = Vec::new();
        server
            .start(&greeting(false), &meta("ROUTER"), &mut out)
            .unwrap();
        let err = server
            .on_command(
                PlainCommand::Initiate(meta("DEALER")).encode_body(),
                &mut out,
            )
            .unwrap_err();
        assert_eq!(
            err,
            HandshakeError::UnexpectedCommand {
                name: "INITIATE".into(),
                mechanism: MechanismName::PLAIN,
                expected: "HELLO"
            }
        );
        let mut client = PlainClient::new("u", "p").unwrap();
        client
            .start(&greeting(true), &meta("DEALER"), &mut out)
            .unwrap();
        let err = client
            .on_command(PlainCommand::Ready(meta("ROUTER")).encode_body(), &mut out)
            .unwrap_err();
        assert_eq!(
            err,
            HandshakeError::UnexpectedCommand {
                name: "READY".into(),
                mechanism: MechanismName::PLAIN,
                expected: "WELCOME or ERROR"
            }
        );
    }
}
