//! `Message::try_from(Multipart)` on arbitrary frames: the input is split into frames at each
//! 0xFF octet (never part of UTF-8 text or JSON). No panic; a decoded message re-encodes to the
//! same frames (METR: to frames that decode to the same message).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frames = data
        .split(|&b| b == 0xFF)
        .map(Bytes::copy_from_slice)
        .collect();
    courier_proto_fuzz::check_message(frames);
});
