//! `Command::parse` and `RawCommand::parse` on arbitrary command bodies: no panic; a parsed
//! command's `encode_body` is exactly the input, and it frames and deframes unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    courier_proto_fuzz::check_command(data);
});
