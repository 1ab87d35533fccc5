//! Ctrl-C (SIGINT) and SIGTERM as a future.

/// Resolves when the program is asked to stop. Clone it to hand to several tasks.
#[derive(Clone, Debug)]
pub struct Shutdown {
    rx: async_channel::Receiver<()>,
}

impl Shutdown {
    /// A shutdown that fires when `trigger` is dropped or closed (for tests and embedding).
    pub fn manual() -> (async_channel::Sender<()>, Shutdown) {
        let (tx, rx) = async_channel::bounded(1);
        (tx, Shutdown { rx })
    }

    /// Waits until shutdown is requested.
    pub async fn wait(&self) {
        let _ = self.rx.recv().await;
    }

    /// Whether shutdown was requested.
    pub fn requested(&self) -> bool {
        self.rx.is_closed()
    }
}

/// Watches SIGINT and SIGTERM (once per process). The first asks for a clean stop; a second
/// exits at once with status 130. SIGHUP is left alone (the CURVE allowlist reloads on it).
#[cfg(unix)]
pub fn shutdown_on_signals() -> std::io::Result<Shutdown> {
    use signal_hook::consts::{SIGINT, SIGTERM};

    let (tx, shutdown) = Shutdown::manual();
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = false;
            for signal in signals.forever() {
                if seen {
                    eprintln!("second signal: exiting now");
                    std::process::exit(130);
                }
                seen = true;
                let name = if signal == SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                log::info!(
                    "signal received ({name}): shutting down (send it again to exit at once)"
                );
                tx.close();
            }
        })?;
    Ok(shutdown)
}

/// Without Unix signals, nothing but the process's end stops it.
#[cfg(not(unix))]
pub fn shutdown_on_signals() -> std::io::Result<Shutdown> {
    let (tx, shutdown) = Shutdown::manual();
    std::mem::forget(tx);
    Ok(shutdown)
}
