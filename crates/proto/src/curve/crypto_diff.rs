//! Differential tests of our XSalsa20-Poly1305 (`crypto.rs`, `xsalsa.rs`) against RustCrypto's
//! `crypto_secretbox` (the implementation courier used before): same keys, nonces and
//! messages must give the same boxes, each must open the other's, and tampered boxes must not
//! open. Plus `crypto_box_beforenm` (X25519 then HSalsa20) against `crypto_secretbox`'s
//! HSalsa20, and our Poly1305 against the `poly1305` crate's.

// Test patterns: octets from counters, truncated on purpose.
#![allow(clippy::cast_possible_truncation)]

use crypto_secretbox::aead::generic_array::GenericArray;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Kdf, Key, Tag, XSalsa20Poly1305};
use proptest::prelude::*;

use super::crypto::{self, BoxKey, Nonce, TAG_LEN};
use super::xsalsa;

/// The reference box: tag then ciphertext.
fn reference_seal(key: &[u8; 32], nonce: &Nonce, plain: &[u8]) -> Vec<u8> {
    let mut body = plain.to_vec();
    let tag = XSalsa20Poly1305::new(Key::from_slice(key))
        .encrypt_in_place_detached(GenericArray::from_slice(nonce), b"", &mut body)
        .unwrap();
    let mut out = tag.to_vec();
    out.extend_from_slice(&body);
    out
}

fn reference_open(key: &[u8; 32], nonce: &Nonce, boxed: &[u8]) -> Option<Vec<u8>> {
    let (tag, body) = boxed.split_at(TAG_LEN);
    let mut body = body.to_vec();
    XSalsa20Poly1305::new(Key::from_slice(key))
        .decrypt_in_place_detached(
            GenericArray::from_slice(nonce),
            b"",
            &mut body,
            Tag::from_slice(tag),
        )
        .ok()?;
    Some(body)
}

/// Checks one key, nonce and message every way.
fn check(key: [u8; 32], nonce: Nonce, plain: &[u8], flip: usize) {
    let ours = BoxKey::secret(&key);
    let sealed = ours.seal(&nonce, plain);
    let reference = reference_seal(&key, &nonce, plain);
    assert!(sealed == reference, "box differs, length {}", plain.len());
    // In place, as Session does.
    let mut in_place = vec![0u8; TAG_LEN + plain.len()];
    let (tag, body) = in_place.split_at_mut(TAG_LEN);
    body.copy_from_slice(plain);
    ours.seal_in_place(&nonce, tag, body);
    assert!(in_place == reference);
    // Ours opens the reference's box, the reference opens ours.
    assert!(ours.open(&nonce, &reference).unwrap().as_slice() == plain);
    assert!(reference_open(&key, &nonce, &sealed).unwrap() == plain);
    let mut opened = reference.clone();
    assert!(ours.open_in_place(&nonce, &mut opened).is_some());
    assert!(&opened[TAG_LEN..] == plain);
    // One flipped bit anywhere (tag or ciphertext) and neither opens it.
    let mut tampered = reference.clone();
    let at = flip % tampered.len();
    tampered[at] ^= 1 << (flip % 8);
    assert!(ours.open(&nonce, &tampered).is_none());
    assert!(reference_open(&key, &nonce, &tampered).is_none());
    let mut tampered_in_place = tampered.clone();
    assert!(ours.open_in_place(&nonce, &mut tampered_in_place).is_none());
    assert!(
        tampered_in_place == tampered,
        "a refused box is left as it was"
    );
    // The same with the nonce's prefix fixed (as Session does): same boxes.
    let (prefix, suffix) = nonce.split_at(16);
    let prefixed = ours.with_prefix(prefix.try_into().unwrap());
    let suffix: &[u8; 8] = suffix.try_into().unwrap();
    let mut in_place = vec![0u8; TAG_LEN + plain.len()];
    let (tag, body) = in_place.split_at_mut(TAG_LEN);
    body.copy_from_slice(plain);
    prefixed.seal_in_place(suffix, tag, body);
    assert!(in_place == reference);
    assert!(prefixed.open_to_vec(suffix, &reference).unwrap() == plain);
    assert!(prefixed.open_in_place(suffix, &mut in_place).is_some());
    assert!(&in_place[TAG_LEN..] == plain);
    assert!(prefixed.open_to_vec(suffix, &tampered).is_none());
    let mut tampered_in_place = tampered.clone();
    assert!(prefixed
        .open_in_place(suffix, &mut tampered_in_place)
        .is_none());
    // Another nonce does not open it.
    let mut other = nonce;
    other[flip % 24] ^= 0x80;
    assert!(ours.open(&other, &reference).is_none());
}

fn message(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn secretbox_matches_reference(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        plain in proptest::collection::vec(any::<u8>(), 0..=5000),
        flip in any::<usize>(),
    ) {
        check(key, nonce, &plain, flip);
    }

    #[test]
    fn beforenm_matches_reference(ours in any::<[u8; 32]>(), theirs in any::<[u8; 32]>()) {
        let public = crypto::public_of(&theirs);
        let Some(key) = BoxKey::shared(&public, &ours) else { return Ok(()) };
        let shared = curve25519_dalek::montgomery::MontgomeryPoint(public).mul_clamped(ours);
        let reference_key = <XSalsa20Poly1305 as Kdf>::kdf(
            Key::from_slice(shared.as_bytes()),
            &GenericArray::default(),
        );
        let nonce = [7u8; 24];
        let plain = message(300, ours[0]);
        prop_assert_eq!(
            key.seal(&nonce, &plain),
            reference_seal(&reference_key.into(), &nonce, &plain)
        );
    }

    #[test]
    fn hsalsa20_matches_reference(key in any::<[u8; 32]>(), input in any::<[u8; 16]>()) {
        let reference = <XSalsa20Poly1305 as Kdf>::kdf(
            Key::from_slice(&key),
            GenericArray::from_slice(&input),
        );
        let ours = xsalsa::hsalsa20(&key, &input);
        prop_assert_eq!(ours.as_slice(), reference.as_slice());
    }
}

/// Every length around the chunk boundaries (224 octets in the first chunk, then 256 each).
#[test]
fn boundary_lengths_match_reference() {
    for len in (0..=1100).chain([4095, 4096, 4097, 65535, 65536, 65537, 70_000]) {
        check([len as u8; 32], [3u8; 24], &message(len, 9), len * 7 + 1);
    }
}

#[test]
fn long_messages_match_reference() {
    for len in [64 * 1024 + 1, 200 * 1024, 1 << 20] {
        check([0xa5; 32], [0x5a; 24], &message(len, 1), len);
    }
}

/// Our Poly1305 against the `poly1305` crate's.
fn check_poly1305(key: &[u8; 32], data: &[u8]) {
    use poly1305::universal_hash::KeyInit as _;
    let reference = poly1305::Poly1305::new(poly1305::Key::from_slice(key)).compute_unpadded(data);
    let ours = super::mac::Poly1305::new(key).compute(data);
    assert!(
        ours[..] == reference[..],
        "tag differs, length {}",
        data.len()
    );
}

proptest! {
    #[test]
    fn poly1305_matches_reference(
        key in any::<[u8; 32]>(),
        data in proptest::collection::vec(any::<u8>(), 0..=2000),
    ) {
        check_poly1305(&key, &data);
    }
}

/// Extreme keys and messages (all ones: the accumulator near 2^130, the final reduction and
/// the carries at their limits; lengths on both sides of `TWO_BLOCKS_FROM`), and the RFC 8439
/// (2.5.2) vector.
#[test]
fn poly1305_edges() {
    for key in [[0u8; 32], [0xff; 32], {
        let mut k = [0xff; 32];
        k[16..].fill(0);
        k
    }] {
        for len in (0..=80).chain([127, 128, 129, 143, 144, 160, 161, 1000, 4097]) {
            check_poly1305(&key, &vec![0xff; len]);
            check_poly1305(&key, &vec![0; len]);
        }
    }
    let key: [u8; 32] = [
        0x85, 0xd6, 0xbe, 0x78, 0x57, 0x55, 0x6d, 0x33, 0x7f, 0x44, 0x52, 0xfe, 0x42, 0xd5, 0x06,
        0xa8, 0x01, 0x03, 0x80, 0x8a, 0xfb, 0x0d, 0xb2, 0xfd, 0x4a, 0xbf, 0xf6, 0xaf, 0x41, 0x49,
        0xf5, 0x1b,
    ];
    let tag = super::mac::Poly1305::new(&key).compute(b"Cryptographic Forum Research Group");
    assert_eq!(
        tag,
        [
            0xa8, 0x06, 0x1d, 0xc1, 0x30, 0x51, 0x36, 0xc6, 0xc2, 0x2b, 0x8b, 0xaf, 0x0c, 0x01,
            0x27, 0xa9
        ]
    );
}

/// `Session::decode` opens frames in place when it holds the only reference, and from a shared
/// buffer (frames cut from the decoder's read buffer) otherwise: both give the frame sent, and
/// both refuse a tampered one.
#[test]
fn session_decodes_unique_and_shared_frames() {
    use super::session::{NonceCounter, Session};
    use crate::frame::Frame;
    use bytes::Bytes;

    let key = || BoxKey::secret(&[4; 32]);
    let mut tx = Session::new(key(), true, NonceCounter::new(), 0);
    let mut rx = Session::new(key(), false, NonceCounter::new(), 0);
    for len in [0, 1, 95, 96, 97, 223, 224, 225, 5000, 70_000] {
        let body = Bytes::from(message(len, 3));
        // Unique.
        let sent = tx.encode(Frame::data(body.clone(), true)).unwrap();
        let got = rx.decode(sent).unwrap();
        assert!(got.more && !got.command && got.body == body);
        // Shared with a buffer around it.
        let sent = tx.encode(Frame::data(body.clone(), false)).unwrap();
        let mut buf = b"xx".to_vec();
        buf.extend_from_slice(&sent.body);
        let buf = Bytes::from(buf);
        let shared = Frame::data(buf.slice(2..), false);
        let got = rx.decode(shared).unwrap();
        assert!(!got.more && got.body == body);
        // Tampered (the last octet), shared and unique: refused.
        let sent = tx.encode(Frame::data(body.clone(), false)).unwrap();
        let mut bad = sent.body.to_vec();
        *bad.last_mut().unwrap() ^= 1;
        let bad = Bytes::from(bad);
        let keep = bad.clone();
        assert!(rx.decode(Frame::data(keep.slice(..), false)).is_err());
        drop(keep);
        assert!(rx.decode(Frame::data(bad, false)).is_err());
    }
}
