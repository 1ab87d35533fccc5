//! Runtime-neutral helpers for programs and tests: run a future to completion, sleep, time out,
//! run a future in the background. None of them needs an async runtime: timers are kept by
//! courier's I/O threads, `block_on` parks the calling thread, and `spawn` gives the future a
//! thread of its own. The sockets' futures work the same under tokio, smol or async-std.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::{AbortHandle, Abortable};
use futures::FutureExt;

pub use crate::io::{io_threads, set_io_threads, IO_THREADS_VAR, IO_THREAD_NAME};
pub use std::time::Instant;

/// Runs a future to completion on the current thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}

/// Waits for `duration`.
pub async fn sleep(duration: Duration) {
    crate::io::Sleep::after(duration).await
}

/// Waits until `at`.
pub async fn sleep_until(at: Instant) {
    crate::io::Sleep::until(at).await
}

/// Runs `future` for at most `duration`; `None` if it did not finish.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
    let future = std::pin::pin!(future);
    let mut future = future.fuse();
    let mut timer = crate::io::Sleep::after(duration).fuse();
    futures::select! {
        out = future => Some(out),
        () = timer => None,
    }
}

/// A future run in the background by [`spawn`]; awaiting it gives its output.
pub struct Task<T> {
    abort: AbortHandle,
    output: futures::channel::oneshot::Receiver<T>,
}

/// Runs `future` in the background on a thread of its own (courier needs no executor; a
/// program with one should use its own `spawn`).
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (abort, registration) = AbortHandle::new_pair();
    let (tx, output) = futures::channel::oneshot::channel();
    let run = Abortable::new(future, registration);
    let spawned = std::thread::Builder::new()
        .name("courier-task".into())
        .spawn(move || {
            if let Ok(out) = futures::executor::block_on(run) {
                let _ = tx.send(out);
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot start a thread for a task: {e}");
    }
    Task { abort, output }
}

impl<T> Future for Task<T> {
    type Output = T;

    /// The task's output. Pending for ever if the task was cancelled or panicked (its
    /// thread's panic message is on standard error).
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.output.poll_unpin(cx) {
            Poll::Ready(Ok(out)) => Poll::Ready(out),
            Poll::Ready(Err(_)) | Poll::Pending => Poll::Pending,
        }
    }
}

/// Cancels a task (it stops at its next wait).
pub async fn cancel<T>(task: Task<T>) {
    task.abort.abort();
}
