//! A CURVE client: a DEALER `Connection` with `CurveClient` (fixed keys, scripted randomness)
//! fed a valid server greeting, then raw octets, split command bodies or a script of forged
//! WELCOME / READY / MESSAGE commands; with bit 7 of the control octet, after a genuine
//! WELCOME and READY from an in-memory `CurveServer`, so that the fuzz input lands on MESSAGE
//! decoding and its nonce checks. See `src/curve.rs` for the input format and every property
//! checked.
#![no_main]

use courier_proto_fuzz::curve::{check_curve, Role};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_curve(Role::Client, data);
});
