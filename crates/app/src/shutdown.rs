//! Ctrl-C and SIGTERM as a future.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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

/// Installs the Ctrl-C / SIGTERM handler (once per process). The first signal asks for a clean
/// stop; a second one exits at once with status 130.
pub fn shutdown_on_signals() -> Result<Shutdown, ctrlc::Error> {
    let (tx, shutdown) = Shutdown::manual();
    let seen = Arc::new(AtomicBool::new(false));
    ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::SeqCst) {
            eprintln!("second signal: exiting now");
            std::process::exit(130);
        }
        log::info!("signal received: shutting down (send it again to exit at once)");
        tx.close();
    })?;
    Ok(shutdown)
}
