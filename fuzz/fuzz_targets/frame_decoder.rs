//! `FrameDecoder::decode` on arbitrary bytes (control octet: limits and chunk size, see
//! `src/lib.rs`): no panic; the buffer left is always the unconsumed suffix; feeding all at
//! once and in chunks gives the same frames and error; each canonical frame re-encodes to the
//! exact octets consumed; every frame respects the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((ctl, rest)) = courier_proto_fuzz::control(data) {
        courier_proto_fuzz::check_frames(ctl.limits, rest, ctl.chunk);
    }
});
