//! A timing harness for the per-message CURVE crypto, not a test: run it in release with
//! `cargo test --release -p courier-proto --lib curve::timing -- --ignored --nocapture`.
//!
//! It prints nanoseconds per call of `BoxKey::seal_in_place` / `open_in_place` and of
//! `Session::encode` / `decode` (which add the MESSAGE framing, the nonce and the buffers) for
//! the body sizes of the benchmark (8 B to 128 KiB).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crypto_secretbox::aead::generic_array::GenericArray;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Key, XSalsa20Poly1305};
use poly1305::Poly1305;

use super::crypto::{self, BoxKey, TAG_LEN};
use super::session::{NonceCounter, Session};
use super::xsalsa::{self, Salsa20, CHUNK};
use crate::frame::Frame;

const SIZES: [usize; 5] = [8, 64, 1024, 16 * 1024, 128 * 1024];
/// Wall time spent on each measurement.
const BUDGET: Duration = Duration::from_millis(400);

/// Runs `f` in rounds until `BUDGET` is spent; nanoseconds per call (best round of 5).
fn time(mut f: impl FnMut()) -> f64 {
    // Calibrate: calls per round so that a round takes about BUDGET / 5.
    let mut n = 1u32;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        if t.elapsed() > BUDGET / 50 {
            break;
        }
        n *= 2;
    }
    let n = n * 10;
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_secs_f64() * 1e9 / f64::from(n)
        })
        .fold(f64::INFINITY, f64::min)
}

/// Decodes the frames `make` gives (made untimed) until `BUDGET` of decoding is spent;
/// nanoseconds per frame.
fn time_decode(rx: &mut Session, mut make: impl FnMut() -> Vec<Frame>) -> f64 {
    let mut spent = Duration::ZERO;
    let mut count = 0u32;
    while spent < BUDGET {
        let frames = make();
        count += u32::try_from(frames.len()).unwrap();
        let t = Instant::now();
        for f in frames {
            black_box(rx.decode(f).unwrap());
        }
        spent += t.elapsed();
    }
    spent.as_secs_f64() * 1e9 / f64::from(count)
}

fn key() -> BoxKey {
    BoxKey::shared(&crypto::public_of(&[7u8; 32]), &[9u8; 32]).unwrap()
}

#[test]
#[ignore = "timing harness: run in release with --ignored --nocapture"]
fn per_message_cost() {
    let key = key();
    let n = crypto::nonce(b"CurveZMQMESSAGEC", &5u64.to_be_bytes());
    println!(
        "{:>8} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "size",
        "seal ns",
        "open ns",
        "encode ns",
        "decode ns",
        "dec shr ns",
        "ref seal ns",
        "poly1305 ns",
        "our poly ns"
    );
    for size in SIZES {
        let mut buf = vec![0x5au8; TAG_LEN + size];
        let seal = time(|| {
            let (tag, body) = buf.split_at_mut(TAG_LEN);
            key.seal_in_place(black_box(&n), tag, body);
        });
        // A valid box to open: opening in place decrypts it, so each call re-copies it; the
        // copy is timed apart and subtracted.
        let mut sealed = vec![0x5au8; TAG_LEN + size];
        {
            let (tag, body) = sealed.split_at_mut(TAG_LEN);
            key.seal_in_place(&n, tag, body);
        }
        let copy = time(|| {
            buf.copy_from_slice(black_box(&sealed));
            black_box(&mut buf);
        });
        let open = time(|| {
            buf.copy_from_slice(&sealed);
            assert!(key.open_in_place(black_box(&n), &mut buf).is_some());
        }) - copy;

        let mut tx = Session::new(self::key(), true, NonceCounter::new(), 0);
        let body = Bytes::from(vec![0x33u8; size]);
        let encode = time(|| {
            black_box(tx.encode(Frame::data(body.clone(), false)).unwrap());
        });
        // Decode: frames encoded ahead in batches, the encoding not timed.
        let mut tx = Session::new(self::key(), true, NonceCounter::new(), 0);
        let mut rx = Session::new(self::key(), false, NonceCounter::new(), 0);
        let batch = (4 << 20) / (size + 64) + 1;
        let decode = time_decode(&mut rx, || {
            (0..batch)
                .map(|_| tx.encode(Frame::data(body.clone(), false)).unwrap())
                .collect()
        });
        // Decode of frames sharing one buffer (as frames cut from a read buffer do): they
        // cannot be decrypted in place.
        let shared = time_decode(&mut rx, || {
            let mut all = Vec::new();
            let mut ranges = Vec::new();
            for _ in 0..batch {
                let f = tx.encode(Frame::data(body.clone(), false)).unwrap();
                ranges.push(all.len()..all.len() + f.body.len());
                all.extend_from_slice(&f.body);
            }
            let all = Bytes::from(all);
            ranges
                .into_iter()
                .map(|r| Frame::data(all.slice(r), false))
                .collect()
        });
        // The reference (RustCrypto's crypto_secretbox, what courier used before).
        let reference = XSalsa20Poly1305::new(Key::from_slice(&[3u8; 32]));
        let ref_seal = time(|| {
            let (tag, body) = buf.split_at_mut(TAG_LEN);
            let t = reference
                .encrypt_in_place_detached(GenericArray::from_slice(black_box(&n)), b"", body)
                .unwrap();
            tag.copy_from_slice(&t);
        });
        // The parts: Poly1305 of the body alone, ours and the poly1305 crate's.
        let our_poly = time(|| {
            let p = super::mac::Poly1305::new(&[1u8; 32]);
            black_box(p.compute(black_box(&buf[TAG_LEN..])));
        });
        let poly = time(|| {
            let p = Poly1305::new(poly1305::Key::from_slice(&[1u8; 32]));
            black_box(p.compute_unpadded(black_box(&buf[TAG_LEN..])));
        });
        println!(
            "{size:>8} {seal:>12.0} {open:>12.0} {encode:>12.0} {decode:>12.0} {shared:>12.0} {ref_seal:>12.0} {poly:>12.0} {our_poly:>12.0}"
        );
    }
    let mut salsa = Salsa20::xsalsa20(&[1; 32], &[2; 24]);
    let mut out = [0u8; CHUNK];
    let blocks = time(|| salsa.blocks(black_box(9), &mut out));
    let hsalsa = time(|| {
        black_box(xsalsa::hsalsa20(black_box(&[1; 32]), &[2; 16]));
    });
    println!(
        "Salsa20 x{}: {blocks:.0} ns; HSalsa20: {hsalsa:.0} ns",
        CHUNK / 64
    );
}
