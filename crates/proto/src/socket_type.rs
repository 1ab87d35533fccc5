//! ZeroMQ socket types as named in the `Socket-Type` property, and which pairs may talk.

use std::fmt;

/// A ZeroMQ socket type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketType {
    /// PAIR
    Pair,
    /// PUB
    Pub,
    /// SUB
    Sub,
    /// REQ
    Req,
    /// REP
    Rep,
    /// DEALER
    Dealer,
    /// ROUTER
    Router,
    /// PULL
    Pull,
    /// PUSH
    Push,
    /// XPUB
    XPub,
    /// XSUB
    XSub,
}

impl SocketType {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pull => "PULL",
            SocketType::Push => "PUSH",
            SocketType::XPub => "XPUB",
            SocketType::XSub => "XSUB",
        }
    }

    /// Parses a wire name (exact, upper case, as libzmq sends and expects).
    pub fn from_wire(name: &[u8]) -> Option<SocketType> {
        Some(match name {
            b"PAIR" => SocketType::Pair,
            b"PUB" => SocketType::Pub,
            b"SUB" => SocketType::Sub,
            b"REQ" => SocketType::Req,
            b"REP" => SocketType::Rep,
            b"DEALER" => SocketType::Dealer,
            b"ROUTER" => SocketType::Router,
            b"PULL" => SocketType::Pull,
            b"PUSH" => SocketType::Push,
            b"XPUB" => SocketType::XPub,
            b"XSUB" => SocketType::XSub,
            _ => return None,
        })
    }

    /// Whether a socket of this type may talk to one of type `peer` (libzmq's table).
    pub fn compatible_with(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Pair, Pair)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Pub | XPub, Sub | XSub)
                | (Sub | XSub, Pub | XPub)
                | (Push, Pull)
                | (Pull, Push)
        )
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::SocketType::*;
    use super::*;

    #[test]
    fn dealer_router_table() {
        assert!(Dealer.compatible_with(Router));
        assert!(Router.compatible_with(Dealer));
        assert!(Dealer.compatible_with(Dealer));
        assert!(Router.compatible_with(Router));
        assert!(Dealer.compatible_with(Rep));
        assert!(Router.compatible_with(Req));
        assert!(Req.compatible_with(Router));
        assert!(!Dealer.compatible_with(Req));
        assert!(!Router.compatible_with(Rep));
        assert!(!Dealer.compatible_with(Pub));
        assert!(!Router.compatible_with(Sub));
    }

    #[test]
    fn names_round_trip() {
        for t in [
            Pair, Pub, Sub, Req, Rep, Dealer, Router, Pull, Push, XPub, XSub,
        ] {
            assert_eq!(SocketType::from_wire(t.as_str().as_bytes()), Some(t));
        }
        assert_eq!(SocketType::from_wire(b"dealer"), None);
    }
}
