//! Connection metadata: the properties of READY (and CURVE INITIATE/READY) commands.
//!
//! ```text
//! property = name-size name value-size value
//! name-size = 1 octet; value-size = 4 octets, big-endian
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

/// Property name of the socket type.
pub const SOCKET_TYPE: &str = "Socket-Type";
/// Property name of the routing identity.
pub const IDENTITY: &str = "Identity";

/// Why metadata was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataError {
    /// A property name or value runs past the end of the command.
    #[error("a property runs past the end of the command")]
    Truncated,
    /// A property name is empty or has characters RFC 23 does not allow.
    #[error("invalid property name {0:?}")]
    InvalidName(String),
}

/// An ordered list of (name, value) properties. Names compare case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    properties: Vec<(String, Bytes)>,
}

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'+'))
}

impl Metadata {
    /// No properties.
    pub fn new() -> Self {
        Metadata::default()
    }

    /// Appends a property.
    pub fn push(&mut self, name: &str, value: impl Into<Bytes>) -> Result<(), MetadataError> {
        if !valid_name(name.as_bytes()) {
            return Err(MetadataError::InvalidName(name.to_owned()));
        }
        self.properties.push((name.to_owned(), value.into()));
        Ok(())
    }

    /// The first property named `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All properties in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.properties.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.properties.len()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// Appends the wire form.
    pub fn encode(&self, out: &mut BytesMut) {
        for (name, value) in &self.properties {
            out.put_u8(u8::try_from(name.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(name.as_bytes());
            out.put_u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
            out.extend_from_slice(value);
        }
    }

    /// Decodes the wire form; `data` must hold whole properties and nothing else.
    pub fn decode(data: &Bytes) -> Result<Metadata, MetadataError> {
        let mut properties = Vec::new();
        let mut at = 0usize;
        while at < data.len() {
            let name_len = usize::from(*data.get(at).ok_or(MetadataError::Truncated)?);
            let name_end = at + 1 + name_len;
            let name = data.get(at + 1..name_end).ok_or(MetadataError::Truncated)?;
            if !valid_name(name) {
                return Err(MetadataError::InvalidName(name.escape_ascii().to_string()));
            }
            let size = data
                .get(name_end..name_end + 4)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .ok_or(MetadataError::Truncated)?;
            let value_len = u32::from_be_bytes(size);
            let value_len = usize::try_from(value_len).map_err(|_| MetadataError::Truncated)?;
            let value_start = name_end + 4;
            let value_end = value_start
                .checked_add(value_len)
                .filter(|&end| end <= data.len())
                .ok_or(MetadataError::Truncated)?;
            // Names are checked ASCII above, so this conversion cannot fail.
            let name = String::from_utf8_lossy(name).into_owned();
            properties.push((name, data.slice(value_start..value_end)));
            at = value_end;
        }
        Ok(Metadata { properties })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_case_insensitive_get() {
        let mut m = Metadata::new();
        m.push("Socket-Type", &b"ROUTER"[..]).unwrap();
        m.push("X-Custom.prop+1", &b""[..]).unwrap();
        let mut out = BytesMut::new();
        m.encode(&mut out);
        let d = Metadata::decode(&out.freeze()).unwrap();
        assert_eq!(d, m);
        assert_eq!(d.get("socket-type").unwrap().as_ref(), b"ROUTER");
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn wire_form() {
        let mut m = Metadata::new();
        m.push("Identity", &b"ab"[..]).unwrap();
        let mut out = BytesMut::new();
        m.encode(&mut out);
        assert_eq!(&out[..], b"\x08Identity\x00\x00\x00\x02ab");
    }

    #[test]
    fn rejects_truncated() {
        for bad in [
            &b"\x08Iden"[..],
            b"\x08Identity\x00\x00",
            b"\x08Identity\x00\x00\x00\x05ab",
            b"\x08Identity\xff\xff\xff\xffab",
        ] {
            assert_eq!(
                Metadata::decode(&Bytes::copy_from_slice(bad)),
                Err(MetadataError::Truncated),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_invalid_names() {
        assert_eq!(
            Metadata::decode(&Bytes::from_static(b"\x00\x00\x00\x00\x00")),
            Err(MetadataError::InvalidName(String::new()))
        );
        assert_eq!(
            Metadata::decode(&Bytes::from_static(b"\x02a b\x00\x00\x00\x00")),
            Err(MetadataError::InvalidName("a ".into()))
        );
        assert!(Metadata::new().push("bad name", Bytes::new()).is_err());
    }
}
