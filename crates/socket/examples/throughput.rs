//! A quick in-process probe: DEALER -> ROUTER over loopback TCP, 2-frame messages.
//! `cargo run --release -p courier-socket --example throughput -- [COUNT] [BODY_BYTES]`.
//! (The real benchmarks, side by side with libzmq, are `scripts/bench.sh`.)

use std::time::Instant;

use bytes::Bytes;
use courier_socket::{runtime, Dealer, Multipart, Options, Router};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let size: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    runtime::block_on(async {
        let router = Router::new(Options::default());
        let endpoint = router.bind("tcp://127.0.0.1:0").await?;
        let dealer = Dealer::new(Options::default());
        dealer.connect(&endpoint.to_string())?;
        let body = Bytes::from(vec![7u8; size]);
        let sender = runtime::spawn(async move {
            for _ in 0..count {
                let mut msg = Multipart::single(Bytes::from_static(b"DATA"));
                msg.push_back(body.clone());
                dealer.send(msg).await?;
            }
            dealer.close().await;
            Ok::<(), courier_socket::SocketError>(())
        });
        let first = router.recv().await?;
        let start = Instant::now();
        let mut bytes = first.total_len();
        for _ in 1..count {
            bytes += router.recv().await?.total_len();
        }
        let secs = start.elapsed().as_secs_f64();
        sender.await?;
        println!(
            "{count} messages of {size} B: {:.0} msg/s, {:.1} MB/s",
            count as f64 / secs,
            bytes as f64 / secs / 1e6
        );
        Ok(())
    })
}
