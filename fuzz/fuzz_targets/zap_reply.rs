//! `zap::decode_reply` on arbitrary frames: the input is split into frames at each 0xFF
//! octet. No panic; a decoded reply's fields are exactly its frames.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frames = data
        .split(|&b| b == 0xFF)
        .map(Bytes::copy_from_slice)
        .collect();
    courier_proto_fuzz::check_zap_reply(frames);
});
