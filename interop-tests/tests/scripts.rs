//! The README's commands as a new user runs them (issue #17 items 8 and 10):
//!
//! - `scripts/demo.sh` checks its port before anything else and says what to do when it is
//!   taken, fails (non-zero, with a message) when one of its programs fails, and otherwise
//!   runs to the end with every part checked. It runs on the debug binaries the tests build
//!   (`DEMO_BIN_DIR`) and on a free port (`DEMO_ENDPOINT`), not on 5556, which other tests
//!   and programs on this machine may hold.
//! - `scripts/test.sh --plan` says which phases each mode runs, how long they take, and what
//!   it would install, without running anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use courier_interop_tests::{cargo_bin, free_port, scratch_dir, tcp_endpoint, workspace_root};

fn script(name: &str) -> PathBuf {
    workspace_root().join("scripts").join(name)
}

/// Runs `scripts/demo.sh` on `endpoint` with the programs in `bin_dir`, for 1 s.
fn demo(bin_dir: &Path, endpoint: &str) -> Output {
    Command::new("bash")
        .arg(script("demo.sh"))
        .env("DEMO_BIN_DIR", bin_dir)
        .env("DEMO_ENDPOINT", endpoint)
        .env("DEMO_SECONDS", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The directory of the debug binaries, with both programs built.
fn bin_dir() -> PathBuf {
    let client = cargo_bin("courier-client");
    let server = cargo_bin("courier-server");
    assert_eq!(client.parent(), server.parent());
    server.parent().unwrap().to_path_buf()
}

#[test]
fn demo_runs_every_part_and_checks_it() {
    let endpoint = tcp_endpoint(free_port());
    let out = demo(&bin_dir(), &endpoint);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    for part in [
        "[server] INFO  courier_server: listening on",
        "[alice] INFO  courier_client: received HELLO",
        "[bob] INFO  courier_client: received HELLO",
        "[carol] INFO  courier_client: received HELLO",
        "== the server saved bob's file: Hello from the courier demo",
        "== demo done: every part worked ==",
    ] {
        assert!(stdout.contains(part), "no {part:?} in:\n{stdout}\n{stderr}");
    }
}

#[test]
fn demo_checks_its_port_first_and_says_what_to_do() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    // A directory without the programs: the port check must come before anything else.
    let empty = scratch_dir("scripts_demo_port");
    let out = demo(&empty, &tcp_endpoint(port));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port} is already in use"))
            && stderr.contains(&format!("ss -ltnp 'sport = :{port}'"))
            && stderr.contains("stop it, and run ./scripts/demo.sh again"),
        "{stderr}"
    );
    assert!(!stdout.contains("client 'alice' starts"), "{stdout}");
    drop(held);
}

#[test]
fn demo_fails_loudly_when_its_server_fails() {
    // A courier-server that cannot bind (what a taken port did before): the real client, and
    // a server that says so and exits 2, as courier-server does.
    let dir = scratch_dir("scripts_demo_failing_server");
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("courier-server");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'error: cannot bind: Address already in use' >&2\nexit 2\n",
    )
    .unwrap();
    let chmod = Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    assert!(chmod.success());
    let client = dir.join("courier-client");
    let _ = std::fs::remove_file(&client);
    std::os::unix::fs::symlink(cargo_bin("courier-client"), &client).unwrap();

    let out = demo(&dir, &tcp_endpoint(free_port()));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("demo: error: server exited early with status 2"),
        "{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("demo done"), "{stdout}");
}

fn plan(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script("test.sh"))
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

#[test]
fn test_sh_says_what_it_runs_and_installs() {
    let full = plan(&["--plan"]);
    let quick = plan(&["--quick", "--plan"]);
    for phase in ["cargo fmt --check", "cargo clippy", "cargo test"] {
        assert!(full.contains(phase) && quick.contains(phase), "{phase}");
    }
    for phase in ["fuzzing", "Raspberry Pi builds under qemu", "no C"] {
        assert!(full.contains(phase), "{phase}:\n{full}");
        assert!(!quick.contains(phase), "{phase}:\n{quick}");
    }
    // Every phase line gives a rough duration.
    for out in [&full, &quick] {
        let phases: Vec<&str> = out
            .lines()
            .take_while(|l| !l.starts_with("It installs"))
            .filter(|l| l.starts_with("  - "))
            .collect();
        assert!(!phases.is_empty(), "{out}");
        for line in phases {
            assert!(
                line.contains("seconds") || line.contains("minute"),
                "{line}"
            );
        }
        // What it installs, or that it installs nothing.
        assert!(
            out.contains("It installs what is missing:")
                || out.contains("It installs nothing: everything it needs is here."),
            "{out}"
        );
    }
    // cargo-fuzz, when missing, goes into the project.
    if full.contains("cargo-fuzz") {
        assert!(
            full.contains("cargo install --locked --root target/tools"),
            "{full}"
        );
    }
    let bad = Command::new("bash")
        .arg(script("test.sh"))
        .arg("--fast")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn scripts_parse() {
    for name in [
        "demo.sh",
        "test.sh",
        "fuzz.sh",
        "cross.sh",
        "check-no-c.sh",
        "bench.sh",
    ] {
        let out = Command::new("bash")
            .arg("-n")
            .arg(script(name))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
