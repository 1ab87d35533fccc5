//! The courier side of each benchmark role (see [`crate::peer`]).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use courier_proto::curve::{Authorizer, Keypair, SecretKey};
use courier_proto::z85;
use courier_socket::{
    runtime, Dealer, Multipart, Options, Pub, Pull, Push, Rep, Req, Router, Security, SocketEvent,
    Sub,
};
use futures::FutureExt;
use serde_json::{json, Value};

use crate::peer::{curve_var, PeerArgs, CLIENT_SECRET, SERVER_PUBLIC, SERVER_SECRET};
use crate::util::{
    announce_ready, cpu_seconds, fanout_result, latency_summary, proc_status_kb, unix_now,
    DriverSignals, ACK, BIG, DATA, END, SUBSCRIBED, WARM,
};

/// Messages this peer has received and sent so far, for the error message of a stalled run.
static RECEIVED: AtomicU64 = AtomicU64::new(0);
static SENT: AtomicU64 = AtomicU64::new(0);

fn progress() -> String {
    format!(
        "{} messages received, {} sent",
        RECEIVED.load(Ordering::Relaxed),
        SENT.load(Ordering::Relaxed)
    )
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn mp<const N: usize>(frames: [Bytes; N]) -> Result<Multipart, String> {
    Multipart::from_frames(frames).map_err(|e| e.to_string())
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Socket options for a role: large linger (the driver bounds the run), the HWMs asked for,
/// and CURVE if asked for (`server`: the ROUTER side).
fn options(a: &PeerArgs, server: bool) -> Result<Options, String> {
    let mut o = Options {
        send_hwm: a.hwm,
        recv_hwm: a.hwm,
        linger: Duration::from_secs(10),
        ..Options::default()
    };
    if a.curve {
        o.security = if server {
            Security::curve_server(
                SecretKey::from_z85(&curve_var(SERVER_SECRET)?).map_err(err)?,
                Authorizer::allow_any(),
            )
        } else {
            Security::curve_client(
                Keypair::from_secret(SecretKey::from_z85(&curve_var(CLIENT_SECRET)?).map_err(err)?),
                z85::decode_key(&curve_var(SERVER_PUBLIC)?).map_err(err)?,
            )
        };
    }
    Ok(o)
}

/// Runs one role to completion within `--limit`.
pub fn run(a: &PeerArgs) -> Result<Value, String> {
    runtime::block_on(async {
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
                "hello-clients" => hello_clients(a).await,
                other => Err(format!("unknown role {other:?}")),
            }
        };
        runtime::timeout(a.limit, work)
            .await
            .unwrap_or_else(|| Err(format!("gave up after {:?} ({})", a.limit, progress())))
    })
}

async fn bound_router(a: &PeerArgs) -> Result<(Router, Events), String> {
    let router = Router::new(options(a, true)?);
    let events = router.events();
    let endpoint = router.bind("tcp://127.0.0.1:0").await.map_err(err)?;
    announce_ready(&endpoint.to_string());
    Ok((router, events))
}

type Events = async_channel::Receiver<SocketEvent>;

/// Closes a ROUTER that has just queued its last message, once the peer has taken it and
/// disconnected (or after 3 s).
///
/// Closing at once should do, but at commit 1f8dcc2 `close` dropped such a last message about
/// once in 30 times on a loaded machine (it was taken from the queue and not yet counted as
/// unflushed, or its write lost a race with the stop signal), which stalled a run until its
/// time limit; see BENCHMARKS.md. Waiting for the peer costs nothing measured.
async fn close_after_peer_leaves(router: Router, events: Events) {
    wait_disconnected(&events).await;
    router.close().await;
}

/// Waits until a peer disconnects (or 3 s).
async fn wait_disconnected(events: &Events) {
    let _ = runtime::timeout(Duration::from_secs(3), async {
        while let Ok(ev) = events.recv().await {
            if matches!(ev, SocketEvent::Disconnected { .. }) {
                break;
            }
        }
    })
    .await;
}

fn connected_dealer(a: &PeerArgs) -> Result<Dealer, String> {
    let dealer = Dealer::new(options(a, false)?);
    dealer.connect(&a.endpoint).map_err(err)?;
    Ok(dealer)
}

/// The header frame of a message as received by a ROUTER (frame 1, after the routing id).
fn header(msg: &Multipart) -> &[u8] {
    msg.frames().get(1).map_or(&[][..], |b| &b[..])
}

async fn thr_recv(a: &PeerArgs) -> Result<Value, String> {
    let (router, events) = bound_router(a).await?;
    let mut first: Option<Instant> = None;
    let mut msgs = 0u64;
    let mut bytes = 0u64;
    loop {
        let msg = router.recv().await.map_err(err)?;
        if header(&msg) == END {
            let elapsed = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
            let id = msg.first().clone();
            router
                .send(mp([id, Bytes::from_static(ACK)])?)
                .await
                .map_err(err)?;
            close_after_peer_leaves(router, events).await;
            return Ok(throughput_result(msgs, bytes, elapsed));
        }
        if first.is_none() {
            // The clock starts at the first message; it is not counted.
            first = Some(Instant::now());
            continue;
        }
        msgs += 1;
        bytes += msg.frames().get(2).map_or(0, |b| b.len()) as u64;
        if msgs.is_multiple_of(1024) {
            RECEIVED.store(msgs, Ordering::Relaxed);
        }
    }
}

/// Messages and body bytes received after the first, over the time since it arrived.
pub fn throughput_result(msgs: u64, bytes: u64, secs: f64) -> Value {
    let (rate, mbps) = if secs > 0.0 {
        (msgs as f64 / secs, bytes as f64 / secs / 1e6)
    } else {
        (0.0, 0.0)
    };
    json!({ "msgs": msgs, "body_bytes": bytes, "secs": secs, "msg_per_s": rate, "mb_per_s": mbps })
}

async fn thr_send(a: &PeerArgs) -> Result<Value, String> {
    let dealer = connected_dealer(a)?;
    let header = Bytes::from_static(DATA);
    let body = Bytes::from(vec![0x5a; a.size]);
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < a.duration && sent < a.max_msgs {
        for _ in 0..64 {
            dealer
                .send(mp([header.clone(), body.clone()])?)
                .await
                .map_err(err)?;
        }
        sent += 64;
        SENT.store(sent, Ordering::Relaxed);
    }
    dealer
        .send(mp([Bytes::from_static(END), Bytes::new()])?)
        .await
        .map_err(err)?;
    let ack = dealer.recv().await.map_err(err)?;
    if ack.first() != ACK {
        return Err("expected ACK".into());
    }
    dealer.close().await;
    Ok(json!({ "sent": sent, "send_secs": start.elapsed().as_secs_f64() }))
}

async fn echo(a: &PeerArgs) -> Result<Value, String> {
    let (router, events) = bound_router(a).await?;
    let mut echoed = 0u64;
    loop {
        let msg = router.recv().await.map_err(err)?;
        count(&RECEIVED);
        let end = header(&msg) == END;
        router.send(msg).await.map_err(err)?;
        count(&SENT);
        echoed += 1;
        if end {
            close_after_peer_leaves(router, events).await;
            return Ok(json!({ "echoed": echoed }));
        }
    }
}

async fn round_trip(dealer: &Dealer, msg: Multipart) -> Result<Multipart, String> {
    dealer.send(msg).await.map_err(err)?;
    dealer.recv().await.map_err(err)
}

async fn finish_echo(dealer: Dealer) -> Result<(), String> {
    round_trip(&dealer, mp([Bytes::from_static(END), Bytes::new()])?).await?;
    dealer.close().await;
    Ok(())
}

async fn lat(a: &PeerArgs) -> Result<Value, String> {
    let dealer = connected_dealer(a)?;
    let msg = mp([Bytes::from_static(DATA), Bytes::from(vec![0x5a; a.size])])?;
    // Warm up: connect, and a few hundred round trips before timing.
    let warm_until = Instant::now() + a.duration / 10;
    while Instant::now() < warm_until {
        round_trip(&dealer, msg.clone()).await?;
    }
    let mut rtts = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    while start.elapsed() < a.duration {
        let t = Instant::now();
        round_trip(&dealer, msg.clone()).await?;
        rtts.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    finish_echo(dealer).await?;
    Ok(latency_summary(rtts))
}

async fn pipe(a: &PeerArgs) -> Result<Value, String> {
    let dealer = connected_dealer(a)?;
    let msg = mp([Bytes::from_static(DATA), Bytes::from(vec![0x5a; a.size])])?;
    // Connect and warm up with one round trip.
    round_trip(&dealer, msg.clone()).await?;
    let start = Instant::now();
    let end = start + a.duration;
    for _ in 0..a.inflight {
        dealer.send(msg.clone()).await.map_err(err)?;
        count(&SENT);
    }
    let mut outstanding = a.inflight;
    let mut completed = 0u64;
    while outstanding > 0 {
        dealer.recv().await.map_err(err)?;
        count(&RECEIVED);
        if Instant::now() < end {
            completed += 1;
            dealer.send(msg.clone()).await.map_err(err)?;
            count(&SENT);
        } else {
            outstanding -= 1;
        }
    }
    let secs = a.duration.as_secs_f64();
    finish_echo(dealer).await?;
    Ok(json!({ "completed": completed, "secs": secs, "req_per_s": completed as f64 / secs }))
}

async fn big_recv(a: &PeerArgs) -> Result<Value, String> {
    let (router, events) = bound_router(a).await?;
    let warm = router.recv().await.map_err(err)?;
    router.send(warm).await.map_err(err)?;
    let rss_before_kb = proc_status_kb(None, "VmRSS").unwrap_or(0);
    let msg = router.recv().await.map_err(err)?;
    let received = msg.frames().get(2).map_or(0, |b| b.len());
    if header(&msg) != BIG || received != a.size {
        return Err(format!("expected BIG of {} bytes, got {received}", a.size));
    }
    let peak_during_kb = proc_status_kb(None, "VmHWM").unwrap_or(0);
    let id = msg.first().clone();
    drop(msg);
    router
        .send(mp([id, Bytes::from_static(ACK)])?)
        .await
        .map_err(err)?;
    close_after_peer_leaves(router, events).await;
    Ok(
        json!({ "bytes": received, "rss_before_kb": rss_before_kb, "peak_at_receipt_kb": peak_during_kb }),
    )
}

async fn big_send(a: &PeerArgs) -> Result<Value, String> {
    let dealer = connected_dealer(a)?;
    round_trip(&dealer, mp([Bytes::from_static(WARM)])?).await?;
    let body = Bytes::from(vec![0xa5; a.size]);
    let rss_before_kb = proc_status_kb(None, "VmRSS").unwrap_or(0);
    let start = Instant::now();
    let ack = round_trip(&dealer, mp([Bytes::from_static(BIG), body])?).await?;
    let secs = start.elapsed().as_secs_f64();
    if ack.first() != ACK {
        return Err("expected ACK".into());
    }
    dealer.close().await;
    Ok(json!({ "secs": secs, "rss_before_kb": rss_before_kb }))
}

fn data_msg(a: &PeerArgs) -> Result<Multipart, String> {
    mp([Bytes::from_static(DATA), Bytes::from(vec![0x5a; a.size])])
}

fn end_msg() -> Result<Multipart, String> {
    mp([Bytes::from_static(END), Bytes::new()])
}

async fn push_recv(a: &PeerArgs) -> Result<Value, String> {
    let pull = Pull::new(options(a, true)?);
    let endpoint = pull.bind("tcp://127.0.0.1:0").await.map_err(err)?;
    announce_ready(&endpoint.to_string());
    let mut first: Option<Instant> = None;
    let mut msgs = 0u64;
    let mut bytes = 0u64;
    loop {
        let msg = pull.recv().await.map_err(err)?;
        if msg.first() == END {
            let elapsed = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
            pull.close().await;
            return Ok(throughput_result(msgs, bytes, elapsed));
        }
        if first.is_none() {
            // As thr-recv: the clock starts at the first message, which is not counted.
            first = Some(Instant::now());
            continue;
        }
        msgs += 1;
        bytes += msg.frames().get(1).map_or(0, |b| b.len()) as u64;
        if msgs.is_multiple_of(1024) {
            RECEIVED.store(msgs, Ordering::Relaxed);
        }
    }
}

async fn push_send(a: &PeerArgs) -> Result<Value, String> {
    let push = Push::new(options(a, false)?);
    push.connect(&a.endpoint).map_err(err)?;
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
    // PULL cannot answer: closing with linger is what delivers the rest and END.
    let unsent = push.close().await;
    if unsent > 0 {
        return Err(format!("{unsent} message(s) unsent at close"));
    }
    Ok(json!({ "sent": sent, "send_secs": send_secs }))
}

/// The publisher of the fan-out case: WARM every millisecond until the driver says GO (every
/// subscriber has one: subscriptions are in), DATA for `--duration`, then END every 10 ms
/// (a subscriber at its HWM misses messages, END included) until the driver closes our input.
async fn fan_pub(a: &PeerArgs) -> Result<Value, String> {
    let signals = DriverSignals::watch_stdin();
    let publisher = Pub::new(options(a, true)?);
    let endpoint = publisher.bind("tcp://127.0.0.1:0").await.map_err(err)?;
    announce_ready(&endpoint.to_string());
    let warm = mp([Bytes::from_static(WARM), Bytes::new()])?;
    while !signals.go() {
        if signals.done() {
            return Err("standard input ended before GO".into());
        }
        publisher.send(warm.clone()).await.map_err(err)?;
        runtime::sleep(Duration::from_millis(1)).await;
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
        runtime::sleep(Duration::from_millis(10)).await;
    }
    publisher.close().await;
    Ok(json!({ "sent": sent, "send_secs": send_secs }))
}

/// What the fan-out subscribers have seen.
struct FanTally {
    /// Per SUB socket: received anything, received END, DATA messages counted.
    heard: Vec<bool>,
    ended: Vec<bool>,
    counts: Vec<u64>,
    bytes: u64,
    first: Option<Instant>,
    last_end: Option<Instant>,
    announced: bool,
}

impl FanTally {
    fn new(n: usize) -> FanTally {
        FanTally {
            heard: vec![false; n],
            ended: vec![false; n],
            counts: vec![0; n],
            bytes: 0,
            first: None,
            last_end: None,
            announced: false,
        }
    }

    /// Takes one message of subscriber `i`; returns whether every subscriber has had END.
    fn take(&mut self, i: usize, msg: &Multipart) -> bool {
        if let Some(h) = self.heard.get_mut(i) {
            *h = true;
        }
        if !self.announced && self.heard.iter().all(|&h| h) {
            self.announced = true;
            println!("{SUBSCRIBED}");
        }
        let ended = self.ended.get(i).copied().unwrap_or(true);
        match msg.first() {
            h if h == DATA && !ended => {
                if self.first.is_none() {
                    // The clock starts at the first DATA, which is not counted.
                    self.first = Some(Instant::now());
                } else if let Some(c) = self.counts.get_mut(i) {
                    *c += 1;
                    self.bytes += msg.frames().get(1).map_or(0, |b| b.len()) as u64;
                }
            }
            h if h == END && !ended => {
                if let Some(e) = self.ended.get_mut(i) {
                    *e = true;
                }
                self.last_end = Some(Instant::now());
                RECEIVED.store(self.counts.iter().sum(), Ordering::Relaxed);
            }
            _ => {}
        }
        self.ended.iter().all(|&e| e)
    }

    fn result(&self) -> Value {
        let secs = match (self.first, self.last_end) {
            (Some(f), Some(l)) => l.saturating_duration_since(f).as_secs_f64(),
            _ => 0.0,
        };
        fanout_result(&self.counts, self.bytes, secs)
    }
}

/// `--count` SUB sockets in this process, subscribed to everything, read by one task (as the
/// libzmq peer polls them from one thread): whatever is waiting first, then a wait on all.
async fn fan_sub(a: &PeerArgs) -> Result<Value, String> {
    if a.count == 0 {
        return Err("--count must be at least 1".into());
    }
    let mut subs = Vec::with_capacity(a.count);
    for _ in 0..a.count {
        let sub = Sub::new(options(a, false)?);
        sub.subscribe(b"");
        sub.connect(&a.endpoint).map_err(err)?;
        subs.push(sub);
    }
    let mut tally = FanTally::new(subs.len());
    loop {
        let mut got = false;
        for (i, sub) in subs.iter().enumerate() {
            // A bounded batch per socket, so that one busy socket does not starve the others.
            for _ in 0..256 {
                let Some(msg) = sub.try_recv() else { break };
                got = true;
                if tally.take(i, &msg) {
                    return Ok(tally.result());
                }
            }
        }
        if !got {
            let waits = subs.iter().map(|s| Box::pin(s.recv()));
            let (msg, i, _) = futures::future::select_all(waits).await;
            if tally.take(i, &msg.map_err(err)?) {
                return Ok(tally.result());
            }
        }
    }
}

async fn rep(a: &PeerArgs) -> Result<Value, String> {
    let rep = Rep::new(options(a, true)?);
    let events = rep.events();
    let endpoint = rep.bind("tcp://127.0.0.1:0").await.map_err(err)?;
    announce_ready(&endpoint.to_string());
    let mut replied = 0u64;
    loop {
        let msg = rep.recv().await.map_err(err)?;
        let end = msg.first() == END;
        rep.send(msg).await.map_err(err)?;
        replied += 1;
        if end {
            // As close_after_peer_leaves: the REQ closes once it has the last reply.
            wait_disconnected(&events).await;
            rep.close().await;
            return Ok(json!({ "replied": replied }));
        }
    }
}

async fn req_round_trip(req: &Req, msg: Multipart) -> Result<Multipart, String> {
    req.send(msg).await.map_err(err)?;
    req.recv().await.map_err(err)
}

async fn req(a: &PeerArgs) -> Result<Value, String> {
    let req = Req::new(options(a, false)?);
    req.connect(&a.endpoint).map_err(err)?;
    let msg = data_msg(a)?;
    let warm_until = Instant::now() + a.duration / 10;
    while Instant::now() < warm_until {
        req_round_trip(&req, msg.clone()).await?;
    }
    let mut rtts = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    while start.elapsed() < a.duration {
        let t = Instant::now();
        req_round_trip(&req, msg.clone()).await?;
        rtts.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    req_round_trip(&req, end_msg()?).await?;
    req.close().await;
    Ok(latency_summary(rtts))
}

/// Shared counters of the `hello-clients` role.
#[derive(Default)]
struct ClientStats {
    connected: AtomicUsize,
    failed_handshakes: AtomicUsize,
    hellos_sent: AtomicU64,
    replies: AtomicU64,
    /// Unix time of the last successful handshake, in microseconds.
    last_handshake_us: AtomicU64,
    /// Clients that have received at least one message (a HELLO) from the server.
    greeted: AtomicUsize,
    /// Unix time at which the last of them received its first one, in microseconds.
    last_first_hello_us: AtomicU64,
}

fn unix_us() -> u64 {
    (unix_now() * 1e6) as u64
}

/// The server-scale clients: `--count` DEALERs in this process, each connecting to
/// `--endpoint` (at most `--window` handshakes in progress at once) and then sending HELLO once
/// a second and taking the server's HELLOs. Prints a `CONNECTED {json}` line when all are
/// connected (or the connect time is up), then a `GREETED {json}` line when every connected
/// client has received a first HELLO from the server (or `--greet-limit` has passed), then runs
/// until standard input closes. With `--silent` the clients only connect (no HELLO, no
/// `GREETED` line).
async fn hello_clients(a: &PeerArgs) -> Result<Value, String> {
    let stats = Arc::new(ClientStats::default());
    let (permit_tx, permit_rx) = async_channel::bounded::<()>(a.window.max(1));
    let hello = courier_socket::Message::Hello.encode();
    let started = unix_now();
    let start = Instant::now();
    let connect_limit = a
        .limit
        .saturating_sub(a.duration)
        .saturating_sub(a.greet_limit);
    let mut tasks = Vec::with_capacity(a.count);
    for i in 0..a.count {
        if runtime::timeout(
            connect_limit.saturating_sub(start.elapsed()),
            permit_tx.send(()),
        )
        .await
        .is_none()
        {
            break;
        }
        let dealer = Dealer::new(options(a, false)?);
        let events = dealer.events();
        dealer.connect(&a.endpoint).map_err(err)?;
        // Spread the clients' HELLOs evenly over the second.
        let phase = Duration::from_secs(1).mul_f64(i as f64 / a.count as f64);
        tasks.push(runtime::spawn(client(
            dealer,
            events,
            permit_rx.clone(),
            Arc::clone(&stats),
            hello.clone(),
            phase,
            a.silent,
        )));
    }
    // Wait for the handshakes still in progress.
    while stats.connected.load(Ordering::Relaxed) < a.count && start.elapsed() < connect_limit {
        runtime::sleep(Duration::from_millis(5)).await;
    }
    let connected = stats.connected.load(Ordering::Relaxed);
    let last = stats.last_handshake_us.load(Ordering::Relaxed) as f64 / 1e6;
    let connect_secs = (last - started).max(0.0);
    println!(
        "CONNECTED {}",
        json!({
            "connected": connected,
            "wanted": a.count,
            "first_connect_unix": started,
            "last_handshake_unix": last,
            "connect_secs": connect_secs,
            "failed_handshakes": stats.failed_handshakes.load(Ordering::Relaxed),
            "cpu_s": cpu_seconds(None),
            "rss_kb": proc_status_kb(None, "VmRSS"),
        })
    );
    if !a.silent {
        let deadline = Instant::now() + a.greet_limit;
        while stats.greeted.load(Ordering::Acquire) < connected && Instant::now() < deadline {
            runtime::sleep(Duration::from_millis(5)).await;
        }
        println!("GREETED {}", greeted_report(&stats, connected, started));
    }
    // Run until the driver closes our standard input (or the limit).
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        stop_tx.close();
    });
    let _ = stop_rx.recv().await;
    Ok(json!({
        "connected": connected,
        "wanted": a.count,
        "connect_secs": connect_secs,
        "hellos_sent": stats.hellos_sent.load(Ordering::Relaxed),
        "replies": stats.replies.load(Ordering::Relaxed),
        "failed_handshakes": stats.failed_handshakes.load(Ordering::Relaxed),
        "greeted": greeted_report(&stats, connected, started),
        "rss_kb": proc_status_kb(None, "VmRSS"),
    }))
}

/// How many clients have had a first HELLO from the server, and when the last of them got it.
fn greeted_report(stats: &ClientStats, connected: usize, started: f64) -> Value {
    let greeted = stats.greeted.load(Ordering::Acquire);
    let last =
        (greeted > 0).then(|| stats.last_first_hello_us.load(Ordering::Relaxed) as f64 / 1e6);
    json!({
        "greeted": greeted,
        "connected": connected,
        "first_connect_unix": started,
        "last_first_hello_unix": last,
        "greeted_secs": last.map(|l| (l - started).max(0.0)),
    })
}

async fn client(
    dealer: Dealer,
    events: async_channel::Receiver<SocketEvent>,
    permit: async_channel::Receiver<()>,
    stats: Arc<ClientStats>,
    hello: Multipart,
    phase: Duration,
    silent: bool,
) {
    loop {
        match events.recv().await {
            Ok(SocketEvent::HandshakeSucceeded { .. }) => break,
            Ok(SocketEvent::HandshakeFailed { .. }) => {
                stats.failed_handshakes.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
    stats
        .last_handshake_us
        .fetch_max(unix_us(), Ordering::Relaxed);
    stats.connected.fetch_add(1, Ordering::Relaxed);
    let _ = permit.recv().await;
    drop(events);
    if silent {
        // Hold the connection; the server never hears from this client, so never greets it.
        while dealer.recv().await.is_ok() {
            stats.replies.fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    runtime::sleep(phase).await;
    let mut next = Instant::now();
    let mut greeted = false;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        futures::select! {
            r = dealer.recv().fuse() => match r {
                Ok(_) => {
                    stats.replies.fetch_add(1, Ordering::Relaxed);
                    if !greeted {
                        greeted = true;
                        stats.last_first_hello_us.fetch_max(unix_us(), Ordering::Relaxed);
                        // Release: whoever sees the count sees the time set before it.
                        stats.greeted.fetch_add(1, Ordering::Release);
                    }
                }
                Err(_) => return,
            },
            _ = runtime::sleep(wait).fuse() => {
                if dealer.try_send(hello.clone()).is_ok() {
                    stats.hellos_sent.fetch_add(1, Ordering::Relaxed);
                }
                next += Duration::from_secs(1);
            }
        }
    }
}
