//! The zmq.rs (`zeromq` crate, async-std runtime) side of each benchmark role (see
//! [`crate::peer`]). zmq.rs has no CURVE and no high-water-mark options.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use zeromq::{
    DealerSocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket, Socket,
    SocketRecv, SocketSend, SubSocket, ZmqMessage,
};

use crate::courier_peer::throughput_result;
use crate::peer::PeerArgs;
use crate::util::{
    announce_ready, fanout_result, latency_summary, proc_status_kb, DriverSignals, ACK, BIG, DATA,
    END, SUBSCRIBED, WARM,
};

/// Messages received and sent so far (updated in batches), for the error of a stalled run.
static RECEIVED: AtomicU64 = AtomicU64::new(0);
static SENT: AtomicU64 = AtomicU64::new(0);

fn progress() -> String {
    format!(
        "{} messages received, {} sent",
        RECEIVED.load(Ordering::Relaxed),
        SENT.load(Ordering::Relaxed)
    )
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn zmsg(frames: Vec<Bytes>) -> Result<ZmqMessage, String> {
    ZmqMessage::try_from(frames).map_err(|e| e.to_string())
}

fn frame(msg: &ZmqMessage, i: usize) -> &[u8] {
    msg.get(i).map_or(&[][..], |b| &b[..])
}

/// Runs one role to completion within `--limit`.
pub fn run(a: &PeerArgs) -> Result<Value, String> {
    if a.curve {
        return Err("zmq.rs has no CURVE".into());
    }
    async_std::task::block_on(async {
        let work = async {
            match a.role.as_str() {
                "thr-recv" => thr_recv(a).await,
                "thr-send" => thr_send(a).await,
                "echo" => echo(a).await,
                "lat" => lat(a).await,
                "pipe" => pipe(a).await,
                "big-recv" => big_recv(a).await,
                "big-send" => big_send(a).await,
                "push-recv" => push_recv(a).await,
                "push-send" => push_send(a).await,
                "fan-pub" => fan_pub(a).await,
                "fan-sub" => fan_sub(a).await,
                "rep" => rep(a).await,
                "req" => req(a).await,
                other => Err(format!("unknown role {other:?} for zmq.rs")),
            }
        };
        async_std::future::timeout(a.limit, work)
            .await
            .unwrap_or_else(|_| Err(format!("gave up after {:?} ({})", a.limit, progress())))
    })
}

async fn bound_router() -> Result<RouterSocket, String> {
    let mut router = RouterSocket::new();
    let endpoint = router.bind("tcp://127.0.0.1:0").await.map_err(err)?;
    announce_ready(&endpoint.to_string());
    Ok(router)
}

async fn connected_dealer(a: &PeerArgs) -> Result<DealerSocket, String> {
    let mut dealer = DealerSocket::new();
    dealer.connect(&a.endpoint).await.map_err(err)?;
    Ok(dealer)
}

/// Closes a ROUTER that has just sent its last message. zmq.rs's `close` can drop a message
/// still on its way out (a run's last reply went missing that way under perf), so wait a
/// little first; this is outside every timed part.
async fn close_soon(router: RouterSocket) {
    async_std::task::sleep(std::time::Duration::from_millis(300)).await;
    let _ = router.close().await;
}

async fn ack(router: &mut RouterSocket, msg: &ZmqMessage) -> Result<(), String> {
    let id = msg.get(0).cloned().unwrap_or_default();
    router
        .send(zmsg(vec![id, Bytes::from_static(ACK)])?)
        .await
        .map_err(err)
}

async fn thr_recv(_a: &PeerArgs) -> Result<Value, String> {
    let mut router = bound_router().await?;
    let mut first: Option<Instant> = None;
    let mut msgs = 0u64;
    let mut bytes = 0u64;
    loop {
        let msg = router.recv().await.map_err(err)?;
        if frame(&msg, 1) == END {
            let elapsed = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
            ack(&mut router, &msg).await?;
            close_soon(router).await;
            return Ok(throughput_result(msgs, bytes, elapsed));
        }
        if first.is_none() {
            first = Some(Instant::now());
            continue;
        }
        msgs += 1;
        bytes += frame(&msg, 2).len() as u64;
        if msgs.is_multiple_of(1024) {
            RECEIVED.store(msgs, Ordering::Relaxed);
        }
    }
}

async fn thr_send(a: &PeerArgs) -> Result<Value, String> {
    let mut dealer = connected_dealer(a).await?;
    let header = Bytes::from_static(DATA);
    let body = Bytes::from(vec![0x5a; a.size]);
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < a.duration && sent < a.max_msgs {
        for _ in 0..64 {
            dealer
                .send(zmsg(vec![header.clone(), body.clone()])?)
                .await
                .map_err(err)?;
        }
        sent += 64;
        SENT.store(sent, Ordering::Relaxed);
    }
    dealer
        .send(zmsg(vec![Bytes::from_static(END), Bytes::new()])?)
        .await
        .map_err(err)?;
    let reply = dealer.recv().await.map_err(err)?;
    if frame(&reply, 0) != ACK {
        return Err("expected ACK".into());
    }
    let _ = dealer.close().await;
    Ok(json!({ "sent": sent, "send_secs": start.elapsed().as_secs_f64() }))
}

async fn echo(_a: &PeerArgs) -> Result<Value, String> {
    let mut router = bound_router().await?;
    let mut echoed = 0u64;
    loop {
        let msg = router.recv().await.map_err(err)?;
        let end = frame(&msg, 1) == END;
        router.send(msg).await.map_err(err)?;
        echoed += 1;
        if end {
            close_soon(router).await;
            return Ok(json!({ "echoed": echoed }));
        }
    }
}

async fn round_trip(dealer: &mut DealerSocket, msg: ZmqMessage) -> Result<ZmqMessage, String> {
    dealer.send(msg).await.map_err(err)?;
    dealer.recv().await.map_err(err)
}

async fn finish_echo(mut dealer: DealerSocket) -> Result<(), String> {
    round_trip(
        &mut dealer,
        zmsg(vec![Bytes::from_static(END), Bytes::new()])?,
    )
    .await?;
    let _ = dealer.close().await;
    Ok(())
}

async fn lat(a: &PeerArgs) -> Result<Value, String> {
    let mut dealer = connected_dealer(a).await?;
    let msg = zmsg(vec![
        Bytes::from_static(DATA),
        Bytes::from(vec![0x5a; a.size]),
    ])?;
    let warm_until = Instant::now() + a.duration / 10;
    while Instant::now() < warm_until {
        round_trip(&mut dealer, msg.clone()).await?;
    }
    let mut rtts = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    while start.elapsed() < a.duration {
        let t = Instant::now();
        round_trip(&mut dealer, msg.clone()).await?;
        rtts.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    finish_echo(dealer).await?;
    Ok(latency_summary(rtts))
}

async fn pipe(a: &PeerArgs) -> Result<Value, String> {
    let mut dealer = connected_dealer(a).await?;
    let msg = zmsg(vec![
        Bytes::from_static(DATA),
        Bytes::from(vec![0x5a; a.size]),
    ])?;
    round_trip(&mut dealer, msg.clone()).await?;
    let start = Instant::now();
    let end = start + a.duration;
    for _ in 0..a.inflight {
        dealer.send(msg.clone()).await.map_err(err)?;
    }
    let mut outstanding = a.inflight;
    let mut completed = 0u64;
    while outstanding > 0 {
        dealer.recv().await.map_err(err)?;
        if Instant::now() < end {
            completed += 1;
            dealer.send(msg.clone()).await.map_err(err)?;
        } else {
            outstanding -= 1;
        }
    }
    let secs = a.duration.as_secs_f64();
    finish_echo(dealer).await?;
    Ok(json!({ "completed": completed, "secs": secs, "req_per_s": completed as f64 / secs }))
}

async fn big_recv(a: &PeerArgs) -> Result<Value, String> {
    let mut router = bound_router().await?;
    let warm = router.recv().await.map_err(err)?;
    router.send(warm).await.map_err(err)?;
    let rss_before_kb = proc_status_kb(None, "VmRSS").unwrap_or(0);
    let msg = router.recv().await.map_err(err)?;
    let received = frame(&msg, 2).len();
    if frame(&msg, 1) != BIG || received != a.size {
        return Err(format!("expected BIG of {} bytes, got {received}", a.size));
    }
    let peak_during_kb = proc_status_kb(None, "VmHWM").unwrap_or(0);
    ack(&mut router, &msg).await?;
    drop(msg);
    close_soon(router).await;
    Ok(
        json!({ "bytes": received, "rss_before_kb": rss_before_kb, "peak_at_receipt_kb": peak_during_kb }),
    )
}

async fn big_send(a: &PeerArgs) -> Result<Value, String> {
    let mut dealer = connected_dealer(a).await?;
    round_trip(&mut dealer, zmsg(vec![Bytes::from_static(WARM)])?).await?;
    let body = Bytes::from(vec![0xa5; a.size]);
    let rss_before_kb = proc_status_kb(None, "VmRSS").unwrap_or(0);
    let start = Instant::now();
    let reply = round_trip(&mut dealer, zmsg(vec![Bytes::from_static(BIG), body])?).await?;
    let secs = start.elapsed().as_secs_f64();
    if frame(&reply, 0) != ACK {
        return Err("expected ACK".into());
    }
    let _ = dealer.close().await;
    Ok(json!({ "secs": secs, "rss_before_kb": rss_before_kb }))
}

fn data_msg(a: &PeerArgs) -> Result<ZmqMessage, String> {
    zmsg(vec![
        Bytes::from_static(DATA),
        Bytes::from(vec![0x5a; a.size]),
    ])
}

fn end_msg() -> Result<ZmqMessage, String> {
    zmsg(vec![Bytes::from_static(END), Bytes::new()])
}

async fn push_recv(_a: &PeerArgs) -> Result<Value, String> {
    let mut pull = PullSocket::new();
    let endpoint = pull.bind("tcp://127.0.0.1:0").await.map_err(err)?;
    announce_ready(&endpoint.to_string());
    let mut first: Option<Instant> = None;
    let mut msgs = 0u64;
    let mut bytes = 0u64;
    loop {
        let msg = pull.recv().await.map_err(err)?;
        if frame(&msg, 0) == END {
            let elapsed = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
            let _ = pull.close().await;
            return Ok(throughput_result(msgs, bytes, elapsed));
        }
        if first.is_none() {
            first = Some(Instant::now());
            continue;
        }
        msgs += 1;
        bytes += frame(&msg, 1).len() as u64;
        if msgs.is_multiple_of(1024) {
            RECEIVED.store(msgs, Ordering::Relaxed);
        }
    }
}

async fn push_send(a: &PeerArgs) -> Result<Value, String> {
    let mut push = PushSocket::new();
    push.connect(&a.endpoint).await.map_err(err)?;
    let msg = data_msg(a)?;
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < a.duration && sent < a.max_msgs {
        for _ in 0..64 {
            push.send(msg.clone()).await.map_err(err)?;
        }
        sent += 64;
        SENT.store(sent, Ordering::Relaxed);
    }
    push.send(end_msg()?).await.map_err(err)?;
    let send_secs = start.elapsed().as_secs_f64();
    // PULL cannot answer, and zmq.rs's close can drop what is still on its way out (see
    // close_soon): give the queue time to drain first, outside the timed part.
    async_std::task::sleep(Duration::from_secs(1)).await;
    let _ = push.close().await;
    Ok(json!({ "sent": sent, "send_secs": send_secs }))
}

/// As the courier `fan-pub`.
async fn fan_pub(a: &PeerArgs) -> Result<Value, String> {
    let signals = DriverSignals::watch_stdin();
    let mut publisher = PubSocket::new();
    let endpoint = publisher.bind("tcp://127.0.0.1:0").await.map_err(err)?;
    announce_ready(&endpoint.to_string());
    let warm = zmsg(vec![Bytes::from_static(WARM), Bytes::new()])?;
    while !signals.go() {
        if signals.done() {
            return Err("standard input ended before GO".into());
        }
        publisher.send(warm.clone()).await.map_err(err)?;
        async_std::task::sleep(Duration::from_millis(1)).await;
    }
    let msg = data_msg(a)?;
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < a.duration && sent < a.max_msgs {
        for _ in 0..64 {
            publisher.send(msg.clone()).await.map_err(err)?;
        }
        sent += 64;
        SENT.store(sent, Ordering::Relaxed);
    }
    let send_secs = start.elapsed().as_secs_f64();
    let end = end_msg()?;
    while !signals.done() {
        publisher.send(end.clone()).await.map_err(err)?;
        async_std::task::sleep(Duration::from_millis(10)).await;
    }
    // zmq.rs's close once in a few runs did not return after its ten subscribers had left
    // (the run then failed waiting for this result); nothing is timed here, so bound it.
    let _ = async_std::future::timeout(Duration::from_secs(2), publisher.close()).await;
    Ok(json!({ "sent": sent, "send_secs": send_secs }))
}

/// What the fan-out subscriber tasks share.
#[derive(Default)]
struct FanShared {
    /// Subscribers that have received a message.
    heard: AtomicUsize,
    /// When the first DATA came (that message is not counted), and the last END.
    first: Mutex<Option<Instant>>,
    last_end: Mutex<Option<Instant>>,
}

/// One SUB socket of `fan-sub`: counts DATA until END; returns (messages, body bytes).
async fn fan_one(
    mut sub: SubSocket,
    n: usize,
    shared: Arc<FanShared>,
) -> Result<(u64, u64), String> {
    let mut heard = false;
    let (mut msgs, mut bytes) = (0u64, 0u64);
    loop {
        let msg = sub.recv().await.map_err(err)?;
        if !heard {
            heard = true;
            if shared.heard.fetch_add(1, Ordering::AcqRel) + 1 == n {
                println!("{SUBSCRIBED}");
            }
        }
        match frame(&msg, 0) {
            h if h == DATA => {
                let counted = {
                    let mut first = shared.first.lock().map_err(err)?;
                    if first.is_none() {
                        *first = Some(Instant::now());
                        false
                    } else {
                        true
                    }
                };
                if counted {
                    msgs += 1;
                    bytes += frame(&msg, 1).len() as u64;
                }
            }
            h if h == END => {
                let now = Instant::now();
                {
                    let mut last = shared.last_end.lock().map_err(err)?;
                    if last.is_none_or(|l| l < now) {
                        *last = Some(now);
                    }
                }
                // Bounded as the publisher's close is (see fan_pub).
                let _ = async_std::future::timeout(Duration::from_secs(2), sub.close()).await;
                return Ok((msgs, bytes));
            }
            _ => {}
        }
    }
}

/// `--count` SUB sockets subscribed to everything, one async-std task each (zmq.rs's `recv`
/// takes the socket by `&mut`, so one task cannot wait on several).
async fn fan_sub(a: &PeerArgs) -> Result<Value, String> {
    let shared = Arc::new(FanShared::default());
    let mut tasks = Vec::with_capacity(a.count);
    for _ in 0..a.count {
        let mut sub = SubSocket::new();
        sub.subscribe("").await.map_err(err)?;
        sub.connect(&a.endpoint).await.map_err(err)?;
        tasks.push(async_std::task::spawn(fan_one(
            sub,
            a.count,
            Arc::clone(&shared),
        )));
    }
    let mut per_sub = Vec::with_capacity(tasks.len());
    let mut body_bytes = 0u64;
    for t in tasks {
        let (m, b) = t.await?;
        per_sub.push(m);
        body_bytes += b;
    }
    RECEIVED.store(per_sub.iter().sum(), Ordering::Relaxed);
    let first = *shared.first.lock().map_err(err)?;
    let last = *shared.last_end.lock().map_err(err)?;
    let secs = match (first, last) {
        (Some(f), Some(l)) => l.saturating_duration_since(f).as_secs_f64(),
        _ => 0.0,
    };
    Ok(fanout_result(&per_sub, body_bytes, secs))
}

async fn rep(_a: &PeerArgs) -> Result<Value, String> {
    let mut rep = RepSocket::new();
    let endpoint = rep.bind("tcp://127.0.0.1:0").await.map_err(err)?;
    announce_ready(&endpoint.to_string());
    let mut replied = 0u64;
    loop {
        let msg = rep.recv().await.map_err(err)?;
        let end = frame(&msg, 0) == END;
        rep.send(msg).await.map_err(err)?;
        replied += 1;
        if end {
            async_std::task::sleep(Duration::from_millis(300)).await;
            let _ = rep.close().await;
            return Ok(json!({ "replied": replied }));
        }
    }
}

async fn req_round_trip(req: &mut ReqSocket, msg: ZmqMessage) -> Result<ZmqMessage, String> {
    req.send(msg).await.map_err(err)?;
    req.recv().await.map_err(err)
}

async fn req(a: &PeerArgs) -> Result<Value, String> {
    let mut req = ReqSocket::new();
    req.connect(&a.endpoint).await.map_err(err)?;
    let msg = data_msg(a)?;
    let warm_until = Instant::now() + a.duration / 10;
    while Instant::now() < warm_until {
        req_round_trip(&mut req, msg.clone()).await?;
    }
    let mut rtts = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    while start.elapsed() < a.duration {
        let t = Instant::now();
        req_round_trip(&mut req, msg.clone()).await?;
        rtts.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    req_round_trip(&mut req, end_msg()?).await?;
    let _ = req.close().await;
    Ok(latency_summary(rtts))
}
