//! Interop test harness for courier.
//!
//! courier must talk to real ZeroMQ peers, so its interop tests run the
//! reference apps written against pyzmq (libzmq) as child processes and watch
//! what they print. This crate gives those tests:
//!
//! * [`python()`]: a Python interpreter from a private virtualenv with pyzmq
//!   (pinned in `interop-tests/python/requirements.txt`), created on first use
//!   and shared, under a cross-process lock, by every test process;
//! * [`py_script()`] / [`py_command()`]: our pyzmq peer programs
//!   (`ref_server.py`, `ref_client.py`, ...);
//! * [`Peer`]: a spawned child process whose stdout lines are collected on a
//!   background thread, with bounded waits ([`Peer::expect_line`]) that panic
//!   with the child's recent output and stderr;
//! * [`free_port()`], [`tcp_endpoint()`], [`scratch_dir()`] and
//!   [`cargo_bin()`] / [`cargo_example()`] for courier's own binaries and examples.
//!
//! Nothing here ever skips a test: a missing Python or a failed `pip install`
//! is a loud panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Environment variable naming the base interpreter used to create the venv
/// (default `python3`).
pub const BASE_PYTHON_ENV: &str = "COURIER_INTEROP_PYTHON";

/// How long [`python()`] waits for another process holding the venv lock.
const VENV_LOCK_WAIT: Duration = Duration::from_secs(15 * 60);

/// A venv lock older than this is taken over whoever holds it (making the
/// venv never takes that long).
const VENV_LOCK_STALE: Duration = Duration::from_secs(10 * 60);

/// How many stdout lines a panic message from [`Peer`] shows.
const TAIL_LINES: usize = 50;

/// How many bytes of stderr a panic message from [`Peer`] shows.
const TAIL_STDERR: usize = 8 * 1024;

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set (a relative value is
/// taken relative to the workspace root), else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// The virtualenv used by the interop tests: `<target>/interop-venv`.
pub fn venv_dir() -> PathBuf {
    target_dir().join("interop-venv")
}

/// The directory holding our Python peer programs: `interop-tests/python`.
pub fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// Path of `interop-tests/python/<name>`; panics if it does not exist.
pub fn py_script(name: &str) -> PathBuf {
    let path = python_dir().join(name);
    assert!(
        path.is_file(),
        "interop-tests: python script {} does not exist",
        path.display()
    );
    path
}

/// A fresh, empty, uniquely named directory under
/// `<target>/interop-scratch/` for one test's files (left in place after the
/// test for post-mortems; `cargo clean` removes it).
pub fn scratch_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let safe: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let dir = target_dir()
        .join("interop-scratch")
        .join(format!("{safe}-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("interop-tests: cannot create {}: {e}", dir.display()));
    dir
}

// ---------------------------------------------------------------------------
// Network
// ---------------------------------------------------------------------------

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read
/// back and released). Another process could take it in between; tests use it
/// at once.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("interop-tests: cannot bind 127.0.0.1:0: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("interop-tests: local_addr failed: {e}"))
        .port()
}

/// `tcp://127.0.0.1:<port>`.
pub fn tcp_endpoint(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
}

// ---------------------------------------------------------------------------
// The Python venv
// ---------------------------------------------------------------------------

/// The venv's interpreter, `<target>/interop-venv/bin/python`, making sure the
/// venv exists and imports `zmq` (creating it with `python3 -m venv` and
/// `pip install -r interop-tests/python/requirements.txt` if needed).
///
/// Safe to call from many threads and many test processes at once: the work
/// is done once per process, under a lock directory
/// (`<target>/interop-venv.lock`, created atomically) across processes.
///
/// # Panics
///
/// Loudly, with the failing command's output, if the venv cannot be made or
/// pyzmq cannot be imported. Interop tests are never skipped.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(ensure_venv).clone()
}

fn venv_python() -> PathBuf {
    venv_dir().join("bin").join("python")
}

fn requirements() -> PathBuf {
    python_dir().join("requirements.txt")
}

fn stamp_path() -> PathBuf {
    venv_dir().join(".courier-requirements")
}

/// True if the venv's python runs, imports zmq, and was provisioned from the
/// current requirements.txt.
fn venv_ready(reqs: &str) -> bool {
    let py = venv_python();
    if !py.exists() {
        return false;
    }
    match std::fs::read_to_string(stamp_path()) {
        Ok(stamp) if stamp == reqs => {}
        _ => return false,
    }
    imports_zmq(&py).is_ok()
}

fn imports_zmq(py: &Path) -> Result<String, String> {
    let out = Command::new(py)
        .args([
            "-c",
            "import zmq; print(zmq.pyzmq_version(), zmq.zmq_version())",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", py.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "`{} -c 'import zmq'` failed ({}):\n{}",
            py.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn venv_panic(what: &str) -> ! {
    panic!(
        "\n==================== INTEROP VENV FAILURE ====================\n\
         interop-tests could not provide a Python venv with pyzmq at {}.\n\
         {what}\n\
         Fix: make `python3 -m venv` work (Debian: apt-get install python3-venv) \
         and let pip reach PyPI, or set {BASE_PYTHON_ENV} to a suitable python3.\n\
         ===============================================================\n",
        venv_dir().display()
    )
}

fn ensure_venv() -> PathBuf {
    let reqs = std::fs::read_to_string(requirements())
        .unwrap_or_else(|e| venv_panic(&format!("cannot read {}: {e}", requirements().display())));
    if venv_ready(&reqs) {
        return venv_python();
    }
    let _lock = DirLock::acquire(&target_dir().join("interop-venv.lock"), VENV_LOCK_WAIT);
    // Someone else may have done the work while we waited.
    if venv_ready(&reqs) {
        return venv_python();
    }
    let py = venv_python();
    if !py.exists() {
        let base = std::env::var_os(BASE_PYTHON_ENV).unwrap_or_else(|| "python3".into());
        let mut cmd = Command::new(&base);
        cmd.arg("-m").arg("venv");
        if venv_dir().exists() {
            // A broken venv (e.g. its base interpreter is gone): start over.
            cmd.arg("--clear");
        }
        run_or_panic(cmd.arg(venv_dir()), "create the venv");
        if !py.exists() {
            venv_panic(&format!(
                "`{} -m venv` succeeded but {} is missing",
                base.to_string_lossy(),
                py.display()
            ));
        }
    }
    run_or_panic(
        Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "-r",
            ])
            .arg(requirements()),
        "pip install -r requirements.txt",
    );
    if let Err(e) = imports_zmq(&py) {
        venv_panic(&format!("after pip install, pyzmq does not import: {e}"));
    }
    if let Err(e) = std::fs::write(stamp_path(), &reqs) {
        venv_panic(&format!("cannot write {}: {e}", stamp_path().display()));
    }
    py
}

fn run_or_panic(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| venv_panic(&format!("cannot {what}: cannot run {cmd:?}: {e}")));
    if !out.status.success() {
        venv_panic(&format!(
            "cannot {what}: {cmd:?} failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
}

/// A cross-process lock: a directory created atomically with
/// `std::fs::create_dir`, holding an `owner` file with the holder's pid.
/// A lock whose holder no longer runs is taken over. Released on drop.
struct DirLock {
    dir: PathBuf,
}

impl DirLock {
    fn acquire(dir: &Path, wait: Duration) -> DirLock {
        if let Some(parent) = dir.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let deadline = Instant::now() + wait;
        loop {
            match std::fs::create_dir(dir) {
                Ok(()) => {
                    let _ = std::fs::write(dir.join("owner"), std::process::id().to_string());
                    return DirLock {
                        dir: dir.to_path_buf(),
                    };
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => venv_panic(&format!("cannot create lock {}: {e}", dir.display())),
            }
            Self::break_if_stale(dir);
            if Instant::now() > deadline {
                venv_panic(&format!(
                    "timed out after {wait:?} waiting for lock {} (remove it if no test runs)",
                    dir.display()
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Removes the lock if its owner pid is recorded and no longer running,
    /// or if it is older than [`VENV_LOCK_STALE`].
    fn break_if_stale(dir: &Path) {
        let age = std::fs::metadata(dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .unwrap_or_default();
        if age > VENV_LOCK_STALE {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        let owner = dir.join("owner");
        let Ok(pid) = std::fs::read_to_string(&owner) else {
            // Just created and the owner file not yet written, or a foreign
            // lock without one: only break it once it is a minute old.
            if age > Duration::from_secs(60) {
                let _ = std::fs::remove_dir_all(dir);
            }
            return;
        };
        let pid = pid.trim();
        if pid.is_empty() || Path::new("/proc").join(pid).exists() {
            return;
        }
        // Re-read right before removing, to narrow the race with a new owner.
        if std::fs::read_to_string(&owner).is_ok_and(|p| p.trim() == pid) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `Command` running `python -u <interop-tests/python/script> args...` with
/// the venv's interpreter and `PYTHONUNBUFFERED=1`.
pub fn py_command<I, S>(script: &str, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(python());
    cmd.arg("-u")
        .arg(py_script(script))
        .args(args)
        .env("PYTHONUNBUFFERED", "1");
    cmd
}

// ---------------------------------------------------------------------------
// Our own binaries
// ---------------------------------------------------------------------------

/// Path of the workspace binary `name` (package of the same name, e.g.
/// `courier-server`, `courier-client`), building it first with
/// `cargo build -p <name> --bin <name>` (once per process and binary).
///
/// The profile follows the running test executable (`--release` if it lives
/// under `target/release`); otherwise `target/debug/<name>`.
///
/// # Panics
///
/// If the build fails or the binary is not where cargo should have put it.
pub fn cargo_bin(name: &str) -> PathBuf {
    cargo_bin_of(name, name)
}

/// Like [`cargo_bin()`], for binary `bin` of package `package`.
pub fn cargo_bin_of(package: &str, bin: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<(String, String), PathBuf>>> = OnceLock::new();
    let map = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    // Holding the lock while building serialises builds within the process;
    // cargo itself locks the target dir across processes.
    let mut built = map.lock().unwrap_or_else(|e| e.into_inner());
    let key = (package.to_string(), bin.to_string());
    if let Some(path) = built.get(&key) {
        return path.clone();
    }
    let release = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.parent()
                .and_then(Path::parent)
                .and_then(Path::file_name)
                .map(|n| n == "release")
        })
        .unwrap_or(false);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "-p", package, "--bin", bin]);
    if release {
        cmd.arg("--release");
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("interop-tests: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "interop-tests: {cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let path = target_dir()
        .join(if release { "release" } else { "debug" })
        .join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "interop-tests: built {bin} but {} does not exist",
        path.display()
    );
    built.insert(key, path.clone());
    path
}

/// Path of example `name` of workspace package `package` (e.g. the `courier`
/// crate's `hwserver`), building all of that package's examples first with
/// `cargo build -p <package> --examples` (once per process and package). The
/// profile follows the running test executable, as for [`cargo_bin()`].
///
/// # Panics
///
/// If the build fails or the example is not where cargo should have put it.
pub fn cargo_example(package: &str, name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
    let map = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut built = map.lock().unwrap_or_else(|e| e.into_inner());
    let release = test_is_release();
    if !built.contains_key(package) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(workspace_root())
            .args(["build", "-p", package, "--examples"]);
        if release {
            cmd.arg("--release");
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("interop-tests: cannot run {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "interop-tests: {cmd:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        built.insert(package.to_string(), true);
    }
    let path = target_dir()
        .join(if release { "release" } else { "debug" })
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "interop-tests: built the examples of {package} but {} does not exist",
        path.display()
    );
    path
}

/// Whether the running test executable was built with `--release` (it lives
/// under `target/release`).
fn test_is_release() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.parent()
                .and_then(Path::parent)
                .and_then(Path::file_name)
                .map(|n| n == "release")
        })
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------
// JSON event lines
// ---------------------------------------------------------------------------

/// Parses one stdout line of our peers (one JSON object per line).
pub fn parse_event(line: &str) -> Option<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .filter(serde_json::Value::is_object)
}

/// True if `line` is a JSON event whose `"event"` is `name` and whose other
/// fields include every `(key, value)` of `fields` (a string field is
/// compared with `value` as text; any other field with `value` parsed as
/// JSON, e.g. `("frames", "1")`).
pub fn is_event(line: &str, name: &str, fields: &[(&str, &str)]) -> bool {
    let Some(v) = parse_event(line) else {
        return false;
    };
    if v.get("event").and_then(serde_json::Value::as_str) != Some(name) {
        return false;
    }
    fields.iter().all(|(k, want)| match v.get(*k) {
        Some(serde_json::Value::String(s)) => s == want,
        Some(other) => {
            serde_json::from_str::<serde_json::Value>(want)
                .ok()
                .as_ref()
                == Some(other)
        }
        None => false,
    })
}

/// A predicate for [`Peer::expect_line`]: see [`is_event`].
pub fn event<'a>(name: &'a str, fields: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> bool + 'a {
    move |line| is_event(line, name, fields)
}

/// Lowercase hex of `bytes` (how our peers print routing identities).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

// ---------------------------------------------------------------------------
// Peer: a child process we watch
// ---------------------------------------------------------------------------

/// A spawned child process (a Python peer or any binary) whose stdout lines
/// are read on a background thread, and whose stderr is kept in a buffer for
/// diagnostics. Killed and reaped on [`Peer::stop`] or drop.
pub struct Peer {
    name: String,
    pid: u32,
    child: Option<Child>,
    status: Option<ExitStatus>,
    stdin: Option<std::process::ChildStdin>,
    rx: Receiver<String>,
    eof: bool,
    lines: Vec<String>,
    cursor: usize,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .field("lines", &self.lines.len())
            .field("status", &self.status)
            .finish()
    }
}

impl Peer {
    /// Spawns `cmd` with stdin closed and stdout/stderr piped; `name` labels
    /// panic messages.
    ///
    /// # Panics
    ///
    /// If the process cannot be started.
    pub fn spawn(cmd: Command, name: &str) -> Peer {
        Peer::spawn_with_stdin(cmd, name, false)
    }

    /// Like [`Peer::spawn`], with stdin a pipe the test writes to with
    /// [`Peer::write_stdin`] (for programs that wait for Enter) when `piped`.
    ///
    /// # Panics
    ///
    /// If the process cannot be started.
    pub fn spawn_with_stdin(mut cmd: Command, name: &str, piped: bool) -> Peer {
        cmd.stdin(if piped { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("interop-tests: cannot spawn {name} ({cmd:?}): {e}"));
        let pid = child.id();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");

        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name(format!("{name}-stdout"))
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let line = String::from_utf8_lossy(&buf)
                                .trim_end_matches(['\n', '\r'])
                                .to_string();
                            if tx.send(line).is_err() {
                                break;
                            }
                        }
                    }
                }
            })
            .expect("spawn stdout reader thread");

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stderr);
        thread::Builder::new()
            .name(format!("{name}-stderr"))
            .spawn(move || {
                let mut pipe = stderr_pipe;
                let mut chunk = [0u8; 4096];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => sink
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                    }
                }
            })
            .expect("spawn stderr reader thread");

        Peer {
            name: name.to_string(),
            pid,
            child: Some(child),
            status: None,
            stdin,
            rx,
            eof: false,
            lines: Vec::new(),
            cursor: 0,
            stderr,
        }
    }

    /// Spawns `python -u interop-tests/python/<script> args...` from the venv.
    pub fn python<I, S>(script: &str, args: I, name: &str) -> Peer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Peer::spawn(py_command(script, args), name)
    }

    /// Writes `bytes` to the child's stdin (spawned with
    /// [`Peer::spawn_with_stdin`]).
    ///
    /// # Panics
    ///
    /// If stdin is not a pipe or the write fails (the child exited, say).
    pub fn write_stdin(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let result = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(bytes).and_then(|()| stdin.flush()),
            None => self.fail("write_stdin: stdin is not a pipe (use Peer::spawn_with_stdin)"),
        };
        if let Err(e) = result {
            self.fail(&format!("cannot write to stdin: {e}"));
        }
    }

    /// The label given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Moves lines already read by the background thread into `self.lines`,
    /// without blocking.
    fn drain(&mut self) {
        loop {
            match self.rx.try_recv() {
                Ok(line) => self.lines.push(line),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.eof = true;
                    break;
                }
            }
        }
    }

    /// Waits up to `timeout` for one more line; false on timeout or EOF.
    fn pull(&mut self, deadline: Instant) -> bool {
        if self.eof {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(line) => {
                self.lines.push(line);
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                self.eof = true;
                false
            }
        }
    }

    /// Every stdout line seen so far (reads what is pending, without waiting).
    pub fn lines_so_far(&mut self) -> Vec<String> {
        self.drain();
        self.lines.clone()
    }

    /// The stdout lines seen so far that parse as JSON events.
    pub fn events_so_far(&mut self) -> Vec<serde_json::Value> {
        self.lines_so_far()
            .iter()
            .filter_map(|l| parse_event(l))
            .collect()
    }

    /// Everything the child wrote to stderr so far (lossy UTF-8).
    pub fn stderr_so_far(&self) -> String {
        let buf = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Waits up to `timeout` until everything the child wrote to stderr so
    /// far satisfies `pred`, and returns it. (stderr is read on a thread: it
    /// may still be arriving just after the child exited.)
    ///
    /// # Panics
    ///
    /// On timeout, like [`Peer::expect_line`].
    pub fn expect_stderr(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let err = self.stderr_so_far();
            if pred(&err) {
                return err;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("stderr not as expected within {timeout:?}"));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits up to `timeout` for a stdout line matching `pred` and returns it.
    ///
    /// Lines are scanned in order from just after the line returned by the
    /// previous `expect_line`/`wait_line` (so successive calls follow the
    /// output forward); use [`Peer::expect_seen`] to search all output.
    ///
    /// # Panics
    ///
    /// On timeout, or if the child closes stdout (exits) first, with the last
    /// 50 lines seen and the child's stderr.
    pub fn expect_line(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        match self.wait_line(&pred, timeout) {
            Some(line) => line,
            None => self.fail(&format!(
                "no matching stdout line within {timeout:?}{}",
                if self.eof {
                    " (stdout closed: exited?)"
                } else {
                    ""
                }
            )),
        }
    }

    /// Like [`Peer::expect_line`] but returns `None` instead of panicking.
    pub fn wait_line(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        self.drain();
        loop {
            while let Some(line) = self.lines.get(self.cursor) {
                self.cursor += 1;
                if pred(line) {
                    return Some(line.clone());
                }
            }
            if !self.pull(deadline) {
                // One last non-blocking look (lines may race with EOF).
                self.drain();
                if self.cursor >= self.lines.len() {
                    return None;
                }
            }
        }
    }

    /// Waits up to `timeout` until any stdout line seen since spawn (not just
    /// after the cursor) matches `pred`; returns it. Does not move the cursor.
    ///
    /// # Panics
    ///
    /// Like [`Peer::expect_line`].
    pub fn expect_seen(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        self.drain();
        let mut checked = 0;
        loop {
            while let Some(line) = self.lines.get(checked) {
                checked += 1;
                if pred(line) {
                    return line.clone();
                }
            }
            if !self.pull(deadline) {
                self.drain();
                if checked >= self.lines.len() {
                    self.fail(&format!(
                        "no matching stdout line (anywhere) within {timeout:?}{}",
                        if self.eof {
                            " (stdout closed: exited?)"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
    }

    /// Like [`Peer::expect_line`], matching a JSON event (see [`is_event`]),
    /// and returning it parsed.
    pub fn expect_event(
        &mut self,
        name: &str,
        fields: &[(&str, &str)],
        timeout: Duration,
    ) -> serde_json::Value {
        let line = self.expect_line(event(name, fields), timeout);
        parse_event(&line).expect("matched line is a JSON event")
    }

    /// Asserts that no stdout line matching `pred` appears for `window`
    /// (counting lines after the cursor, including those already read);
    /// returns the lines seen meanwhile.
    ///
    /// # Panics
    ///
    /// If such a line appears.
    pub fn expect_no_line(&mut self, pred: impl Fn(&str) -> bool, window: Duration) -> Vec<String> {
        let deadline = Instant::now() + window;
        while Instant::now() < deadline && self.pull(deadline) {}
        thread::sleep(deadline.saturating_duration_since(Instant::now()));
        self.drain();
        let fresh: Vec<String> = self.lines.get(self.cursor..).unwrap_or_default().to_vec();
        if let Some(bad) = fresh.iter().find(|l| pred(l)) {
            let bad = bad.clone();
            self.fail(&format!("unexpected stdout line within {window:?}: {bad}"));
        }
        self.cursor = self.lines.len();
        fresh
    }

    /// Panics with `msg`, the last 50 stdout lines, and stderr.
    pub fn fail(&mut self, msg: &str) -> ! {
        self.drain();
        let _ = self.try_wait();
        let start = self.lines.len().saturating_sub(TAIL_LINES);
        let tail = self.lines.get(start..).unwrap_or_default().join("\n");
        let err = self.stderr_so_far();
        let err_tail = if err.len() > TAIL_STDERR {
            let mut cut = err.len() - TAIL_STDERR;
            while !err.is_char_boundary(cut) {
                cut += 1;
            }
            format!("...{}", err.get(cut..).unwrap_or_default())
        } else {
            err
        };
        panic!(
            "\n[peer {name} pid {pid}] {msg}\nexit status: {status}\n\
             --- last {n} of {total} stdout lines ---\n{tail}\n\
             --- stderr ---\n{err_tail}\n--- end of {name} ---\n",
            name = self.name,
            pid = self.pid,
            status = self
                .status
                .map_or_else(|| "still running".to_string(), |s| s.to_string()),
            n = self.lines.len() - start,
            total = self.lines.len(),
        )
    }

    /// The exit status if the child has exited (reaping it), else `None`.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.status = Some(status);
                }
            }
        }
        self.status
    }

    /// Waits up to `timeout` for the child to exit; returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like [`Peer::wait_exit`] but panics (with output) on timeout.
    pub fn expect_exit(&mut self, timeout: Duration) -> ExitStatus {
        match self.wait_exit(timeout) {
            Some(status) => status,
            None => self.fail(&format!("did not exit within {timeout:?}")),
        }
    }

    /// Sends SIGKILL (if still running) without waiting.
    pub fn kill(&mut self) {
        if self.try_wait().is_none() {
            if let Some(child) = self.child.as_mut() {
                let _ = child.kill();
            }
        }
    }

    /// Sends SIGTERM (via the `kill` command) if still running, without
    /// waiting. The child is not yet reaped, so its pid cannot have been
    /// reused.
    pub fn terminate(&mut self) {
        self.signal("TERM");
    }

    /// Sends SIGINT (via the `kill` command) if still running.
    pub fn interrupt(&mut self) {
        self.signal("INT");
    }

    fn signal(&mut self, sig: &str) {
        if self.try_wait().is_some() {
            return;
        }
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(e) = status {
            panic!("interop-tests: cannot run `kill -{sig} {}`: {e}", self.pid);
        }
    }

    /// SIGTERM, then waits up to `grace` for a clean exit, then SIGKILL;
    /// returns the exit status.
    pub fn shutdown(&mut self, grace: Duration) -> ExitStatus {
        self.terminate();
        if let Some(status) = self.wait_exit(grace) {
            return status;
        }
        self.stop()
    }

    /// Kills (SIGKILL) and reaps the child; returns its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        if let Some(status) = self.try_wait() {
            return status;
        }
        let child = self.child.as_mut().expect("child present until dropped");
        let _ = child.kill();
        let status = child
            .wait()
            .unwrap_or_else(|e| panic!("interop-tests: cannot reap {}: {e}", self.name));
        self.status = Some(status);
        status
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            if let Some(child) = self.child.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

// ---------------------------------------------------------------------------
// courier's own log lines
// ---------------------------------------------------------------------------

/// The timestamp at the start of a courier log line
/// (`2026-11-27T18:01:25.271Z INFO  courier_server: ...`), as seconds since
/// the Unix epoch (UTC), or `None` if the line does not start with one.
///
/// Lines of different courier processes on one machine share this clock, so
/// their differences measure how long something took.
pub fn log_timestamp(line: &str) -> Option<f64> {
    let ts = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.splitn(3, ':');
    let h: i64 = t.next()?.parse().ok()?;
    let min: i64 = t.next()?.parse().ok()?;
    let sec: f64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
    // days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    #[allow(clippy::cast_precision_loss)]
    let whole = (days * 86_400 + h * 3_600 + min * 60) as f64;
    Some(whole + sec)
}

/// `n` random bytes from `/dev/urandom`.
///
/// # Panics
///
/// If `/dev/urandom` cannot be read.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .unwrap_or_else(|e| panic!("interop-tests: cannot read /dev/urandom: {e}"));
    buf
}

// ---------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------

impl Peer {
    /// Sends signal `sig` (a name such as `STOP`, `CONT`, `TERM`, via the
    /// `kill` command) if the child is still running, without waiting.
    pub fn send_signal(&mut self, sig: &str) {
        self.signal(sig);
    }
}

// ---------------------------------------------------------------------------
// Resources of a process, from /proc
// ---------------------------------------------------------------------------

/// The resident set size (`VmRSS` of `/proc/<pid>/status`) in bytes, or
/// `None` if the process is gone or the field is missing.
pub fn proc_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`,
/// 100 if that cannot be run).
pub fn clock_ticks_per_sec() -> u64 {
    static TCK: OnceLock<u64> = OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .stdin(Stdio::null())
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|&t: &u64| t > 0)
            .unwrap_or(100)
    })
}

/// CPU time used so far by the process (user + system, `utime` + `stime` of
/// `/proc/<pid>/stat`), or `None` if the process is gone.
pub fn proc_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts with field 3 (state): utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let tck = clock_ticks_per_sec();
    Some(Duration::from_micros((utime + stime) * 1_000_000 / tck))
}

/// Open file descriptors of the process (entries of `/proc/<pid>/fd`).
pub fn proc_fd_count(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `T` for stopped, `Z`...).
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// What a [`ResourceMonitor`] saw.
#[derive(Clone, Debug)]
pub struct ResourceReport {
    /// RSS when monitoring started, bytes.
    pub rss_start: u64,
    /// Largest RSS sampled, bytes.
    pub rss_peak: u64,
    /// RSS when monitoring stopped, bytes.
    pub rss_end: u64,
    /// CPU time (user + system) used while monitored.
    pub cpu: Duration,
    /// Wall time monitored.
    pub wall: Duration,
    /// Samples taken.
    pub samples: usize,
    /// Whether the process was still alive at every sample.
    pub alive_throughout: bool,
}

impl ResourceReport {
    /// Peak RSS above the starting RSS, bytes.
    pub fn rss_growth(&self) -> u64 {
        self.rss_peak.saturating_sub(self.rss_start)
    }

    /// CPU time as a fraction of wall time (1.0 = one core busy all along).
    pub fn cpu_fraction(&self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for ResourceReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[allow(clippy::cast_precision_loss)]
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        write!(
            f,
            "RSS {:.1} MiB -> peak {:.1} MiB (+{:.1} MiB) -> {:.1} MiB; CPU {:.3}s in {:.3}s wall ({:.1}%); {} samples",
            mib(self.rss_start),
            mib(self.rss_peak),
            mib(self.rss_growth()),
            mib(self.rss_end),
            self.cpu.as_secs_f64(),
            self.wall.as_secs_f64(),
            self.cpu_fraction() * 100.0,
            self.samples,
        )
    }
}

/// Samples a process's RSS every `period` on a background thread, and its
/// CPU time at start and stop.
#[derive(Debug)]
pub struct ResourceMonitor {
    pid: u32,
    started: Instant,
    cpu_start: Duration,
    rss_start: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<thread::JoinHandle<(u64, usize, bool)>>,
}

impl ResourceMonitor {
    /// Starts monitoring `pid`.
    ///
    /// # Panics
    ///
    /// If the process does not exist.
    pub fn start(pid: u32, period: Duration) -> ResourceMonitor {
        let rss_start = proc_rss_bytes(pid)
            .unwrap_or_else(|| panic!("interop-tests: no /proc/{pid}/status (process gone?)"));
        let cpu_start = proc_cpu_time(pid)
            .unwrap_or_else(|| panic!("interop-tests: no /proc/{pid}/stat (process gone?)"));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name(format!("rss-{pid}"))
            .spawn(move || {
                let mut peak = rss_start;
                let mut samples = 0;
                let mut alive = true;
                while !flag.load(Ordering::Relaxed) {
                    match proc_rss_bytes(pid) {
                        Some(rss) => peak = peak.max(rss),
                        None => alive = false,
                    }
                    samples += 1;
                    thread::sleep(period);
                }
                (peak, samples, alive)
            })
            .expect("spawn the RSS sampler");
        ResourceMonitor {
            pid,
            started: Instant::now(),
            cpu_start,
            rss_start,
            stop,
            thread: Some(thread),
        }
    }

    /// The process's RSS now, bytes.
    pub fn rss_now(&self) -> Option<u64> {
        proc_rss_bytes(self.pid)
    }

    /// Stops monitoring and reports.
    pub fn finish(mut self) -> ResourceReport {
        let wall = self.started.elapsed();
        let cpu_end = proc_cpu_time(self.pid);
        let rss_end = proc_rss_bytes(self.pid);
        self.stop.store(true, Ordering::Relaxed);
        let (peak, samples, alive) =
            self.thread
                .take()
                .and_then(|t| t.join().ok())
                .unwrap_or((self.rss_start, 0, false));
        ResourceReport {
            rss_start: self.rss_start,
            rss_peak: peak.max(rss_end.unwrap_or(0)),
            rss_end: rss_end.unwrap_or(0),
            cpu: cpu_end.map_or(Duration::ZERO, |c| c.saturating_sub(self.cpu_start)),
            wall,
            samples,
            alive_throughout: alive && cpu_end.is_some() && rss_end.is_some(),
        }
    }
}

impl Drop for ResourceMonitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// A raw ZMTP 3.1 peer over std::net, for hostile-input tests
// ---------------------------------------------------------------------------

/// Wire bytes of ZMTP 3.1, built by hand (independently of courier-proto).
pub mod zmtp {
    /// Frame flag: more frames follow.
    pub const MORE: u8 = 0x01;
    /// Frame flag: 8-octet size.
    pub const LONG: u8 = 0x02;
    /// Frame flag: a command.
    pub const COMMAND: u8 = 0x04;

    /// A 64-octet ZMTP 3.1 greeting for `mechanism` (e.g. `NULL`, `CURVE`).
    pub fn greeting(mechanism: &str, as_server: bool) -> [u8; 64] {
        let mut g = [0u8; 64];
        g[0] = 0xff;
        g[8] = 0x01;
        g[9] = 0x7f;
        g[10] = 3;
        g[11] = 1;
        for (dst, src) in g[12..32].iter_mut().zip(mechanism.bytes()) {
            *dst = src;
        }
        g[32] = u8::from(as_server);
        g
    }

    /// A frame header with `flags` (LONG is added when `len` > 255).
    pub fn header(flags: u8, len: u64) -> Vec<u8> {
        match u8::try_from(len) {
            Ok(short) => vec![flags & !LONG, short],
            Err(_) => {
                let mut h = vec![flags | LONG];
                h.extend_from_slice(&len.to_be_bytes());
                h
            }
        }
    }

    /// A whole frame.
    pub fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
        let mut f = header(flags, body.len() as u64);
        f.extend_from_slice(body);
        f
    }

    /// A command frame: name length, name, body.
    pub fn command(name: &str, body: &[u8]) -> Vec<u8> {
        let mut b = vec![u8::try_from(name.len()).expect("short command name")];
        b.extend_from_slice(name.as_bytes());
        b.extend_from_slice(body);
        frame(COMMAND, &b)
    }

    /// READY with Socket-Type and, if given, Identity.
    pub fn ready(socket_type: &str, identity: Option<&[u8]>) -> Vec<u8> {
        let mut props = Vec::new();
        let mut prop = |name: &str, value: &[u8]| {
            props.push(u8::try_from(name.len()).expect("short property name"));
            props.extend_from_slice(name.as_bytes());
            props.extend_from_slice(&u32::try_from(value.len()).expect("small").to_be_bytes());
            props.extend_from_slice(value);
        };
        prop("Socket-Type", socket_type.as_bytes());
        if let Some(id) = identity {
            prop("Identity", id);
        }
        command("READY", &props)
    }

    /// PING with a TTL in deciseconds and a context.
    pub fn ping(ttl_deciseconds: u16, context: &[u8]) -> Vec<u8> {
        let mut body = ttl_deciseconds.to_be_bytes().to_vec();
        body.extend_from_slice(context);
        command("PING", &body)
    }
}

/// How a connection we watch ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The peer closed it (read returned 0).
    Eof,
    /// The peer reset it (or another error: the text).
    Reset(String),
    /// Still open at the deadline.
    StillOpen,
}

impl Closed {
    /// Closed by the peer, either way.
    pub fn is_closed(&self) -> bool {
        !matches!(self, Closed::StillOpen)
    }
}

/// One frame read by a [`RawPeer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawFrame {
    /// Flags octet.
    pub flags: u8,
    /// Body.
    pub body: Vec<u8>,
}

impl RawFrame {
    /// The command name, if this is a command frame.
    pub fn command_name(&self) -> Option<&[u8]> {
        if self.flags & zmtp::COMMAND == 0 {
            return None;
        }
        let n = usize::from(*self.body.first()?);
        self.body.get(1..1 + n)
    }
}

/// A hand-driven TCP connection for hostile-input tests: std::net, bounded
/// reads and writes.
#[derive(Debug)]
pub struct RawPeer {
    /// The socket.
    pub stream: std::net::TcpStream,
    /// Bytes received and not yet parsed.
    pub inbuf: Vec<u8>,
    /// Our address as the server sees it (`127.0.0.1:<port>`).
    pub local: String,
}

impl RawPeer {
    /// Connects to `127.0.0.1:<port>` (within `timeout`).
    ///
    /// # Panics
    ///
    /// If the connection cannot be made.
    pub fn connect(port: u16, timeout: Duration) -> RawPeer {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let stream = std::net::TcpStream::connect_timeout(&addr, timeout)
            .unwrap_or_else(|e| panic!("interop-tests: cannot connect to {addr}: {e}"));
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
        let local = stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        RawPeer {
            stream,
            inbuf: Vec::new(),
            local,
        }
    }

    /// Writes all of `bytes` (5 s write timeout).
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.stream.write_all(bytes)
    }

    /// Reads until at least `n` bytes are buffered; false on EOF, error or
    /// timeout.
    fn fill(&mut self, n: usize, deadline: Instant) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        while self.inbuf.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = self.stream.set_read_timeout(Some(left));
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return false,
                Ok(k) => self
                    .inbuf
                    .extend_from_slice(chunk.get(..k).unwrap_or_default()),
            }
        }
        true
    }

    /// Reads the peer's 64-octet greeting.
    pub fn read_greeting(&mut self, timeout: Duration) -> Option<[u8; 64]> {
        if !self.fill(64, Instant::now() + timeout) {
            return None;
        }
        let mut g = [0u8; 64];
        g.copy_from_slice(self.inbuf.get(..64)?);
        self.inbuf.drain(..64);
        Some(g)
    }

    /// Reads one frame.
    pub fn read_frame(&mut self, timeout: Duration) -> Option<RawFrame> {
        let deadline = Instant::now() + timeout;
        if !self.fill(2, deadline) {
            return None;
        }
        let flags = *self.inbuf.first()?;
        let (hlen, len) = if flags & zmtp::LONG != 0 {
            if !self.fill(9, deadline) {
                return None;
            }
            let mut s = [0u8; 8];
            s.copy_from_slice(self.inbuf.get(1..9)?);
            (9, usize::try_from(u64::from_be_bytes(s)).ok()?)
        } else {
            (2, usize::from(*self.inbuf.get(1)?))
        };
        if len > 1 << 20 || !self.fill(hlen + len, deadline) {
            return None;
        }
        let body = self.inbuf.get(hlen..hlen + len)?.to_vec();
        self.inbuf.drain(..hlen + len);
        Some(RawFrame { flags, body })
    }

    /// NULL handshake as a `socket_type` peer (e.g. `DEALER`) with an optional
    /// identity: sends greeting and READY, reads the peer's greeting and
    /// READY. Returns the peer's READY frame, or why it failed.
    pub fn null_handshake(
        &mut self,
        socket_type: &str,
        identity: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<RawFrame, String> {
        let mut out = zmtp::greeting("NULL", false).to_vec();
        out.extend_from_slice(&zmtp::ready(socket_type, identity));
        self.send(&out).map_err(|e| format!("send: {e}"))?;
        let g = self
            .read_greeting(timeout)
            .ok_or("no greeting from the peer")?;
        if g[0] != 0xff || g[9] != 0x7f || g.get(12..16) != Some(b"NULL") {
            return Err(format!("unexpected greeting {g:?}"));
        }
        let ready = self.read_frame(timeout).ok_or("no READY from the peer")?;
        if ready.command_name() != Some(b"READY") {
            return Err(format!("expected READY, got {ready:?}"));
        }
        Ok(ready)
    }

    /// Waits up to `timeout` for the peer to close the connection, discarding
    /// (at most `max_bytes` of) what it sends meanwhile; returns how it ended
    /// and the bytes received.
    pub fn wait_closed(&mut self, timeout: Duration, max_bytes: usize) -> (Closed, usize) {
        let deadline = Instant::now() + timeout;
        let mut got = std::mem::take(&mut self.inbuf).len();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || got > max_bytes {
                return (Closed::StillOpen, got);
            }
            let _ = self.stream.set_read_timeout(Some(left));
            match self.stream.read(&mut chunk) {
                Ok(0) => return (Closed::Eof, got),
                Ok(k) => got += k,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return (Closed::Reset(e.to_string()), got),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// A faulty TCP relay
// ---------------------------------------------------------------------------

/// What the relay does to one connection (in the order connections arrive).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkFault {
    /// Cut the connection (both sides shut down) once this many bytes have
    /// gone from the client to the server (None: never).
    pub cut_after: Option<u64>,
    /// Stop forwarding client-to-server bytes for a while once this many have
    /// gone (None: never).
    pub stall: Option<(u64, Duration)>,
}

/// What happened to one relayed connection.
#[derive(Clone, Debug, Default)]
pub struct LinkRecord {
    /// Index of the connection (0 = first accepted).
    pub index: usize,
    /// The fault applied.
    pub fault: LinkFault,
    /// Client-to-server bytes forwarded.
    pub up_bytes: u64,
    /// Server-to-client bytes forwarded.
    pub down_bytes: u64,
    /// Whether the relay cut it (as opposed to an end).
    pub cut: bool,
    /// Whether it stalled.
    pub stalled: bool,
    /// When it ended, since the relay started.
    pub ended_at: Option<Duration>,
}

/// A TCP relay on 127.0.0.1 that forwards each accepted connection to
/// `target`, applying the [`LinkFault`] planned for it (connections beyond
/// the plan are relayed faithfully). Stops on drop; every wait is bounded.
#[derive(Debug)]
pub struct TcpRelay {
    port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
    records: Arc<Mutex<Vec<LinkRecord>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TcpRelay {
    /// Listens on a free 127.0.0.1 port.
    ///
    /// # Panics
    ///
    /// If it cannot listen.
    pub fn start(target: std::net::SocketAddr, plan: Vec<LinkFault>) -> TcpRelay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay: bind 127.0.0.1:0");
        let port = listener.local_addr().expect("relay: local_addr").port();
        listener
            .set_nonblocking(true)
            .expect("relay: nonblocking listener");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let records = Arc::new(Mutex::new(Vec::new()));
        let (stop2, records2) = (Arc::clone(&stop), Arc::clone(&records));
        let thread = thread::Builder::new()
            .name("relay-accept".into())
            .spawn(move || {
                let started = Instant::now();
                let mut links = Vec::new();
                let mut index = 0;
                while !stop2.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            let fault = plan.get(index).cloned().unwrap_or_default();
                            let (stop3, records3) = (Arc::clone(&stop2), Arc::clone(&records2));
                            let i = index;
                            index += 1;
                            links.push(thread::spawn(move || {
                                relay_link(i, client, target, fault, &stop3, &records3, started);
                            }));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(20)),
                    }
                }
                for link in links {
                    let _ = link.join();
                }
            })
            .expect("spawn the relay");
        TcpRelay {
            port,
            stop,
            records,
            thread: Some(thread),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connections so far (finished ones; those still open are not
    /// listed until they end).
    pub fn records(&self) -> Vec<LinkRecord> {
        let mut r = self
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        r.sort_by_key(|l| l.index);
        r
    }

    /// Stops accepting and closes every connection; returns the records.
    pub fn stop(mut self) -> Vec<LinkRecord> {
        self.halt();
        self.records()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        self.halt();
    }
}

fn relay_link(
    index: usize,
    client: std::net::TcpStream,
    target: std::net::SocketAddr,
    fault: LinkFault,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    records: &Arc<Mutex<Vec<LinkRecord>>>,
    started: Instant,
) {
    use std::io::Write;
    use std::net::Shutdown;
    let mut record = LinkRecord {
        index,
        fault: fault.clone(),
        ..LinkRecord::default()
    };
    let _ = client.set_nonblocking(false);
    let Ok(server) = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
        let _ = client.shutdown(Shutdown::Both);
        record.ended_at = Some(started.elapsed());
        records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let tick = Some(Duration::from_millis(50));
    let _ = client.set_read_timeout(tick);
    let _ = server.set_read_timeout(tick);
    let _ = client.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = server.set_write_timeout(Some(Duration::from_secs(2)));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // Server to client: faithful.
    let down = {
        let (mut from, mut to) = (
            server.try_clone().expect("relay: clone"),
            client.try_clone().expect("relay: clone"),
        );
        let (done, stop) = (Arc::clone(&done), Arc::clone(stop));
        thread::spawn(move || {
            let mut n = 0u64;
            let mut buf = [0u8; 16 * 1024];
            while !done.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                match from.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => {
                        if to.write_all(buf.get(..k).unwrap_or_default()).is_err() {
                            break;
                        }
                        n += k as u64;
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            done.store(true, Ordering::Relaxed);
            n
        })
    };

    // Client to server: with the fault.
    let (mut from, mut to) = (&client, &server);
    let mut buf = [0u8; 16 * 1024];
    let mut stall = fault.stall;
    while !done.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
        let mut room = buf.len();
        if let Some(cut) = fault.cut_after {
            room = room.min(usize::try_from(cut.saturating_sub(record.up_bytes)).unwrap_or(room));
        }
        if let Some((at, _)) = stall {
            room = room.min(usize::try_from(at.saturating_sub(record.up_bytes)).unwrap_or(room));
        }
        if let Some((_, pause)) = stall.filter(|(at, _)| record.up_bytes >= *at) {
            record.stalled = true;
            stall = None;
            let until = Instant::now() + pause;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(10));
            }
            continue;
        }
        if fault.cut_after.is_some_and(|c| record.up_bytes >= c) {
            record.cut = true;
            break;
        }
        match from.read(buf.get_mut(..room).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => {
                if to.write_all(buf.get(..k).unwrap_or_default()).is_err() {
                    break;
                }
                record.up_bytes += k as u64;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    done.store(true, Ordering::Relaxed);
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
    record.down_bytes = down.join().unwrap_or(0);
    record.ended_at = Some(started.elapsed());
    records
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(record);
}

// ---------------------------------------------------------------------------
// Metrics apps: key files and metric names (shared by the metrics tests)
// ---------------------------------------------------------------------------

/// The metric names of METR `metrics` messages (the reference agent's).
pub const METRIC_KEYS: [&str; 9] = [
    "sys.uptime",
    "mem.free",
    "mem.avail",
    "mem.buffers",
    "mem.cached",
    "mem.dirty",
    "mem.writeback",
    "mem.swap.free",
    "cpu.percent",
];

/// The metric names of METR `model` messages.
pub const MODEL_KEYS: [&str; 2] = ["mem.total", "mem.swap.total"];

/// Makes key pairs `names` in `<scratch>/keys` with make_keys.py, copying the
/// public keys of `authorize` into `keys/authorized_clients/`.
pub fn make_keys(label: &str, names: &[&str], authorize: &[&str]) -> PathBuf {
    let dir = scratch_dir(label).join("keys");
    let mut args: Vec<String> = vec![dir.display().to_string()];
    args.extend(names.iter().map(|n| (*n).to_string()));
    for name in authorize {
        args.push("--authorize".into());
        args.push((*name).to_string());
    }
    let out = py_command("make_keys.py", &args).output().unwrap();
    assert!(
        out.status.success(),
        "make_keys.py failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for name in names {
        assert!(dir.join(format!("{name}.key")).is_file());
        assert!(dir.join(format!("{name}.key_secret")).is_file());
    }
    for name in authorize {
        assert!(dir
            .join("authorized_clients")
            .join(format!("{name}.key"))
            .is_file());
    }
    dir
}
