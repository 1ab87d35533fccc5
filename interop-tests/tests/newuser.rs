//! What a new user trips over on the command line (issue #17), checked on the real binaries:
//! the keygen command every program that reads keys names in its missing-key error works and
//! makes the pair the program reads; `keygen` without `--name` makes that pair too; a file over
//! the message limit is refused before connecting; bad endpoints and numbers get the right hint;
//! `-h` and `--version` work everywhere.
//!
//! Every program runs with HOME set to its own scratch directory (so `~/.curve` is empty and
//! private to the test) and, where it could listen or connect, with a free port on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use courier_interop_tests::{cargo_bin, cargo_bin_of, free_port, scratch_dir, tcp_endpoint, Peer};

/// Upper bound of every single wait.
const WAIT: Duration = Duration::from_secs(20);

/// The version every binary prints (they share the workspace's).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A program that reads CURVE keys: its binary, arguments that make it load its key pair
/// from `~/.curve` (with free ports, should it get further), the pair it reads by default,
/// and how its error ends once that pair exists (the next thing it needs).
struct Program {
    name: &'static str,
    bin: PathBuf,
    args: Vec<String>,
    key: &'static str,
    next_error_ends: &'static str,
}

/// The five programs that read key files.
fn programs() -> Vec<Program> {
    let monitor = |bin| cargo_bin_of("courier-monitor", bin);
    let copy_server_key = "(NAME.key from the server's curve directory, not the .key_secret)";
    vec![
        Program {
            name: "courier-server",
            bin: cargo_bin("courier-server"),
            args: vec!["--curve".into(), "--bind".into(), tcp_endpoint(free_port())],
            key: "server",
            next_error_ends: "or pass --allow-any-client",
        },
        Program {
            name: "courier-client",
            bin: cargo_bin("courier-client"),
            args: vec![
                "--curve".into(),
                "--connect".into(),
                tcp_endpoint(free_port()),
            ],
            key: "client",
            next_error_ends: copy_server_key,
        },
        Program {
            name: "courier-agent",
            bin: monitor("courier-agent"),
            args: vec!["127.0.0.1".into(), "--port".into(), free_port().to_string()],
            key: "agent",
            next_error_ends: copy_server_key,
        },
        Program {
            name: "courier-collector",
            bin: monitor("courier-collector"),
            args: vec![
                "127.0.0.1".into(),
                "--port".into(),
                free_port().to_string(),
                "--viewer-bind".into(),
                tcp_endpoint(free_port()),
            ],
            key: "collector",
            next_error_ends: "its client.key goes there)",
        },
        Program {
            name: "courier-top",
            bin: monitor("courier-top"),
            args: vec![
                "127.0.0.1".into(),
                "--port".into(),
                free_port().to_string(),
                "--json".into(),
            ],
            key: "client",
            next_error_ends: copy_server_key,
        },
    ]
}

/// `bin args...` with HOME set to `home` and the default log level.
fn command(bin: &Path, args: &[&str], home: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args).env("HOME", home).env_remove("RUST_LOG");
    cmd
}

/// What a program that ran to its exit printed.
struct Exited {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to its exit (killing it after [`WAIT`]) with all of its output.
fn run_to_exit(mut cmd: Command, label: &str) -> Exited {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{label}: cannot start {cmd:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(WAIT) {
        Ok(output) => output.unwrap_or_else(|e| panic!("{label}: {e}")),
        Err(_) => {
            // Not reaped yet (its waiter is still waiting), so the pid is still the child's.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{label}: still running after {WAIT:?}");
        }
    };
    Exited {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `cmd`, which must exit with status 2 and a standard error containing `want`;
/// returns that standard error.
fn expect_usage_error(cmd: Command, label: &str, want: &str) -> String {
    let out = run_to_exit(cmd, label);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{label}: {}; stderr: {}",
        out.status,
        out.stderr
    );
    assert!(
        out.stderr.contains(want),
        "{label}: no {want:?} in stderr: {}",
        out.stderr
    );
    out.stderr
}

/// Runs `cmd`, which must exit 0 with a stdout line equal to `want` or (`prefix`) starting
/// with it; returns all stdout lines.
fn expect_prints(cmd: Command, label: &str, want: &str, prefix: bool) -> Vec<String> {
    let out = run_to_exit(cmd, label);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{label}: {}; stderr: {}",
        out.status,
        out.stderr
    );
    let lines: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
    assert!(
        lines.iter().any(|l| if prefix {
            l.starts_with(want)
        } else {
            l == want
        }),
        "{label}: no line {want:?} in {lines:#?}"
    );
    lines
}

/// The program, with its own key pair in `home/.curve`, now stops at the next thing it needs
/// (the peer's key, the allowlist) rather than at its key pair.
fn expect_past_its_key_pair(p: &Program, home: &Path, label: &str) {
    let args: Vec<&str> = p.args.iter().map(String::as_str).collect();
    let stderr = expect_usage_error(
        command(&p.bin, &args, home),
        &format!("{} ({label})", p.name),
        p.next_error_ends,
    );
    assert!(
        !stderr.contains(&format!("{}.key_secret", p.key)),
        "{}: still wants its key pair after {label}: {stderr}",
        p.name
    );
}

fn assert_pair_exists(home: &Path, name: &str, who: &str) {
    for file in [format!("{name}.key"), format!("{name}.key_secret")] {
        let path = home.join(".curve").join(&file);
        assert!(path.is_file(), "{who}: {} was not created", path.display());
    }
}

#[test]
fn every_missing_key_hint_is_a_keygen_command_that_works() {
    for p in programs() {
        let home = scratch_dir(&format!("newuser_hint_{}", p.name));
        let args: Vec<&str> = p.args.iter().map(String::as_str).collect();
        let stderr = expect_usage_error(
            command(&p.bin, &args, &home),
            p.name,
            "to create a key pair there, run: ",
        );
        let secret = home.join(".curve").join(format!("{}.key_secret", p.key));
        assert!(
            stderr.contains(&format!("cannot read key file {}", secret.display())),
            "{}: {stderr}",
            p.name
        );
        // The hint is the rest of its line; it names the program as it was invoked.
        let hint = stderr
            .lines()
            .find_map(|l| l.split_once("to create a key pair there, run: "))
            .map(|(_, hint)| hint.trim().to_owned())
            .unwrap();
        assert_eq!(
            hint,
            format!(
                "{} keygen --name {} -d {}",
                p.bin.display(),
                p.key,
                home.join(".curve").display()
            ),
            "{}",
            p.name
        );

        let mut shell = Command::new("sh");
        shell.args(["-c", &hint]).env("HOME", &home);
        expect_prints(
            shell,
            &format!("{} hint", p.name),
            "public key (Z85): ",
            true,
        );
        assert_pair_exists(&home, p.key, p.name);
        expect_past_its_key_pair(&p, &home, "running the hint");
    }
}

#[test]
fn keygen_without_a_name_makes_the_pair_the_program_reads() {
    for p in programs() {
        let home = scratch_dir(&format!("newuser_keygen_{}", p.name));
        let lines = expect_prints(
            command(&p.bin, &["keygen"], &home),
            &format!("{} keygen", p.name),
            "public key (Z85): ",
            true,
        );
        let public = home.join(".curve").join(format!("{}.key", p.key));
        assert_eq!(
            lines.first().map(String::as_str),
            Some(format!("public key:  {}", public.display()).as_str()),
            "{}: {lines:?}",
            p.name
        );
        assert_pair_exists(&home, p.key, p.name);
        expect_past_its_key_pair(&p, &home, "keygen");
        // A second run keeps the pair rather than overwrite it.
        expect_usage_error(
            command(&p.bin, &["keygen"], &home),
            &format!("{} keygen again", p.name),
            "already exists; refusing to overwrite it (keep using it, or choose another --name or -d for a new pair)",
        );
    }
}

#[test]
fn help_and_version_work_on_every_program_and_keygen() {
    for p in programs() {
        let home = scratch_dir(&format!("newuser_help_{}", p.name));
        let version = format!("{} {VERSION}", p.name);
        for args in [&["--version"][..], &["keygen", "--version"]] {
            let lines = expect_prints(command(&p.bin, args, &home), p.name, &version, false);
            assert_eq!(lines, std::slice::from_ref(&version), "{} {args:?}", p.name);
        }
        for flag in ["-h", "--help"] {
            let usage = format!("Usage: {} [", p.name);
            let lines = expect_prints(command(&p.bin, &[flag], &home), p.name, &usage, true);
            for want in [
                format!("       {} keygen [--name <name>] [-d <dir>]", p.name),
                "  -h, --help, help  display usage information".to_owned(),
                "  --version         print the program's name and version".to_owned(),
            ] {
                assert!(
                    lines.contains(&want),
                    "{} {flag}: no {want:?} in {lines:#?}",
                    p.name
                );
            }
            let usage = format!("Usage: {} keygen [--name <name>] [-d <dir>]", p.name);
            let lines = expect_prints(
                command(&p.bin, &["keygen", flag], &home),
                p.name,
                &usage,
                true,
            );
            let default = format!(
                "Without --name, the pair is named {}: the one {} reads unless told otherwise (its --key-name).",
                p.key, p.name
            );
            assert!(
                lines.contains(&default),
                "{} keygen {flag}: {lines:#?}",
                p.name
            );
        }
        // Neither made anything.
        assert!(!home.join(".curve").exists(), "{}", p.name);
    }
}

#[test]
fn every_numeric_flag_says_what_it_expects() {
    let server = cargo_bin("courier-server");
    let client = cargo_bin("courier-client");
    let agent = cargo_bin_of("courier-monitor", "courier-agent");
    let collector = cargo_bin_of("courier-monitor", "courier-collector");
    let top = cargo_bin_of("courier-monitor", "courier-top");
    let port = |flag: &str, got: &str| {
        format!("error: {flag}: expected a port number from 1 to 65535, got \"{got}\"")
    };
    let cases: Vec<(&Path, Vec<&str>, String)> = vec![
        (
            &server,
            vec!["--send-hwm", "-5"],
            "error: --send-hwm: expected a whole number of messages (1 or more), got \"-5\"".into(),
        ),
        (
            &server,
            vec!["--max-frames", "0"],
            "error: --max-frames: expected a whole number of frames (1 or more), got \"0\"".into(),
        ),
        (
            &server,
            vec!["--max-connections", "lots"],
            "error: --max-connections: expected a whole number of connections (1 or more), got \"lots\"".into(),
        ),
        (
            &client,
            vec!["--send-hwm", "1e3"],
            "error: --send-hwm: expected a whole number of messages (1 or more), got \"1e3\"".into(),
        ),
        (&agent, vec!["127.0.0.1", "--port", "70000"], port("--port", "70000")),
        (&collector, vec!["127.0.0.1", "--port", "-1"], port("--port", "-1")),
        (&top, vec!["127.0.0.1", "--port", "x"], port("--port", "x")),
        // Sizes and durations said what they expect before: still so, with the flag named.
        (
            &server,
            vec!["--max-message-size", "big"],
            "error: --max-message-size: invalid size \"big\"; use e.g. 65536, 64KiB, 16MiB".into(),
        ),
        (
            &client,
            vec!["--interval", "0s"],
            "error: --interval: \"0s\": the interval must be more than zero".into(),
        ),
    ];
    let home = scratch_dir("newuser_numbers");
    for (bin, args, want) in cases {
        let label = format!("{} {args:?}", bin.display());
        let name = bin.file_name().unwrap().to_string_lossy().into_owned();
        let stderr = expect_usage_error(
            command(bin, &args, &home),
            &label,
            &format!("Run {name} --help for usage."),
        );
        assert!(
            stderr.starts_with(&format!("{want}\n")),
            "{label}: {stderr}"
        );
        assert!(!stderr.contains("invalid digit"), "{label}: {stderr}");
    }
}

#[test]
fn only_an_address_in_use_is_blamed_on_another_program() {
    let server = cargo_bin("courier-server");
    let client = cargo_bin("courier-client");
    let home = scratch_dir("newuser_endpoints");
    let check = "e.g. tcp://127.0.0.1:5556 or ipc:///tmp/courier.sock)";
    // Malformed endpoints and ports out of range: what is expected, and which flag.
    for (bin, flag, endpoint, says) in [
        (&server, "--bind", "foo", "error: invalid endpoint \"foo\""),
        (
            &server,
            "--bind",
            "tcp://127.0.0.1:70000",
            "error: invalid port in \"tcp://127.0.0.1:70000\"",
        ),
        (
            &client,
            "--connect",
            "foo",
            "error: invalid endpoint \"foo\"",
        ),
    ] {
        let label = format!("{} {flag} {endpoint}", bin.display());
        let stderr = expect_usage_error(command(bin, &[flag, endpoint], &home), &label, check);
        assert!(stderr.starts_with(says), "{label}: {stderr}");
        assert!(
            stderr.contains(&format!("(check {flag}: ")),
            "{label}: {stderr}"
        );
        assert!(!stderr.contains("another"), "{label}: {stderr}");
    }

    // An address in use: that hint, naming the flag that chose the address.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = tcp_endpoint(held.local_addr().unwrap().port());
    let stderr = expect_usage_error(
        command(&server, &["--bind", &endpoint], &home),
        "courier-server (address in use)",
        "(is another server already listening there? choose another with --bind)",
    );
    assert!(
        stderr.starts_with(&format!("error: cannot bind {endpoint}: ")),
        "{stderr}"
    );

    let collector = cargo_bin_of("courier-monitor", "courier-collector");
    let held_port = held.local_addr().unwrap().port().to_string();
    let free = free_port().to_string();
    let free_viewers = tcp_endpoint(free_port());
    for (args, flag) in [
        (
            vec!["127.0.0.1", "--port", &free, "--viewer-bind", &endpoint],
            "--viewer-bind",
        ),
        (
            vec![
                "127.0.0.1",
                "--port",
                &held_port,
                "--viewer-bind",
                &free_viewers,
            ],
            "LISTEN_IP and --port",
        ),
    ] {
        let mut args = args;
        args.push("--insecure");
        expect_usage_error(
            command(&collector, &args, &home),
            &format!("courier-collector (address in use, {flag})"),
            &format!("(is another collector already listening there? choose another with {flag})"),
        );
    }
    drop(held);
}

#[test]
fn a_file_over_the_message_limit_is_refused_before_connecting() {
    let client = cargo_bin("courier-client");
    let dir = scratch_dir("newuser_big_file");
    // 70 MiB without writing them (a sparse file): the client must not read it anyway.
    let big = dir.join("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(70 << 20)
        .unwrap();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = tcp_endpoint(server.local_addr().unwrap().port());
    let big_arg = big.to_str().unwrap();
    let stderr = expect_usage_error(
        command(
            &client,
            &["--connect", &endpoint, "--send-file", big_arg],
            &dir,
        ),
        "courier-client (70 MiB file)",
        "(both default to 64MiB)",
    );
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: {big_arg} is 73400320 bytes: as a FILE message (73400331 bytes with its \
             name) it is over the 67108864-byte message limit; to send it, raise \
             --max-message-size on both ends, e.g. `courier-client --max-message-size 71MiB \
             ...` and `courier-server --max-message-size 71MiB` (both default to 64MiB)"
        )
    );
    // It never connected: nothing is waiting to be accepted (the client has exited, so a
    // connection it had made would be queued here by now).
    server.set_nonblocking(true).unwrap();
    match server.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the client connected: {other:?}"),
    }

    // A file within the limit: the client says the file's size (not the message's).
    let small = dir.join("small.txt");
    std::fs::write(&small, vec![b'x'; 1000]).unwrap();
    let mut peer = Peer::spawn(
        command(
            &client,
            &[
                "--connect",
                &endpoint,
                "--send-file",
                small.to_str().unwrap(),
            ],
            &dir,
        ),
        "courier-client (small file)",
    );
    peer.expect_seen(
        |l| l.ends_with(&format!("will send {} (1000 bytes)", small.display())),
        WAIT,
    );
    peer.shutdown(WAIT);
}
