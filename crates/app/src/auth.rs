//! An authenticator with pyzmq's `zmq.auth` semantics, for a socket's
//! `Options::authenticator`: IP allow and deny lists, PLAIN passwords and CURVE keys per
//! domain, all changeable while the socket runs.
//!
//! It lives here, not in courier-socket, because it is policy (files, lists, reloading) that
//! programs choose; the socket only knows the [`courier_socket::Authenticator`] trait.
//!
//! The decision, as pyzmq's `Authenticator.handle_zap_message` makes it:
//! 1. With an allow list, an address not on it is refused ("Address not allowed"); with only
//!    a deny list, an address on it is refused ("Address denied") and every other passes.
//! 2. NULL: accepted unless refused by address.
//! 3. PLAIN: the user name and password must match the domain's passwords (even for an
//!    allowed address); the user id is the user name.
//! 4. CURVE: the client key must be among the domain's keys (or the domain accepts any); the
//!    user id is the key in Z85.
//!
//! An empty domain means "*", as in pyzmq. Addresses are IPv4 or IPv6 addresses or CIDR
//! blocks (`10.0.0.0/8`, `fd00::/8`); an IPv4-mapped IPv6 peer address matches IPv4 rules.
//!
//! ```
//! use courier_app::auth::{Authenticator, IpRule};
//! use courier_socket::{Authenticator as _, ZapRequestFull, ZapStatus};
//! use courier_socket::proto::greeting::MechanismName;
//!
//! let auth = Authenticator::new();
//! auth.allow(["127.0.0.0/8".parse::<IpRule>()?]);
//! auth.configure_plain("*", [("admin".to_owned(), "secret".to_owned())]);
//! let reply = auth.authenticate(ZapRequestFull {
//!     domain: String::new(),
//!     address: "127.0.0.2".into(),
//!     routing_id: Default::default(),
//!     mechanism: MechanismName::PLAIN,
//!     credentials: vec!["admin".into(), "secret".into()],
//! });
//! assert_eq!(reply.status_code, ZapStatus::Success);
//! assert_eq!(&reply.user_id[..], b"admin");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use courier_proto::curve::PublicKey;
use courier_proto::greeting::MechanismName;
use courier_proto::z85;
use courier_socket::{ZapReply, ZapRequestFull, ZapStatus};
use thiserror::Error;

use crate::keys::Allowlist;

/// An IP address or CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpRule {
    net: IpAddr,
    prefix: u8,
}

/// Why an address rule could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpRuleError {
    /// Not an IP address.
    #[error("{0:?} is not an IPv4 or IPv6 address (e.g. 127.0.0.2, ::1, 10.0.0.0/8)")]
    BadAddress(String),
    /// A prefix length beyond the address size.
    #[error("{text:?}: the prefix length must be at most {max}")]
    BadPrefix {
        /// The rule as given.
        text: String,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
}

impl IpRule {
    /// A rule matching exactly `addr`.
    pub fn exact(addr: IpAddr) -> Self {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        IpRule { net: addr, prefix }
    }

    /// Whether `addr` falls in this rule.
    pub fn matches(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        match (self.net, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => prefix_eq(&net.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(a)) => prefix_eq(&net.octets(), &a.octets(), self.prefix),
            _ => false,
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let bits = usize::from(prefix);
    let (whole, rest) = (bits / 8, bits % 8);
    if a.get(..whole) != b.get(..whole) {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xFFu8 << (8 - rest);
    match (a.get(whole), b.get(whole)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

impl FromStr for IpRule {
    type Err = IpRuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let net: IpAddr = addr
            .parse()
            .map_err(|_| IpRuleError::BadAddress(s.to_owned()))?;
        let net = canonical(net);
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                p.parse::<u8>()
                    .ok()
                    .filter(|&p| p <= max)
                    .ok_or(IpRuleError::BadPrefix {
                        text: s.to_owned(),
                        max,
                    })?
            }
        };
        Ok(IpRule { net, prefix })
    }
}

impl fmt::Display for IpRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = if self.net.is_ipv4() { 32 } else { 128 };
        if self.prefix == max {
            write!(f, "{}", self.net)
        } else {
            write!(f, "{}/{}", self.net, self.prefix)
        }
    }
}

/// The warning a PLAIN server bound to `bind` deserves: passwords travel in the clear, so
/// one listening beyond this machine (not loopback, not ipc://) is told so at start.
pub fn plain_exposure_warning(bind: &str) -> Option<String> {
    let loopback = match bind.parse::<courier_socket::Endpoint>() {
        Ok(courier_socket::Endpoint::Tcp { host, .. }) => {
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        // ipc:// never leaves the machine; a bad endpoint is refused elsewhere.
        _ => true,
    };
    (!loopback).then(|| {
        format!(
            "PLAIN on {bind}: passwords cross the network in the clear; anyone on the path can \
             read them. Bind to 127.0.0.1 or use --curve on untrusted networks"
        )
    })
}

/// An address rule from a command-line flag (argh `from_str_fn`).
pub fn parse_ip_rule(s: &str) -> Result<IpRule, String> {
    s.parse().map_err(|e: IpRuleError| e.to_string())
}

/// Which client keys a CURVE domain accepts.
#[derive(Clone)]
pub enum CurveKeys {
    /// Any key (pyzmq's `CURVE_ALLOW_ANY`): encrypted, not authenticated.
    Any,
    /// These keys.
    Keys(HashSet<PublicKey>),
    /// The keys of a directory of `*.key` files, as it is at each handshake (refresh it to
    /// pick up changes).
    Directory(Allowlist),
}

impl CurveKeys {
    fn allows(&self, key: &PublicKey) -> bool {
        match self {
            CurveKeys::Any => true,
            CurveKeys::Keys(keys) => keys.contains(key),
            CurveKeys::Directory(list) => list.allows(key),
        }
    }
}

#[derive(Default)]
struct Policy {
    allow: Vec<IpRule>,
    deny: Vec<IpRule>,
    passwords: HashMap<String, HashMap<Bytes, Bytes>>,
    curve: HashMap<String, CurveKeys>,
}

/// pyzmq's `zmq.auth` Authenticator, for `Options::authenticator`. Cheap to clone: clones
/// share the policy, so a program keeps one to change it while the socket runs.
#[derive(Clone, Default)]
pub struct Authenticator {
    policy: Arc<RwLock<Policy>>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.read();
        f.debug_struct("Authenticator")
            .field("allow", &p.allow)
            .field("deny", &p.deny)
            .field("plain_domains", &p.passwords.keys().collect::<Vec<_>>())
            .field("curve_domains", &p.curve.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn domain_key(domain: &str) -> String {
    if domain.is_empty() {
        "*".to_owned()
    } else {
        domain.to_owned()
    }
}

impl Authenticator {
    /// An authenticator with no rules: NULL peers pass, PLAIN and CURVE peers are refused
    /// until passwords or keys are configured.
    pub fn new() -> Self {
        Authenticator::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Policy> {
        self.policy.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Policy> {
        self.policy.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds addresses to the allow list (once it has any, only those addresses pass).
    pub fn allow(&self, rules: impl IntoIterator<Item = IpRule>) {
        self.write().allow.extend(rules);
    }

    /// Adds addresses to the deny list (ignored while the allow list has any).
    pub fn deny(&self, rules: impl IntoIterator<Item = IpRule>) {
        self.write().deny.extend(rules);
    }

    /// Replaces the allow and deny lists.
    pub fn set_ip_rules(&self, allow: Vec<IpRule>, deny: Vec<IpRule>) {
        let mut p = self.write();
        p.allow = allow;
        p.deny = deny;
    }

    /// Sets (replaces) the PLAIN users and passwords of `domain` ("" or "*": the default).
    pub fn configure_plain(
        &self,
        domain: &str,
        passwords: impl IntoIterator<Item = (String, String)>,
    ) {
        let table = passwords
            .into_iter()
            .map(|(u, p)| (Bytes::from(u), Bytes::from(p)))
            .collect();
        self.write().passwords.insert(domain_key(domain), table);
    }

    /// Sets (replaces) the CURVE client keys `domain` accepts ("" or "*": the default).
    pub fn configure_curve(&self, domain: &str, keys: CurveKeys) {
        self.write().curve.insert(domain_key(domain), keys);
    }

    /// The decision for one request (see the module docs).
    pub fn decide(&self, req: &ZapRequestFull) -> ZapReply {
        let p = self.read();
        let address = canonical_address(&req.address);
        let mut allowed = false;
        if !p.allow.is_empty() {
            if !address.is_some_and(|a| p.allow.iter().any(|r| r.matches(a))) {
                return refuse(format!("Address not allowed: {}", req.address));
            }
            allowed = true;
        } else if !p.deny.is_empty() {
            if address.is_some_and(|a| p.deny.iter().any(|r| r.matches(a))) {
                return refuse(format!("Address denied: {}", req.address));
            }
            allowed = true;
        }
        let domain = domain_key(&req.domain);
        match req.mechanism {
            MechanismName::NULL => {
                let _ = allowed;
                ZapReply::accept("anonymous")
            }
            MechanismName::PLAIN => {
                let (Some(user), Some(password)) =
                    (req.credentials.first(), req.credentials.get(1))
                else {
                    return refuse("PLAIN request without user name and password".into());
                };
                let Some(users) = p.passwords.get(&domain) else {
                    return refuse(if p.passwords.is_empty() {
                        "No passwords defined".into()
                    } else {
                        format!("Invalid domain {domain:?}")
                    });
                };
                match users.get(user) {
                    None => refuse(format!(
                        "Invalid username {:?}",
                        user.escape_ascii().to_string()
                    )),
                    Some(expected) if !constant_time_eq(expected, password) => refuse(format!(
                        "Invalid password for user {:?}",
                        user.escape_ascii().to_string()
                    )),
                    Some(_) => ZapReply::accept(user.clone()),
                }
            }
            MechanismName::CURVE => {
                let Some(key) = req
                    .credentials
                    .first()
                    .and_then(|k| <[u8; 32]>::try_from(&k[..]).ok())
                else {
                    return refuse("CURVE request without a 32-octet client key".into());
                };
                let z85_key = z85::encode_key(&key);
                match p.curve.get(&domain) {
                    None => refuse(format!("Unknown domain {domain:?}")),
                    Some(keys) if keys.allows(&key) => ZapReply::accept(z85_key),
                    // The text names the key, as the allowlist's refusal always has.
                    Some(_) => refuse(format!("CURVE client key {z85_key} is not authorized")),
                }
            }
            other => refuse(format!("Unsupported mechanism {other}")),
        }
    }
}

fn refuse(text: String) -> ZapReply {
    ZapReply::refuse(ZapStatus::AuthFailure, text)
}

fn canonical_address(address: &str) -> Option<IpAddr> {
    address
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
        .map(canonical)
}

/// Compares without stopping at the first difference (the time taken does not tell how much
/// of a guessed password was right).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl courier_socket::Authenticator for Authenticator {
    fn authenticate(&self, request: ZapRequestFull) -> ZapReply {
        self.decide(&request)
    }
}

/// Why a PLAIN password file could not be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PasswordFileError {
    /// The file is missing or unreadable.
    #[error("cannot read the password file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line is not `user:password`.
    #[error("{path}, line {line}: {reason} (expected user:password; # starts a comment)")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Reads PLAIN users and passwords: one `user:password` per line (the password is everything
/// after the first colon), `#` comment lines and blank lines allowed. User names and
/// passwords are 1-255 and 0-255 octets (RFC 24); a user named twice is an error.
pub fn parse_passwords(
    path: &Path,
    text: &str,
) -> Result<Vec<(String, String)>, PasswordFileError> {
    let bad = |line: usize, reason| PasswordFileError::BadLine {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // Only the line end is trimmed from the password: spaces may belong to it.
        let raw = raw.trim_end_matches('\r');
        let (user, password) = raw.split_once(':').ok_or_else(|| bad(line, "no colon"))?;
        let user = user.trim();
        if user.is_empty() {
            return Err(bad(line, "empty user name"));
        }
        if user.len() > 255 {
            return Err(bad(line, "user name longer than 255 bytes"));
        }
        if password.len() > 255 {
            return Err(bad(line, "password longer than 255 bytes"));
        }
        if out.iter().any(|(u, _)| u == user) {
            return Err(bad(line, "user already defined on an earlier line"));
        }
        out.push((user.to_owned(), password.to_owned()));
    }
    Ok(out)
}

/// Reads a password file ([`parse_passwords`]), warning if users other than its owner can
/// read it.
pub fn load_passwords(path: &Path) -> Result<Vec<(String, String)>, PasswordFileError> {
    let read = |source| PasswordFileError::Read {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(read)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(read)?.permissions().mode();
        if mode & 0o044 != 0 {
            log::warn!(
                "the password file {} can be read by other users (mode {:o}); \
                 restrict it with: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    parse_passwords(path, &text)
}

/// A password file in use by an [`Authenticator`]: re-read into its domain when the file
/// changes (call [`PasswordFile::refresh`] periodically). A file that turns bad keeps the
/// passwords it had, with a warning.
pub struct PasswordFile {
    path: PathBuf,
    domain: String,
    auth: Authenticator,
    seen: Option<SystemTime>,
}

impl PasswordFile {
    /// Loads `path` into `auth` for `domain`.
    pub fn load(
        path: &Path,
        domain: &str,
        auth: &Authenticator,
    ) -> Result<Self, PasswordFileError> {
        let users = load_passwords(path)?;
        let n = users.len();
        auth.configure_plain(domain, users);
        log::info!("PLAIN: {n} user(s) from {}", path.display());
        Ok(PasswordFile {
            path: path.to_owned(),
            domain: domain.to_owned(),
            auth: auth.clone(),
            seen: modified(path),
        })
    }

    /// Re-reads the file if it changed; returns whether it was re-read.
    pub fn refresh(&mut self) -> bool {
        let now = modified(&self.path);
        if now == self.seen {
            return false;
        }
        self.seen = now;
        match load_passwords(&self.path) {
            Ok(users) => {
                log::info!(
                    "PLAIN: password file {} re-read: {} user(s)",
                    self.path.display(),
                    users.len()
                );
                self.auth.configure_plain(&self.domain, users);
            }
            Err(e) => log::warn!("PLAIN: keeping the old passwords: {e}"),
        }
        true
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(mechanism: MechanismName, address: &str, credentials: &[&[u8]]) -> ZapRequestFull {
        ZapRequestFull {
            domain: String::new(),
            address: address.into(),
            routing_id: Bytes::new(),
            mechanism,
            credentials: credentials
                .iter()
                .map(|c| Bytes::copy_from_slice(c))
                .collect(),
        }
    }

    fn rules(list: &[&str]) -> Vec<IpRule> {
        list.iter().map(|r| r.parse().unwrap()).collect()
    }

    fn status(auth: &Authenticator, r: &ZapRequestFull) -> (ZapStatus, String) {
        let reply = auth.decide(r);
        (reply.status_code, reply.status_text)
    }

    #[test]
    fn rules_parse_addresses_and_cidr_blocks() {
        let r: IpRule = "10.0.0.0/8".parse().unwrap();
        assert!(r.matches("10.200.1.1".parse().unwrap()));
        assert!(!r.matches("11.0.0.1".parse().unwrap()));
        let r: IpRule = "127.0.0.2".parse().unwrap();
        assert!(r.matches("127.0.0.2".parse().unwrap()));
        assert!(r.matches("::ffff:127.0.0.2".parse().unwrap()));
        assert!(!r.matches("127.0.0.1".parse().unwrap()));
        let r: IpRule = "fd00::/8".parse().unwrap();
        assert!(r.matches("fd12::1".parse().unwrap()));
        assert!(!r.matches("fe80::1".parse().unwrap()));
        let r: IpRule = "127.0.0.0/31".parse().unwrap();
        assert!(r.matches("127.0.0.1".parse().unwrap()));
        assert!(!r.matches("127.0.0.2".parse().unwrap()));
        assert_eq!("[::1]".parse::<IpRule>().unwrap().to_string(), "::1");
        assert_eq!(
            "0.0.0.0/0".parse::<IpRule>().unwrap().to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(
            "localhost".parse::<IpRule>(),
            Err(IpRuleError::BadAddress("localhost".into()))
        );
        assert_eq!(
            "10.0.0.0/33".parse::<IpRule>(),
            Err(IpRuleError::BadPrefix {
                text: "10.0.0.0/33".into(),
                max: 32
            })
        );
    }

    #[test]
    fn allow_list_wins_and_refuses_everything_else() {
        let auth = Authenticator::new();
        auth.allow(rules(&["127.0.0.2"]));
        auth.deny(rules(&["127.0.0.2"]));
        let (s, _) = status(&auth, &req(MechanismName::NULL, "127.0.0.2", &[]));
        assert_eq!(s, ZapStatus::Success);
        let (s, text) = status(&auth, &req(MechanismName::NULL, "127.0.0.1", &[]));
        assert_eq!(s, ZapStatus::AuthFailure);
        assert_eq!(text, "Address not allowed: 127.0.0.1");
    }

    #[test]
    fn deny_list_alone_lets_the_rest_pass() {
        let auth = Authenticator::new();
        auth.deny(rules(&["127.0.0.3", "10.0.0.0/8"]));
        assert_eq!(
            status(&auth, &req(MechanismName::NULL, "127.0.0.1", &[])).0,
            ZapStatus::Success
        );
        let (s, text) = status(&auth, &req(MechanismName::NULL, "10.1.2.3", &[]));
        assert_eq!(s, ZapStatus::AuthFailure);
        assert_eq!(text, "Address denied: 10.1.2.3");
    }

    #[test]
    fn plain_checks_user_and_password_per_domain() {
        let auth = Authenticator::new();
        assert_eq!(
            status(
                &auth,
                &req(MechanismName::PLAIN, "127.0.0.1", &[b"a", b"b"])
            )
            .1,
            "No passwords defined"
        );
        auth.configure_plain("", [("admin".to_owned(), "secret".to_owned())]);
        let ok = auth.decide(&req(
            MechanismName::PLAIN,
            "127.0.0.1",
            &[b"admin", b"secret"],
        ));
        assert_eq!(ok.status_code, ZapStatus::Success);
        assert_eq!(&ok.user_id[..], b"admin");
        assert_eq!(
            status(
                &auth,
                &req(MechanismName::PLAIN, "127.0.0.1", &[b"admin", b"guess"])
            )
            .1,
            "Invalid password for user \"admin\""
        );
        assert_eq!(
            status(
                &auth,
                &req(MechanismName::PLAIN, "127.0.0.1", &[b"eve", b"secret"])
            )
            .1,
            "Invalid username \"eve\""
        );
        let mut other = req(MechanismName::PLAIN, "127.0.0.1", &[b"admin", b"secret"]);
        other.domain = "other".into();
        assert_eq!(status(&auth, &other).1, "Invalid domain \"other\"");
        // Even an allowed address must log in.
        auth.allow(rules(&["127.0.0.1"]));
        assert_eq!(
            status(
                &auth,
                &req(MechanismName::PLAIN, "127.0.0.1", &[b"admin", b"guess"])
            )
            .0,
            ZapStatus::AuthFailure
        );
    }

    #[test]
    fn curve_checks_the_key_and_names_it() {
        let auth = Authenticator::new();
        let key = [7u8; 32];
        let r = req(MechanismName::CURVE, "127.0.0.1", &[&key]);
        assert_eq!(status(&auth, &r).1, "Unknown domain \"*\"");
        auth.configure_curve("*", CurveKeys::Keys(HashSet::from([[1u8; 32]])));
        let (s, text) = status(&auth, &r);
        assert_eq!(s, ZapStatus::AuthFailure);
        assert!(text.contains(&z85::encode_key(&key)) && text.contains("not authorized"));
        auth.configure_curve("*", CurveKeys::Any);
        let ok = auth.decide(&r);
        assert_eq!(ok.status_code, ZapStatus::Success);
        assert_eq!(&ok.user_id[..], z85::encode_key(&key).as_bytes());
    }

    #[test]
    fn changes_apply_to_the_next_request() {
        let auth = Authenticator::new();
        let shared = auth.clone();
        let r = req(MechanismName::NULL, "127.0.0.2", &[]);
        assert_eq!(status(&auth, &r).0, ZapStatus::Success);
        shared.set_ip_rules(Vec::new(), rules(&["127.0.0.2"]));
        assert_eq!(status(&auth, &r).0, ZapStatus::AuthFailure);
        shared.set_ip_rules(Vec::new(), Vec::new());
        assert_eq!(status(&auth, &r).0, ZapStatus::Success);
    }

    #[test]
    fn password_files_parse_and_name_bad_lines() {
        let p = Path::new("pw");
        let users = parse_passwords(p, "# users\n\nadmin:secret\n  bob : has:colon \n").unwrap();
        assert_eq!(
            users,
            vec![
                ("admin".to_owned(), "secret".to_owned()),
                ("bob".to_owned(), " has:colon ".to_owned())
            ]
        );
        for (text, line, reason) in [
            ("admin:x\nnocolon\n", 2, "no colon"),
            ("# c\n:x\n", 2, "empty user name"),
            (
                "a:1\nb:2\na:3\n",
                3,
                "user already defined on an earlier line",
            ),
        ] {
            match parse_passwords(p, text) {
                Err(PasswordFileError::BadLine {
                    line: l, reason: r, ..
                }) => {
                    assert_eq!((l, r), (line, reason), "{text:?}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let long = format!("u:{}\n", "p".repeat(256));
        assert!(matches!(
            parse_passwords(p, &long),
            Err(PasswordFileError::BadLine { line: 1, .. })
        ));
        let err = parse_passwords(p, "x\n").unwrap_err().to_string();
        assert!(
            err.contains("line 1") && err.contains("user:password"),
            "{err}"
        );
    }

    #[test]
    fn a_password_file_reloads_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("courier-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("passwords");
        std::fs::write(&path, "admin:one\n").unwrap();
        let auth = Authenticator::new();
        let mut file = PasswordFile::load(&path, "*", &auth).unwrap();
        let r = |pw: &[u8]| req(MechanismName::PLAIN, "127.0.0.1", &[b"admin", pw]);
        assert_eq!(status(&auth, &r(b"one")).0, ZapStatus::Success);
        assert!(!file.refresh());
        std::fs::write(&path, "admin:two\n").unwrap();
        // Make the change visible even on file systems with coarse times.
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(file.refresh());
        assert_eq!(status(&auth, &r(b"one")).0, ZapStatus::AuthFailure);
        assert_eq!(status(&auth, &r(b"two")).0, ZapStatus::Success);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn plain_beyond_loopback_gets_a_warning() {
        for bind in [
            "tcp://127.0.0.1:5556",
            "tcp://[::1]:5556",
            "tcp://localhost:1",
            "ipc:///tmp/x",
        ] {
            assert_eq!(plain_exposure_warning(bind), None, "{bind}");
        }
        for bind in [
            "tcp://*:5556",
            "tcp://0.0.0.0:5556",
            "tcp://192.168.1.2:5556",
            "tcp://host.lan:1",
        ] {
            let w = plain_exposure_warning(bind).unwrap_or_default();
            assert!(
                w.contains("in the clear") && w.contains(bind),
                "{bind}: {w}"
            );
        }
    }
}
