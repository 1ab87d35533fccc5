//! Saving received files, refusing names that would escape the inbox directory.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why a received file was not saved.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InboxError {
    /// The name is not a plain file name (it has a path separator, is `.` or `..`, is empty,
    /// or has a NUL).
    #[error("refused file name {0:?}: not a plain file name inside the inbox")]
    UnsafeName(String),
    /// Writing failed.
    #[error("cannot save {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// Whether `name` is a plain file name that stays inside a directory.
pub fn safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).file_name().is_some_and(|n| n == name)
}

/// Saves `contents` as `dir/name` (written to a temporary file, then renamed, so a reader
/// never sees half a file). Returns the path.
pub fn save_file(dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf, InboxError> {
    if !safe_file_name(name) {
        return Err(InboxError::UnsafeName(name.to_owned()));
    }
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.part"));
    let io_err = |source| InboxError::Io {
        path: path.clone(),
        source,
    };
    std::fs::write(&tmp, contents).map_err(io_err)?;
    std::fs::rename(&tmp, &path).map_err(io_err)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a.txt", "report 2026.pdf", "ünïcödé", ".hidden", "a..b"] {
            assert!(safe_file_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\\b", "a\0b"] {
            assert!(!safe_file_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn saves_and_refuses() {
        let dir = std::env::temp_dir().join(format!("courier-inbox-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = save_file(&dir, "x.bin", b"abc").unwrap();
        assert_eq!(std::fs::read(p).unwrap(), b"abc");
        assert!(matches!(
            save_file(&dir, "../escape", b"x"),
            Err(InboxError::UnsafeName(_))
        ));
        assert!(!dir.parent().unwrap().join("escape").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
