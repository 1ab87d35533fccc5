//! Z85 (RFC 32): the printable encoding of CURVE keys, four octets to five characters.
//!
//! ```
//! use courier_proto::z85;
//!
//! // The test case of RFC 32.
//! let bytes = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
//! assert_eq!(z85::encode(&bytes)?, "HelloWorld");
//! assert_eq!(z85::decode("HelloWorld")?, bytes);
//! # Ok::<(), z85::Z85Error>(())
//! ```
//!
//! A CURVE key is 32 octets, so 40 characters: [`encode_key`] and [`decode_key`].

use thiserror::Error;

/// The 85 characters, in value order (RFC 32).
const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Characters in a Z85 key (32 octets).
pub const KEY_CHARS: usize = 40;

/// Why Z85 encoding or decoding failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Z85Error {
    /// Binary input whose length is not a multiple of 4.
    #[error("Z85 can only encode a multiple of 4 octets, not {len}")]
    BinaryLength {
        /// The input length.
        len: usize,
    },
    /// Text whose length is not a multiple of 5.
    #[error("Z85 text must be a multiple of 5 characters long, not {len}")]
    TextLength {
        /// The text length, in bytes.
        len: usize,
    },
    /// A character outside the Z85 alphabet.
    #[error("invalid Z85 character {found:?} at offset {at}")]
    InvalidChar {
        /// Byte offset of the character.
        at: usize,
        /// The character (the first byte of it if it is not ASCII).
        found: char,
    },
    /// Five characters whose value does not fit in 32 bits (above `%nSc0`).
    #[error("Z85 group at offset {at} is larger than 32 bits")]
    Overflow {
        /// Byte offset of the group.
        at: usize,
    },
    /// A key that is not 40 characters.
    #[error("a Z85 key must be {KEY_CHARS} characters long, not {len}")]
    KeyLength {
        /// The text length, in bytes.
        len: usize,
    },
}

/// The value of a Z85 character, if it is one.
fn value_of(c: u8) -> Option<u32> {
    ALPHABET
        .iter()
        .position(|&a| a == c)
        .and_then(|v| u32::try_from(v).ok())
}

/// Encodes `data` (a multiple of 4 octets) as Z85 text.
pub fn encode(data: &[u8]) -> Result<String, Z85Error> {
    if !data.chunks_exact(4).remainder().is_empty() {
        return Err(Z85Error::BinaryLength { len: data.len() });
    }
    let mut out = String::with_capacity(data.len() / 4 * 5);
    for chunk in data.chunks_exact(4) {
        let mut word = [0u8; 4];
        word.copy_from_slice(chunk);
        let mut value = u32::from_be_bytes(word);
        let mut group = [0u8; 5];
        for slot in group.iter_mut().rev() {
            // `value % 85` is below 85, so always an index into ALPHABET.
            let digit = usize::try_from(value % 85).unwrap_or(0);
            *slot = ALPHABET.get(digit).copied().unwrap_or(b'0');
            value /= 85;
        }
        out.extend(group.iter().map(|&b| char::from(b)));
    }
    Ok(out)
}

/// Decodes Z85 text (a multiple of 5 characters).
pub fn decode(text: &str) -> Result<Vec<u8>, Z85Error> {
    let mut out = Vec::with_capacity(text.len() / 5 * 4);
    decode_with(text, |word| out.extend_from_slice(&word))?;
    Ok(out)
}

/// Decodes `text` group by group, handing each group's four octets to `put` (no allocation,
/// so a secret key can be decoded straight into its place).
fn decode_with(text: &str, mut put: impl FnMut([u8; 4])) -> Result<(), Z85Error> {
    let bytes = text.as_bytes();
    if !bytes.chunks_exact(5).remainder().is_empty() {
        return Err(Z85Error::TextLength { len: bytes.len() });
    }
    for (group_index, group) in bytes.chunks_exact(5).enumerate() {
        let at = group_index * 5;
        let mut value: u64 = 0;
        for (i, &c) in group.iter().enumerate() {
            let digit = value_of(c).ok_or_else(|| Z85Error::InvalidChar {
                at: at + i,
                found: invalid_char(text, at + i),
            })?;
            value = value * 85 + u64::from(digit);
        }
        let word = u32::try_from(value).map_err(|_| Z85Error::Overflow { at })?;
        put(word.to_be_bytes());
    }
    Ok(())
}

/// The character starting at byte `at` of `text`, for error messages.
fn invalid_char(text: &str, at: usize) -> char {
    text.get(at..)
        .and_then(|rest| rest.chars().next())
        .or_else(|| text.as_bytes().get(at).map(|&b| char::from(b)))
        .unwrap_or('\u{fffd}')
}

/// Encodes a 32-octet key as its 40 Z85 characters.
pub fn encode_key(key: &[u8; 32]) -> String {
    // 32 is a multiple of 4: encoding cannot fail.
    encode(key).unwrap_or_default()
}

/// Decodes a 40-character Z85 key.
pub fn decode_key(text: &str) -> Result<[u8; 32], Z85Error> {
    if text.len() != KEY_CHARS {
        return Err(Z85Error::KeyLength { len: text.len() });
    }
    let mut key = [0u8; 32];
    let mut slots = key.chunks_exact_mut(4);
    decode_with(text, |word| {
        if let Some(slot) = slots.next() {
            slot.copy_from_slice(&word);
        }
    })?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc32_test_case() {
        let bytes = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&bytes).unwrap(), "HelloWorld");
        assert_eq!(decode("HelloWorld").unwrap(), bytes);
    }

    #[test]
    fn extremes_and_empty() {
        assert_eq!(encode(&[]).unwrap(), "");
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
        assert_eq!(encode(&[0; 4]).unwrap(), "00000");
        assert_eq!(encode(&[0xff; 4]).unwrap(), "%nSc0");
        assert_eq!(decode("%nSc0").unwrap(), vec![0xff; 4]);
        assert_eq!(decode("%nSc1"), Err(Z85Error::Overflow { at: 0 }));
        assert_eq!(decode("00000#####"), Err(Z85Error::Overflow { at: 5 }));
    }

    #[test]
    fn round_trip_all_byte_values() {
        let data: Vec<u8> = (0..=255u8).collect();
        let text = encode(&data).unwrap();
        assert_eq!(text.len(), 320);
        assert!(text.bytes().all(|c| ALPHABET.contains(&c)));
        assert_eq!(decode(&text).unwrap(), data);
    }

    #[test]
    fn libzmq_test_keys() {
        // The test key pairs from the zmq_curve(7) manual page.
        let client_public = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
        let key = decode_key(client_public).unwrap();
        assert_eq!(encode_key(&key), client_public);
        assert_eq!(
            key[..4],
            [0xBB, 0x88, 0x47, 0x1D],
            "the manual gives the key in hex as BB88471D..."
        );
    }

    #[test]
    fn errors() {
        assert_eq!(encode(&[1, 2, 3]), Err(Z85Error::BinaryLength { len: 3 }));
        assert_eq!(decode("abcd"), Err(Z85Error::TextLength { len: 4 }));
        assert_eq!(
            decode("abcd\""),
            Err(Z85Error::InvalidChar { at: 4, found: '"' })
        );
        assert_eq!(
            decode("abcd~"),
            Err(Z85Error::InvalidChar { at: 4, found: '~' })
        );
        // A multi-byte character is reported whole.
        assert_eq!(
            decode("ab\u{e9}c"),
            Err(Z85Error::InvalidChar {
                at: 2,
                found: '\u{e9}'
            })
        );
        assert_eq!(
            decode_key("HelloWorld"),
            Err(Z85Error::KeyLength { len: 10 })
        );
        let err = decode_key("HelloWorld").unwrap_err().to_string();
        assert!(err.contains("40 characters"), "{err}");
    }
}
