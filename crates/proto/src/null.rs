//! The NULL mechanism (RFC 23): each side sends READY with its metadata; no security.
//!
//! With an authenticator (ZAP), our READY waits for its answer, as in libzmq: the request
//! carries no credentials (the authenticator decides on the peer's address), and a refusal is
//! an ERROR with the status code instead of READY.

use bytes::Bytes;

use crate::command::Command;
use crate::frame::Frame;
use crate::greeting::{Greeting, MechanismName};
use crate::mechanism::{HandshakeError, Mechanism, Progress, ZapReply, ZapRequest};
use crate::metadata::Metadata;

/// NULL handshake state: waiting for the peer's READY, then done.
#[derive(Debug, Default)]
pub struct Null {
    done: bool,
    /// Ask the authenticator before sending READY.
    authenticate: bool,
    /// Our READY, held while the authenticator decides.
    held_ready: Option<Metadata>,
}

impl Null {
    /// A new NULL handshake.
    pub fn new() -> Self {
        Null::default()
    }
}

impl Mechanism for Null {
    fn name(&self) -> MechanismName {
        MechanismName::NULL
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
        if self.authenticate {
            self.held_ready = Some(metadata.clone());
            return Ok(Progress::Authenticate(ZapRequest {
                mechanism: MechanismName::NULL,
                credentials: Vec::new(),
            }));
        }
        out.push(Command::Ready(metadata.clone()).to_frame());
        Ok(Progress::Continue)
    }

    fn enable_authenticator(&mut self) {
        self.authenticate = true;
    }

    fn auth_reply(
        &mut self,
        reply: &ZapReply,
        out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError> {
        let metadata = self
            .held_ready
            .take()
            .ok_or(HandshakeError::NoAuthPending)?;
        if let Some(refusal) = reply.refusal() {
            return Err(refusal);
        }
        out.push(Command::Ready(metadata).to_frame());
        Ok(Progress::Continue)
    }

    fn on_command(
        &mut self,
        body: Bytes,
        _out: &mut Vec<Frame>,
    ) -> Result<Progress, HandshakeError> {
        match Command::parse(&body)? {
            Command::Ready(meta) if !self.done => {
                self.done = true;
                Ok(Progress::Done(meta))
            }
            Command::Error { reason } => Err(HandshakeError::PeerError {
                reason: String::from_utf8_lossy(&reason).into_owned(),
            }),
            other => Err(HandshakeError::UnexpectedCommand {
                name: command_name(&other),
                mechanism: MechanismName::NULL,
                expected: "READY or ERROR",
            }),
        }
    }

    fn encode(&mut self, frame: Frame) -> Result<Frame, HandshakeError> {
        Ok(frame)
    }

    fn decode(&mut self, frame: Frame) -> Result<Frame, HandshakeError> {
        Ok(frame)
    }
}

/// A command's name, for error messages.
pub(crate) fn command_name(cmd: &Command) -> String {
    match cmd {
        Command::Ready(_) => "READY".into(),
        Command::Error { .. } => "ERROR".into(),
        Command::Ping { .. } => "PING".into(),
        Command::Pong { .. } => "PONG".into(),
        Command::Subscribe { .. } => "SUBSCRIBE".into(),
        Command::Cancel { .. } => "CANCEL".into(),
        Command::Other(raw) => raw.name_lossy(),
    }
}
