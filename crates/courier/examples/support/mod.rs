//! What the Guide's examples share: stopping on Ctrl-C, printing bytes as Python prints them,
//! and the random numbers Python's `random` gives them.
//!
//! Each example includes this module; not every example uses every item.
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use courier::{runtime, Multipart, SocketError};

/// How often a blocked example looks whether Ctrl-C was pressed.
const TICK: Duration = Duration::from_millis(100);

/// Set by SIGINT (Ctrl-C) or SIGTERM: the examples that loop for ever look at it between
/// messages and stop cleanly (sockets closed, exit status 0) instead of dying mid-write.
#[derive(Clone)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// Catches SIGINT and SIGTERM from now on.
    pub fn install() -> Result<Interrupt, std::io::Error> {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&flag))?;
        }
        Ok(Interrupt(flag))
    }

    /// Whether Ctrl-C (or SIGTERM) came.
    pub fn fired(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Completes when Ctrl-C (or SIGTERM) comes: race it against a future that runs for
    /// ever (a proxy, say) with `select`.
    pub async fn wait(&self) {
        while !self.fired() {
            runtime::sleep(TICK).await;
        }
    }

    /// Waits for the next message from `recv_timeout` (a socket's), or `None` once Ctrl-C
    /// came. A blocking receive cannot be woken by a signal, so it waits in short steps.
    pub fn recv(
        &self,
        recv_timeout: impl Fn(Duration) -> Result<Multipart, SocketError>,
    ) -> Result<Option<Multipart>, SocketError> {
        loop {
            if self.fired() {
                return Ok(None);
            }
            match recv_timeout(TICK) {
                Ok(msg) => return Ok(Some(msg)),
                Err(SocketError::Timeout(_)) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends `msg` with `send_timeout` (a socket's), waiting while it cannot go (REQ with no
    /// peer yet, PUSH at its high-water mark); false if Ctrl-C came first.
    pub fn send(
        &self,
        send_timeout: impl Fn(Multipart, Duration) -> Result<(), SocketError>,
        msg: Multipart,
    ) -> Result<bool, SocketError> {
        loop {
            if self.fired() {
                return Ok(false);
            }
            // Frames are reference-counted: a retry copies no body.
            match send_timeout(msg.clone(), TICK) {
                Ok(()) => return Ok(true),
                Err(SocketError::Timeout(_)) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Sleeps for `duration`, or less if Ctrl-C comes; false if it came.
    pub fn sleep(&self, duration: Duration) -> bool {
        let end = std::time::Instant::now() + duration;
        loop {
            if self.fired() {
                return false;
            }
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(TICK));
        }
    }

    /// Runs `future` until it finishes or Ctrl-C comes (`None`).
    pub fn run<F: Future>(&self, future: F) -> Option<F::Output> {
        use futures::future::{select, Either};
        let future = std::pin::pin!(future);
        let stop = std::pin::pin!(self.wait());
        runtime::block_on(async {
            match select(future, stop).await {
                Either::Left((out, _)) => Some(out),
                Either::Right(((), _)) => None,
            }
        })
    }
}

/// `bytes` as Python 3 prints a `bytes` object (`print(f"{message}")` in the Guide's
/// examples): `b'World'`, in double quotes if it holds a single quote and no double one,
/// with `\\`, the quote, `\t`, `\n`, `\r` and other non-printable octets (`\xNN`) escaped.
pub fn py_bytes(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push('b');
    out.push(quote);
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if char::from(b) == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote);
    out
}

/// Python's `print` of a float (`repr`): the shortest text that reads back as the same
/// number, with `.0` on whole numbers. Rust's `{:?}` is the same for the magnitudes the
/// examples print.
pub fn py_float(x: f64) -> String {
    format!("{x:?}")
}

/// A small pseudo-random generator (xorshift64*), seeded from the clock and the process id:
/// the examples need Python's `random.randint`, not cryptographic quality.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded differently at each run.
    pub fn new() -> Rng {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // Seconds, nanoseconds and the pid folded into a non-zero seed.
        let seed = now.as_secs().rotate_left(32)
            ^ u64::from(now.subsec_nanos())
            ^ (u64::from(std::process::id()) << 40);
        Rng(seed | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number from `low` to `high`, both included (Python's `random.randint(low, high)`,
    /// `randrange(low, high + 1)`).
    pub fn randint(&mut self, low: i64, high: i64) -> i64 {
        let span = high.abs_diff(low).saturating_add(1);
        // The modulo bias is below 2^-40 for the spans used here.
        let offset = self.next_u64() % span;
        low.saturating_add_unsigned(offset)
    }
}

/// Prints a message frame by frame as the Guide's `zhelpers.dump` does: a line of 40 dashes,
/// then `[LEN] text` for each frame, the text as it is if it is ASCII, else `0x` and hex.
pub fn dump(msg: &Multipart) {
    println!("----------------------------------------");
    for part in msg.iter() {
        if part.is_ascii() {
            println!("[{:03}] {}", part.len(), String::from_utf8_lossy(part));
        } else {
            let hex: String = part.iter().map(|b| format!("{b:02x}")).collect();
            println!("[{:03}] 0x{hex}", part.len());
        }
    }
}
