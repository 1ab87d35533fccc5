//! The viewer's connection status: what `courier-top` says about its link to the collector, so
//! that an empty screen is never a mystery (collector down, key refused, or connected but
//! silent). Shown in the terminal UI and printed as `--json` status lines
//! ([`crate::json::status_line`]). No networking here: the viewer fills it in from its
//! socket's events.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use courier_metrics::status::{LinkKind, ViewerStatus};
//!
//! let since = UNIX_EPOCH + Duration::from_secs(1_000);
//! let status = ViewerStatus::new(LinkKind::Unreachable, "tcp://127.0.0.1:5557", since)
//!     .with_reason("Connection refused (os error 111)");
//! assert_eq!(
//!     status.text(since + Duration::from_secs(75)),
//!     "cannot connect to tcp://127.0.0.1:5557: Connection refused (os error 111); \
//!      retrying (for 1m15s)"
//! );
//! ```

use std::time::{Duration, SystemTime};

use crate::view::format_age;

/// Where the viewer's link to the collector stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkKind {
    /// Started, no connection attempt finished yet.
    Connecting,
    /// Connecting fails (collector down, unknown host, timeout); retrying.
    Unreachable,
    /// The collector took the connection but the handshake failed (typically: it does not
    /// list our public key in its authorized clients); retrying.
    Refused,
    /// Connected, and the collector talks (metrics, or at least its pings).
    Connected,
    /// A connection that was up is gone; reconnecting.
    Lost,
    /// Connected, but nothing at all (not even a ping) has come for a while.
    Silent,
}

impl LinkKind {
    /// The name used in `--json` status lines: `connecting`, `unreachable`, `refused`,
    /// `connected`, `lost` or `silent`.
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Connecting => "connecting",
            LinkKind::Unreachable => "unreachable",
            LinkKind::Refused => "refused",
            LinkKind::Connected => "connected",
            LinkKind::Lost => "lost",
            LinkKind::Silent => "silent",
        }
    }

    /// Whether this state is a failure worth showing in red (connecting and silent are only
    /// worth a yellow).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            LinkKind::Unreachable | LinkKind::Refused | LinkKind::Lost
        )
    }
}

/// The viewer's link to the collector: its state, why (for failures), and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerStatus {
    /// The state.
    pub kind: LinkKind,
    /// The collector's endpoint.
    pub endpoint: String,
    /// Why, for `unreachable`, `refused` and `lost` (as the socket reported it).
    pub reason: Option<String>,
    /// When the state began; for `silent`, when the last message came.
    pub since: SystemTime,
}

impl ViewerStatus {
    /// A status without a reason.
    pub fn new(kind: LinkKind, endpoint: impl Into<String>, since: SystemTime) -> Self {
        ViewerStatus {
            kind,
            endpoint: endpoint.into(),
            reason: None,
            since,
        }
    }

    /// The same with a reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// How long the state has lasted at `now` (zero if `since` is later).
    pub fn lasted(&self, now: SystemTime) -> Duration {
        now.duration_since(self.since).unwrap_or(Duration::ZERO)
    }

    /// One line for people, as of `now`: what the state is, why, and for how long.
    pub fn text(&self, now: SystemTime) -> String {
        let endpoint = &self.endpoint;
        let reason = self.reason.as_deref().unwrap_or("no reason given");
        let lasted = format_age(self.lasted(now));
        match self.kind {
            LinkKind::Connecting => format!("connecting to {endpoint}…"),
            LinkKind::Unreachable => {
                format!("cannot connect to {endpoint}: {reason}; retrying (for {lasted})")
            }
            LinkKind::Refused => format!(
                "{endpoint} refused us in the handshake: {reason}; retrying (for {lasted}); \
                 check the keys (the collector must list this viewer's public key in its \
                 authorized_clients)"
            ),
            LinkKind::Connected => format!("connected to {endpoint}"),
            LinkKind::Lost => {
                format!("connection to {endpoint} lost: {reason}; reconnecting (for {lasted})")
            }
            LinkKind::Silent => format!(
                "connected to {endpoint}, but nothing received for {lasted} (is the collector \
                 stopped or overloaded?)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn texts() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let s = Duration::from_secs;
        let ep = "tcp://127.0.0.1:5557";
        let text = |kind, reason: Option<&str>, after| {
            let mut st = ViewerStatus::new(kind, ep, t0);
            st.reason = reason.map(str::to_owned);
            st.text(t0 + after)
        };
        assert_eq!(
            text(LinkKind::Connecting, None, s(0)),
            "connecting to tcp://127.0.0.1:5557…"
        );
        assert_eq!(
            text(LinkKind::Connected, None, s(9)),
            "connected to tcp://127.0.0.1:5557"
        );
        let refused = text(LinkKind::Refused, Some("ERROR 400"), s(3));
        assert!(
            refused.starts_with(
                "tcp://127.0.0.1:5557 refused us in the handshake: ERROR 400; retrying (for 3s)"
            ),
            "{refused}"
        );
        assert!(refused.contains("authorized_clients"), "{refused}");
        assert_eq!(
            text(LinkKind::Lost, Some("peer closed"), s(61)),
            "connection to tcp://127.0.0.1:5557 lost: peer closed; reconnecting (for 1m01s)"
        );
        assert!(text(LinkKind::Silent, None, s(15)).contains("nothing received for 15s"));
        // A clock that went back does not underflow.
        let st = ViewerStatus::new(LinkKind::Unreachable, ep, t0 + s(5));
        assert_eq!(st.lasted(t0), Duration::ZERO);
        assert!(st.text(t0).contains("no reason given"));
    }

    #[test]
    fn names_and_failures() {
        let all = [
            LinkKind::Connecting,
            LinkKind::Unreachable,
            LinkKind::Refused,
            LinkKind::Connected,
            LinkKind::Lost,
            LinkKind::Silent,
        ];
        let names: Vec<_> = all.iter().map(|k| k.name()).collect();
        assert_eq!(
            names,
            [
                "connecting",
                "unreachable",
                "refused",
                "connected",
                "lost",
                "silent"
            ]
        );
        let failures: Vec<_> = all
            .iter()
            .filter(|k| k.is_failure())
            .map(|k| k.name())
            .collect();
        assert_eq!(failures, ["unreachable", "refused", "lost"]);
    }
}
