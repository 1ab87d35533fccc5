//! Memory limits, proven with a counting allocator: a peer announcing an enormous frame is
//! refused from the 9-octet header alone, without allocating for it; frames, messages and
//! frame counts exactly at the configured limits are accepted and one more is refused; and
//! what the decoders allocate stays proportional to the input they were given.
//!
//! Every measurement goes through [`measure`], which holds a mutex (so tests measuring in
//! parallel threads never overlap) and counts only the allocations made by the measuring
//! thread (so the test harness and other tests do not pollute the counters).

// A `#[global_allocator]` must be an `unsafe impl GlobalAlloc`; this one only forwards every
// call to `std::alloc::System` unchanged and counts bytes, and exists only in this test binary.
#![allow(unsafe_code)]
// clippy.toml allows these in #[test] functions only; the helpers here are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use courier_proto::command::Command;
use courier_proto::connection::{Connection, ConnectionConfig, ConnectionError, Event};
use courier_proto::frame::{
    Frame, FrameDecoder, FrameError, Limits, FLAG_COMMAND, FLAG_LONG, FLAG_MORE,
};
use courier_proto::greeting::{Greeting, MechanismName};
use courier_proto::metadata::Metadata;
use courier_proto::null::Null;
use courier_proto::socket_type::SocketType;

// ---------------------------------------------------------------------------------------------
// The counting allocator.
// ---------------------------------------------------------------------------------------------

struct Counting;

/// Net bytes allocated by measured threads (may go below zero when they free older memory).
static CURRENT: AtomicIsize = AtomicIsize::new(0);
/// Highest `CURRENT` seen since the last reset.
static PEAK: AtomicIsize = AtomicIsize::new(0);
/// Bytes allocated (not net of frees) since the last reset.
static TOTAL: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are being counted.
    static MEASURED: Cell<bool> = const { Cell::new(false) };
}

fn measured_thread() -> bool {
    MEASURED.try_with(Cell::get).unwrap_or(false)
}

fn grow(bytes: usize) {
    let bytes = isize::try_from(bytes).unwrap_or(isize::MAX);
    let now = CURRENT.fetch_add(bytes, Ordering::SeqCst) + bytes;
    PEAK.fetch_max(now, Ordering::SeqCst);
    TOTAL.fetch_add(bytes.unsigned_abs(), Ordering::SeqCst);
}

fn shrink(bytes: usize) {
    let bytes = isize::try_from(bytes).unwrap_or(isize::MAX);
    CURRENT.fetch_sub(bytes, Ordering::SeqCst);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() && measured_thread() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() && measured_thread() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) };
        if measured_thread() {
            shrink(layout.size());
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() && measured_thread() {
            // Counted as a new allocation then a free: the peak includes the moment both
            // blocks exist, as when realloc has to move.
            grow(new_size);
            shrink(layout.size());
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What a measured call allocated.
#[derive(Debug, Clone, Copy)]
struct Usage {
    /// Highest net amount held at any moment during the call.
    peak: usize,
    /// Everything allocated during the call, freed or not.
    total: usize,
}

static MEASURING: Mutex<()> = Mutex::new(());

/// Runs `f`, counting what this thread allocates meanwhile.
fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    let _guard = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    TOTAL.store(0, Ordering::SeqCst);
    MEASURED.with(|m| m.set(true));
    let result = f();
    MEASURED.with(|m| m.set(false));
    let peak = PEAK.load(Ordering::SeqCst) - base;
    let usage = Usage {
        peak: peak.max(0).unsigned_abs(),
        total: TOTAL.load(Ordering::SeqCst),
    };
    (result, usage)
}

/// "Tiny": what refusing a frame header may allocate.
const TINY: usize = 64 * 1024;

#[test]
fn the_counter_counts() {
    let (v, usage) = measure(|| vec![0u8; 1 << 20]);
    assert!(usage.peak >= 1 << 20 && usage.total >= 1 << 20, "{usage:?}");
    drop(v);
    let ((), usage) = measure(|| drop(vec![0u8; 1 << 20]));
    assert!(usage.peak >= 1 << 20, "{usage:?}");
    let (n, usage) = measure(|| 2 + 2);
    assert_eq!(n, 4);
    assert_eq!(usage.total, 0);
}

// ---------------------------------------------------------------------------------------------
// Wire helpers.
// ---------------------------------------------------------------------------------------------

const GREETING_DEALER: &[u8] = include_bytes!("vectors/greeting_dealer.bin");
const GREETING_DEALER_ID: &[u8] = include_bytes!("vectors/greeting_dealer_routing_id.bin");
const READY_DEALER: &[u8] = include_bytes!("vectors/ready_dealer.bin");
const READY_ROUTER: &[u8] = include_bytes!("vectors/ready_router.bin");

const HUGE: [u64; 3] = [1 << 40, 1 << 63, u64::MAX];

fn long_header(flags: u8, len: u64) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_u8(flags | FLAG_LONG);
    b.put_u64(len);
    b
}

fn data_frame(out: &mut BytesMut, more: bool, len: usize) {
    Frame::data(vec![b'x'; len], more).encode(out);
}

/// A message of frames of the given sizes (MORE on all but the last).
fn message(sizes: &[usize]) -> BytesMut {
    let mut out = BytesMut::new();
    for (i, &len) in sizes.iter().enumerate() {
        data_frame(&mut out, i + 1 < sizes.len(), len);
    }
    out
}

fn connection(t: SocketType, limits: Limits) -> Connection {
    let mut cfg = ConnectionConfig::new(t);
    cfg.limits = limits;
    let mut conn = Connection::new(cfg, Box::new(Null::new()), Instant::now());
    conn.take_output();
    conn
}

/// What a pyzmq peer sends to a connection of type `t`: its greeting and READY.
fn pyzmq_handshake(t: SocketType) -> Vec<u8> {
    match t {
        SocketType::Router => [GREETING_DEALER_ID, READY_DEALER].concat(),
        _ => [GREETING_DEALER, READY_ROUTER].concat(),
    }
}

/// A connection after a NULL handshake with a pyzmq peer (its captured greeting and READY).
fn active(t: SocketType, limits: Limits) -> Connection {
    let mut conn = connection(t, limits);
    let mut input = BytesMut::from(&pyzmq_handshake(t)[..]);
    conn.receive(&mut input, Instant::now()).unwrap();
    assert!(conn.is_active() && input.is_empty());
    assert!(matches!(
        conn.poll_event(),
        Some(Event::HandshakeComplete(_))
    ));
    conn.take_output();
    conn
}

fn drain(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

// ---------------------------------------------------------------------------------------------
// Enormous frame headers.
// ---------------------------------------------------------------------------------------------

#[test]
fn frame_decoder_refuses_huge_headers_without_allocating() {
    let max = Limits::DEFAULT_MAX_MESSAGE_SIZE;
    for len in HUGE {
        for flags in [0, FLAG_MORE] {
            let mut dec = FrameDecoder::new(Limits::default());
            let mut buf = long_header(flags, len);
            let (result, usage) = measure(|| dec.decode(&mut buf));
            assert_eq!(result, Err(FrameError::FrameTooLarge { len, max }));
            assert!(usage.peak < TINY && usage.total < TINY, "{len}: {usage:?}");
            assert_eq!(buf.len(), 9, "a refused header is not consumed");
        }
        // The same header arriving one octet at a time.
        let mut dec = FrameDecoder::new(Limits::default());
        let header = long_header(0, len);
        let mut buf = BytesMut::with_capacity(16);
        let (result, usage) = measure(|| {
            for &b in &header[..8] {
                buf.put_u8(b);
                assert_eq!(dec.decode(&mut buf), Ok(None));
            }
            buf.put_u8(header[8]);
            dec.decode(&mut buf)
        });
        assert_eq!(result, Err(FrameError::FrameTooLarge { len, max }));
        assert!(usage.total < TINY, "{usage:?}");
        // A command announcing as much.
        let mut dec = FrameDecoder::new(Limits::default());
        let mut buf = long_header(FLAG_COMMAND, len);
        let (result, usage) = measure(|| dec.decode(&mut buf));
        assert_eq!(
            result,
            Err(FrameError::CommandTooLarge {
                len,
                max: Limits::MAX_COMMAND_SIZE
            })
        );
        assert!(usage.total < TINY, "{usage:?}");
    }
}

#[test]
fn connection_refuses_huge_headers_without_allocating() {
    let max = Limits::DEFAULT_MAX_MESSAGE_SIZE;
    for t in [SocketType::Router, SocketType::Dealer] {
        for len in HUGE {
            // Active phase, after a pyzmq handshake.
            let mut conn = active(t, Limits::default());
            let mut input = long_header(0, len);
            let (result, usage) = measure(|| conn.receive(&mut input, Instant::now()));
            let expected = Err(ConnectionError::Frame(FrameError::FrameTooLarge {
                len,
                max,
            }));
            assert_eq!(result, expected, "{t:?}");
            assert!(
                usage.peak < TINY && usage.total < TINY,
                "{t:?} {len}: {usage:?}"
            );
            assert_eq!(drain(&mut conn), []);

            // Greeting, READY and the header in one read.
            let mut conn = connection(t, Limits::default());
            let mut input = BytesMut::from(&pyzmq_handshake(t)[..]);
            input.extend_from_slice(&long_header(FLAG_MORE, len));
            let (result, usage) = measure(|| conn.receive(&mut input, Instant::now()));
            assert_eq!(result, expected, "{t:?}");
            assert!(usage.peak < TINY, "{t:?} {len}: {usage:?}");
            assert!(matches!(
                drain(&mut conn)[..],
                [Event::HandshakeComplete(_)]
            ));

            // During the handshake, in place of READY.
            let mut conn = connection(t, Limits::default());
            let mut input = BytesMut::from(&pyzmq_handshake(t)[..64]);
            input.extend_from_slice(&long_header(0, len));
            let (result, usage) = measure(|| conn.receive(&mut input, Instant::now()));
            assert_eq!(result, expected, "{t:?}");
            assert!(usage.peak < TINY, "{t:?} {len}: {usage:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Limits: exactly at the limit is accepted, one more is refused.
// ---------------------------------------------------------------------------------------------

const LIMITS: Limits = Limits {
    max_frame_size: 1000,
    max_message_size: 2500,
    max_frames_per_message: 5,
};

/// Decodes everything; returns the frame sizes and the error, if any.
fn decode_all(limits: Limits, mut buf: BytesMut) -> (Vec<usize>, Option<FrameError>) {
    let mut dec = FrameDecoder::new(limits);
    let mut sizes = Vec::new();
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(f)) => sizes.push(f.body.len()),
            Ok(None) => return (sizes, None),
            Err(e) => return (sizes, Some(e)),
        }
    }
}

/// Feeds a message to an active connection; returns the message's frame sizes or the error.
fn receive_message(limits: Limits, wire: BytesMut) -> Result<Vec<usize>, ConnectionError> {
    let mut conn = active(SocketType::Router, limits);
    let mut input = wire;
    conn.receive(&mut input, Instant::now())?;
    assert!(input.is_empty());
    match &drain(&mut conn)[..] {
        [Event::Message(m)] => Ok(m.iter().map(|f| f.len()).collect()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn max_frame_size_is_inclusive() {
    let (sizes, err) = decode_all(LIMITS, message(&[1000]));
    assert_eq!((sizes, err), (vec![1000], None));
    let (sizes, err) = decode_all(LIMITS, message(&[1001]));
    let too_large = FrameError::FrameTooLarge {
        len: 1001,
        max: 1000,
    };
    assert_eq!((sizes, err), (vec![], Some(too_large.clone())));

    assert_eq!(receive_message(LIMITS, message(&[1000])), Ok(vec![1000]));
    assert_eq!(
        receive_message(LIMITS, message(&[1001])),
        Err(ConnectionError::Frame(too_large))
    );

    // Refusing a frame whose body has already arrived allocates nothing either.
    let mut conn = active(SocketType::Router, LIMITS);
    let mut input = message(&[1000, 1001]);
    let (result, usage) = measure(|| conn.receive(&mut input, Instant::now()));
    assert!(result.is_err());
    assert!(usage.total < TINY, "{usage:?}");
}

#[test]
fn max_message_size_is_inclusive() {
    let (sizes, err) = decode_all(LIMITS, message(&[1000, 1000, 500]));
    assert_eq!((sizes, err), (vec![1000, 1000, 500], None));
    let too_large = FrameError::MessageTooLarge {
        len: 2501,
        max: 2500,
    };
    let (sizes, err) = decode_all(LIMITS, message(&[1000, 1000, 501]));
    assert_eq!((sizes, err), (vec![1000, 1000], Some(too_large.clone())));
    // The count starts again with the next message.
    let mut two = message(&[1000, 1000, 500]);
    two.extend_from_slice(&message(&[500, 1000, 1000]));
    assert_eq!(decode_all(LIMITS, two).1, None);

    assert_eq!(
        receive_message(LIMITS, message(&[1000, 1000, 500])),
        Ok(vec![1000, 1000, 500])
    );
    assert_eq!(
        receive_message(LIMITS, message(&[1000, 1000, 501])),
        Err(ConnectionError::Frame(too_large))
    );
    // Refused from the header alone: the body of the frame that would overflow the message
    // need not have arrived.
    let mut wire = message(&[1000, 1000]);
    wire[1009] |= FLAG_MORE; // the second frame no longer ends the message
    wire.extend_from_slice(&long_header(0, 501));
    assert_eq!(
        decode_all(LIMITS, wire).1,
        Some(FrameError::MessageTooLarge {
            len: 2501,
            max: 2500
        })
    );
}

#[test]
fn max_frames_per_message_is_inclusive() {
    let five = [1usize; 5];
    let six = [1usize; 6];
    assert_eq!(decode_all(LIMITS, message(&five)), (vec![1; 5], None));
    let too_many = FrameError::TooManyFrames { max: 5 };
    assert_eq!(
        decode_all(LIMITS, message(&six)),
        (vec![1; 5], Some(too_many.clone()))
    );
    assert_eq!(receive_message(LIMITS, message(&five)), Ok(vec![1; 5]));
    assert_eq!(
        receive_message(LIMITS, message(&six)),
        Err(ConnectionError::Frame(too_many))
    );
    // Empty frames count too.
    assert_eq!(decode_all(LIMITS, message(&[0; 6])).0, vec![0; 5]);
}

#[test]
fn max_command_size_is_inclusive() {
    // With small limits a command may still be 512 octets (room for a READY); otherwise it is
    // bounded by max_frame_size, and never larger than Limits::MAX_COMMAND_SIZE.
    for (limits, max) in [
        (LIMITS, 1000),
        (
            Limits {
                max_frame_size: 10,
                ..LIMITS
            },
            512,
        ),
        (Limits::default(), Limits::MAX_COMMAND_SIZE),
    ] {
        let body = |len: usize| {
            let mut b = b"\x05OTHER".to_vec();
            b.resize(len, b'c');
            b
        };
        let mut wire = BytesMut::new();
        Frame::command(body(max)).encode(&mut wire);
        assert_eq!(decode_all(limits, wire.clone()), (vec![max], None));
        let mut conn = active(SocketType::Dealer, limits);
        assert_eq!(conn.receive(&mut wire, Instant::now()), Ok(()));
        assert_eq!(drain(&mut conn), []);

        let mut wire = BytesMut::new();
        Frame::command(body(max + 1)).encode(&mut wire);
        let err = FrameError::CommandTooLarge {
            len: u64::try_from(max + 1).unwrap(),
            max,
        };
        assert_eq!(
            decode_all(limits, wire.clone()),
            (vec![], Some(err.clone()))
        );
        let mut conn = active(SocketType::Dealer, limits);
        assert_eq!(
            conn.receive(&mut wire, Instant::now()),
            Err(ConnectionError::Frame(err))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Allocation is proportional to input.
// ---------------------------------------------------------------------------------------------

/// Decoding a frame does not copy its body: the frame shares the input buffer.
#[test]
fn frames_are_not_copied() {
    let limits = Limits {
        max_frame_size: 4 << 20,
        max_message_size: 4 << 20,
        max_frames_per_message: 4,
    };
    let mut buf = message(&[1 << 20, 1 << 20]);
    let mut dec = FrameDecoder::new(limits);
    let (frames, usage) = measure(|| {
        let a = dec.decode(&mut buf);
        let b = dec.decode(&mut buf);
        (a, b)
    });
    assert!(matches!(frames, (Ok(Some(_)), Ok(Some(_)))));
    assert!(usage.total < TINY, "{usage:?}");

    let mut conn = active(SocketType::Router, limits);
    let mut input = message(&[1 << 20, 1 << 20]);
    let (result, usage) = measure(|| conn.receive(&mut input, Instant::now()));
    assert_eq!(result, Ok(()));
    assert!(usage.total < TINY, "{usage:?}");
    assert!(matches!(&drain(&mut conn)[..], [Event::Message(m)] if m.total_len() == 2 << 20));
}

/// A READY that is all properties (the most a peer can make us allocate in a handshake):
/// the metadata takes several times the command's size, but that is bounded by the command
/// size limit.
#[test]
fn largest_ready_allocation_is_bounded() {
    for t in [SocketType::Router, SocketType::Dealer] {
        let mut meta = Metadata::new();
        meta.push(
            "Socket-Type",
            if t == SocketType::Router {
                &b"DEALER"[..]
            } else {
                &b"ROUTER"[..]
            },
        )
        .unwrap();
        // 6 octets per property: the most properties a 64 KiB command can carry.
        let room = Limits::MAX_COMMAND_SIZE - Command::Ready(meta.clone()).encode_body().len();
        for _ in 0..room / 6 {
            meta.push("a", &b""[..]).unwrap();
        }
        let mut input = BytesMut::from(&Greeting::new(MechanismName::NULL, false).encode()[..]);
        Command::Ready(meta).encode(&mut input);
        let given = input.len();
        let mut conn = connection(t, Limits::default());
        let (result, usage) = measure(|| conn.receive(&mut input, Instant::now()));
        assert_eq!(result, Ok(()));
        assert!(conn.is_active());
        let ratio = usage.peak / given;
        eprintln!(
            "{t:?}: READY of {given} B: peak {} B, total {} B ({ratio}x)",
            usage.peak, usage.total
        );
        // Bounded: 32 times the largest command (2 MiB), whatever the peer sends.
        assert!(usage.peak < 32 * Limits::MAX_COMMAND_SIZE, "{usage:?}");
    }
}

/// Many tiny messages in one read: each becomes an event, so the connection holds more than
/// the input, but in proportion to it.
#[test]
fn tiny_messages_allocation_is_proportional() {
    for (name, unit) in [
        ("empty messages", &b"\x00\x00"[..]),
        ("PINGs", &b"\x04\x07\x04PING\x00\x00"[..]),
        ("empty frames with MORE", &b"\x01\x00"[..]),
    ] {
        let mut conn = active(SocketType::Router, Limits::default());
        let mut input = BytesMut::new();
        while input.len() + unit.len() <= 64 * 1024 {
            input.extend_from_slice(unit);
        }
        let given = input.len();
        let (result, usage) = measure(|| {
            let r = conn.receive(&mut input, Instant::now());
            (r, conn.poll_event().is_some())
        });
        eprintln!(
            "{name}: {given} B in: peak {} B, total {} B ({}x)",
            usage.peak,
            usage.total,
            usage.peak / given
        );
        // MORE frames stop at max_frames_per_message.
        if name.contains("MORE") {
            assert_eq!(
                result.0,
                Err(ConnectionError::Frame(FrameError::TooManyFrames {
                    max: Limits::DEFAULT_MAX_FRAMES
                }))
            );
        } else {
            assert_eq!(result, (Ok(()), true));
        }
        assert!(usage.peak <= 256 * given + TINY, "{name}: {usage:?}");
    }
}

/// Random input after a handshake: what the connection allocates stays proportional to it.
#[test]
fn random_input_allocation_is_proportional() {
    // xorshift64*: deterministic, no dependency.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut worst = (0usize, 1usize);
    for round in 0..2000 {
        let t = if round % 2 == 0 {
            SocketType::Router
        } else {
            SocketType::Dealer
        };
        let limits = if round % 3 == 0 {
            LIMITS
        } else {
            Limits::default()
        };
        // Mostly well-formed frames with random flags and sizes, some raw noise.
        let mut input = BytesMut::new();
        let frames = next() % 64;
        for _ in 0..frames {
            let r = next();
            let flags =
                [0, FLAG_MORE, FLAG_COMMAND, FLAG_LONG, 0x08][usize::try_from(r % 5).unwrap()];
            let len = usize::try_from((r >> 8) % 300).unwrap();
            let mut body = vec![0u8; len];
            body.iter_mut().for_each(|b| *b = next().to_le_bytes()[0]);
            if flags == FLAG_COMMAND && len > 6 {
                body[..7].copy_from_slice(b"\x04PING\x00\x00");
            }
            input.put_u8(flags);
            if flags == FLAG_LONG {
                input.put_u64(len as u64);
            } else {
                input.put_u8(len.to_le_bytes()[0]);
            }
            input.extend_from_slice(&body);
        }
        let given = input.len().max(1);
        let mut conn = active(t, limits);
        let (_, usage) = measure(|| {
            let r = conn.receive(&mut input, Instant::now());
            let events = drain(&mut conn);
            (r, events)
        });
        if usage.peak * worst.1 > worst.0 * given {
            worst = (usage.peak, given);
        }
        assert!(
            usage.peak <= 64 * given + TINY,
            "round {round}: {given} B: {usage:?}"
        );
    }
    eprintln!("worst: peak {} B for {} B of input", worst.0, worst.1);
}
