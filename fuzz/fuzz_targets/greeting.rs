//! `Greeting::decode` on arbitrary bytes: no panic; a decoded greeting re-encodes to the
//! input with its insignificant octets made canonical; every prefix says "need more" or
//! refuses exactly as the whole input does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    courier_proto_fuzz::check_greeting(data);
});
