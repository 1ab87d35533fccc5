//! After the handshake: every frame travels in a MESSAGE command.
//!
//! ```text
//! message = %d7 "MESSAGE" short-nonce(8, big-endian) box
//! box     = Box [flags payload](sender' -> recipient')   ; 17+ octets
//! flags   = bit 0 MORE, bit 1 COMMAND (libzmq 4.3), bits 2-7 zero
//! ```
//!
//! Like libzmq 4.3.5, we send each MESSAGE as a data frame with no flags (flags octet 0x00, or
//! 0x02 when long): the MORE and COMMAND flags of the frame it carries are inside the box.
//! On receipt the outer frame's flags are ignored, so a MESSAGE in a command frame (as RFC 23
//! would have all commands) is accepted too.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::crypto::{BoxKey, PrefixedKey, TAG_LEN};
use super::CurveError;
use crate::frame::{Frame, Limits};

/// `%d7 "MESSAGE"`.
pub(crate) const MESSAGE_NAME: &[u8; 8] = b"\x07MESSAGE";
/// Octets of a MESSAGE around the frame it carries: name, short nonce, tag and flags.
pub(crate) const MESSAGE_OVERHEAD: usize = MESSAGE_NAME.len() + 8 + TAG_LEN + 1;

/// Nonce prefix of MESSAGE commands from the client.
pub(crate) const CLIENT_MESSAGE_PREFIX: &[u8; 16] = b"CurveZMQMESSAGEC";
/// Nonce prefix of MESSAGE commands from the server.
pub(crate) const SERVER_MESSAGE_PREFIX: &[u8; 16] = b"CurveZMQMESSAGES";

const FLAG_MORE: u8 = 0x01;
const FLAG_COMMAND: u8 = 0x02;

/// The short nonces one side sends: 1, 2, 3, ... (libzmq starts at 1 too).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NonceCounter {
    next: u64,
}

impl NonceCounter {
    pub(crate) fn new() -> Self {
        NonceCounter { next: 1 }
    }

    /// The next short nonce. RFC 26: no more than 2^64 - 1 commands in one connection.
    pub(crate) fn take(&mut self) -> Result<u64, CurveError> {
        let n = self.next;
        self.next = n.checked_add(1).ok_or(CurveError::NonceExhausted)?;
        Ok(n)
    }
}

/// Checks that a peer's short nonce is above the last one it used (RFC 26: a reused short
/// nonce closes the connection; libzmq refuses `nonce <= previous` the same way).
pub(crate) fn check_nonce(
    command: &'static str,
    nonce: u64,
    previous: u64,
) -> Result<(), CurveError> {
    if nonce > previous {
        Ok(())
    } else {
        Err(CurveError::NonceReplay {
            command,
            nonce,
            previous,
        })
    }
}

/// The MESSAGE codec of an established connection.
pub(crate) struct Session {
    /// The connection's key for the nonces we send (our MESSAGE prefix, HSalsa20 done).
    send_key: PrefixedKey,
    /// The connection's key for the nonces the peer sends.
    recv_key: PrefixedKey,
    nonces: NonceCounter,
    /// The peer's last short nonce.
    peer_nonce: u64,
    /// The peer's last data frame had MORE: a command now would be inside a message.
    in_message: bool,
}

impl Session {
    pub(crate) fn new(key: BoxKey, client: bool, nonces: NonceCounter, peer_nonce: u64) -> Self {
        let (send_prefix, recv_prefix) = if client {
            (CLIENT_MESSAGE_PREFIX, SERVER_MESSAGE_PREFIX)
        } else {
            (SERVER_MESSAGE_PREFIX, CLIENT_MESSAGE_PREFIX)
        };
        Session {
            send_key: key.with_prefix(send_prefix),
            recv_key: key.with_prefix(recv_prefix),
            nonces,
            peer_nonce,
            in_message: false,
        }
    }

    /// Boxes a frame into a MESSAGE.
    pub(crate) fn encode(&mut self, frame: Frame) -> Result<Frame, CurveError> {
        let short = self.nonces.take()?;
        let mut flags = 0;
        if frame.more {
            flags |= FLAG_MORE;
        }
        if frame.command {
            flags |= FLAG_COMMAND;
        }
        let mut out = BytesMut::with_capacity(MESSAGE_OVERHEAD + frame.body.len());
        out.extend_from_slice(MESSAGE_NAME);
        out.put_u64(short);
        out.put_bytes(0, TAG_LEN);
        out.put_u8(flags);
        out.extend_from_slice(&frame.body);
        let (_, rest) = out.split_at_mut(MESSAGE_NAME.len() + 8);
        let (tag, body) = rest.split_at_mut(TAG_LEN);
        self.send_key.seal_in_place(&short.to_be_bytes(), tag, body);
        Ok(Frame::data(out.freeze(), false))
    }

    /// Opens a MESSAGE into the frame it carries.
    pub(crate) fn decode(&mut self, frame: Frame) -> Result<Frame, CurveError> {
        let body = frame.body;
        if body.get(..MESSAGE_NAME.len()) != Some(&MESSAGE_NAME[..]) {
            return Err(CurveError::Malformed {
                command: "MESSAGE",
                reason: "after the handshake every frame must be a MESSAGE command",
            });
        }
        let Some(short) = body
            .get(8..16)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map(u64::from_be_bytes)
            .filter(|_| body.len() >= MESSAGE_OVERHEAD)
        else {
            return Err(CurveError::Malformed {
                command: "MESSAGE",
                reason: "shorter than 33 octets",
            });
        };
        check_nonce("MESSAGE", short, self.peer_nonce)?;
        // Decrypt in place when we hold the only reference to the frame, else (a frame sharing
        // the decoder's read buffer) into a new buffer, read from the shared one.
        let suffix = short.to_be_bytes();
        let bad = CurveError::BadBox { command: "MESSAGE" };
        // `advance`, not `slice`: a slice would be a second reference to the memory.
        let mut boxed = body;
        boxed.advance(16);
        let plain: Bytes = match boxed.try_into_mut() {
            Ok(mut buf) => {
                self.recv_key.open_in_place(&suffix, &mut buf).ok_or(bad)?;
                buf.freeze().slice(TAG_LEN..)
            }
            Err(shared) => Bytes::from(self.recv_key.open_to_vec(&suffix, &shared).ok_or(bad)?),
        };
        self.peer_nonce = short;
        let flags = plain.first().copied().unwrap_or(0);
        if flags & !(FLAG_MORE | FLAG_COMMAND) != 0 {
            return Err(CurveError::Malformed {
                command: "MESSAGE",
                reason: "reserved flag bits set",
            });
        }
        let more = flags & FLAG_MORE != 0;
        let command = flags & FLAG_COMMAND != 0;
        let body = plain.slice(1..);
        if command {
            if more {
                return Err(CurveError::Malformed {
                    command: "MESSAGE",
                    reason: "a command with the MORE flag",
                });
            }
            if self.in_message {
                return Err(CurveError::Malformed {
                    command: "MESSAGE",
                    reason: "a command inside a multipart message",
                });
            }
            if body.len() > Limits::MAX_COMMAND_SIZE {
                return Err(CurveError::Malformed {
                    command: "MESSAGE",
                    reason: "a command larger than 64 KiB",
                });
            }
        } else {
            self.in_message = more;
        }
        Ok(Frame {
            more,
            command,
            body,
        })
    }
}
