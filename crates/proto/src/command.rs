//! ZMTP commands: READY with metadata, ERROR, PING and PONG (RFC 23 / RFC 37).
//!
//! A command body is `name-size name data`. Commands a mechanism owns (CURVE's HELLO, WELCOME,
//! INITIATE, MESSAGE) are passed to it as a [`RawCommand`].

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use crate::frame::{encode_header, Frame};
use crate::metadata::{Metadata, MetadataError};

/// Why a command was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// The command frame was empty or its name ran past the end of the frame.
    #[error("malformed command: name runs past the end of the frame")]
    TruncatedName,
    /// The named command's body is malformed.
    #[error("malformed {name} command: {reason}")]
    Malformed {
        /// The command.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A READY command's metadata is malformed.
    #[error("malformed READY metadata: {0}")]
    Metadata(#[from] MetadataError),
}

/// A command split into name and data, not yet interpreted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawCommand {
    /// The command name, e.g. `READY`.
    pub name: Bytes,
    /// Everything after the name.
    pub data: Bytes,
}

impl RawCommand {
    /// Splits a command frame body.
    pub fn parse(body: &Bytes) -> Result<RawCommand, CommandError> {
        let (&len, _) = body.split_first().ok_or(CommandError::TruncatedName)?;
        let end = 1 + usize::from(len);
        if len == 0 || body.len() < end {
            return Err(CommandError::TruncatedName);
        }
        Ok(RawCommand {
            name: body.slice(1..end),
            data: body.slice(end..),
        })
    }

    /// Whether this is the command `name`.
    pub fn is(&self, name: &str) -> bool {
        self.name.as_ref() == name.as_bytes()
    }

    /// The name, for logs.
    pub fn name_lossy(&self) -> String {
        self.name.escape_ascii().to_string()
    }
}

/// The commands of the connection itself (after the handshake: PING, PONG; in a NULL
/// handshake: READY, ERROR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// READY: the sender's metadata.
    Ready(Metadata),
    /// ERROR: the peer refuses the connection, with a reason.
    Error {
        /// The reason, at most 255 octets.
        reason: Bytes,
    },
    /// PING: a heartbeat asking for a PONG.
    Ping {
        /// Time to live in deciseconds: the sender asks us to close the connection if we hear
        /// nothing from it for this long (0: no limit).
        ttl_deciseconds: u16,
        /// Up to 16 octets, echoed in the PONG.
        context: Bytes,
    },
    /// PONG: the answer to a PING.
    Pong {
        /// The PING's context.
        context: Bytes,
    },
    /// SUBSCRIBE (ZMTP 3.1): the sender (a SUB or XSUB) wants messages starting with `topic`.
    Subscribe {
        /// The topic prefix (may be empty: everything).
        topic: Bytes,
    },
    /// CANCEL (ZMTP 3.1): the sender no longer wants messages starting with `topic`.
    Cancel {
        /// The topic prefix.
        topic: Bytes,
    },
    /// Any other command (a mechanism's, or an unknown one): ignored after the handshake.
    Other(RawCommand),
}

/// Largest PING context (RFC 37).
pub const MAX_PING_CONTEXT: usize = 16;

impl Command {
    /// Interprets a command frame body.
    pub fn parse(body: &Bytes) -> Result<Command, CommandError> {
        let raw = RawCommand::parse(body)?;
        Command::from_raw(raw)
    }

    /// Interprets a split command.
    pub fn from_raw(raw: RawCommand) -> Result<Command, CommandError> {
        let data = &raw.data;
        Ok(match raw.name.as_ref() {
            b"READY" => Command::Ready(Metadata::decode(data)?),
            b"ERROR" => {
                let (&len, rest) = data.split_first().ok_or(CommandError::Malformed {
                    name: "ERROR",
                    reason: "no reason length",
                })?;
                if rest.len() != usize::from(len) {
                    return Err(CommandError::Malformed {
                        name: "ERROR",
                        reason: "reason length does not match the frame",
                    });
                }
                Command::Error {
                    reason: data.slice(1..),
                }
            }
            b"PING" => {
                let Some(ttl) = data.get(..2).and_then(|t| <[u8; 2]>::try_from(t).ok()) else {
                    return Err(CommandError::Malformed {
                        name: "PING",
                        reason: "shorter than its 2-octet TTL",
                    });
                };
                let ttl_deciseconds = u16::from_be_bytes(ttl);
                let context = data.slice(2..);
                if context.len() > MAX_PING_CONTEXT {
                    return Err(CommandError::Malformed {
                        name: "PING",
                        reason: "context longer than 16 octets",
                    });
                }
                Command::Ping {
                    ttl_deciseconds,
                    context,
                }
            }
            b"PONG" => {
                if data.len() > MAX_PING_CONTEXT {
                    return Err(CommandError::Malformed {
                        name: "PONG",
                        reason: "context longer than 16 octets",
                    });
                }
                Command::Pong {
                    context: data.clone(),
                }
            }
            b"SUBSCRIBE" => Command::Subscribe {
                topic: data.clone(),
            },
            b"CANCEL" => Command::Cancel {
                topic: data.clone(),
            },
            _ => Command::Other(raw),
        })
    }

    /// The command's body (name-size, name, data).
    pub fn encode_body(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            Command::Ready(meta) => {
                put_name(&mut out, b"READY");
                meta.encode(&mut out);
            }
            Command::Error { reason } => {
                put_name(&mut out, b"ERROR");
                let reason = reason.get(..255).unwrap_or(reason);
                out.put_u8(u8::try_from(reason.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(reason);
            }
            Command::Ping {
                ttl_deciseconds,
                context,
            } => {
                put_name(&mut out, b"PING");
                out.put_u16(*ttl_deciseconds);
                out.extend_from_slice(context.get(..MAX_PING_CONTEXT).unwrap_or(context));
            }
            Command::Pong { context } => {
                put_name(&mut out, b"PONG");
                out.extend_from_slice(context.get(..MAX_PING_CONTEXT).unwrap_or(context));
            }
            Command::Subscribe { topic } => {
                put_name(&mut out, b"SUBSCRIBE");
                out.extend_from_slice(topic);
            }
            Command::Cancel { topic } => {
                put_name(&mut out, b"CANCEL");
                out.extend_from_slice(topic);
            }
            Command::Other(raw) => {
                put_name(&mut out, raw.name.get(..255).unwrap_or(&raw.name));
                out.extend_from_slice(&raw.data);
            }
        }
        out.freeze()
    }

    /// The command as a frame.
    pub fn to_frame(&self) -> Frame {
        Frame::command(self.encode_body())
    }

    /// Appends the command's wire form (header and body) to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let body = self.encode_body();
        encode_header(out, false, true, body.len());
        out.extend_from_slice(&body);
    }
}

/// Appends a command name with its length octet.
pub fn put_name(out: &mut BytesMut, name: &[u8]) {
    out.put_u8(u8::try_from(name.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(name.get(..255).unwrap_or(name));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(cmd: Command) {
        let body = cmd.encode_body();
        assert_eq!(Command::parse(&body).unwrap(), cmd);
    }

    #[test]
    fn round_trips() {
        let mut meta = Metadata::new();
        meta.push("Socket-Type", &b"DEALER"[..]).unwrap();
        meta.push("Identity", &b""[..]).unwrap();
        rt(Command::Ready(meta));
        rt(Command::Error {
            reason: Bytes::from_static(b"Invalid"),
        });
        rt(Command::Ping {
            ttl_deciseconds: 20,
            context: Bytes::from_static(b"ctx"),
        });
        rt(Command::Pong {
            context: Bytes::new(),
        });
        rt(Command::Subscribe {
            topic: Bytes::from_static(b"topic"),
        });
        rt(Command::Cancel {
            topic: Bytes::new(),
        });
        rt(Command::Other(RawCommand {
            name: Bytes::from_static(b"X-CUSTOM"),
            data: Bytes::from_static(b"data"),
        }));
    }

    #[test]
    fn subscribe_wire() {
        let mut out = BytesMut::new();
        Command::Subscribe {
            topic: Bytes::from_static(b"ab"),
        }
        .encode(&mut out);
        assert_eq!(&out[..], b"\x04\x0c\x09SUBSCRIBEab");
        assert_eq!(
            Command::parse(&Bytes::from_static(b"\x06CANCELxy")),
            Ok(Command::Cancel {
                topic: Bytes::from_static(b"xy")
            })
        );
    }

    #[test]
    fn ping_wire() {
        let cmd = Command::Ping {
            ttl_deciseconds: 0x0102,
            context: Bytes::from_static(b"ab"),
        };
        let mut out = BytesMut::new();
        cmd.encode(&mut out);
        assert_eq!(&out[..], b"\x04\x09\x04PING\x01\x02ab");
    }

    #[test]
    fn rejects_empty_command() {
        assert_eq!(
            Command::parse(&Bytes::new()),
            Err(CommandError::TruncatedName)
        );
    }

    #[test]
    fn rejects_name_past_end() {
        assert_eq!(
            Command::parse(&Bytes::from_static(b"\x09PING")),
            Err(CommandError::TruncatedName)
        );
        assert_eq!(
            Command::parse(&Bytes::from_static(b"\x00")),
            Err(CommandError::TruncatedName)
        );
    }

    #[test]
    fn rejects_short_ping() {
        assert_eq!(
            Command::parse(&Bytes::from_static(b"\x04PING\x00")),
            Err(CommandError::Malformed {
                name: "PING",
                reason: "shorter than its 2-octet TTL"
            })
        );
    }

    #[test]
    fn rejects_long_ping_context() {
        let mut body = b"\x04PING\x00\x00".to_vec();
        body.extend_from_slice(&[b'x'; 17]);
        assert_eq!(
            Command::parse(&Bytes::from(body)),
            Err(CommandError::Malformed {
                name: "PING",
                reason: "context longer than 16 octets"
            })
        );
    }

    #[test]
    fn rejects_long_pong_context() {
        let mut body = b"\x04PONG".to_vec();
        body.extend_from_slice(&[b'x'; 17]);
        assert_eq!(
            Command::parse(&Bytes::from(body)),
            Err(CommandError::Malformed {
                name: "PONG",
                reason: "context longer than 16 octets"
            })
        );
    }

    #[test]
    fn rejects_bad_error_reason_length() {
        assert_eq!(
            Command::parse(&Bytes::from_static(b"\x05ERROR\x05abc")),
            Err(CommandError::Malformed {
                name: "ERROR",
                reason: "reason length does not match the frame"
            })
        );
        assert_eq!(
            Command::parse(&Bytes::from_static(b"\x05ERROR")),
            Err(CommandError::Malformed {
                name: "ERROR",
                reason: "no reason length"
            })
        );
    }

    #[test]
    fn rejects_bad_ready_metadata() {
        assert_eq!(
            Command::parse(&Bytes::from_static(b"\x05READY\x04Sock")),
            Err(CommandError::Metadata(MetadataError::Truncated))
        );
    }
}
