//! NaCl's `crypto_box` and `crypto_secretbox`, as CurveZMQ uses them, over pure-Rust primitives.
//!
//! - `crypto_box_beforenm(pk, sk)` = HSalsa20(X25519(sk, pk), 16 zero octets): [`BoxKey::shared`].
//!   X25519 is curve25519-dalek's `mul_clamped` (RFC 7748, the scalar clamped and not reduced,
//!   exactly as libsodium computes it) and an all-zero shared secret (a low-order public key)
//!   is refused, as libsodium refuses it.
//! - `crypto_box_afternm` / `crypto_secretbox` = XSalsa20-Poly1305 under that key (or under a
//!   random key, for the cookie): [`BoxKey::seal`] and [`BoxKey::open`]. A box on the wire is
//!   the 16-octet Poly1305 tag followed by the ciphertext, as libsodium's `_easy` functions
//!   and libzmq write it (NaCl's 16 leading zero octets stripped).
//!
//! Keys are zeroized when dropped (crypto_secretbox zeroizes its key; the shared secret and the
//! intermediate values here are `Zeroizing`).

use crypto_secretbox::aead::generic_array::GenericArray;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Kdf, Key, Nonce, Tag, XSalsa20Poly1305};
use curve25519_dalek::montgomery::MontgomeryPoint;
use zeroize::Zeroizing;

/// Bytes a box adds to what it holds (the Poly1305 tag).
pub(crate) const TAG_LEN: usize = 16;

/// The X25519 public key of a 32-octet secret key (`crypto_scalarmult_base`).
pub(crate) fn public_of(secret: &[u8; 32]) -> [u8; 32] {
    MontgomeryPoint::mul_base_clamped(*secret).to_bytes()
}

/// A 24-octet nonce from a prefix and a suffix (16 + 8 for short nonces, 8 + 16 for long ones).
pub(crate) fn nonce(prefix: &[u8], suffix: &[u8]) -> Nonce {
    let mut n = Nonce::default();
    for (slot, b) in n.iter_mut().zip(prefix.iter().chain(suffix)) {
        *slot = *b;
    }
    n
}

/// A precomputed box key: `crypto_box_beforenm` for a pair of keys, or a `crypto_secretbox` key.
pub(crate) struct BoxKey(XSalsa20Poly1305);

impl BoxKey {
    /// The key shared by `our_secret` and `peer_public` (either side computes the same), or
    /// `None` if the peer's key is a low-order point (the shared secret would be all zero).
    pub(crate) fn shared(peer_public: &[u8; 32], our_secret: &[u8; 32]) -> Option<BoxKey> {
        let shared = Zeroizing::new(MontgomeryPoint(*peer_public).mul_clamped(*our_secret));
        if shared.as_bytes().iter().fold(0u8, |acc, b| acc | b) == 0 {
            return None;
        }
        let key = Zeroizing::new(<XSalsa20Poly1305 as Kdf>::kdf(
            Key::from_slice(shared.as_bytes()),
            &GenericArray::default(),
        ));
        Some(BoxKey(XSalsa20Poly1305::new(&key)))
    }

    /// A `crypto_secretbox` key.
    pub(crate) fn secret(key: &[u8; 32]) -> BoxKey {
        BoxKey(XSalsa20Poly1305::new(Key::from_slice(key)))
    }

    /// Boxes `plaintext`: the tag, then the ciphertext.
    pub(crate) fn seal(&self, nonce: &Nonce, plaintext: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; TAG_LEN + plaintext.len()];
        let (tag, body) = out.split_at_mut(TAG_LEN);
        body.copy_from_slice(plaintext);
        self.seal_in_place(nonce, tag, body);
        out
    }

    /// Encrypts `body` in place and writes its tag into `tag` (16 octets).
    pub(crate) fn seal_in_place(&self, nonce: &Nonce, tag: &mut [u8], body: &mut [u8]) {
        // XSalsa20-Poly1305 only fails with associated data, and there is none.
        if let Ok(t) = self.0.encrypt_in_place_detached(nonce, b"", body) {
            for (slot, b) in tag.iter_mut().zip(t.iter()) {
                *slot = *b;
            }
        }
    }

    /// Opens a box (tag then ciphertext); `None` if it is too short, was tampered with or was
    /// made with other keys or another nonce.
    pub(crate) fn open(&self, nonce: &Nonce, boxed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (tag, body) = (boxed.get(..TAG_LEN)?, boxed.get(TAG_LEN..)?);
        let mut plain = Zeroizing::new(body.to_vec());
        self.0
            .decrypt_in_place_detached(nonce, b"", &mut plain, Tag::from_slice(tag))
            .ok()?;
        Some(plain)
    }

    /// Opens a box in place: `boxed` holds the tag then the ciphertext; on success the
    /// plaintext is in `boxed[TAG_LEN..]`.
    pub(crate) fn open_in_place(&self, nonce: &Nonce, boxed: &mut [u8]) -> Option<()> {
        if boxed.len() < TAG_LEN {
            return None;
        }
        let (tag, body) = boxed.split_at_mut(TAG_LEN);
        let tag = *Tag::from_slice(tag);
        self.0
            .decrypt_in_place_detached(nonce, b"", body, &tag)
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_share_one_key() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let ab = BoxKey::shared(&public_of(&b), &a).unwrap();
        let ba = BoxKey::shared(&public_of(&a), &b).unwrap();
        let n = nonce(b"0123456789abcdef", &7u64.to_be_bytes());
        let sealed = ab.seal(&n, b"attack at dawn");
        assert_eq!(sealed.len(), TAG_LEN + 14);
        assert_eq!(&ba.open(&n, &sealed).unwrap()[..], b"attack at dawn");
        // Another nonce, a flipped bit or a truncated box do not open.
        let other = nonce(b"0123456789abcdef", &8u64.to_be_bytes());
        assert!(ba.open(&other, &sealed).is_none());
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(ba.open(&n, &tampered).is_none());
        assert!(ba.open(&n, &sealed[..15]).is_none());
        let mut in_place = sealed.clone();
        assert!(ba.open_in_place(&n, &mut in_place).is_some());
        assert_eq!(&in_place[TAG_LEN..], b"attack at dawn");
    }

    #[test]
    fn low_order_points_are_refused() {
        // u = 0 (order 2) and u = 1 (order 4): the clamped scalar, a multiple of 8, sends both
        // to the identity, an all-zero shared secret.
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(BoxKey::shared(&[0u8; 32], &[9u8; 32]).is_none());
        assert!(BoxKey::shared(&one, &[9u8; 32]).is_none());
        // A point of order 8 (from libsodium's blocklist).
        let order8 = [
            0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f,
            0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16,
            0x5f, 0x49, 0xb8, 0x00,
        ];
        assert!(BoxKey::shared(&order8, &[9u8; 32]).is_none());
    }
}
