//! The examples' shared module: bytes and floats printed exactly as Python 3 prints them (the
//! expected texts are what CPython's `repr` gives), and `randint`'s bounds.
#![allow(clippy::unwrap_used)]

#[path = "../examples/support/mod.rs"]
mod support;

use support::{py_bytes, py_float, Rng};

#[test]
fn bytes_print_as_python_prints_them() {
    assert_eq!(py_bytes(b"World"), "b'World'");
    // A single quote and no double quote: Python switches to double quotes.
    assert_eq!(
        py_bytes(b"We don't want to see this"),
        "b\"We don't want to see this\""
    );
    // Both quotes: single quotes, the single one escaped.
    assert_eq!(py_bytes(b"'\""), r#"b'\'"'"#);
    assert_eq!(py_bytes(b"\""), r#"b'"'"#);
    assert_eq!(py_bytes(b"a\\b\tc\nd\re"), r"b'a\\b\tc\nd\re'");
    assert_eq!(py_bytes(&[0x00, 0x7f, 0x80, 0xff]), r"b'\x00\x7f\x80\xff'");
    assert_eq!(py_bytes(b""), "b''");
}

#[test]
fn floats_print_as_python_prints_them() {
    assert_eq!(py_float(5173.455715179443), "5173.455715179443");
    assert_eq!(py_float(27.0), "27.0");
    assert_eq!(py_float(-0.5), "-0.5");
    assert_eq!(py_float(73.0 / 3.0), "24.333333333333332");
    assert_eq!(py_float(100.0 / 3.0), "33.333333333333336");
}

#[test]
fn randint_stays_within_its_bounds_and_reaches_both() {
    let mut rng = Rng::new();
    let mut seen = [false; 4];
    for _ in 0..10_000 {
        let n = rng.randint(-1, 2);
        assert!((-1..=2).contains(&n), "{n} out of -1..=2");
        seen[usize::try_from(n + 1).unwrap()] = true;
    }
    assert_eq!(
        seen, [true; 4],
        "every value from -1 to 2 comes up in 10 000 draws"
    );
}
