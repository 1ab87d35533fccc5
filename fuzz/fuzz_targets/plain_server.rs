//! A PLAIN server: a ROUTER `Connection` with `PlainServer` and an authenticator that accepts
//! one user, fed a valid client greeting and then command bodies (or raw octets). See
//! `src/plain.rs` for the input format and every property checked.
#![no_main]

use courier_proto_fuzz::plain::{check_plain, PlainRole};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_plain(PlainRole::Server, data);
});
