//! ZAP (RFC 27) on the wire: the request a socket sends to a ZAP handler and the reply it
//! reads back, as multipart messages in libzmq's exact form.
//!
//! ```text
//! request: ""  "1.0"  request-id  domain  address  identity  mechanism  credentials...
//! reply:   ""  "1.0"  request-id  status-code  status-text  user-id  metadata
//! ```
//!
//! The leading empty frame is the REQ delimiter: the handler is a REP (or ROUTER) socket bound
//! to `inproc://zeromq.zap.01`, and sees the request without it. libzmq always sends the
//! request id "1" (it opens a pipe to the handler per connection); courier sends all of a
//! process's requests over one pipe, each with its own id, which RFC 27 allows (the handler
//! echoes the id). A reply is checked as libzmq checks it: exactly seven frames, version
//! "1.0", a status code of 200, 300, 400 or 500, and metadata in ZMTP's property form.
//!
//! ```
//! use bytes::Bytes;
//! use courier_proto::greeting::MechanismName;
//! use courier_proto::message::Multipart;
//! use courier_proto::zap::{decode_reply, encode_request, RequestFields};
//!
//! let request = encode_request(&RequestFields {
//!     request_id: b"7",
//!     domain: "global",
//!     address: "127.0.0.1",
//!     identity: b"",
//!     mechanism: MechanismName::PLAIN,
//!     credentials: &[Bytes::from_static(b"admin"), Bytes::from_static(b"secret")],
//! });
//! assert_eq!(request.frames()[1], "1.0");
//! assert_eq!(request.frames()[6], "PLAIN");
//!
//! let frames = ["", "1.0", "7", "200", "OK", "admin", ""];
//! let reply = Multipart::from_frames(frames.map(|f| Bytes::from_static(f.as_bytes())))?;
//! let (id, answer) = decode_reply(&reply)?;
//! assert_eq!(id, "7");
//! assert!(answer.is_success());
//! assert_eq!(answer.user_id, "admin");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::Bytes;
use thiserror::Error;

use crate::greeting::MechanismName;
use crate::mechanism::{ZapReply, ZapStatus};
use crate::message::Multipart;
use crate::metadata::{Metadata, MetadataError};

/// The ZAP version this module speaks.
pub const VERSION: &[u8] = b"1.0";

/// Why a ZAP handler's reply was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ZapReplyError {
    /// Not seven frames (delimiter, version, request id, status code, status text, user id,
    /// metadata).
    #[error("a ZAP reply has 7 frames (with the delimiter), this one has {0}")]
    FrameCount(usize),
    /// The first frame is not the empty delimiter.
    #[error("a ZAP reply starts with an empty delimiter frame")]
    NoDelimiter,
    /// The version frame is not "1.0".
    #[error("ZAP version {0:?} is not 1.0")]
    Version(String),
    /// The status code is not 200, 300, 400 or 500.
    #[error("ZAP status code {0:?} is not 200, 300, 400 or 500")]
    StatusCode(String),
    /// The metadata frame is not in ZMTP's property form.
    #[error("ZAP reply metadata: {0}")]
    Metadata(#[from] MetadataError),
}

/// What a request carries besides the version (RFC 27's fields, in order).
#[derive(Clone, Copy)]
pub struct RequestFields<'a> {
    /// Echoed by the handler; matches the reply to its request.
    pub request_id: &'a [u8],
    /// The socket's ZAP domain (empty: none).
    pub domain: &'a str,
    /// The peer's IP address, without a port.
    pub address: &'a str,
    /// The routing id of the socket asking (libzmq's "identity").
    pub identity: &'a [u8],
    /// NULL, PLAIN or CURVE.
    pub mechanism: MechanismName,
    /// None for NULL; user name and password for PLAIN; the 32-octet client key for CURVE.
    pub credentials: &'a [Bytes],
}

/// The request message, delimiter first.
pub fn encode_request(fields: &RequestFields<'_>) -> Multipart {
    let mut msg = Multipart::single(Bytes::new());
    for frame in [
        Bytes::from_static(VERSION),
        Bytes::copy_from_slice(fields.request_id),
        Bytes::copy_from_slice(fields.domain.as_bytes()),
        Bytes::copy_from_slice(fields.address.as_bytes()),
        Bytes::copy_from_slice(fields.identity),
        Bytes::copy_from_slice(fields.mechanism.as_bytes()),
    ] {
        msg.push_back(frame);
    }
    for credential in fields.credentials {
        msg.push_back(credential.clone());
    }
    msg
}

/// The request id of a reply, without checking the rest (to find whom a malformed reply was
/// meant for). None unless the message has a delimiter, a version and an id.
pub fn reply_request_id(reply: &Multipart) -> Option<&Bytes> {
    match reply.frames() {
        [delimiter, _version, id, ..] if delimiter.is_empty() => Some(id),
        _ => None,
    }
}

/// Checks a reply and returns its request id and the answer.
pub fn decode_reply(reply: &Multipart) -> Result<(Bytes, ZapReply), ZapReplyError> {
    let [delimiter, version, id, code, text, user_id, metadata] = reply.frames() else {
        return Err(ZapReplyError::FrameCount(reply.len()));
    };
    if !delimiter.is_empty() {
        return Err(ZapReplyError::NoDelimiter);
    }
    if version.as_ref() != VERSION {
        return Err(ZapReplyError::Version(lossy(version)));
    }
    let status_code =
        ZapStatus::from_code(code).ok_or_else(|| ZapReplyError::StatusCode(lossy(code)))?;
    let metadata = Metadata::decode(metadata)?;
    Ok((
        id.clone(),
        ZapReply {
            status_code,
            status_text: lossy(text),
            user_id: user_id.clone(),
            metadata,
        },
    ))
}

fn lossy(frame: &Bytes) -> String {
    String::from_utf8_lossy(frame).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(frames: &[&'static str]) -> Multipart {
        Multipart::from_frames(frames.iter().map(|f| Bytes::from_static(f.as_bytes())))
            .expect("frames")
    }

    #[test]
    fn requests_have_libzmq_frames() {
        let key = Bytes::from(vec![7u8; 32]);
        let curve = encode_request(&RequestFields {
            request_id: b"42",
            domain: "dom",
            address: "127.0.0.2",
            identity: b"server-1",
            mechanism: MechanismName::CURVE,
            credentials: std::slice::from_ref(&key),
        });
        assert_eq!(
            curve.frames(),
            &[
                Bytes::new(),
                Bytes::from_static(b"1.0"),
                Bytes::from_static(b"42"),
                Bytes::from_static(b"dom"),
                Bytes::from_static(b"127.0.0.2"),
                Bytes::from_static(b"server-1"),
                Bytes::from_static(b"CURVE"),
                key,
            ]
        );
        // NULL: no credential frames at all.
        let null = encode_request(&RequestFields {
            request_id: b"1",
            domain: "",
            address: "::1",
            identity: b"",
            mechanism: MechanismName::NULL,
            credentials: &[],
        });
        assert_eq!(null, msg(&["", "1.0", "1", "", "::1", "", "NULL"]));
    }

    #[test]
    fn replies_decode_with_user_id_and_metadata() {
        let mut meta = Metadata::new();
        meta.push("Role", "admin").expect("name");
        let mut wire = bytes::BytesMut::new();
        meta.encode(&mut wire);
        let mut reply = msg(&["", "1.0", "9", "200", "OK", "anna"]);
        reply.push_back(wire.freeze());
        let (id, answer) = decode_reply(&reply).expect("valid");
        assert_eq!(id, "9");
        assert_eq!(answer.status_code, ZapStatus::Success);
        assert_eq!(answer.status_text, "OK");
        assert_eq!(answer.user_id, "anna");
        assert_eq!(answer.metadata, meta);

        let (_, refused) =
            decode_reply(&msg(&["", "1.0", "9", "300", "later", "", ""])).expect("valid");
        assert_eq!(refused.status_code, ZapStatus::TemporaryError);
        assert_eq!(refused.status_text, "later");
    }

    #[test]
    fn malformed_replies_are_refused_with_the_reason() {
        assert_eq!(
            decode_reply(&msg(&["", "1.0", "9", "200", "OK", "anna"])),
            Err(ZapReplyError::FrameCount(6))
        );
        assert_eq!(
            decode_reply(&msg(&["", "1.0", "9", "200", "OK", "anna", "", "x"])),
            Err(ZapReplyError::FrameCount(8))
        );
        assert_eq!(
            decode_reply(&msg(&["x", "1.0", "9", "200", "OK", "", ""])),
            Err(ZapReplyError::NoDelimiter)
        );
        assert_eq!(
            decode_reply(&msg(&["", "2.0", "9", "200", "OK", "", ""])),
            Err(ZapReplyError::Version("2.0".into()))
        );
        assert_eq!(
            decode_reply(&msg(&["", "1.0", "9", "250", "OK", "", ""])),
            Err(ZapReplyError::StatusCode("250".into()))
        );
        assert_eq!(
            decode_reply(&msg(&["", "1.0", "9", "200", "OK", "", "\x04Ro"])),
            Err(ZapReplyError::Metadata(MetadataError::Truncated))
        );
    }

    #[test]
    fn the_request_id_of_a_malformed_reply_is_found() {
        let short = msg(&["", "1.0", "9", "200"]);
        assert_eq!(reply_request_id(&short).map(|b| &b[..]), Some(&b"9"[..]));
        assert_eq!(reply_request_id(&msg(&["", "1.0"])), None);
        assert_eq!(reply_request_id(&msg(&["x", "1.0", "9"])), None);
    }
}
