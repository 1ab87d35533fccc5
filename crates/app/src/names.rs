//! Readable names for routing ids and messages in logs.

use courier_socket::Multipart;

/// A routing id for logs: as text when it is printable ASCII, else as `0x` and hex
/// (libzmq's generated ids start with a zero octet).
pub fn peer_name(id: &[u8]) -> String {
    if !id.is_empty() && id.iter().all(|b| b.is_ascii_graphic()) {
        String::from_utf8_lossy(id).into_owned()
    } else {
        let mut s = String::with_capacity(2 + id.len() * 2);
        s.push_str("0x");
        for b in id {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

/// A message for logs: its header (escaped, at most 32 octets), frame count and total size,
/// e.g. `HELLO (1 frame, 5 bytes)`.
pub fn describe(msg: &Multipart) -> String {
    let header = msg.first();
    let shown = header.get(..32).unwrap_or(header);
    let ellipsis = if header.len() > 32 { "..." } else { "" };
    let frames = msg.len();
    format!(
        "{}{ellipsis} ({frames} frame{}, {} bytes)",
        shown.escape_ascii(),
        if frames == 1 { "" } else { "s" },
        msg.total_len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(peer_name(b"client-1"), "client-1");
        assert_eq!(peer_name(b"\0\x01\x02\x03\x04"), "0x0001020304");
        assert_eq!(peer_name(b""), "0x");
        assert_eq!(peer_name(b"a b"), "0x612062");
    }

    #[test]
    fn describes() {
        assert_eq!(
            describe(&Multipart::from("HELLO")),
            "HELLO (1 frame, 5 bytes)"
        );
        let m = Multipart::new(vec![
            bytes::Bytes::from_static(b"FILE"),
            bytes::Bytes::from_static(b"a"),
            bytes::Bytes::from_static(b"xyz"),
        ])
        .unwrap();
        assert_eq!(describe(&m), "FILE (3 frames, 8 bytes)");
    }
}
