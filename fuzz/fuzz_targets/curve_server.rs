//! A CURVE server: a ROUTER `Connection` with `CurveServer` (fixed keys, scripted randomness,
//! one authorized client key) fed a valid client greeting, then raw octets, split command
//! bodies or a script of forged HELLO / INITIATE / MESSAGE commands; with bit 7 of the
//! control octet, after a genuine handshake with an in-memory `CurveClient`, so that the
//! fuzz input lands on MESSAGE decoding and its nonce checks. See `src/curve.rs` for the
//! input format and every property checked.
#![no_main]

use courier_proto_fuzz::curve::{check_curve, Role};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_curve(Role::Server, data);
});
