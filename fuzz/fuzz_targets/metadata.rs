//! `Metadata::decode` on arbitrary bytes: no panic; decoded metadata re-encodes to exactly the
//! input, and parses the same inside a READY command.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    courier_proto_fuzz::check_metadata(data);
});
