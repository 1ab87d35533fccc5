//! CURVE key files on disk, in the format pyzmq's `zmq.auth.create_certificates` writes
//! (`NAME.key` public, `NAME.key_secret` secret), the `keygen` subcommand, and the allowlist
//! of client keys (a directory of `*.key` files, re-read when it changes or on SIGHUP).

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use argh::FromArgs;
use courier_proto::cert::{format_public, format_secret, parse_certificate, CertError, CertHeader};
use courier_proto::curve::{Authorizer, Keypair, PublicKey};
use courier_proto::z85;
use thiserror::Error;

/// Why a key file could not be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file is missing or unreadable.
    #[error("cannot read key file {path}: {source}\n  to create a key pair there, run: {keygen}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
        /// The keygen command that would create it.
        keygen: String,
    },
    /// The server's public key file is missing or unreadable (on the client side).
    #[error(
        "cannot read the server's public key {path}: {source}\n  copy the server's public \
         key file there (NAME.key from the server's curve directory, not the .key_secret)"
    )]
    MissingServerKey {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not a valid certificate.
    #[error("invalid key file {path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: CertError,
    },
    /// A public certificate was given where a secret one is needed.
    #[error("{path} holds no secret-key (is it the public .key file instead of .key_secret?)")]
    NoSecret {
        /// The file.
        path: PathBuf,
    },
    /// Writing a new key pair failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Keygen refuses to overwrite existing files.
    #[error(
        "{path} already exists; refusing to overwrite it (keep using it, or choose another \
         --name or -d for a new pair)"
    )]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The allowlist directory cannot be listed.
    #[error("cannot read the allowlist directory {path}: {source}")]
    Allowlist {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// `~/.curve`, where pyzmq's examples keep keys (`.curve` in the current directory if there
/// is no HOME).
pub fn default_curve_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".curve")
}

/// The command that creates the key pair `path` belongs to: this program's own `keygen`
/// (every courier program that reads keys has one), named as it was invoked so that the
/// line can be pasted into the same shell, with the name and directory spelled out.
fn keygen_hint(path: &Path) -> String {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name
        .strip_suffix(".key_secret")
        .or_else(|| name.strip_suffix(".key"))
        .unwrap_or(&name)
        .to_owned();
    // args_os: `std::env::args` would panic on a program path that is not UTF-8.
    let program = std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "courier-server".to_owned());
    format!(
        "{} keygen --name {} -d {}",
        shell_quote(&program),
        shell_quote(&name),
        shell_quote(&dir.to_string_lossy())
    )
}

/// `s` as one word for a POSIX shell: unchanged when it is plain, else in single quotes.
fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,~".contains(c);
    if !s.is_empty() && s.chars().all(plain) && !s.starts_with('~') {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn read_cert(path: &Path) -> Result<courier_proto::cert::Certificate, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
        keygen: keygen_hint(path),
    })?;
    parse_certificate(&text).map_err(|source| KeyError::Invalid {
        path: path.to_owned(),
        source,
    })
}

/// Reads a key pair from a `NAME.key_secret` file.
pub fn load_keypair(path: &Path) -> Result<Keypair, KeyError> {
    read_cert(path)?
        .keypair()
        .ok_or_else(|| KeyError::NoSecret {
            path: path.to_owned(),
        })
}

/// Reads the public key from a `NAME.key` (or `NAME.key_secret`) file.
pub fn load_public(path: &Path) -> Result<PublicKey, KeyError> {
    Ok(read_cert(path)?.public)
}

/// Writes a new key pair as `dir/NAME.key` and
/// `dir/NAME.key_secret` (0600), creating `dir` with mode 0700. Existing files are never
/// overwritten. Returns both paths.
pub fn write_keypair(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf), KeyError> {
    let public_path = dir.join(format!("{name}.key"));
    let secret_path = dir.join(format!("{name}.key_secret"));
    for path in [&public_path, &secret_path] {
        if path.exists() {
            return Err(KeyError::Exists { path: path.clone() });
        }
    }
    create_private_dir(dir).map_err(|source| KeyError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let keypair = Keypair::generate();
    let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let header = CertHeader::new(&now);
    write_new(
        &public_path,
        format_public(keypair.public(), &header).as_bytes(),
    )?;
    write_new(
        &secret_path,
        format_secret(&keypair, &[], &header).as_bytes(),
    )?;
    Ok((public_path, secret_path))
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn write_new(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let err = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.to_owned(),
            }
        } else {
            err(e)
        }
    })?;
    file.write_all(contents).map_err(err)?;
    file.sync_all().map_err(err)
}

/// create a CURVE key pair in the format pyzmq's zmq.auth reads: NAME.key (public) and
/// NAME.key_secret (secret).
#[derive(FromArgs, Debug, PartialEq, Eq)]
#[argh(subcommand, name = "keygen")]
pub struct KeygenArgs {
    /// base name of the key files (default: the name of the pair this program reads, see
    /// below)
    #[argh(option)]
    pub name: Option<String>,
    /// directory to write them to (default ~/.curve; created with mode 0700)
    #[argh(option, short = 'd')]
    pub dir: Option<PathBuf>,
}

/// Runs `keygen`: writes the pair (named `default_name` unless `--name` says otherwise) and
/// prints the paths and the public key.
pub fn run_keygen(args: &KeygenArgs, default_name: &str) -> Result<(), KeyError> {
    let dir = args.dir.clone().unwrap_or_else(default_curve_dir);
    let name = args.name.as_deref().unwrap_or(default_name);
    let (public, secret) = write_keypair(&dir, name)?;
    let key = load_public(&public)?;
    println!("public key:  {}", public.display());
    println!("secret key:  {} (keep it private)", secret.display());
    println!("public key (Z85): {}", z85::encode_key(&key));
    Ok(())
}

/// The public keys of every `*.key` file in a directory. Files that are not valid
/// certificates are skipped with a warning.
pub fn load_allowlist(dir: &Path) -> Result<HashSet<PublicKey>, KeyError> {
    let entries = std::fs::read_dir(dir).map_err(|source| KeyError::Allowlist {
        path: dir.to_owned(),
        source,
    })?;
    let mut keys = HashSet::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "key") {
            match load_public(&path) {
                Ok(key) => {
                    keys.insert(key);
                }
                Err(e) => log::warn!("allowlist: skipping {}: {e}", path.display()),
            }
        }
    }
    Ok(keys)
}

/// What identifies the state of a directory's `*.key` files: names, sizes and times.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "key"))
        .map(|e| {
            let meta = e.metadata().ok();
            (
                e.path(),
                meta.as_ref().map_or(0, |m| m.len()),
                meta.and_then(|m| m.modified().ok()),
            )
        })
        .collect();
    files.sort();
    files
}

/// The client allowlist of a CURVE server: the keys in a directory, re-read when its `*.key`
/// files change (call [`Allowlist::refresh`] periodically) or when SIGHUP arrives.
#[derive(Clone)]
pub struct Allowlist {
    dir: PathBuf,
    keys: Arc<RwLock<HashSet<PublicKey>>>,
    seen: Arc<RwLock<Fingerprint>>,
    hup: Arc<AtomicBool>,
}

impl Allowlist {
    /// Loads the directory; an unreadable directory is an error.
    pub fn load(dir: &Path) -> Result<Allowlist, KeyError> {
        let keys = load_allowlist(dir)?;
        let hup = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone()) {
            log::warn!("allowlist: SIGHUP will not reload it: {e}");
        }
        Ok(Allowlist {
            dir: dir.to_owned(),
            keys: Arc::new(RwLock::new(keys)),
            seen: Arc::new(RwLock::new(fingerprint(dir))),
            hup,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many keys are allowed.
    pub fn len(&self) -> usize {
        self.keys.read().map_or(0, |k| k.len())
    }

    /// Whether no key is allowed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` is allowed.
    pub fn allows(&self, key: &PublicKey) -> bool {
        self.keys.read().is_ok_and(|k| k.contains(key))
    }

    /// An authorizer for the CURVE server that consults this allowlist as it is at the time
    /// of each handshake.
    pub fn authorizer(&self) -> Authorizer {
        let list = self.clone();
        Authorizer::new(move |key| list.allows(key))
    }

    /// Re-reads the directory if its `*.key` files changed or SIGHUP arrived; returns whether
    /// it was re-read.
    pub fn refresh(&self) -> bool {
        let hup = self.hup.swap(false, Ordering::Relaxed);
        let now = fingerprint(&self.dir);
        let changed = self.seen.read().map_or(true, |seen| *seen != now); // a poisoned lock: re-read
        if !hup && !changed {
            return false;
        }
        match load_allowlist(&self.dir) {
            Ok(keys) => {
                log::info!(
                    "allowlist {} re-read ({}): {} client key(s)",
                    self.dir.display(),
                    if hup { "SIGHUP" } else { "directory changed" },
                    keys.len()
                );
                if let Ok(mut k) = self.keys.write() {
                    *k = keys;
                }
            }
            Err(e) => log::warn!("allowlist not reloaded, keeping the old one: {e}"),
        }
        if let Ok(mut seen) = self.seen.write() {
            *seen = now;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "courier-keys-{label}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn keygen_writes_private_files_and_refuses_to_overwrite() {
        let dir = tmp("keygen").join("nested");
        let (public, secret) = write_keypair(&dir, "server").unwrap();
        let pair = load_keypair(&secret).unwrap();
        assert_eq!(load_public(&public).unwrap(), *pair.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&public), 0o600);
            assert_eq!(mode(&secret), 0o600);
        }
        assert!(matches!(
            write_keypair(&dir, "server"),
            Err(KeyError::Exists { .. })
        ));
        assert!(matches!(
            load_keypair(&public),
            Err(KeyError::NoSecret { .. })
        ));
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn missing_file_error_names_path_and_keygen() {
        let err = load_keypair(Path::new("/nonexistent/dir/client.key_secret")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/nonexistent/dir/client.key_secret"),
            "{text}"
        );
        assert!(
            text.contains("keygen --name client -d /nonexistent/dir"),
            "{text}"
        );
    }

    #[test]
    fn the_keygen_hint_is_one_shell_word_per_argument() {
        assert_eq!(shell_quote("/home/pi/.curve"), "/home/pi/.curve");
        assert_eq!(shell_quote("courier-agent"), "courier-agent");
        assert_eq!(shell_quote("/My Keys/.curve"), "'/My Keys/.curve'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("~pi"), "'~pi'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote(""), "''");
        let err = load_keypair(Path::new("/tmp/My Keys/agent.key_secret")).unwrap_err();
        assert!(
            err.to_string()
                .ends_with(" keygen --name agent -d '/tmp/My Keys'"),
            "{err}"
        );
    }

    #[test]
    fn allowlist_reloads_when_the_directory_changes() {
        let dir = tmp("allow");
        let (a, _) = write_keypair(&dir, "a").unwrap();
        std::fs::write(dir.join("junk.key"), "not a cert").unwrap();
        let list = Allowlist::load(&dir).unwrap();
        let key_a = load_public(&a).unwrap();
        assert_eq!(list.len(), 1);
        assert!(list.authorizer().allows(&key_a));
        assert!(!list.refresh());
        let other = tmp("other");
        let (b, _) = write_keypair(&other, "b").unwrap();
        std::fs::copy(&b, dir.join("b.key")).unwrap();
        assert!(list.refresh());
        assert!(list.allows(&load_public(&b).unwrap()));
        std::fs::remove_file(&a).unwrap();
        assert!(list.refresh());
        assert!(!list.allows(&key_a));
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&other).unwrap();
    }
}

/// Which clients a CURVE server accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientPolicy {
    /// Any client key (encryption without client authentication).
    Any,
    /// Only the keys of the `*.key` files in this directory.
    Allowlist(PathBuf),
}

/// A CURVE server's settings read from key files.
pub struct ServerKeys {
    /// The socket security to use.
    pub security: courier_socket::Security,
    /// The allowlist, to [`refresh`](Allowlist::refresh) periodically (None for `Any`).
    pub allowlist: Option<Allowlist>,
    /// The server's public key in Z85, for logs.
    pub public_z85: String,
}

/// Loads a CURVE server's key pair `dir/NAME.key_secret` and its client policy.
pub fn server_keys(
    dir: &Path,
    key_name: &str,
    policy: &ClientPolicy,
) -> Result<ServerKeys, KeyError> {
    let keypair = load_keypair(&dir.join(format!("{key_name}.key_secret")))?;
    let public_z85 = keypair.public_z85();
    let (authorizer, allowlist) = match policy {
        ClientPolicy::Any => (Authorizer::allow_any(), None),
        ClientPolicy::Allowlist(allow_dir) => {
            let list = Allowlist::load(allow_dir)?;
            if list.is_empty() {
                log::warn!(
                    "no client keys in {}: every client will be refused until one is added",
                    allow_dir.display()
                );
            } else {
                log::info!(
                    "{} client key(s) allowed from {}",
                    list.len(),
                    allow_dir.display()
                );
            }
            (list.authorizer(), Some(list))
        }
    };
    Ok(ServerKeys {
        security: courier_socket::Security::curve_server(keypair.secret().clone(), authorizer),
        allowlist,
        public_z85,
    })
}

/// Loads a CURVE client's key pair `dir/NAME.key_secret` and the server's public key
/// `dir/SERVER.key`. Returns the security and the client's public key in Z85.
pub fn client_keys(
    dir: &Path,
    key_name: &str,
    server_key_name: &str,
) -> Result<(courier_socket::Security, String), KeyError> {
    let keypair = load_keypair(&dir.join(format!("{key_name}.key_secret")))?;
    let server_path = dir.join(format!("{server_key_name}.key"));
    let server_key = load_public(&server_path).map_err(|e| match e {
        // Generating a pair here would never match the real server: say to copy its key.
        KeyError::Read { path, source, .. } => KeyError::MissingServerKey { path, source },
        other => other,
    })?;
    let public_z85 = keypair.public_z85();
    Ok((
        courier_socket::Security::curve_client(keypair, server_key),
        public_z85,
    ))
}
