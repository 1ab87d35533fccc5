//! Writes the seeds of the CURVE targets, `corpus/curve_{server,client}/seed-*`: genuine
//! HELLO / WELCOME / INITIATE / READY / MESSAGE octets from an in-memory handshake with the
//! targets' fixed keys and scripted randomness, plus operation scripts (see `src/curve.rs`).
//! Each seed is also run through its target's checks.
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example curve_seeds           # rewrite
//! cargo run --manifest-path fuzz/Cargo.toml --example curve_seeds -- --check  # compare
//! cargo run --manifest-path fuzz/Cargo.toml --example curve_seeds -- --show server FILE...
//! ```
//!
//! `--show ROLE FILE...` runs inputs (seeds, or crash artifacts) through the checks outside
//! libFuzzer and prints what the connection made of each.
//!
//! Rewrite the seeds whenever the CURVE mechanism draws its random numbers differently or
//! the keys in `src/curve.rs` change (the genuine octets would no longer replay).

use std::path::PathBuf;
use std::process::ExitCode;

use courier_proto_fuzz::curve::{check_curve, seeds, Role, SEPARATOR};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--show") {
        let role = match args.get(1).map(String::as_str) {
            Some("server") => Role::Server,
            Some("client") => Role::Client,
            _ => {
                eprintln!("usage: curve_seeds --show server|client FILE...");
                return ExitCode::FAILURE;
            }
        };
        for file in &args[2..] {
            let bytes = std::fs::read(file).expect("read input");
            match check_curve(role, &bytes) {
                Some(run) => println!("{file}: {}", run.summary()),
                None => println!("{file}: too short"),
            }
        }
        return ExitCode::SUCCESS;
    }
    let check = args.iter().any(|a| a == "--check");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut stale = 0;
    for (role, dir) in [(Role::Server, "curve_server"), (Role::Client, "curve_client")] {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        for (name, bytes) in seeds(role) {
            let run = check_curve(role, &bytes).expect("seed too short");
            println!("{role:?} {name}: {}", run.summary());
            if name.contains("split") {
                // Genuine bodies must not contain the separator by chance.
                let cuts = bytes.windows(SEPARATOR.len()).filter(|w| *w == SEPARATOR).count();
                assert!(cuts <= 2, "{name}: separator inside a body");
            }
            let path = dir.join(name);
            let same = std::fs::read(&path).is_ok_and(|old| old == bytes);
            if check {
                if !same {
                    eprintln!("stale: {}", path.display());
                    stale += 1;
                }
            } else if !same {
                std::fs::write(&path, &bytes).expect("write seed");
                println!("wrote {} ({} octets)", path.display(), bytes.len());
            }
        }
    }
    if stale > 0 {
        eprintln!("{stale} stale seeds: run without --check to rewrite them");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
