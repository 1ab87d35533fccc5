//! `PlainCommand::parse` on arbitrary command bodies (HELLO, WELCOME, INITIATE, READY, ERROR):
//! no panic; what parses re-encodes to exactly the input. See `src/plain.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    courier_proto_fuzz::plain::check_plain_command(data);
});
