//! The ZeroMQ Guide's examples: courier's ports (`crates/courier/examples`) against the
//! Guide's Python programs (`interop-tests/python/guide`, run on pyzmq/libzmq), in each role
//! a pair has: a courier server with a Python client and a Python server with a courier
//! client, and so on. Each test checks the lines both sides print, exactly where the Guide's
//! output is fixed, and by shape where it is random (weather, workloads, generated ids).
//!
//! The examples use the Guide's fixed ports (5555, 5556, 5557, 5558, 5559, 5560, 5563, 8100),
//! so the tests here run one at a time, and each first checks that its ports are free and
//! fails with a clear message if another program holds one. Every process is stopped at the
//! end by its PID: the courier ones with SIGINT (Ctrl-C), which must end them cleanly (exit
//! status 0), the Python ones (which loop for ever, as in the Guide) with SIGKILL.
//!
//! The examples are built (debug, or release for a release test run) by the harness's
//! `cargo_example` on first use.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::TcpListener;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use courier_interop_tests::{cargo_example, py_command, scratch_dir, Peer};

/// How long a line may take: generous, for debug builds on a busy 2-core machine (these are
/// bounds on waiting, not expectations of speed).
const LINE: Duration = Duration::from_secs(60);

/// How long a program may take to exit after its last line or after Ctrl-C.
const EXIT: Duration = Duration::from_secs(20);

/// The Guide's examples share fixed ports: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the lock that serialises these tests and checks that `ports` are free on every
/// interface (the examples bind `tcp://*:PORT`).
fn exclusive(ports: &[u16]) -> MutexGuard<'static, ()> {
    // A test that failed while holding the lock poisons it; the next one may still run.
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for &port in ports {
        for host in ["0.0.0.0", "127.0.0.1"] {
            if let Err(e) = TcpListener::bind((host, port)) {
                panic!(
                    "guide tests: port {port} is in use on {host} ({e}): the Guide's examples \
                     need their fixed ports; stop whatever holds it (`ss -ltnp 'sport = :{port}'`) \
                     and run again"
                );
            }
        }
    }
    guard
}

/// Starts courier's port of the Guide's example `name`.
fn courier(name: &str, args: &[&str]) -> Peer {
    courier_in(name, args, None, false)
}

/// Starts courier's `name` in directory `dir` (for ipc:// files), with stdin a pipe if
/// `stdin`.
fn courier_in(name: &str, args: &[&str], dir: Option<&std::path::Path>, stdin: bool) -> Peer {
    let mut cmd = Command::new(cargo_example("courier", name));
    cmd.args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    Peer::spawn_with_stdin(cmd, &format!("{name} (courier)"), stdin)
}

/// Starts the Guide's Python `name`.py.
fn python(name: &str, args: &[&str]) -> Peer {
    python_in(name, args, None, false)
}

fn python_in(name: &str, args: &[&str], dir: Option<&std::path::Path>, stdin: bool) -> Peer {
    let mut cmd = py_command(&format!("guide/{name}.py"), args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    Peer::spawn_with_stdin(cmd, &format!("{name}.py"), stdin)
}

/// The next line `peer` prints must be `expected`, exactly.
fn expect_next(peer: &mut Peer, expected: &str) {
    let line = peer.expect_line(|_| true, LINE);
    if line != expected {
        peer.fail(&format!("expected the line {expected:?}, got {line:?}"));
    }
}

/// The next line `peer` prints, which must satisfy `check` (`what` describes it).
fn expect_next_like(peer: &mut Peer, what: &str, check: impl Fn(&str) -> bool) -> String {
    let line = peer.expect_line(|_| true, LINE);
    if !check(&line) {
        peer.fail(&format!("expected {what}, got {line:?}"));
    }
    line
}

/// `peer` must exit on its own with status 0.
fn expect_success(peer: &mut Peer) {
    let status = peer.expect_exit(EXIT);
    if !status.success() {
        peer.fail(&format!("exited with {status}, expected success"));
    }
}

/// Ctrl-C (SIGINT) must stop the courier program `peer` cleanly: exit status 0.
fn interrupt_cleanly(peer: &mut Peer) {
    peer.interrupt();
    expect_success(peer);
}

/// Waits until something listens on 127.0.0.1:`port` (a bare TCP connection, closed at
/// once: a ZeroMQ listener drops it without fuss).
fn wait_listening(port: u16, peer: &mut Peer) {
    let deadline = std::time::Instant::now() + LINE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if std::time::Instant::now() > deadline {
            peer.fail(&format!("nothing listens on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Python's repr of a float: digits, a point, digits (the examples' averages and times are
/// never big or small enough for an exponent).
fn is_py_float(text: &str) -> bool {
    let (int, frac) = match text.strip_prefix('-').unwrap_or(text).split_once('.') {
        Some(parts) => parts,
        None => return false,
    };
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && text.parse::<f64>().is_ok()
}

// --- Hello World: hwserver, hwclient (REQ/REP) -----------------------------------------

fn hello_world(mut server: Peer, mut client: Peer) -> (Peer, Peer) {
    expect_next(&mut client, "Connecting to hello world server...");
    for n in 0..10 {
        expect_next(&mut client, &format!("Sending request {n} ..."));
        expect_next(&mut server, "Received request: b'Hello'");
        expect_next(&mut client, &format!("Received reply {n} [ b'World' ]"));
    }
    expect_success(&mut client);
    (server, client)
}

#[test]
fn hwserver_courier_with_hwclient_py() {
    let _serial = exclusive(&[5555]);
    let (mut server, _) = hello_world(courier("hwserver", &[]), python("hwclient", &[]));
    interrupt_cleanly(&mut server);
}

#[test]
fn hwserver_py_with_hwclient_courier() {
    let _serial = exclusive(&[5555]);
    let (mut server, _) = hello_world(python("hwserver", &[]), courier("hwclient", &[]));
    server.stop();
}

// --- Weather: wuserver, wuclient (PUB/SUB) -----------------------------------------------

/// The client subscribes to zipcodes starting with 1 (a ninth of them: the default 10001
/// would take a million updates), and prints the average of 100 temperatures (-80 to 134).
fn weather(mut client: Peer) {
    expect_next(&mut client, "Collecting updates from weather server...");
    let line = expect_next_like(&mut client, "the average temperature line", |l| {
        l.strip_prefix("Average temperature for zipcode '1' was ")
            .and_then(|rest| rest.strip_suffix(" F"))
            .is_some_and(|avg| {
                is_py_float(avg) && (-80.0..=134.0).contains(&avg.parse::<f64>().unwrap_or(999.0))
            })
    });
    assert!(!line.is_empty());
    expect_success(&mut client);
}

#[test]
fn wuserver_courier_with_wuclient_py() {
    let _serial = exclusive(&[5556]);
    let mut server = courier("wuserver", &[]);
    weather(python("wuclient", &["1"]));
    interrupt_cleanly(&mut server);
}

#[test]
fn wuserver_py_with_wuclient_courier() {
    let _serial = exclusive(&[5556]);
    let mut server = python("wuserver", &[]);
    weather(courier("wuclient", &["1"]));
    server.stop();
}

/// Updates through courier's XSUB/XPUB forwarder: the Guide's Python weather server
/// upstream on 5556, a courier subscriber of zipcodes starting with 1 downstream on 8100
/// (the subscription travels up through the proxy to the server).
#[test]
fn wuproxy_courier_between_wuserver_py_and_a_subscriber() {
    use courier_socket::{Options, Sub};

    let _serial = exclusive(&[5556, 8100]);
    let mut server = python("wuserver", &[]);
    let mut proxy = courier("wuproxy", &[]);
    let subscriber = Sub::new(Options::default());
    subscriber.subscribe("1");
    subscriber.connect("tcp://127.0.0.1:8100").unwrap();
    for _ in 0..50 {
        let update = subscriber.recv_timeout(LINE).unwrap_or_else(|e| {
            proxy.fail(&format!("no update through the proxy: {e}"));
        });
        let text = String::from_utf8_lossy(update.first()).into_owned();
        let fields: Vec<i64> = text
            .split(' ')
            .map(|f| {
                f.parse()
                    .unwrap_or_else(|_| panic!("not an update: {text:?}"))
            })
            .collect();
        assert!(
            text.starts_with('1')
                && matches!(fields[..], [zip, t, h]
                    if (1..100_000).contains(&zip) && (-80..135).contains(&t) && (10..60).contains(&h)),
            "not a weather update for a zipcode starting with 1: {text:?}"
        );
    }
    subscriber.close_blocking();
    interrupt_cleanly(&mut proxy);
    server.stop();
}

// --- Envelopes: psenvpub, psenvsub (PUB/SUB, multipart) ----------------------------------

/// Three B messages (one a second), each printed as the envelope and content and an empty
/// line; the A messages never arrive.
fn envelopes(subscriber: &mut Peer) {
    for _ in 0..3 {
        expect_next(subscriber, "[b'B'] b'We would like to see this'");
        expect_next(subscriber, "");
    }
}

#[test]
fn psenvpub_courier_with_psenvsub_py() {
    let _serial = exclusive(&[5563]);
    let mut publisher = courier("psenvpub", &[]);
    let mut subscriber = python("psenvsub", &[]);
    envelopes(&mut subscriber);
    subscriber.stop();
    interrupt_cleanly(&mut publisher);
}

#[test]
fn psenvpub_py_with_psenvsub_courier() {
    let _serial = exclusive(&[5563]);
    let mut publisher = python("psenvpub", &[]);
    let mut subscriber = courier("psenvsub", &[]);
    envelopes(&mut subscriber);
    interrupt_cleanly(&mut subscriber);
    publisher.stop();
}

// --- Divide and conquer: taskvent, taskwork, tasksink (PUSH/PULL) ------------------------

/// Runs a batch: the ventilator waits for Enter, sends 100 tasks to the one worker, whose
/// results the sink times. Returns the worker, still running.
fn batch(mut sink: Peer, mut vent: Peer, worker: Peer) -> Peer {
    expect_next(&mut vent, "Press Enter when the workers are ready: ");
    // As the Guide's user does: Enter once the sink and the ventilator listen and the worker
    // has had a moment to connect (a result reaching the sink before the ventilator's start
    // message would be taken for it, in Python as in Rust).
    wait_listening(5558, &mut sink);
    wait_listening(5557, &mut vent);
    std::thread::sleep(Duration::from_secs(1));
    vent.write_stdin(b"\n");
    expect_next(&mut vent, "Sending tasks to workers...");
    let cost = expect_next_like(&mut vent, "the total expected cost", |l| {
        l.strip_prefix("Total expected cost: ")
            .and_then(|rest| rest.strip_suffix(" msec"))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (100..=10_000).contains(&n))
    });
    let cost: f64 = cost
        .trim_start_matches("Total expected cost: ")
        .trim_end_matches(" msec")
        .parse()
        .unwrap();
    expect_success(&mut vent);

    // `:` for every tenth result, `.` for the others, then the time on the same line.
    let progress = ":.........".repeat(10);
    let line = expect_next_like(&mut sink, "the progress marks and the elapsed time", |l| {
        l.strip_prefix(progress.as_str())
            .and_then(|rest| rest.strip_prefix("Total elapsed time: "))
            .and_then(|rest| rest.strip_suffix(" msec"))
            .is_some_and(is_py_float)
    });
    // One worker slept through every workload after the sink's clock started.
    let elapsed: f64 = line
        .rsplit("time: ")
        .next()
        .and_then(|t| t.strip_suffix(" msec"))
        .and_then(|t| t.parse().ok())
        .unwrap();
    assert!(
        elapsed >= cost,
        "the batch took {elapsed} ms, less than its workloads' {cost} ms: {line:?}"
    );
    expect_success(&mut sink);
    worker
}

/// The worker printed one `.` per task and no newline: its output, once it is stopped.
fn worker_dots(worker: &mut Peer) {
    let line = worker.expect_line(|l| !l.is_empty(), EXIT);
    if line != ".".repeat(100) {
        worker.fail(&format!("expected 100 dots, got {line:?}"));
    }
}

#[test]
fn taskvent_and_tasksink_courier_with_taskwork_py() {
    let _serial = exclusive(&[5557, 5558]);
    let sink = courier("tasksink", &[]);
    let worker = python("taskwork", &[]);
    let vent = courier_in("taskvent", &[], None, true);
    let mut worker = batch(sink, vent, worker);
    worker.stop();
    worker_dots(&mut worker);
}

#[test]
fn taskvent_and_tasksink_py_with_taskwork_courier() {
    let _serial = exclusive(&[5557, 5558]);
    let sink = python("tasksink", &[]);
    let worker = courier("taskwork", &[]);
    let vent = python_in("taskvent", &[], None, true);
    let mut worker = batch(sink, vent, worker);
    interrupt_cleanly(&mut worker);
    worker_dots(&mut worker);
}

// --- Brokers: rrclient, rrworker with rrbroker or msgqueue (ROUTER/DEALER) ---------------

/// Ten requests from the client through the broker to the worker and back.
fn brokered(mut client: Peer, mut worker: Peer) -> Peer {
    for n in 1..=10 {
        expect_next(&mut worker, "Received request: b'Hello'");
        expect_next(&mut client, &format!("Received reply {n} [b'World']"));
    }
    expect_success(&mut client);
    worker
}

#[test]
fn rrbroker_courier_with_rrclient_py_and_rrworker_py() {
    let _serial = exclusive(&[5559, 5560]);
    let mut broker = courier("rrbroker", &[]);
    let mut worker = brokered(python("rrclient", &[]), python("rrworker", &[]));
    worker.stop();
    interrupt_cleanly(&mut broker);
}

#[test]
fn rrbroker_py_with_rrclient_courier_and_rrworker_courier() {
    let _serial = exclusive(&[5559, 5560]);
    let mut broker = python("rrbroker", &[]);
    let mut worker = brokered(courier("rrclient", &[]), courier("rrworker", &[]));
    interrupt_cleanly(&mut worker);
    broker.stop();
}

#[test]
fn msgqueue_courier_with_rrclient_py_and_rrworker_py() {
    let _serial = exclusive(&[5559, 5560]);
    let mut broker = courier("msgqueue", &[]);
    let mut worker = brokered(python("rrclient", &[]), python("rrworker", &[]));
    worker.stop();
    interrupt_cleanly(&mut broker);
}

#[test]
fn msgqueue_py_with_rrclient_courier_and_rrworker_courier() {
    let _serial = exclusive(&[5559, 5560]);
    let mut broker = python("msgqueue", &[]);
    let mut worker = brokered(courier("rrclient", &[]), courier("rrworker", &[]));
    interrupt_cleanly(&mut worker);
    broker.stop();
}

// --- Standalone: identity, rtdealer -------------------------------------------------------

/// identity prints the same in both languages, but for the id the ROUTER generated (five
/// octets, a zero first: hex, or as they are when they all happen to be ASCII).
fn identity_lines(mut program: Peer) {
    let dashes = "-".repeat(40);
    expect_next(&mut program, &dashes);
    expect_next_like(&mut program, "a generated 5-octet routing id", |l| {
        l.strip_prefix("[005] ").is_some_and(|id| {
            id.strip_prefix("0x00")
                .is_some_and(|hex| hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                || (id.len() == 5 && id.starts_with('\0'))
        })
    });
    expect_next(&mut program, "[028] ROUTER uses a generated UUID");
    expect_next(&mut program, &dashes);
    expect_next(&mut program, "[005] Hello");
    expect_next(
        &mut program,
        "[040] ROUTER socket uses REQ's socket identity",
    );
    expect_success(&mut program);
}

#[test]
fn identity_courier_prints_as_identity_py() {
    let _serial = exclusive(&[]);
    identity_lines(python("identity", &[]));
    identity_lines(courier("identity", &[]));
}

/// Workers A and B each report their count once (in the order they finish); together they
/// got the ten workloads, and nothing else is printed.
fn rtdealer_lines(mut program: Peer) {
    expect_success(&mut program);
    // Read to the end of the output (the reader thread may still hold the last lines).
    let _ = program.wait_line(|_| false, EXIT);
    // The Guide's Python workers are threads printing at once, and a Python `print` writes
    // its text and its newline separately: both reports can end up on one line.
    let out = program.lines_so_far().join("\n");
    let mut rest = out.clone();
    let mut total = 0;
    for name in ["A", "B"] {
        let label = format!("{name} received: ");
        let reports: Vec<u32> = out
            .match_indices(&label)
            .map(|(at, _)| {
                let digits: String = out[at + label.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                rest = rest.replacen(&format!("{label}{digits}"), "", 1);
                digits.parse().unwrap_or_else(|_| {
                    program.fail(&format!("{name}'s report has no count"));
                })
            })
            .collect();
        if reports.len() != 1 {
            program.fail(&format!("worker {name} reported {} times", reports.len()));
        }
        total += reports[0];
    }
    if !rest.trim().is_empty() {
        program.fail(&format!("printed more than the two reports: {rest:?}"));
    }
    assert_eq!(
        total, 10,
        "the workers got ten workloads between them: {out:?}"
    );
}

#[test]
fn rtdealer_courier_prints_as_rtdealer_py() {
    let _serial = exclusive(&[]);
    // ipc://routing.ipc is a file in the current directory: each run in a directory of its own.
    rtdealer_lines(python_in(
        "rtdealer",
        &[],
        Some(&scratch_dir("rtdealer-py")),
        false,
    ));
    rtdealer_lines(courier_in(
        "rtdealer",
        &[],
        Some(&scratch_dir("rtdealer")),
        false,
    ));
}
