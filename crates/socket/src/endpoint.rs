//! Endpoints: `tcp://host:port`, `ipc:///path` (Unix) and `inproc://name` (sockets of one
//! process). A TCP endpoint to connect to may name the local address to connect from, in
//! libzmq's form `tcp://SRC_IP:SRC_PORT;HOST:PORT` (port 0: any).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use thiserror::Error;

/// Where to bind or connect.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `tcp://host:port`; host `*` means every interface when binding.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port (0 when binding: any free port).
        port: u16,
        /// Connecting: the local address to bind before connecting (libzmq's
        /// `tcp://SRC;HOST:PORT`); None: the system's choice.
        source: Option<SocketAddr>,
    },
    /// `ipc://path`: a Unix domain socket.
    Ipc(PathBuf),
    /// `inproc://name`: sockets of this process, joined by in-memory queues (no ZMTP, no
    /// copy of the bodies).
    Inproc(String),
}

/// Why an endpoint string was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointError {
    /// No `scheme://`.
    #[error("invalid endpoint {0:?}: expected tcp://HOST:PORT, ipc://PATH or inproc://NAME")]
    Malformed(String),
    /// A scheme other than tcp or ipc.
    #[error(
        "unsupported transport {scheme:?} in {endpoint:?}: courier speaks tcp://, ipc:// and inproc://"
    )]
    UnsupportedTransport {
        /// The scheme.
        scheme: String,
        /// The endpoint.
        endpoint: String,
    },
    /// A TCP endpoint without a valid port.
    #[error("invalid port in {0:?}: expected tcp://HOST:PORT with PORT from 0 to 65535")]
    BadPort(String),
    /// The source part of `tcp://SRC;HOST:PORT` is not an IP address with an optional port.
    #[error(
        "invalid source address in {0:?}: expected tcp://SRC_IP:SRC_PORT;HOST:PORT \
         (e.g. tcp://127.0.0.2:0;127.0.0.1:5556)"
    )]
    BadSource(String),
    /// ipc:// on a platform without Unix domain sockets.
    #[error("ipc:// endpoints need a Unix system")]
    IpcUnsupported,
}

impl Endpoint {
    /// The `host:port` string to hand to the OS for TCP (`*` becomes `0.0.0.0`).
    pub fn socket_addr_string(&self) -> Option<String> {
        match self {
            Endpoint::Tcp { host, port, .. } => {
                let host = if host == "*" { "0.0.0.0" } else { host };
                if host.contains(':') && !host.starts_with('[') {
                    Some(format!("[{host}]:{port}"))
                } else {
                    Some(format!("{host}:{port}"))
                }
            }
            Endpoint::Ipc(_) | Endpoint::Inproc(_) => None,
        }
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| EndpointError::Malformed(s.to_owned()))?;
        match scheme {
            "tcp" => {
                let (source, rest) = match rest.split_once(';') {
                    Some((src, dest)) => (
                        Some(
                            parse_source(src)
                                .ok_or_else(|| EndpointError::BadSource(s.to_owned()))?,
                        ),
                        dest,
                    ),
                    None => (None, rest),
                };
                let (host, port) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| EndpointError::BadPort(s.to_owned()))?;
                let port = port
                    .parse()
                    .map_err(|_| EndpointError::BadPort(s.to_owned()))?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                if host.is_empty() {
                    return Err(EndpointError::Malformed(s.to_owned()));
                }
                Ok(Endpoint::Tcp {
                    host: host.to_owned(),
                    port,
                    source,
                })
            }
            "ipc" => {
                if !cfg!(unix) {
                    return Err(EndpointError::IpcUnsupported);
                }
                if rest.is_empty() {
                    return Err(EndpointError::Malformed(s.to_owned()));
                }
                Ok(Endpoint::Ipc(PathBuf::from(rest)))
            }
            "inproc" => {
                if rest.is_empty() {
                    return Err(EndpointError::Malformed(s.to_owned()));
                }
                Ok(Endpoint::Inproc(rest.to_owned()))
            }
            other => Err(EndpointError::UnsupportedTransport {
                scheme: other.to_owned(),
                endpoint: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port, source } => {
                f.write_str("tcp://")?;
                if let Some(src) = source {
                    write!(f, "{src};")?;
                }
                if host.contains(':') {
                    write!(f, "[{host}]:{port}")
                } else {
                    write!(f, "{host}:{port}")
                }
            }
            Endpoint::Ipc(path) => write!(f, "ipc://{}", path.display()),
            Endpoint::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

/// `IP:PORT`, `[IPv6]:PORT` or a bare IP (port 0).
fn parse_source(src: &str) -> Option<SocketAddr> {
    src.parse::<SocketAddr>().ok().or_else(|| {
        let ip: IpAddr = src
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        Some(SocketAddr::new(ip, 0))
    })
}

impl Endpoint {
    /// The local address to connect from, if the endpoint names one.
    pub fn source(&self) -> Option<SocketAddr> {
        match self {
            Endpoint::Tcp { source, .. } => *source,
            Endpoint::Ipc(_) | Endpoint::Inproc(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            "tcp://127.0.0.1:5556".parse(),
            Ok(Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 5556,
                source: None,
            })
        );
        let from: Endpoint = "tcp://127.0.0.2:0;127.0.0.1:5556".parse().unwrap();
        assert_eq!(from.source(), Some("127.0.0.2:0".parse().unwrap()));
        assert_eq!(from.socket_addr_string().unwrap(), "127.0.0.1:5556");
        assert_eq!(from.to_string(), "tcp://127.0.0.2:0;127.0.0.1:5556");
        let bare: Endpoint = "tcp://::1;[::1]:80".parse().unwrap();
        assert_eq!(bare.source(), Some("[::1]:0".parse().unwrap()));
        assert_eq!(bare.to_string(), "tcp://[::1]:0;[::1]:80");
        let any: Endpoint = "tcp://*:5556".parse().unwrap();
        assert_eq!(any.socket_addr_string().unwrap(), "0.0.0.0:5556");
        let v6: Endpoint = "tcp://[::1]:80".parse().unwrap();
        assert_eq!(v6.socket_addr_string().unwrap(), "[::1]:80");
        assert_eq!(v6.to_string(), "tcp://[::1]:80");
        assert_eq!(
            "ipc:///tmp/x.sock".parse(),
            Ok(Endpoint::Ipc("/tmp/x.sock".into()))
        );
        let inproc: Endpoint = "inproc://workers".parse().unwrap();
        assert_eq!(inproc, Endpoint::Inproc("workers".into()));
        assert_eq!(inproc.to_string(), "inproc://workers");
        assert!(matches!(
            "inproc://".parse::<Endpoint>(),
            Err(EndpointError::Malformed(_))
        ));
    }

    #[test]
    fn rejects() {
        assert!(matches!(
            "127.0.0.1:5556".parse::<Endpoint>(),
            Err(EndpointError::Malformed(_))
        ));
        assert!(matches!(
            "udp://127.0.0.1:5556".parse::<Endpoint>(),
            Err(EndpointError::UnsupportedTransport { .. })
        ));
        assert!(matches!(
            "tcp://127.0.0.1:99999".parse::<Endpoint>(),
            Err(EndpointError::BadPort(_))
        ));
        assert!(matches!(
            "tcp://127.0.0.1".parse::<Endpoint>(),
            Err(EndpointError::BadPort(_))
        ));
        assert!(matches!(
            "tcp://eth0:0;127.0.0.1:5556".parse::<Endpoint>(),
            Err(EndpointError::BadSource(_))
        ));
    }
}
