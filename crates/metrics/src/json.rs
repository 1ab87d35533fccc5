//! The viewer's `--json` output: one JSON object per line, of two shapes. A metrics line for
//! each `METR` received:
//!
//! ```text
//! {"hostname":"h1","kind":"metrics","values":{"cpu.percent":12.5,"mem.avail":580000},"received":1712345678901}
//! ```
//!
//! Keys come in that order; `values` holds the numbers exactly as sent, sorted by name, in
//! the agent's units (`mem.*` in kB, `sys.uptime` in seconds, `cpu.percent` 0–100); `kind` is
//! passed through as sent (`metrics`, `model`, or anything else a peer sent); `received` is
//! when the viewer got the message, in milliseconds since the Unix epoch.
//!
//! And a status line each time the link to the collector changes state (first `connecting`):
//!
//! ```text
//! {"status":"unreachable","endpoint":"tcp://127.0.0.1:5557","reason":"Connection refused (os error 111)","since":1712345678901}
//! ```
//!
//! `status` is one of [`LinkKind::name`](crate::status::LinkKind::name)'s (`connecting`, `unreachable`, `refused`,
//! `connected`, `lost`, `silent`); `reason` is a string for `unreachable`, `refused` and
//! `lost`, else `null`; `since` is when that state began (for `silent`: when the last message
//! came), in milliseconds since the Unix epoch. A reader tells the two apart by the first key.

use std::time::{SystemTime, UNIX_EPOCH};

use courier_proto::message::Message;
use serde_json::Value;

use crate::status::ViewerStatus;

/// The JSON status line (without the newline) for `status`.
pub fn status_line(status: &ViewerStatus) -> String {
    format!(
        r#"{{"status":{},"endpoint":{},"reason":{},"since":{}}}"#,
        Value::from(status.kind.name()),
        Value::from(status.endpoint.as_str()),
        status.reason.as_deref().map_or(Value::Null, Value::from),
        unix_millis(status.since),
    )
}

/// The JSON line (without the newline) for a `METR` received at `received`, or `None` for any
/// other message.
pub fn json_line(msg: &Message, received: SystemTime) -> Option<String> {
    let Message::Metrics {
        hostname,
        values,
        kind,
    } = msg
    else {
        return None;
    };
    let values: serde_json::Map<String, Value> = values
        .iter()
        .map(|(k, v)| (k.clone(), Value::Number(v.clone())))
        .collect();
    Some(format!(
        r#"{{"hostname":{},"kind":{},"values":{},"received":{}}}"#,
        Value::from(hostname.as_str()),
        Value::from(kind.as_str()),
        Value::Object(values),
        unix_millis(received),
    ))
}

/// Milliseconds since the Unix epoch; 0 for an earlier time.
pub fn unix_millis(time: SystemTime) -> u64 {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    u64::try_from(millis).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::LinkKind;
    use courier_proto::message::MetricValues;
    use std::time::Duration;

    fn at(millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(millis)
    }

    #[test]
    fn metrics_line() {
        let values: MetricValues = serde_json::from_str(
            r#"{"mem.avail": 580000, "cpu.percent": 12.5, "neg": -1, "tiny": 1e-7}"#,
        )
        .unwrap();
        let msg = Message::metrics("h1", values);
        let line = json_line(&msg, at(1_712_345_678_901)).unwrap();
        assert_eq!(
            line,
            r#"{"hostname":"h1","kind":"metrics","values":{"cpu.percent":12.5,"mem.avail":580000,"neg":-1,"tiny":1e-7},"received":1712345678901}"#
        );
        let back: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["values"]["mem.avail"], 580_000);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn escapes_and_other_kinds() {
        let msg = Message::Metrics {
            hostname: "we\"ird\nhost ✓".into(),
            values: MetricValues::new(),
            kind: "model".into(),
        };
        let line = json_line(&msg, at(5)).unwrap();
        assert_eq!(
            line,
            r#"{"hostname":"we\"ird\nhost ✓","kind":"model","values":{},"received":5}"#
        );
        let back: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["hostname"], "we\"ird\nhost ✓");
    }

    #[test]
    fn non_metr_is_none() {
        assert_eq!(json_line(&Message::Hello, SystemTime::now()), None);
        let ctrl = Message::Control {
            text: "ping".into(),
        };
        assert_eq!(json_line(&ctrl, SystemTime::now()), None);
    }

    #[test]
    fn status_lines() {
        let since = at(1_712_345_678_901);
        let st = ViewerStatus::new(LinkKind::Unreachable, "tcp://127.0.0.1:5557", since)
            .with_reason("Connection refused (os error 111)");
        assert_eq!(
            status_line(&st),
            r#"{"status":"unreachable","endpoint":"tcp://127.0.0.1:5557","reason":"Connection refused (os error 111)","since":1712345678901}"#
        );
        let up = ViewerStatus::new(LinkKind::Connected, "tcp://h:1", at(7));
        assert_eq!(
            status_line(&up),
            r#"{"status":"connected","endpoint":"tcp://h:1","reason":null,"since":7}"#
        );
        let odd = ViewerStatus::new(LinkKind::Refused, "tcp://h:1", at(7)).with_reason("a\"b\n");
        let back: Value = serde_json::from_str(&status_line(&odd)).unwrap();
        assert_eq!(back["reason"], "a\"b\n");
        assert_eq!(back["status"], "refused");
        assert!(!status_line(&odd).contains('\n'));
    }

    #[test]
    fn millis() {
        assert_eq!(unix_millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(unix_millis(at(42)), 42);
        assert!(unix_millis(SystemTime::now()) > 1_600_000_000_000);
    }
}
