//! Runs the PLAIN targets' seeds (`corpus/plain_*/seed-*`) through their checks outside
//! libFuzzer, then mutated copies of them (flipped, dropped and repeated octets from a fixed
//! xorshift sequence), so the checks can be exercised on stable Rust without cargo-fuzz.
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example plain_seeds            # 20 000 mutants
//! cargo run --manifest-path fuzz/Cargo.toml --example plain_seeds -- 200000
//! ```

use std::path::Path;

use courier_proto_fuzz::plain::{check_plain, check_plain_command, PlainRole};

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .collect();
    out.sort();
    out
}

fn main() {
    let mutants: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    type Check = fn(&[u8]);
    let targets: [(&str, Check); 3] = [
        ("plain_command", check_plain_command),
        ("plain_server", |d| check_plain(PlainRole::Server, d)),
        ("plain_client", |d| check_plain(PlainRole::Client, d)),
    ];
    for (name, check) in targets {
        let seeds = seeds(name);
        for seed in &seeds {
            check(seed);
        }
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
            "{name}: {} seeds and {mutants} mutants checked",
            seeds.len()
        );
    }
}
