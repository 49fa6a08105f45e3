//! A slow consumer on its own thread: [`Detached`] hands it alerts, notes,
//! rows and ticks over a bounded queue. Live, it never waits: when the
//! queue is full the event is dropped and counted, and the count is said
//! at the end. Reading a file, it waits instead (nothing is lost; the
//! file is read more slowly).
//! Webhooks, exporters and anything else that does I/O per event go
//! behind one of these, so they cannot hold up capture.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use wirewatch_detect::Alert;
use wirewatch_flow::FlowTable;
use wirewatch_store::Row;
use wirewatch_wire::Timestamp;

use crate::consumer::{Consumer, Context, Ending, Outbox, Tick};

/// What a detached consumer receives.
#[derive(Clone, Debug)]
pub enum Message {
    /// An alert.
    Alert(Box<Alert>),
    /// A note for the user.
    Note(String),
    /// Rows cut at a time.
    Rows(Timestamp, Vec<Row>),
    /// A report period ended.
    Tick(Tick),
}

/// The receiving end: runs on its own thread.
pub trait Receiver: Send + 'static {
    /// One message.
    fn receive(&mut self, m: Message);
    /// No more messages will come; an error fails the run at its end.
    fn close(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// What to do when the queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Drop the message and count it (live: capture must not wait).
    Drop,
    /// Wait for room (files: nothing may be lost).
    Wait,
}

/// A [`Receiver`] behind a bounded queue, as a pipeline consumer.
pub struct Detached {
    name: &'static str,
    tx: Option<SyncSender<Message>>,
    thread: Option<JoinHandle<Result<(), String>>>,
    dropped: Arc<AtomicU64>,
    /// Rows are cloned for it only when it asks.
    rows: bool,
    when_full: WhenFull,
    /// What the receiver said when it closed.
    closed: Option<Result<(), String>>,
}

impl Detached {
    /// Starts `r` on a thread named after `name`, with room for `capacity`
    /// messages; `rows` says whether it wants the per-minute rows.
    pub fn start(
        name: &'static str,
        capacity: usize,
        rows: bool,
        when_full: WhenFull,
        mut r: impl Receiver,
    ) -> std::io::Result<Detached> {
        let (tx, rx) = sync_channel::<Message>(capacity.max(1));
        let thread = std::thread::Builder::new()
            .name(format!("wirewatch-{name}"))
            .spawn(move || {
                for m in rx {
                    r.receive(m);
                }
                r.close()
            })?;
        Ok(Detached {
            name,
            tx: Some(tx),
            thread: Some(thread),
            dropped: Arc::new(AtomicU64::new(0)),
            rows,
            when_full,
            closed: None,
        })
    }

    /// Messages dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn send(&mut self, m: Message) {
        let Some(tx) = &self.tx else { return };
        if self.when_full == WhenFull::Wait {
            if tx.send(m).is_err() {
                // The receiver's thread ended (it panicked).
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.tx = None;
            }
            return;
        }
        match tx.try_send(m) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The receiver's thread ended (it panicked): nothing more to do.
            Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.tx = None;
            }
        }
    }

    /// Closes the queue and waits for the thread to take what is in it.
    fn close(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            self.closed = Some(
                t.join()
                    .unwrap_or_else(|_| Err(format!("{}: its thread panicked", self.name))),
            );
        }
    }
}

impl Consumer for Detached {
    fn name(&self) -> &'static str {
        self.name
    }

    fn alert(&mut self, a: &Alert) {
        self.send(Message::Alert(Box::new(a.clone())));
    }

    fn note(&mut self, line: &str) {
        self.send(Message::Note(line.to_string()));
    }

    fn rows(&mut self, at: Timestamp, rows: &[Row], _out: &mut Outbox) {
        if self.rows {
            self.send(Message::Rows(at, rows.to_vec()));
        }
    }

    fn tick(&mut self, _table: &FlowTable, tick: &Tick, _cx: &Context<'_>) -> std::io::Result<()> {
        self.send(Message::Tick(*tick));
        Ok(())
    }

    fn finish(
        &mut self,
        _table: &mut FlowTable,
        _end: &Ending,
        _cx: &Context<'_>,
        out: &mut Outbox,
    ) -> anyhow::Result<()> {
        self.close();
        let n = self.dropped();
        if n > 0 {
            out.note(format!(
                "{}: {n} event(s) dropped while it was behind",
                self.name
            ));
        }
        match self.closed.take() {
            Some(Err(e)) => Err(anyhow::anyhow!(e)),
            _ => Ok(()),
        }
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        self.close();
    }
}
