//! The 64-byte ZMTP 3.x greeting (RFC 23 / RFC 37).
//!
//! ```text
//! signature  %xFF 8%x00 %x7F       10 octets
//! version    major minor             2 octets
//! mechanism  20 octets, ASCII, NUL padded
//! as-server  %x00 / %x01            1 octet
//! filler     31 %x00
//! ```

use std::fmt;

use thiserror::Error;

/// Length of a complete greeting.
pub const GREETING_LEN: usize = 64;
/// The protocol version we send: ZMTP 3.1.
pub const OUR_VERSION: (u8, u8) = (3, 1);

const SIGNATURE_FIRST: u8 = 0xFF;
const SIGNATURE_LAST: u8 = 0x7F;
const MECHANISM_AT: usize = 12;
const MECHANISM_LEN: usize = 20;
const AS_SERVER_AT: usize = 32;

/// A security mechanism name as carried in the greeting: 1 to 20 ASCII characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MechanismName {
    bytes: [u8; MECHANISM_LEN],
}

impl MechanismName {
    /// The NULL mechanism (no security).
    pub const NULL: MechanismName = MechanismName::from_static(b"NULL");
    /// The PLAIN mechanism (clear-text user name and password).
    pub const PLAIN: MechanismName = MechanismName::from_static(b"PLAIN");
    /// The CURVE mechanism (RFC 26, CurveZMQ).
    pub const CURVE: MechanismName = MechanismName::from_static(b"CURVE");

    #[allow(clippy::indexing_slicing)] // const fn over a literal; `i` is bounds-checked
    const fn from_static(name: &[u8]) -> Self {
        let mut bytes = [0u8; MECHANISM_LEN];
        let mut i = 0;
        while i < name.len() && i < MECHANISM_LEN {
            bytes[i] = name[i];
            i += 1;
        }
        MechanismName { bytes }
    }

    /// The name, without its NUL padding. A name a peer sent that is not ASCII is shown escaped.
    pub fn as_bytes(&self) -> &[u8] {
        let end = self
            .bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(MECHANISM_LEN);
        self.bytes.get(..end).unwrap_or(&[])
    }

    /// The 20 octets as they appear on the wire.
    pub fn wire(&self) -> &[u8; MECHANISM_LEN] {
        &self.bytes
    }
}

impl fmt::Display for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_bytes().escape_ascii())
    }
}

impl fmt::Debug for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MechanismName({self})")
    }
}

/// A decoded greeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Greeting {
    /// Protocol version (major, minor).
    pub version: (u8, u8),
    /// The security mechanism the sender wants.
    pub mechanism: MechanismName,
    /// The sender's role in the security handshake (meaningful for CURVE and PLAIN).
    pub as_server: bool,
}

/// Why a greeting was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GreetingError {
    /// The first ten octets are not a ZMTP signature: the peer does not speak ZMTP
    /// (or speaks ZMTP 1.0, which has no signature).
    #[error("not a ZMTP peer: bad greeting signature (octet {at} is {found:#04x})")]
    BadSignature {
        /// Offset of the offending octet.
        at: usize,
        /// The octet found there.
        found: u8,
    },
    /// The peer speaks a ZMTP version older than 3.0.
    #[error("peer speaks ZMTP {major}.x; courier needs ZMTP 3.0 or later")]
    UnsupportedVersion {
        /// The peer's major version.
        major: u8,
    },
    /// The peer asked for a security mechanism other than ours.
    #[error("security mechanism mismatch: we use {ours}, the peer asked for {theirs}")]
    MechanismMismatch {
        /// Our mechanism.
        ours: MechanismName,
        /// The peer's mechanism.
        theirs: MechanismName,
    },
}

impl Greeting {
    /// Our greeting for a mechanism and role.
    pub fn new(mechanism: MechanismName, as_server: bool) -> Self {
        Greeting {
            version: OUR_VERSION,
            mechanism,
            as_server,
        }
    }

    /// Encodes the 64 octets.
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        let mut out = [0u8; GREETING_LEN];
        out[0] = SIGNATURE_FIRST;
        out[9] = SIGNATURE_LAST;
        out[10] = self.version.0;
        out[11] = self.version.1;
        out[MECHANISM_AT..MECHANISM_AT + MECHANISM_LEN].copy_from_slice(self.mechanism.wire());
        out[AS_SERVER_AT] = u8::from(self.as_server);
        out
    }

    /// Decodes a greeting from the start of `buf`.
    ///
    /// Returns `Ok(None)` while fewer than 64 octets are available, but rejects a bad signature
    /// or an old version as soon as the octets that show it arrive, so garbage is refused early.
    pub fn decode(buf: &[u8]) -> Result<Option<Greeting>, GreetingError> {
        if let Some(&found) = buf.first() {
            if found != SIGNATURE_FIRST {
                return Err(GreetingError::BadSignature { at: 0, found });
            }
        }
        if let Some(&found) = buf.get(9) {
            if found & 1 != 1 {
                // libzmq accepts any octet with the low bit set here (it was a ZMTP 1.0 flags
                // octet); 0x7F is what every ZMTP 3 peer sends.
                return Err(GreetingError::BadSignature { at: 9, found });
            }
        }
        if let Some(&major) = buf.get(10) {
            if major < 3 {
                return Err(GreetingError::UnsupportedVersion { major });
            }
        }
        let Some(greeting) = buf.get(..GREETING_LEN) else {
            return Ok(None);
        };
        let mut mechanism = [0u8; MECHANISM_LEN];
        mechanism.copy_from_slice(
            greeting
                .get(MECHANISM_AT..MECHANISM_AT + MECHANISM_LEN)
                .unwrap_or(&[0; MECHANISM_LEN]),
        );
        Ok(Some(Greeting {
            version: (
                greeting.get(10).copied().unwrap_or(0),
                greeting.get(11).copied().unwrap_or(0),
            ),
            mechanism: MechanismName { bytes: mechanism },
            as_server: greeting.get(AS_SERVER_AT).copied().unwrap_or(0) != 0,
        }))
    }

    /// Checks that the peer's greeting `theirs` can talk to ours.
    pub fn check_peer(&self, theirs: &Greeting) -> Result<(), GreetingError> {
        if theirs.mechanism != self.mechanism {
            return Err(GreetingError::MechanismMismatch {
                ours: self.mechanism,
                theirs: theirs.mechanism,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for g in [
            Greeting::new(MechanismName::NULL, false),
            Greeting::new(MechanismName::CURVE, true),
        ] {
            let bytes = g.encode();
            assert_eq!(Greeting::decode(&bytes), Ok(Some(g)));
        }
    }

    #[test]
    fn layout() {
        let b = Greeting::new(MechanismName::NULL, false).encode();
        assert_eq!(&b[..12], b"\xff\0\0\0\0\0\0\0\0\x7f\x03\x01");
        assert_eq!(&b[12..16], b"NULL");
        assert!(b[16..].iter().all(|&x| x == 0));
    }

    #[test]
    fn needs_all_64_octets() {
        let b = Greeting::new(MechanismName::NULL, false).encode();
        for n in 0..GREETING_LEN {
            assert_eq!(Greeting::decode(&b[..n]), Ok(None), "prefix {n}");
        }
    }

    #[test]
    fn rejects_garbage_at_first_octet() {
        assert_eq!(
            Greeting::decode(b"GET / HTTP/1.1"),
            Err(GreetingError::BadSignature { at: 0, found: b'G' })
        );
    }

    #[test]
    fn rejects_bad_signature_end() {
        let mut b = Greeting::new(MechanismName::NULL, false).encode();
        b[9] = 0;
        assert_eq!(
            Greeting::decode(&b[..10]),
            Err(GreetingError::BadSignature { at: 9, found: 0 })
        );
    }

    #[test]
    fn rejects_old_version() {
        let mut b = Greeting::new(MechanismName::NULL, false).encode();
        b[10] = 2;
        assert_eq!(
            Greeting::decode(&b[..11]),
            Err(GreetingError::UnsupportedVersion { major: 2 })
        );
    }

    #[test]
    fn accepts_3_0() {
        let mut b = Greeting::new(MechanismName::NULL, false).encode();
        b[11] = 0;
        assert_eq!(Greeting::decode(&b).unwrap().unwrap().version, (3, 0));
    }

    #[test]
    fn mechanism_mismatch() {
        let ours = Greeting::new(MechanismName::NULL, false);
        let theirs = Greeting::new(MechanismName::CURVE, true);
        assert_eq!(
            ours.check_peer(&theirs),
            Err(GreetingError::MechanismMismatch {
                ours: MechanismName::NULL,
                theirs: MechanismName::CURVE
            })
        );
        assert_eq!(MechanismName::CURVE.to_string(), "CURVE");
    }
}
