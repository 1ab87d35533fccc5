//! Multipart messages and the typed courier application messages.
//!
//! A ZeroMQ message is a non-empty list of frames, a [`Multipart`]. The courier
//! apps put an ASCII header in frame 0; [`Message`] is the typed view:
//!
//! | header  | frames after the header                              |
//! |---------|------------------------------------------------------|
//! | `HELLO` | none                                                 |
//! | `FILE`  | UTF-8 name, contents                                 |
//! | `CTRL`  | UTF-8 text                                           |
//! | `METR`  | UTF-8 hostname, JSON object of numbers, UTF-8 kind   |
//!
//! ```
//! use bytes::Bytes;
//! use courier_proto::message::{Message, Multipart};
//!
//! let msg = Message::File { name: "notes.txt".into(), contents: Bytes::from_static(b"hi") };
//! let wire: Multipart = msg.encode();
//! assert_eq!(wire.frames(), [&b"FILE"[..], b"notes.txt", b"hi"]);
//! assert_eq!(Message::decode(&wire)?, msg);
//! # Ok::<(), courier_proto::message::MessageError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use serde_json::Value;
use smallvec::SmallVec;

/// How many bytes of a frame `Debug` output and error messages show.
const PREVIEW_LEN: usize = 32;

/// Frames a [`Multipart`] holds without a heap allocation of its own: a ROUTER's routing id,
/// a header and one data frame.
pub const INLINE_FRAMES: usize = 3;

pub(crate) type Frames = SmallVec<[Bytes; INLINE_FRAMES]>;

/// A ZeroMQ message: a non-empty list of frames.
///
/// Up to [`INLINE_FRAMES`] frames are kept inline, so that receiving or sending a message
/// allocates nothing for the list itself (the frames' bytes are reference-counted slices).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Multipart(Frames);

#[expect(clippy::len_without_is_empty, reason = "a Multipart is never empty")]
impl Multipart {
    /// Builds a message from its frames, rejecting an empty list with [`MessageError::Empty`].
    pub fn new(frames: Vec<Bytes>) -> Result<Self, MessageError> {
        Self::from_frames(frames)
    }

    /// Builds a message from frames given by any iterator (an array, say, which spares the
    /// `Vec`), rejecting an empty one with [`MessageError::Empty`].
    ///
    /// ```
    /// use bytes::Bytes;
    /// use courier_proto::message::Multipart;
    ///
    /// let msg = Multipart::from_frames([Bytes::from_static(b"DATA"), Bytes::from_static(b"x")])?;
    /// assert_eq!(msg.len(), 2);
    /// # Ok::<(), courier_proto::message::MessageError>(())
    /// ```
    pub fn from_frames(frames: impl IntoIterator<Item = Bytes>) -> Result<Self, MessageError> {
        let frames: Frames = frames.into_iter().collect();
        match frames.is_empty() {
            true => Err(MessageError::Empty),
            false => Ok(Self(frames)),
        }
    }

    /// A message of `frames`, or `None` if there are none.
    pub(crate) fn from_inline(frames: Frames) -> Option<Self> {
        (!frames.is_empty()).then_some(Self(frames))
    }

    /// Builds a one-frame message.
    pub fn single(frame: impl Into<Bytes>) -> Self {
        let mut frames = Frames::new();
        frames.push(frame.into());
        Self(frames)
    }

    /// The frames, never empty.
    pub fn frames(&self) -> &[Bytes] {
        &self.0
    }

    /// Consumes the message, returning its frames (never empty).
    pub fn into_frames(self) -> Vec<Bytes> {
        self.0.into_vec()
    }

    /// The number of frames, at least 1.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The sum of the frame sizes in bytes.
    pub fn total_len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }

    /// The first frame.
    pub fn first(&self) -> &Bytes {
        self.split_first().0
    }

    /// The first frame and the rest.
    pub fn split_first(&self) -> (&Bytes, &[Bytes]) {
        match self.0.as_slice() {
            [first, rest @ ..] => (first, rest),
            [] => unreachable!("a Multipart is never empty"),
        }
    }

    /// Iterates over the frames.
    pub fn iter(&self) -> std::slice::Iter<'_, Bytes> {
        self.0.iter()
    }

    /// Prepends a frame (a ROUTER prepends the peer identity).
    pub fn push_front(&mut self, frame: Bytes) {
        self.0.insert(0, frame);
    }

    /// Appends a frame.
    pub fn push_back(&mut self, frame: Bytes) {
        self.0.push(frame);
    }

    /// Removes the first frame (a ROUTER strips the peer identity), returning it
    /// and the remaining frames, or `None` if it was the only one.
    pub fn pop_front(mut self) -> (Bytes, Option<Self>) {
        let first = self.0.remove(0);
        (first, (!self.0.is_empty()).then_some(self))
    }
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Multipart")?;
        f.debug_list()
            .entries(self.0.iter().map(|b| Preview(b)))
            .finish()
    }
}

impl TryFrom<Vec<Bytes>> for Multipart {
    type Error = MessageError;

    fn try_from(frames: Vec<Bytes>) -> Result<Self, MessageError> {
        Self::new(frames)
    }
}

impl From<Multipart> for Vec<Bytes> {
    fn from(msg: Multipart) -> Self {
        msg.into_frames()
    }
}

impl From<Bytes> for Multipart {
    fn from(frame: Bytes) -> Self {
        Self::single(frame)
    }
}

impl From<&'static [u8]> for Multipart {
    fn from(frame: &'static [u8]) -> Self {
        Self::single(frame)
    }
}

impl From<&'static str> for Multipart {
    fn from(frame: &'static str) -> Self {
        Self::single(frame)
    }
}

impl IntoIterator for Multipart {
    type Item = Bytes;
    type IntoIter = IntoFrames;

    fn into_iter(self) -> Self::IntoIter {
        IntoFrames(self.0.into_iter())
    }
}

/// The frames of a [`Multipart`], by value ([`Multipart::into_iter`]).
#[derive(Debug)]
pub struct IntoFrames(smallvec::IntoIter<[Bytes; INLINE_FRAMES]>);

impl Iterator for IntoFrames {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for IntoFrames {
    fn next_back(&mut self) -> Option<Bytes> {
        self.0.next_back()
    }
}

impl ExactSizeIterator for IntoFrames {}

impl<'a> IntoIterator for &'a Multipart {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Metric name to value, as carried by [`Message::Metrics`]. Integers stay
/// integers and floats stay floats; floats round-trip exactly provided
/// serde_json's `float_roundtrip` feature is enabled.
pub type MetricValues = BTreeMap<String, serde_json::Number>;

/// A courier application message; frame 0 of its [`Multipart`] is an ASCII header.
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// `[HELLO]`: a client announcing itself.
    Hello,
    /// `[FILE, name, contents]`: a file transfer.
    File {
        /// The file name (UTF-8).
        name: String,
        /// The file contents.
        contents: Bytes,
    },
    /// `[CTRL, text]`: a control command such as [`Message::CTRL_PING`].
    Control {
        /// The command text (UTF-8).
        text: String,
    },
    /// `[METR, hostname, values, kind]`: metrics from a host; `values` is a JSON object.
    Metrics {
        /// The reporting host (UTF-8).
        hostname: String,
        /// Metric name to number.
        values: MetricValues,
        /// What the values describe, usually [`Message::KIND_METRICS`] or [`Message::KIND_MODEL`].
        kind: String,
    },
}

/// Header name and frame count (header included) of every message type.
const LAYOUTS: [(&str, usize); 4] = [("HELLO", 1), ("FILE", 3), ("CTRL", 2), ("METR", 4)];

impl Message {
    /// `CTRL` text a client sends to greet the metrics server.
    pub const CTRL_HELLO: &'static str = "hello";
    /// `CTRL` text asking for a model.
    pub const CTRL_MODEL: &'static str = "model";
    /// `CTRL` text for a liveness check.
    pub const CTRL_PING: &'static str = "ping";
    /// `METR` kind of live metric samples.
    pub const KIND_METRICS: &'static str = "metrics";
    /// `METR` kind of model values.
    pub const KIND_MODEL: &'static str = "model";

    /// A `METR` message of kind [`Message::KIND_METRICS`].
    pub fn metrics(hostname: impl Into<String>, values: MetricValues) -> Self {
        let kind = Self::KIND_METRICS.into();
        Self::Metrics {
            hostname: hostname.into(),
            values,
            kind,
        }
    }

    /// A `METR` message of kind [`Message::KIND_MODEL`].
    pub fn model(hostname: impl Into<String>, values: MetricValues) -> Self {
        let kind = Self::KIND_MODEL.into();
        Self::Metrics {
            hostname: hostname.into(),
            values,
            kind,
        }
    }

    /// The header name: `HELLO`, `FILE`, `CTRL` or `METR`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hello => "HELLO",
            Self::File { .. } => "FILE",
            Self::Control { .. } => "CTRL",
            Self::Metrics { .. } => "METR",
        }
    }

    /// The header frame (frame 0).
    pub fn header(&self) -> &'static [u8] {
        self.name().as_bytes()
    }

    /// Parses a multipart message.
    pub fn decode(msg: &Multipart) -> Result<Self, MessageError> {
        let (header, fields) = msg.split_first();
        match (header.as_ref(), fields) {
            (b"HELLO", []) => Ok(Self::Hello),
            (b"FILE", [name, contents]) => Ok(Self::File {
                name: utf8("FILE", "name", name)?,
                contents: contents.clone(),
            }),
            (b"CTRL", [text]) => Ok(Self::Control {
                text: utf8("CTRL", "text", text)?,
            }),
            (b"METR", [hostname, values, kind]) => Ok(Self::Metrics {
                hostname: utf8("METR", "hostname", hostname)?,
                values: decode_values(values)?,
                kind: utf8("METR", "kind", kind)?,
            }),
            _ => Err(layout_error(header, msg.len())),
        }
    }

    /// Builds the multipart message; `Message::decode(&m.encode()) == Ok(m)`.
    pub fn encode(&self) -> Multipart {
        self.clone().into()
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hello => f.write_str("Hello"),
            Self::File { name, contents } => {
                let contents = Preview(contents);
                f.debug_struct("File")
                    .field("name", name)
                    .field("contents", &contents)
                    .finish()
            }
            Self::Control { text } => f.debug_struct("Control").field("text", text).finish(),
            Self::Metrics {
                hostname,
                values,
                kind,
            } => f
                .debug_struct("Metrics")
                .field("hostname", hostname)
                .field("values", values)
                .field("kind", kind)
                .finish(),
        }
    }
}

impl TryFrom<Multipart> for Message {
    type Error = MessageError;

    fn try_from(msg: Multipart) -> Result<Self, MessageError> {
        Self::decode(&msg)
    }
}

impl TryFrom<&Multipart> for Message {
    type Error = MessageError;

    fn try_from(msg: &Multipart) -> Result<Self, MessageError> {
        Self::decode(msg)
    }
}

impl From<Message> for Multipart {
    fn from(msg: Message) -> Self {
        let header = Bytes::from_static(msg.header());
        Self(match msg {
            Message::Hello => smallvec::smallvec![header],
            Message::File { name, contents } => smallvec::smallvec![header, name.into(), contents],
            Message::Control { text } => smallvec::smallvec![header, text.into()],
            Message::Metrics {
                hostname,
                values,
                kind,
            } => {
                let object = values
                    .into_iter()
                    .map(|(k, v)| (k, Value::Number(v)))
                    .collect();
                smallvec::smallvec![
                    header,
                    hostname.into(),
                    Value::Object(object).to_string().into(),
                    kind.into(),
                ]
            }
        })
    }
}

/// The error for a message whose frames match no layout.
fn layout_error(header: &Bytes, got: usize) -> MessageError {
    match LAYOUTS.iter().find(|(name, _)| name.as_bytes() == header) {
        Some(&(header, expected)) => MessageError::WrongFrameCount {
            header,
            expected,
            got,
        },
        None => {
            let preview = header.get(..PREVIEW_LEN).unwrap_or(header);
            MessageError::UnknownHeader(Bytes::copy_from_slice(preview))
        }
    }
}

fn utf8(header: &'static str, field: &'static str, frame: &Bytes) -> Result<String, MessageError> {
    String::from_utf8(frame.to_vec()).map_err(|_| MessageError::NotUtf8 { header, field })
}

fn decode_values(frame: &[u8]) -> Result<MetricValues, MessageError> {
    let json = serde_json::from_slice(frame).map_err(|e| MessageError::InvalidJson {
        detail: e.to_string(),
    })?;
    let Value::Object(object) = json else {
        return Err(MessageError::JsonNotObject {
            found: json_type(&json),
        });
    };
    object
        .into_iter()
        .map(|(name, value)| match value {
            Value::Number(n) => Ok((name, n)),
            other => Err(MessageError::MetricNotNumber {
                name,
                found: json_type(&other),
            }),
        })
        .collect()
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Why a [`Multipart`] is not a valid [`Message`] (or not a valid multipart).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// A multipart message had no frames.
    #[error("a multipart message needs at least one frame")]
    Empty,
    /// Frame 0 is not a known header; holds at most its first 32 bytes.
    #[error("unknown message header \"{}\" (expected HELLO, FILE, CTRL or METR)", .0.escape_ascii())]
    UnknownHeader(Bytes),
    /// The header is known but the message has the wrong number of frames.
    #[error("{header} message has {got} frames, expected {expected} (header included)")]
    WrongFrameCount {
        /// The header name.
        header: &'static str,
        /// The frame count this header requires, header included.
        expected: usize,
        /// The frame count received.
        got: usize,
    },
    /// A text field is not valid UTF-8.
    #[error("{header} message field `{field}` is not valid UTF-8")]
    NotUtf8 {
        /// The header name.
        header: &'static str,
        /// The field name, e.g. `name` or `hostname`.
        field: &'static str,
    },
    /// The `METR` values frame is not valid JSON.
    #[error("METR values are not valid JSON: {detail}")]
    InvalidJson {
        /// The JSON parser's message.
        detail: String,
    },
    /// The `METR` values frame is JSON but not an object.
    #[error("METR values must be a JSON object of metric name to number, got a JSON {found}")]
    JsonNotObject {
        /// The JSON type received, e.g. `array`.
        found: &'static str,
    },
    /// A `METR` metric value is not a number.
    #[error("METR metric {name:?} must be a number, got a JSON {found}")]
    MetricNotNumber {
        /// The metric name.
        name: String,
        /// The JSON type received, e.g. `string`.
        found: &'static str,
    },
}

/// Debug-formats a frame as `b"..."`, escaped and cut at [`PREVIEW_LEN`] bytes.
struct Preview<'a>(&'a [u8]);

impl fmt::Debug for Preview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.0.get(..PREVIEW_LEN).unwrap_or(self.0);
        write!(f, "b\"{}\"", shown.escape_ascii())?;
        match shown.len() < self.0.len() {
            true => write!(f, "... ({} bytes)", self.0.len()),
            false => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mp(frames: &[&[u8]]) -> Multipart {
        Multipart::new(frames.iter().map(|f| Bytes::copy_from_slice(f)).collect()).unwrap()
    }

    fn values(pairs: &[(&str, serde_json::Number)]) -> MetricValues {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn num(json: &str) -> serde_json::Number {
        serde_json::from_str(json).unwrap()
    }

    fn samples() -> Vec<Message> {
        vec![
            Message::Hello,
            Message::File {
                name: "a.txt".into(),
                contents: Bytes::new(),
            },
            Message::File {
                name: "données/日本語 🚀.bin".into(),
                contents: vec![0xA5; 1 << 20].into(),
            },
            Message::File {
                name: String::new(),
                contents: Bytes::from_static(b"\0\xff"),
            },
            Message::Control {
                text: Message::CTRL_PING.into(),
            },
            Message::Control {
                text: "ünïcode ✓".into(),
            },
            Message::Control {
                text: String::new(),
            },
            Message::metrics(
                "host-1",
                values(&[("mem.free", num("123")), ("cpu.percent", num("12.5"))]),
            ),
            Message::model(
                "h",
                values(&[
                    ("neg", num("-7")),
                    ("big", num("18446744073709551615")),
                    ("f", num("1.0")),
                ]),
            ),
            Message::Metrics {
                hostname: "ホスト".into(),
                values: MetricValues::new(),
                kind: "custom".into(),
            },
        ]
    }

    #[test]
    fn round_trip_every_variant() {
        for msg in samples() {
            let wire = msg.encode();
            assert_eq!(Message::decode(&wire), Ok(msg.clone()));
            assert_eq!(Message::try_from(Multipart::from(msg.clone())), Ok(msg));
        }
    }

    #[test]
    fn wire_frames() {
        let frames = |m: Message| m.encode().into_frames();
        assert_eq!(frames(Message::Hello), [&b"HELLO"[..]]);
        let file = Message::File {
            name: "n".into(),
            contents: Bytes::from_static(b"c"),
        };
        assert_eq!(frames(file), [&b"FILE"[..], b"n", b"c"]);
        assert_eq!(
            frames(Message::Control {
                text: "ping".into()
            }),
            [&b"CTRL"[..], b"ping"]
        );
        let metr = Message::metrics("h", values(&[("b", num("2.5")), ("a", num("1"))]));
        assert_eq!(
            frames(metr),
            [&b"METR"[..], b"h", br#"{"a":1,"b":2.5}"#, b"metrics"]
        );
        let model = Message::model("h", MetricValues::new());
        assert_eq!(frames(model), [&b"METR"[..], b"h", b"{}", b"model"]);
    }

    #[test]
    fn header_and_name() {
        let names: Vec<_> = samples().iter().map(|m| (m.name(), m.header())).collect();
        assert_eq!(names.first(), Some(&("HELLO", &b"HELLO"[..])));
        for msg in samples() {
            assert_eq!(msg.encode().first(), msg.header());
            assert_eq!(msg.name().as_bytes(), msg.header());
        }
    }

    #[test]
    fn python_json_dumps_decodes() {
        let wire = mp(&[
            b"METR",
            b"pi",
            br#"{"mem.free": 123, "cpu.percent": 12.5}"#,
            b"metrics",
        ]);
        let msg = Message::decode(&wire).unwrap();
        let want = values(&[("mem.free", 123u64.into()), ("cpu.percent", num("12.5"))]);
        assert_eq!(msg, Message::metrics("pi", want));
        let Message::Metrics { values, .. } = &msg else {
            unreachable!()
        };
        assert!(values["mem.free"].is_u64() && values["cpu.percent"].is_f64());
        assert_eq!(
            msg.encode().frames()[2],
            &br#"{"cpu.percent":12.5,"mem.free":123}"#[..]
        );
    }

    #[test]
    fn floats_round_trip_exactly() {
        // 100/27 has a 17-digit shortest form that serde_json parses 1 ULP off
        // unless its `float_roundtrip` feature is enabled.
        for f in [
            100.0 / 27.0,
            -2.339_801_734_929_282e-290,
            0.1,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let n = serde_json::Number::from_f64(f).unwrap();
            let msg = Message::metrics("h", values(&[("x", n)]));
            let back = Message::decode(&msg.encode());
            assert_eq!(
                back,
                Ok(msg),
                "serde_json needs its `float_roundtrip` feature"
            );
        }
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(Multipart::new(vec![]), Err(MessageError::Empty));
        assert_eq!(Multipart::try_from(Vec::new()), Err(MessageError::Empty));
    }

    #[test]
    fn rejects_unknown_header() {
        let err = Message::decode(&mp(&[b"FOO", b"x"])).unwrap_err();
        assert_eq!(err, MessageError::UnknownHeader(Bytes::from_static(b"FOO")));
        assert_eq!(
            err.to_string(),
            r#"unknown message header "FOO" (expected HELLO, FILE, CTRL or METR)"#
        );
        // Case matters, and a long header is cut to 32 bytes.
        let err = Message::decode(&mp(&[b"hello"])).unwrap_err();
        assert_eq!(
            err,
            MessageError::UnknownHeader(Bytes::from_static(b"hello"))
        );
        let err = Message::decode(&Multipart::single(vec![b'"'; 1 << 20])).unwrap_err();
        assert_eq!(err, MessageError::UnknownHeader(vec![b'"'; 32].into()));
        assert!(err.to_string().len() < 150);
        assert!(Message::decode(&mp(&[b""])).is_err());
    }

    #[test]
    fn rejects_wrong_frame_count() {
        let cases: [(&[&[u8]], &str, usize); 6] = [
            (&[b"HELLO", b"x"], "HELLO", 1),
            (&[b"FILE", b"n"], "FILE", 3),
            (&[b"FILE", b"n", b"c", b"x"], "FILE", 3),
            (&[b"CTRL"], "CTRL", 2),
            (&[b"METR", b"h", b"{}"], "METR", 4),
            (&[b"METR", b"h", b"{}", b"k", b"x"], "METR", 4),
        ];
        for (frames, header, expected) in cases {
            let got = frames.len();
            let err = Message::decode(&mp(frames)).unwrap_err();
            assert_eq!(
                err,
                MessageError::WrongFrameCount {
                    header,
                    expected,
                    got
                }
            );
        }
        let err = Message::decode(&mp(&[b"CTRL"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CTRL message has 1 frames, expected 2 (header included)"
        );
    }

    #[test]
    fn rejects_not_utf8() {
        let bad: &[u8] = b"\xff\xfe";
        let cases: [(&[&[u8]], &str, &str); 4] = [
            (&[b"FILE", bad, b"c"], "FILE", "name"),
            (&[b"CTRL", bad], "CTRL", "text"),
            (&[b"METR", bad, b"{}", b"metrics"], "METR", "hostname"),
            (&[b"METR", b"h", b"{}", bad], "METR", "kind"),
        ];
        for (frames, header, field) in cases {
            let err = Message::decode(&mp(frames)).unwrap_err();
            assert_eq!(err, MessageError::NotUtf8 { header, field });
        }
        // FILE contents are arbitrary bytes.
        assert!(Message::decode(&mp(&[b"FILE", b"n", bad])).is_ok());
    }

    #[test]
    fn rejects_invalid_json() {
        for json in [
            &b""[..],
            b"{",
            b"{\"a\":NaN}",
            b"{} x",
            b"\xff",
            b"{'a': 1}",
        ] {
            let err = Message::decode(&mp(&[b"METR", b"h", json, b"metrics"])).unwrap_err();
            assert!(
                matches!(err, MessageError::InvalidJson { .. }),
                "{json:?}: {err:?}"
            );
        }
        let err = Message::decode(&mp(&[b"METR", b"h", b"{", b"metrics"])).unwrap_err();
        let detail = serde_json::from_str::<Value>("{").unwrap_err().to_string();
        assert_eq!(err, MessageError::InvalidJson { detail });
    }

    #[test]
    fn rejects_json_not_object() {
        for (json, found) in [
            ("[1]", "array"),
            ("1", "number"),
            ("\"s\"", "string"),
            ("null", "null"),
        ] {
            let err = Message::decode(&mp(&[b"METR", b"h", json.as_bytes(), b"m"])).unwrap_err();
            assert_eq!(err, MessageError::JsonNotObject { found });
        }
    }

    #[test]
    fn rejects_metric_not_number() {
        let json = br#"{"ok": 1, "cpu": "12%"}"#;
        let err = Message::decode(&mp(&[b"METR", b"h", json, b"metrics"])).unwrap_err();
        assert_eq!(
            err,
            MessageError::MetricNotNumber {
                name: "cpu".into(),
                found: "string"
            }
        );
        assert_eq!(
            err.to_string(),
            r#"METR metric "cpu" must be a number, got a JSON string"#
        );
    }

    #[test]
    fn multipart_api() {
        let mut m = Multipart::from(&b"body"[..]);
        m.push_front(Bytes::from_static(b"id"));
        m.push_back(Bytes::from_static(b"tail"));
        assert_eq!(
            (m.len(), m.total_len(), m.first()),
            (3, 10, &Bytes::from_static(b"id"))
        );
        assert_eq!(m.iter().count(), 3);
        assert_eq!(
            (&m).into_iter().map(Bytes::len).collect::<Vec<_>>(),
            [2, 4, 4]
        );
        let (id, rest) = m.clone().pop_front();
        assert_eq!(
            (id, rest),
            (Bytes::from_static(b"id"), Some(mp(&[b"body", b"tail"])))
        );
        assert_eq!(
            Multipart::from("x").pop_front(),
            (Bytes::from_static(b"x"), None)
        );
        assert_eq!(Vec::from(m.clone()), m.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn debug_is_short() {
        let m = Multipart::new(vec![
            Bytes::from_static(b"A\n\""),
            vec![7u8; 1 << 20].into(),
        ])
        .unwrap();
        let dbg = format!("{m:?}");
        assert!(
            dbg.starts_with(r#"Multipart[b"A\n\"", b"\x07\x07"#),
            "{dbg}"
        );
        assert!(dbg.ends_with(r#"\x07"... (1048576 bytes)]"#), "{dbg}");
        let file = Message::File {
            name: "n".into(),
            contents: vec![0; 1 << 20].into(),
        };
        assert!(format!("{file:?}").len() < 200);
    }

    fn header() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::sample::select(vec!["HELLO", "FILE", "CTRL", "METR"]).prop_map(Vec::from),
            prop::collection::vec(any::<u8>(), 0..8),
        ]
    }

    fn field() -> impl Strategy<Value = Vec<u8>> {
        let json = [
            r#"{"a":1,"b":2.5}"#,
            "{}",
            r#"{"a": -1e3, "a": 0}"#,
            "[1]",
            r#"{"x":"y"}"#,
        ];
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..32),
            "\\PC{0,8}".prop_map(Vec::from),
            prop::sample::select(json.to_vec()).prop_map(Vec::from),
        ]
    }

    fn number() -> impl Strategy<Value = serde_json::Number> {
        prop_oneof![
            any::<u64>().prop_map(Into::into),
            any::<i64>().prop_map(Into::into),
            any::<f64>().prop_filter_map("finite", serde_json::Number::from_f64),
        ]
    }

    fn message() -> impl Strategy<Value = Message> {
        let values = prop::collection::btree_map("\\PC{0,6}", number(), 0..5);
        prop_oneof![
            Just(Message::Hello),
            ("\\PC*", prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(name, c)| {
                Message::File {
                    name,
                    contents: c.into(),
                }
            }),
            "\\PC*".prop_map(|text| Message::Control { text }),
            ("\\PC*", values, "\\PC*").prop_map(|(hostname, values, kind)| Message::Metrics {
                hostname,
                values,
                kind
            }),
        ]
    }

    proptest! {
        #[test]
        fn decode_never_panics(head in header(), rest in prop::collection::vec(field(), 0..5)) {
            let frames = std::iter::once(head).chain(rest).map(Bytes::from).collect();
            let wire = Multipart::new(frames).unwrap();
            if let Ok(msg) = Message::decode(&wire) {
                let again = msg.encode();
                prop_assert_eq!(Message::decode(&again), Ok(msg.clone()));
                if !matches!(msg, Message::Metrics { .. }) {
                    prop_assert_eq!(again, wire);
                }
            }
        }

        #[test]
        fn encode_decode_round_trip(msg in message()) {
            prop_assert_eq!(Message::decode(&msg.encode()), Ok(msg));
        }
    }
}
