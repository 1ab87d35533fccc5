//! The network side of the viewer: says hello to the collector and hands on what it sends.

use std::time::{Duration, Instant};

use courier_app::Shutdown;
use courier_socket::{runtime, Dealer, Message, Multipart, Options, SocketError};
use futures::FutureExt;

/// Viewer settings.
#[derive(Clone, Debug)]
pub struct ViewerConfig {
    /// The collector's viewer endpoint.
    pub collector: String,
    /// How often to say hello.
    pub hello_interval: Duration,
    /// Socket options (security...).
    pub socket: Options,
}

impl ViewerConfig {
    /// Defaults: hello every 15 s, NULL security.
    pub fn new(collector: impl Into<String>) -> Self {
        ViewerConfig {
            collector: collector.into(),
            hello_interval: Duration::from_secs(15),
            socket: Options::default(),
        }
    }
}

/// Runs until `shutdown` fires, calling `on_metrics` with every METR message received.
pub async fn run_viewer(
    config: ViewerConfig,
    mut on_metrics: impl FnMut(Message),
    shutdown: Shutdown,
) -> Result<(), SocketError> {
    let dealer = Dealer::new(config.socket.clone());
    dealer.connect(&config.collector)?;
    log::info!("viewer connecting to {}", config.collector);
    let mut next_hello = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_hello {
            if let Err(e) = dealer.try_send(Multipart::from(crate::hello())) {
                log::debug!("hello not queued: {e}");
            }
            next_hello = now + config.hello_interval;
        }
        futures::select! {
            msg = dealer.recv().fuse() => match Message::decode(&msg?) {
                Ok(msg @ Message::Metrics { .. }) => on_metrics(msg),
                Ok(Message::Control { text }) => log::debug!("CTRL {text:?} from the collector"),
                Ok(other) => log::warn!("unexpected {} from the collector; ignored", other.name()),
                Err(e) => log::warn!("malformed message from the collector: {e}"),
            },
            _ = runtime::sleep(next_hello.saturating_duration_since(now)).fuse() => {}
            _ = shutdown.wait().fuse() => break,
        }
    }
    dealer.close().await;
    Ok(())
}
