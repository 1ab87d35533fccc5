//! ZMTP 3.x framing: short and long frames with MORE and COMMAND flags, and an incremental
//! decoder that enforces size limits before it buffers anything.
//!
//! ```text
//! frame      = flags size body
//! flags      = bit 0 MORE, bit 1 LONG, bit 2 COMMAND, bits 3-7 zero
//! size       = 1 octet (short) or 8 octets big-endian (LONG)
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

/// Flag bit: more frames of this message follow.
pub const FLAG_MORE: u8 = 0x01;
/// Flag bit: the size is 8 octets.
pub const FLAG_LONG: u8 = 0x02;
/// Flag bit: this frame is a command, not message data.
pub const FLAG_COMMAND: u8 = 0x04;
const FLAG_RESERVED: u8 = !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND);

/// Size limits applied to what a peer sends, checked when a frame header arrives, before the
/// body is buffered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest single frame body (data or command), in bytes.
    pub max_frame_size: usize,
    /// Largest message: the sum of the sizes of its frames, in bytes.
    pub max_message_size: usize,
    /// Most frames in one message.
    pub max_frames_per_message: usize,
}

impl Limits {
    /// Default largest message: 64 MiB plus room for a routing frame and a short header.
    pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024 + 4096;
    /// Default most frames per message.
    pub const DEFAULT_MAX_FRAMES: usize = 1024;
    /// Command frames are never larger than this whatever the limits say (a CURVE INITIATE with
    /// metadata is a few hundred bytes; libzmq's largest is well under 64 KiB).
    pub const MAX_COMMAND_SIZE: usize = 64 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            max_frames_per_message: Self::DEFAULT_MAX_FRAMES,
        }
    }
}

/// One frame: flags and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The MORE flag: another frame of the same message follows.
    pub more: bool,
    /// The COMMAND flag.
    pub command: bool,
    /// The body.
    pub body: Bytes,
}

impl Frame {
    /// A data frame.
    pub fn data(body: impl Into<Bytes>, more: bool) -> Self {
        Frame {
            more,
            command: false,
            body: body.into(),
        }
    }

    /// A command frame (commands never have MORE).
    pub fn command(body: impl Into<Bytes>) -> Self {
        Frame {
            more: false,
            command: true,
            body: body.into(),
        }
    }

    /// Bytes this frame takes on the wire.
    pub fn wire_len(&self) -> usize {
        header_len(self.body.len()) + self.body.len()
    }

    /// Appends this frame's wire form to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        encode_header(out, self.more, self.command, self.body.len());
        out.extend_from_slice(&self.body);
    }
}

/// Length of the header (flags and size) for a body of `len` bytes.
pub fn header_len(len: usize) -> usize {
    if len > 255 {
        9
    } else {
        2
    }
}

/// Appends a frame header for a body of `len` bytes: short form up to 255, long form above,
/// as libzmq does.
pub fn encode_header(out: &mut BytesMut, more: bool, command: bool, len: usize) {
    let mut flags = 0;
    if more {
        flags |= FLAG_MORE;
    }
    if command {
        flags |= FLAG_COMMAND;
    }
    match u8::try_from(len) {
        Ok(short) => {
            out.reserve(2);
            out.put_u8(flags);
            out.put_u8(short);
        }
        Err(_) => {
            out.reserve(9);
            out.put_u8(flags | FLAG_LONG);
            out.put_u64(len as u64);
        }
    }
}

/// Why a frame was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// Reserved flag bits (3 to 7) were set.
    #[error("invalid frame flags {flags:#04x}: reserved bits set")]
    ReservedFlags {
        /// The flags octet.
        flags: u8,
    },
    /// A command frame had the MORE flag.
    #[error("invalid frame: a command frame with the MORE flag")]
    CommandWithMore,
    /// A command frame arrived in the middle of a multipart message.
    #[error("invalid frame: a command inside a multipart message")]
    CommandInsideMessage,
    /// A frame larger than the configured limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes (the receiver's maximum message size; raise it on both ends if the peer is trusted)")]
    FrameTooLarge {
        /// The size announced by the peer.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A command frame larger than [`Limits::MAX_COMMAND_SIZE`].
    #[error("command frame of {len} bytes exceeds the limit of {max} bytes")]
    CommandTooLarge {
        /// The size announced by the peer.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A message whose frames add up to more than the configured limit.
    #[error("message of at least {len} bytes exceeds the limit of {max} bytes (the receiver's maximum message size; raise it on both ends if the peer is trusted)")]
    MessageTooLarge {
        /// The message size so far, including the announced frame.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A message with more frames than the configured limit.
    #[error("message has more than {max} frames")]
    TooManyFrames {
        /// The limit.
        max: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Body { flags: u8, len: usize },
}

/// Incremental frame decoder.
///
/// Feed it the read buffer; it returns `Ok(None)` when it needs more bytes. Every limit is
/// checked on the header, so a peer announcing 2^63 bytes is refused after 9 octets.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    limits: Limits,
    state: State,
    /// Bytes and frames of the message being received so far (data frames only).
    message_len: u64,
    message_frames: usize,
}

impl FrameDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        FrameDecoder {
            limits,
            state: State::Header,
            message_len: 0,
            message_frames: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many more bytes the decoder needs before it can make progress (a hint for sizing
    /// reads; never more than the current frame's body).
    pub fn wanted(&self, buffered: usize) -> usize {
        match self.state {
            State::Header => 9usize.saturating_sub(buffered).max(1),
            State::Body { len, .. } => len.saturating_sub(buffered).max(1),
        }
    }

    /// Decodes the next frame from the front of `buf`, consuming it.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        loop {
            match self.state {
                State::Header => {
                    let Some(&flags) = buf.first() else {
                        return Ok(None);
                    };
                    if flags & FLAG_RESERVED != 0 {
                        return Err(FrameError::ReservedFlags { flags });
                    }
                    let (header, len) = if flags & FLAG_LONG != 0 {
                        let Some(size) = buf.get(1..9) else {
                            return Ok(None);
                        };
                        let mut size8 = [0u8; 8];
                        size8.copy_from_slice(size);
                        (9, u64::from_be_bytes(size8))
                    } else {
                        let Some(&size) = buf.get(1) else {
                            return Ok(None);
                        };
                        (2, u64::from(size))
                    };
                    let len = self.check(flags, len)?;
                    buf.advance(header);
                    self.state = State::Body { flags, len };
                }
                State::Body { flags, len } => {
                    if buf.len() < len {
                        return Ok(None);
                    }
                    // A body that is all the buffer holds (a large body read into its own
                    // buffer) is taken whole: it stays the only reference to its memory, so
                    // that CURVE can decrypt it in place.
                    let body = if buf.len() == len {
                        std::mem::take(buf).freeze()
                    } else {
                        buf.split_to(len).freeze()
                    };
                    self.state = State::Header;
                    let command = flags & FLAG_COMMAND != 0;
                    let more = flags & FLAG_MORE != 0;
                    if !command {
                        if more {
                            self.message_frames += 1;
                            self.message_len += len as u64;
                        } else {
                            self.message_frames = 0;
                            self.message_len = 0;
                        }
                    }
                    return Ok(Some(Frame {
                        more,
                        command,
                        body,
                    }));
                }
            }
        }
    }

    /// Checks a header against the limits; returns the body length as usize.
    fn check(&self, flags: u8, len: u64) -> Result<usize, FrameError> {
        let too_large = |max: usize| len > max as u64;
        if flags & FLAG_COMMAND != 0 {
            if flags & FLAG_MORE != 0 {
                return Err(FrameError::CommandWithMore);
            }
            if self.message_frames > 0 {
                return Err(FrameError::CommandInsideMessage);
            }
            let max = Limits::MAX_COMMAND_SIZE.min(self.limits.max_frame_size.max(512));
            if too_large(max) {
                return Err(FrameError::CommandTooLarge { len, max });
            }
        } else {
            let max = self.limits.max_frame_size;
            if too_large(max) {
                return Err(FrameError::FrameTooLarge { len, max });
            }
            let total = self.message_len.saturating_add(len);
            let max = self.limits.max_message_size;
            if total > max as u64 {
                return Err(FrameError::MessageTooLarge { len: total, max });
            }
            if self.message_frames >= self.limits.max_frames_per_message {
                return Err(FrameError::TooManyFrames {
                    max: self.limits.max_frames_per_message,
                });
            }
        }
        usize::try_from(len).map_err(|_| FrameError::FrameTooLarge {
            len,
            max: self.limits.max_frame_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(limits: Limits, bytes: &[u8]) -> Result<Vec<Frame>, FrameError> {
        let mut dec = FrameDecoder::new(limits);
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(f) = dec.decode(&mut buf)? {
            out.push(f);
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        Ok(out)
    }

    #[test]
    fn round_trip_short_and_long() {
        let frames = vec![
            Frame::data(&b""[..], true),
            Frame::data(vec![7u8; 255], true),
            Frame::data(vec![8u8; 256], true),
            Frame::data(vec![9u8; 70_000], false),
            Frame::command(&b"\x04PING\x00\x00"[..]),
        ];
        let mut buf = BytesMut::new();
        for f in &frames {
            f.encode(&mut buf);
        }
        let expected_len: usize = frames.iter().map(Frame::wire_len).sum();
        assert_eq!(buf.len(), expected_len);
        assert_eq!(decode_all(Limits::default(), &buf).unwrap(), frames);
    }

    #[test]
    fn header_forms() {
        let mut buf = BytesMut::new();
        Frame::data(&b"abc"[..], true).encode(&mut buf);
        assert_eq!(&buf[..], b"\x01\x03abc");
        buf.clear();
        Frame::data(vec![0u8; 256], false).encode(&mut buf);
        assert_eq!(&buf[..9], b"\x02\0\0\0\0\0\0\x01\x00");
        buf.clear();
        Frame::command(&b"x"[..]).encode(&mut buf);
        assert_eq!(&buf[..], b"\x04\x01x");
    }

    #[test]
    fn accepts_long_form_for_small_frames() {
        let frames = decode_all(Limits::default(), b"\x02\0\0\0\0\0\0\0\x02hi").unwrap();
        assert_eq!(frames, vec![Frame::data(&b"hi"[..], false)]);
    }

    #[test]
    fn byte_by_byte() {
        let mut wire = BytesMut::new();
        Frame::data(vec![1u8; 300], true).encode(&mut wire);
        Frame::data(&b"end"[..], false).encode(&mut wire);
        let mut dec = FrameDecoder::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in wire.iter() {
            buf.extend_from_slice(&[*b]);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].body.len(), 300);
        assert_eq!(&got[1].body[..], b"end");
    }

    #[test]
    fn rejects_reserved_flags() {
        assert_eq!(
            decode_all(Limits::default(), b"\x08\x00"),
            Err(FrameError::ReservedFlags { flags: 0x08 })
        );
    }

    #[test]
    fn rejects_command_with_more() {
        assert_eq!(
            decode_all(Limits::default(), b"\x05\x00"),
            Err(FrameError::CommandWithMore)
        );
    }

    #[test]
    fn rejects_command_inside_message() {
        assert_eq!(
            decode_all(Limits::default(), b"\x01\x01a\x04\x00"),
            Err(FrameError::CommandInsideMessage)
        );
    }

    #[test]
    fn rejects_huge_headers_after_nine_octets() {
        for len in [1u64 << 40, 1u64 << 63, u64::MAX] {
            let mut buf = BytesMut::new();
            buf.put_u8(FLAG_LONG);
            buf.put_u64(len);
            let mut dec = FrameDecoder::new(Limits::default());
            assert_eq!(
                dec.decode(&mut buf),
                Err(FrameError::FrameTooLarge {
                    len,
                    max: Limits::DEFAULT_MAX_MESSAGE_SIZE
                })
            );
        }
    }

    #[test]
    fn rejects_large_command() {
        let mut buf = BytesMut::new();
        buf.put_u8(FLAG_LONG | FLAG_COMMAND);
        buf.put_u64(1 << 20);
        let mut dec = FrameDecoder::new(Limits::default());
        assert_eq!(
            dec.decode(&mut buf),
            Err(FrameError::CommandTooLarge {
                len: 1 << 20,
                max: Limits::MAX_COMMAND_SIZE
            })
        );
    }

    #[test]
    fn rejects_message_too_large() {
        let limits = Limits {
            max_frame_size: 10,
            max_message_size: 15,
            max_frames_per_message: 100,
        };
        assert_eq!(
            decode_all(limits, b"\x01\x0a0123456789\x00\x06"),
            Err(FrameError::MessageTooLarge { len: 16, max: 15 })
        );
        // The count starts again with each message.
        assert!(decode_all(limits, b"\x00\x0a0123456789\x00\x0a0123456789").is_ok());
    }

    #[test]
    fn rejects_too_many_frames() {
        let limits = Limits {
            max_frames_per_message: 2,
            ..Limits::default()
        };
        assert!(decode_all(limits, b"\x01\x00\x00\x00").is_ok());
        assert_eq!(
            decode_all(limits, b"\x01\x00\x01\x00\x00\x00"),
            Err(FrameError::TooManyFrames { max: 2 })
        );
    }
}
