//! Message handlers keyed by header, and periodic tasks.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use courier_socket::Multipart;

/// An error a handler reports; it is logged and the program carries on.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;
/// What a handler returns.
pub type HandlerResult = Result<(), HandlerError>;

type Handler<C> = Box<dyn FnMut(&mut C, &Multipart) -> HandlerResult + Send>;

/// What [`Handlers::dispatch`] did with a message.
#[derive(Debug)]
pub enum Dispatch {
    /// A handler took it.
    Handled,
    /// A handler took it and failed (e.g. a malformed message).
    Failed(HandlerError),
    /// No handler for this header.
    Unknown,
}

/// Message handlers keyed by the header (frame 0) of the message, with a context `C`.
pub struct Handlers<C> {
    map: HashMap<Bytes, Handler<C>>,
}

impl<C> Default for Handlers<C> {
    fn default() -> Self {
        Handlers {
            map: HashMap::new(),
        }
    }
}

impl<C> Handlers<C> {
    /// No handlers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the handler for messages whose first frame is `header` (replacing any other).
    pub fn on(
        &mut self,
        header: &str,
        handler: impl FnMut(&mut C, &Multipart) -> HandlerResult + Send + 'static,
    ) {
        self.map
            .insert(Bytes::copy_from_slice(header.as_bytes()), Box::new(handler));
    }

    /// Whether a handler exists for `header`.
    pub fn handles(&self, header: &[u8]) -> bool {
        self.map.contains_key(header)
    }

    /// Runs the handler for `msg`'s header.
    pub fn dispatch(&mut self, ctx: &mut C, msg: &Multipart) -> Dispatch {
        match self.map.get_mut(msg.first()) {
            Some(handler) => match handler(ctx, msg) {
                Ok(()) => Dispatch::Handled,
                Err(e) => Dispatch::Failed(e),
            },
            None => Dispatch::Unknown,
        }
    }
}

type Task<C> = Box<dyn FnMut(&mut C) + Send>;

struct Entry<C> {
    period: Duration,
    due: Instant,
    task: Task<C>,
}

/// Tasks run every so often. Time is passed in, so the schedule is testable.
pub struct Periodic<C> {
    entries: Vec<Entry<C>>,
}

impl<C> Default for Periodic<C> {
    fn default() -> Self {
        Periodic {
            entries: Vec::new(),
        }
    }
}

impl<C> Periodic<C> {
    /// No tasks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` every `period`, first at `first` (a zero period is taken as 1 ms).
    pub fn every(
        &mut self,
        period: Duration,
        first: Instant,
        task: impl FnMut(&mut C) + Send + 'static,
    ) {
        self.entries.push(Entry {
            period: period.max(Duration::from_millis(1)),
            due: first,
            task: Box::new(task),
        });
    }

    /// When the next task is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.entries.iter().map(|e| e.due).min()
    }

    /// Runs every task due at `now`. A task that fell behind runs once and is rescheduled
    /// from `now` (no burst of catch-up runs).
    pub fn run_due(&mut self, now: Instant, ctx: &mut C) {
        for entry in &mut self.entries {
            if entry.due <= now {
                (entry.task)(ctx);
                entry.due += entry.period;
                if entry.due <= now {
                    entry.due = now + entry.period;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_by_header() {
        let mut h = Handlers::<Vec<String>>::new();
        h.on("A", |log, m| {
            log.push(format!("A{}", m.len()));
            Ok(())
        });
        h.on("B", |_, _| Err("bad B".into()));
        let mut log = Vec::new();
        assert!(matches!(
            h.dispatch(&mut log, &Multipart::from("A")),
            Dispatch::Handled
        ));
        match h.dispatch(&mut log, &Multipart::from("B")) {
            Dispatch::Failed(e) => assert_eq!(e.to_string(), "bad B"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            h.dispatch(&mut log, &Multipart::from("C")),
            Dispatch::Unknown
        ));
        assert_eq!(log, vec!["A1"]);
        assert!(h.handles(b"A") && !h.handles(b"C"));
    }

    #[test]
    fn periodic_schedule() {
        let t0 = Instant::now();
        let mut p = Periodic::<Vec<u32>>::new();
        p.every(Duration::from_secs(1), t0, |v| v.push(1));
        p.every(Duration::from_secs(3), t0 + Duration::from_secs(3), |v| {
            v.push(3)
        });
        let mut v = Vec::new();
        assert_eq!(p.next_due(), Some(t0));
        p.run_due(t0, &mut v);
        assert_eq!(v, vec![1]);
        assert_eq!(p.next_due(), Some(t0 + Duration::from_secs(1)));
        p.run_due(t0 + Duration::from_millis(999), &mut v);
        assert_eq!(v, vec![1]);
        p.run_due(t0 + Duration::from_secs(3), &mut v);
        assert_eq!(v, vec![1, 1, 3]);
        // Far behind: one run, rescheduled from now.
        let late = t0 + Duration::from_secs(100);
        p.run_due(late, &mut v);
        assert_eq!(v, vec![1, 1, 3, 1, 3]);
        assert_eq!(p.next_due(), Some(late + Duration::from_secs(1)));
    }
}
