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
//! XSalsa20, HSalsa20 (`xsalsa.rs`, four blocks at a time so that they vectorise) and
//! Poly1305 (`mac.rs`, 64-bit limbs) are ours. The composition is NaCl's
//! `crypto_secretbox_xsalsa20poly1305`: keystream octets 0..32 are the one-time Poly1305 key,
//! the message is xored with the keystream from octet 32 on, and the tag is Poly1305 of the
//! ciphertext, checked (in constant time) before anything is decrypted. The reference it is
//! tested against is RustCrypto's `crypto_secretbox` (`crypto_diff.rs`), which courier used
//! before: about half as fast (scalar Salsa20, 26-bit Poly1305 limbs).
//!
//! Keys are zeroized when dropped (`BoxKey` and `PrefixedKey` hold `Zeroizing` keys; the shared
//! secret is `Zeroizing`, keystream buffers (`Keystream`), the Salsa20 and Poly1305 states
//! zeroize themselves on drop).

use curve25519_dalek::montgomery::MontgomeryPoint;
use zeroize::{Zeroize, Zeroizing};

use super::mac::Poly1305;
use super::xsalsa::{self, Salsa20, CHUNK};

/// Bytes a box adds to what it holds (the Poly1305 tag).
pub(crate) const TAG_LEN: usize = 16;

/// A 24-octet XSalsa20 nonce.
pub(crate) type Nonce = [u8; 24];

/// The X25519 public key of a 32-octet secret key (`crypto_scalarmult_base`).
pub(crate) fn public_of(secret: &[u8; 32]) -> [u8; 32] {
    MontgomeryPoint::mul_base_clamped(*secret).to_bytes()
}

/// A 24-octet nonce from a prefix and a suffix (16 + 8 for short nonces, 8 + 16 for long ones).
pub(crate) fn nonce(prefix: &[u8], suffix: &[u8]) -> Nonce {
    let mut n = [0u8; 24];
    for (slot, b) in n.iter_mut().zip(prefix.iter().chain(suffix)) {
        *slot = *b;
    }
    n
}

/// A precomputed box key: `crypto_box_beforenm` for a pair of keys, or a `crypto_secretbox` key.
pub(crate) struct BoxKey(Zeroizing<[u8; 32]>);

impl BoxKey {
    /// The key shared by `our_secret` and `peer_public` (either side computes the same), or
    /// `None` if the peer's key is a low-order point (the shared secret would be all zero).
    pub(crate) fn shared(peer_public: &[u8; 32], our_secret: &[u8; 32]) -> Option<BoxKey> {
        let shared = Zeroizing::new(MontgomeryPoint(*peer_public).mul_clamped(*our_secret));
        if shared.as_bytes().iter().fold(0u8, |acc, b| acc | b) == 0 {
            return None;
        }
        Some(BoxKey(Zeroizing::new(xsalsa::hsalsa20(
            shared.as_bytes(),
            &[0; 16],
        ))))
    }

    /// A `crypto_secretbox` key.
    pub(crate) fn secret(key: &[u8; 32]) -> BoxKey {
        BoxKey(Zeroizing::new(*key))
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
        seal_with(Salsa20::xsalsa20(&self.0, nonce), tag, body);
    }

    /// Opens a box (tag then ciphertext); `None` if it is too short, was tampered with or was
    /// made with other keys or another nonce.
    pub(crate) fn open(&self, nonce: &Nonce, boxed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        open_to_vec_with(Salsa20::xsalsa20(&self.0, nonce), boxed).map(Zeroizing::new)
    }

    /// Opens a box in place: `boxed` holds the tag then the ciphertext; on success the
    /// plaintext is in `boxed[TAG_LEN..]`. (Sessions use [`PrefixedKey::open_in_place`].)
    #[cfg(test)]
    pub(crate) fn open_in_place(&self, nonce: &Nonce, boxed: &mut [u8]) -> Option<()> {
        open_in_place_with(Salsa20::xsalsa20(&self.0, nonce), boxed)
    }

    /// This key for nonces that all begin with `prefix` (16 octets): XSalsa20's first step,
    /// HSalsa20 of the key and the prefix, done once for all of them. CurveZMQ's MESSAGE
    /// nonces are a fixed prefix per direction and an 8-octet counter.
    pub(crate) fn with_prefix(&self, prefix: &[u8; 16]) -> PrefixedKey {
        PrefixedKey(Zeroizing::new(xsalsa::hsalsa20(&self.0, prefix)))
    }
}

/// A [`BoxKey`] for nonces with a fixed 16-octet prefix ([`BoxKey::with_prefix`]): its
/// methods take the last 8 octets of the nonce, and compute the same boxes as the
/// [`BoxKey`]'s with the whole nonce.
pub(crate) struct PrefixedKey(Zeroizing<[u8; 32]>);

impl PrefixedKey {
    /// [`BoxKey::seal_in_place`] with the nonce prefix + `suffix`.
    pub(crate) fn seal_in_place(&self, suffix: &[u8; 8], tag: &mut [u8], body: &mut [u8]) {
        seal_with(Salsa20::new(&self.0, suffix), tag, body);
    }

    /// [`BoxKey::open_in_place`] with the nonce prefix + `suffix`.
    pub(crate) fn open_in_place(&self, suffix: &[u8; 8], boxed: &mut [u8]) -> Option<()> {
        open_in_place_with(Salsa20::new(&self.0, suffix), boxed)
    }

    /// Opens a box into a new vector, with the nonce prefix + `suffix`: the box is read once
    /// to check it and once to decrypt it, never copied (for boxes in shared buffers, which
    /// cannot be opened in place).
    pub(crate) fn open_to_vec(&self, suffix: &[u8; 8], boxed: &[u8]) -> Option<Vec<u8>> {
        open_to_vec_with(Salsa20::new(&self.0, suffix), boxed)
    }
}

/// `crypto_secretbox` with the XSalsa20 keystream `salsa`: encrypts `body` in place, its tag
/// into `tag`.
fn seal_with(mut salsa: Salsa20, tag: &mut [u8], body: &mut [u8]) {
    let mut first = start(&mut salsa, body.len());
    // Keyed before `xor_stream` overwrites `first` with later keystream.
    let poly = poly1305(&first);
    xor_stream(&mut salsa, &mut first, body);
    let t = poly.compute(body);
    for (slot, b) in tag.iter_mut().zip(t.iter()) {
        *slot = *b;
    }
}

/// `crypto_secretbox_open` in place (tag then ciphertext in `boxed`).
fn open_in_place_with(mut salsa: Salsa20, boxed: &mut [u8]) -> Option<()> {
    if boxed.len() < TAG_LEN {
        return None;
    }
    let (tag, body) = boxed.split_at_mut(TAG_LEN);
    let mut first = start(&mut salsa, body.len());
    if !tag_matches(tag, &poly1305(&first).compute(body)) {
        return None;
    }
    xor_stream(&mut salsa, &mut first, body);
    Some(())
}

/// `crypto_secretbox_open` into a new vector.
fn open_to_vec_with(mut salsa: Salsa20, boxed: &[u8]) -> Option<Vec<u8>> {
    let (tag, body) = (boxed.get(..TAG_LEN)?, boxed.get(TAG_LEN..)?);
    let mut first = start(&mut salsa, body.len());
    if !tag_matches(tag, &poly1305(&first).compute(body)) {
        return None;
    }
    let mut plain = Vec::with_capacity(body.len());
    let (head, rest) = body.split_at(body.len().min(CHUNK - 32));
    let ks = first.get(32..).unwrap_or(&[]);
    plain.extend(head.iter().zip(ks).map(|(c, k)| c ^ k));
    let mut counter = 0u64;
    for chunk in rest.chunks(CHUNK) {
        counter += (CHUNK / 64) as u64;
        salsa.blocks(counter, &mut first);
        plain.extend(chunk.iter().zip(first.iter()).map(|(c, k)| c ^ k));
    }
    Some(plain)
}

/// The first [`CHUNK`] octets of the keystream, whose first 32 are the Poly1305 key (NaCl's
/// `crypto_secretbox`: the message is encrypted from octet 32 on).
///
/// For a body of `len` octets: up to 96 octets, only the one or two blocks it needs are
/// computed (one at a time, each cheaper than the four at once of [`Salsa20::blocks`]);
/// the rest of the buffer is then zero and unused.
fn start(salsa: &mut Salsa20, len: usize) -> Keystream {
    let mut first = Keystream {
        buf: [0; CHUNK],
        used: CHUNK,
    };
    if len > 32 + 64 {
        salsa.blocks(0, &mut first);
    } else {
        let (b0, rest) = first.buf.split_at_mut(64);
        salsa.block(0, b0);
        first.used = 64;
        if len > 32 {
            salsa.block(1, rest);
            first.used = 128;
        }
    }
    first
}

/// A buffer of keystream, zeroized on drop as far as it was used: a short message's one or
/// two blocks are not followed by zeroing the whole buffer (the zeroize crate writes octet by
/// octet, which is not negligible next to boxing 8 octets).
struct Keystream {
    buf: [u8; CHUNK],
    used: usize,
}

impl std::ops::Deref for Keystream {
    type Target = [u8; CHUNK];
    fn deref(&self) -> &[u8; CHUNK] {
        &self.buf
    }
}

impl std::ops::DerefMut for Keystream {
    fn deref_mut(&mut self) -> &mut [u8; CHUNK] {
        &mut self.buf
    }
}

impl Drop for Keystream {
    fn drop(&mut self) {
        if let Some(used) = self.buf.get_mut(..self.used) {
            used.zeroize();
        }
    }
}

/// Whether a box's tag is the one expected, in constant time: every octet is compared
/// whatever the first difference.
fn tag_matches(tag: &[u8], expected: &[u8; TAG_LEN]) -> bool {
    let diff = tag
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(diff) == 0 && tag.len() == TAG_LEN
}

/// Poly1305 keyed with the first 32 octets of `first` (it zeroizes its key on drop).
fn poly1305(first: &[u8; CHUNK]) -> Poly1305 {
    Poly1305::new(first.first_chunk().unwrap_or(&[0; 32]))
}

/// Xors `body` with the keystream from octet 32 on: `first` holds blocks 0 to 3 (and is
/// overwritten with later blocks).
fn xor_stream(salsa: &mut Salsa20, first: &mut [u8; CHUNK], body: &mut [u8]) {
    let (head, rest) = body.split_at_mut(body.len().min(CHUNK - 32));
    xor(head, first.get(32..).unwrap_or(&[]));
    let mut counter = 0u64;
    for chunk in rest.chunks_mut(CHUNK) {
        counter += (CHUNK / 64) as u64;
        salsa.blocks(counter, first);
        xor(chunk, first.as_slice());
    }
}

/// `data ^= stream`, octet by octet (as far as the shorter goes).
fn xor(data: &mut [u8], stream: &[u8]) {
    for (d, s) in data.iter_mut().zip(stream) {
        *d ^= s;
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
