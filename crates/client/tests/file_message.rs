//! `file_message`: the FILE message for `--send-file`, refused when over the message limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use courier_client::{file_message, ClientError};
use courier_socket::Message;

fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("courier-client-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_limit_counts_every_frame_of_the_message() {
    let dir = scratch("limit");
    let path = dir.join("notes.txt"); // FILE message: 4 + 9 + 1000 bytes
    std::fs::write(&path, vec![b'n'; 1000]).unwrap();

    match file_message(&path, 1013).unwrap() {
        Message::File { name, contents } => {
            assert_eq!(name, "notes.txt");
            assert_eq!(contents.len(), 1000);
        }
        other => panic!("not a FILE message: {other:?}"),
    }
    match file_message(&path, 1012) {
        Err(ClientError::FileTooLarge {
            path: p,
            size,
            message,
            max,
            suggest,
        }) => {
            assert_eq!((p, size, message, max), (path.clone(), 1000, 1013, 1012));
            assert_eq!(suggest, "1MiB");
        }
        other => panic!("expected FileTooLarge, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_huge_file_is_refused_without_reading_it() {
    let dir = scratch("huge");
    let path = dir.join("huge.bin");
    // Sparse: 8 GiB on paper. Reading it would take the test's memory and time.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    let err = file_message(&path, 64 << 20).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, ClientError::FileTooLarge { size, .. } if size == 8 << 30),
        "{text}"
    );
    for want in [
        "huge.bin is 8589934592 bytes",
        "over the 67108864-byte message limit",
        "`courier-client --max-message-size 8193MiB ...`",
        "`courier-server --max-message-size 8193MiB`",
    ] {
        assert!(text.contains(want), "{want:?} not in {text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unreadable_file_says_so() {
    let missing = scratch("missing").join("nope.txt");
    assert!(matches!(
        file_message(&missing, 64 << 20),
        Err(ClientError::File { path, .. }) if path == missing
    ));
}
