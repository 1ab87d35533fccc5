//! `Connection::receive` for a DEALER and a ROUTER with the NULL mechanism. The control octet
//! (see `src/lib.rs`) picks the limits and the chunk size, and whether a valid pyzmq greeting +
//! READY is prepended so that the rest lands in the active phase. No panic; the connection
//! only consumes the front of its input and holds/produces no more than it consumed allows;
//! all-at-once and chunked feeding give the same events, output and error; the canonical
//! re-encoding of the decoded events decodes to the same events.
#![no_main]

use courier_proto::socket_type::SocketType;
use courier_proto_fuzz::{check_connection, control, handshake_for};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((ctl, rest)) = control(data) else {
        return;
    };
    for t in [SocketType::Dealer, SocketType::Router] {
        if ctl.handshake {
            let mut input = handshake_for(t);
            input.extend_from_slice(rest);
            check_connection(t, ctl.limits, &input, ctl.chunk);
        } else {
            check_connection(t, ctl.limits, rest, ctl.chunk);
        }
    }
});
