//! A PUB and an XPUB `Connection` (NULL) reading arbitrary input; with bit 7 of the control
//! octet, after a SUB's greeting and READY, so that the rest is active-phase traffic:
//! SUBSCRIBE and CANCEL commands must be delivered as `\x01topic` / `\x00topic` messages and
//! data messages as they are, exactly as a model built from the frame decoder and the command
//! parser says, and both types must agree. See `src/publisher.rs`.
#![no_main]

use courier_proto_fuzz::control;
use courier_proto_fuzz::publisher::check_publisher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((ctl, rest)) = control(data) else {
        return;
    };
    check_publisher(ctl.limits, rest, ctl.chunk, ctl.handshake);
});
