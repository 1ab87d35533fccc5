//! Runs the `connection_pub` seeds (`corpus/connection_pub/seed-*`) through the target's
//! checks outside libFuzzer, then mutated copies of them (flipped, dropped, inserted octets
//! and truncations from a fixed xorshift sequence), so the checks run on stable Rust without
//! cargo-fuzz.
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example pub_seeds            # 20 000 mutants
//! cargo run --manifest-path fuzz/Cargo.toml --example pub_seeds -- 200000
//! ```

use std::path::Path;

use courier_proto_fuzz::control;
use courier_proto_fuzz::publisher::check_publisher;

fn check(data: &[u8]) {
    if let Some((ctl, rest)) = control(data) {
        check_publisher(ctl.limits, rest, ctl.chunk, ctl.handshake);
    }
}

fn main() {
    let mutants: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/connection_pub");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    for seed in &seeds {
        check(seed);
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..mutants {
        let mut input = seeds[next() as usize % seeds.len()].clone();
        for _ in 0..1 + next() % 4 {
            let at = next() as usize % (input.len() + 1);
            match next() % 4 {
                0 if at < input.len() => input[at] = next() as u8,
                1 if at < input.len() => {
                    input.remove(at);
                }
                2 => input.insert(at, next() as u8),
                _ => input.truncate(at),
            }
        }
        check(&input);
    }
    println!(
        "connection_pub: {} seeds and {mutants} mutants checked",
        seeds.len()
    );
}
