//! Poly1305 (D. J. Bernstein, "The Poly1305-AES message-authentication code", 2005; RFC 8439
//! section 2.5), for the one-time keys of `crypto_secretbox`.
//!
//! Arithmetic modulo p = 2^130 - 5 in three limbs of 44, 44 and 42 bits with 64 x 64 -> 128-bit
//! multiplications (the layout of Andrew Moon's poly1305-donna-64): nine multiplications per
//! 16-octet block, about twice as fast on 64-bit machines as the 26-bit limbs of the `poly1305`
//! crate's portable back end, and no per-key precomputation beyond `r * 20`. Constant time: the
//! final reduction selects with masks, no branch or index depends on the key or the message
//! (only on its public length). The key and the accumulator are zeroized on drop.

use zeroize::Zeroize;

const MASK44: u64 = (1 << 44) - 1;
const MASK42: u64 = (1 << 42) - 1;

/// A Poly1305 computation under one 32-octet one-time key.
pub(crate) struct Poly1305 {
    /// r, clamped, in limbs.
    r: [u64; 3],
    /// r1 * 20 and r2 * 20 (2^132 = 4 * 2^130 = 20 mod p, folded into the products).
    s: [u64; 2],
    /// The accumulator h.
    h: [u64; 3],
    /// s, the second half of the key, added at the end.
    pad: [u64; 2],
}

/// The low 64 bits (the truncation is the point).
#[inline(always)]
#[allow(clippy::cast_possible_truncation)]
fn lo(x: u128) -> u64 {
    x as u64
}

#[inline(always)]
fn mul(a: u64, b: u64) -> u128 {
    u128::from(a) * u128::from(b)
}

/// Two little-endian 64-bit words of 16 octets.
#[inline(always)]
fn le128(b: &[u8; 16]) -> (u64, u64) {
    let (a, c) = b.split_at(8);
    (
        u64::from_le_bytes(a.try_into().unwrap_or([0; 8])),
        u64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
    )
}

/// Messages from this length on are absorbed two blocks at a time (r^2 costs about a block).
const TWO_BLOCKS_FROM: usize = 128;

/// A 16-octet block as three limbs of 44, 44 and 42 bits, plus `hibit` in the top limb.
#[inline(always)]
fn limbs(m: &[u8; 16], hibit: u64) -> [u64; 3] {
    let (t0, t1) = le128(m);
    [
        t0 & MASK44,
        ((t0 >> 44) | (t1 << 20)) & MASK44,
        ((t1 >> 24) & MASK42) | hibit,
    ]
}

/// The product h * r mod p before carrying, `r20` being r1 * 20 and r2 * 20: limb products
/// at 2^132 and above are folded back times 20 (2^130 = 5 mod p, times 4 for the limb offset).
#[inline(always)]
fn products(h: [u64; 3], r: [u64; 3], r20: [u64; 2]) -> [u128; 3] {
    let ([h0, h1, h2], [r0, r1, r2], [s1, s2]) = (h, r, r20);
    [
        mul(h0, r0) + mul(h1, s2) + mul(h2, s1),
        mul(h0, r1) + mul(h1, r0) + mul(h2, s2),
        mul(h0, r2) + mul(h1, r1) + mul(h2, r0),
    ]
}

/// Carries a product back into limbs (the top one's excess over 2^130 folded in times 5).
#[inline(always)]
fn carry(d: [u128; 3]) -> [u64; 3] {
    let [d0, mut d1, mut d2] = d;
    d1 += d0 >> 44;
    let mut h0 = lo(d0) & MASK44;
    d2 += d1 >> 44;
    let mut h1 = lo(d1) & MASK44;
    let c = lo(d2 >> 42);
    let h2 = lo(d2) & MASK42;
    h0 += c * 5;
    h1 += h0 >> 44;
    h0 &= MASK44;
    [h0, h1, h2]
}

impl Poly1305 {
    /// Keyed with `key`: r (clamped) then s.
    pub(crate) fn new(key: &[u8; 32]) -> Poly1305 {
        let (r, pad) = key.split_at(16);
        let (t0, t1) = le128(r.try_into().unwrap_or(&[0; 16]));
        let r0 = t0 & 0xffc_0fff_ffff;
        let r1 = ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff;
        let r2 = (t1 >> 24) & 0x00f_ffff_fc0f;
        let (p0, p1) = le128(pad.try_into().unwrap_or(&[0; 16]));
        Poly1305 {
            r: [r0, r1, r2],
            s: [r1 * 20, r2 * 20],
            h: [0; 3],
            pad: [p0, p1],
        }
    }

    /// Absorbs one 16-octet block; `hibit` is 2^128 (as 1 << 40 in limb 2) for a whole block,
    /// 0 for the padded last one: h = (h + m) * r.
    #[inline(always)]
    fn block(&mut self, m: &[u8; 16], hibit: u64) {
        let [h0, h1, h2] = self.h;
        let [m0, m1, m2] = limbs(m, hibit);
        let d = products([h0 + m0, h1 + m1, h2 + m2], self.r, self.s);
        self.h = carry(d);
    }

    /// Absorbs two whole blocks: h = ((h + m) * r + n) * r = (h + m) * r^2 + n * r, the two
    /// products independent (twice the work of `block` in about the time of one, the
    /// multiplications of one block no longer waiting for those of the previous).
    #[inline(always)]
    fn two_blocks(&mut self, m: &[u8; 16], n: &[u8; 16], rr: [u64; 3], rr20: [u64; 2]) {
        let [h0, h1, h2] = self.h;
        let [m0, m1, m2] = limbs(m, 1 << 40);
        let a = products([h0 + m0, h1 + m1, h2 + m2], rr, rr20);
        let b = products(limbs(n, 1 << 40), self.r, self.s);
        self.h = carry([a[0] + b[0], a[1] + b[1], a[2] + b[2]]);
    }

    /// The tag of `data` (the whole message; Poly1305 keys are one-time).
    pub(crate) fn compute(mut self, data: &[u8]) -> [u8; 16] {
        let mut pairs = data.chunks_exact(32);
        if data.len() >= TWO_BLOCKS_FROM {
            let mut rr = carry(products(self.r, self.r, self.s));
            let mut rr20 = [rr[1] * 20, rr[2] * 20];
            for p in &mut pairs {
                let (m, n) = p.split_at(16);
                self.two_blocks(
                    m.try_into().unwrap_or(&[0; 16]),
                    n.try_into().unwrap_or(&[0; 16]),
                    rr,
                    rr20,
                );
            }
            rr.zeroize();
            rr20.zeroize();
        }
        let rest = if data.len() >= TWO_BLOCKS_FROM {
            pairs.remainder()
        } else {
            data
        };
        let mut blocks = rest.chunks_exact(16);
        for b in &mut blocks {
            self.block(b.try_into().unwrap_or(&[0; 16]), 1 << 40);
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            // The last partial block: its octets, then 1, then zeros (no 2^128 bit).
            let mut last = [0u8; 16];
            for (slot, b) in last.iter_mut().zip(rest.iter().chain([&1u8])) {
                *slot = *b;
            }
            self.block(&last, 0);
            last.zeroize();
        }
        self.finish()
    }

    /// Fully reduces h modulo p, adds s and gives h mod 2^128, little-endian.
    fn finish(&self) -> [u8; 16] {
        let [mut h0, mut h1, mut h2] = self.h;
        // Carry h through twice: h < 2^130 + a little, then h < 2^130.
        for _ in 0..2 {
            h2 += h1 >> 44;
            h1 &= MASK44;
            h0 += (h2 >> 42) * 5;
            h2 &= MASK42;
            h1 += h0 >> 44;
            h0 &= MASK44;
        }
        // g = h + 5 - 2^130 = h - p; if it does not borrow (h >= p), h = g. By masks.
        let mut g0 = h0 + 5;
        let mut g1 = h1 + (g0 >> 44);
        g0 &= MASK44;
        let mut g2 = (h2 + (g1 >> 44)).wrapping_sub(1 << 42);
        g1 &= MASK44;
        let take_g = (g2 >> 63).wrapping_sub(1); // all ones when g2 did not go negative
        g0 &= take_g;
        g1 &= take_g;
        g2 &= take_g;
        h0 = (h0 & !take_g) | g0;
        h1 = (h1 & !take_g) | g1;
        h2 = (h2 & !take_g) | g2;
        // h + s mod 2^128.
        let [p0, p1] = self.pad;
        h0 += p0 & MASK44;
        h1 += (((p0 >> 44) | (p1 << 20)) & MASK44) + (h0 >> 44);
        h0 &= MASK44;
        h2 += ((p1 >> 24) & MASK42) + (h1 >> 44);
        h1 &= MASK44;
        let lo64 = h0 | (h1 << 44);
        let hi64 = (h1 >> 20) | (h2 << 24);
        let mut tag = [0u8; 16];
        let (a, b) = tag.split_at_mut(8);
        a.copy_from_slice(&lo64.to_le_bytes());
        b.copy_from_slice(&hi64.to_le_bytes());
        tag
    }
}

impl Drop for Poly1305 {
    fn drop(&mut self) {
        self.r.zeroize();
        self.s.zeroize();
        self.h.zeroize();
        self.pad.zeroize();
    }
}
