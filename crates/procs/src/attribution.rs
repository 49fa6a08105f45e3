//! Scanning on a background thread, publishing each complete table.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, TryLockError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::scan::{ScanStats, Scanner};
use crate::table::SocketTable;

/// No table published yet.
const NONE: usize = usize::MAX;

/// The newest table in one of two slots. The writer fills the slot that is
/// not current and then flips `current`, so a reader that takes the
/// current slot with `try_lock` only ever meets the writer there after the
/// writer has published again, and then finds the other slot free: readers
/// never wait on a lock.
struct Published {
    slots: [Mutex<Option<Arc<SocketTable>>>; 2],
    current: AtomicUsize,
    scans: AtomicU64,
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
    last_stats: Mutex<Option<ScanStats>>,
}

impl Published {
    /// Nothing published yet.
    fn new() -> Published {
        Published {
            slots: [Mutex::new(None), Mutex::new(None)],
            current: AtomicUsize::new(NONE),
            scans: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            last_error: Mutex::new(None),
            last_stats: Mutex::new(None),
        }
    }
}

impl Published {
    fn publish(&self, table: SocketTable) {
        let cur = self.current.load(Ordering::Acquire);
        let next = if cur == 0 { 1 } else { 0 };
        let old = {
            let mut slot = self.slots[next]
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            slot.replace(Arc::new(table))
        };
        self.current.store(next, Ordering::Release);
        self.scans.fetch_add(1, Ordering::Release);
        // The old table (if no reader holds it) is freed outside the lock.
        drop(old);
    }

    fn latest(&self) -> Option<Arc<SocketTable>> {
        // Each retry means the writer published in between; more than a
        // few in a row cannot happen at any sane period.
        for _ in 0..4 {
            let cur = self.current.load(Ordering::Acquire);
            if cur == NONE {
                return None;
            }
            if let Some(t) = Self::try_read(&self.slots[cur]) {
                return t;
            }
            // Busy: `cur` is out of date (the writer only fills the slot
            // that is not current). The other slot has a complete table.
            if let Some(Some(t)) = Self::try_read(&self.slots[1 - cur]) {
                return Some(t);
            }
            std::hint::spin_loop();
        }
        None
    }

    /// The slot's table, or `None` when the slot is locked.
    fn try_read(slot: &Mutex<Option<Arc<SocketTable>>>) -> Option<Option<Arc<SocketTable>>> {
        match slot.try_lock() {
            Ok(slot) => Some(slot.clone()),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner().clone()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

/// Background attribution: a thread runs [`Scanner::scan`] every
/// `period`; the capture loop asks for the latest table without ever
/// blocking. Dropping it stops the thread (waiting for a scan in progress).
pub struct Attribution {
    shared: Arc<Published>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Attribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attribution")
            .field("scans", &self.scans())
            .field("errors", &self.errors())
            .finish_non_exhaustive()
    }
}

impl Attribution {
    /// Opens the netlink socket (so an error shows here) and starts the
    /// thread; the first scan starts at once, later ones `period` after the
    /// previous one ended.
    pub fn spawn(period: Duration) -> io::Result<Attribution> {
        if period.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "attribution period must be above zero",
            ));
        }
        let mut scanner = Scanner::new();
        scanner.open()?;
        let shared = Arc::new(Published::new());
        let (stop, stopped) = mpsc::channel::<()>();
        let sh = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("wirewatch-procs".into())
            .spawn(move || loop {
                match scanner.scan() {
                    Ok(table) => {
                        *sh.last_stats.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(scanner.last_stats().clone());
                        sh.publish(table);
                    }
                    Err(e) => {
                        *sh.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(e.to_string());
                        sh.errors.fetch_add(1, Ordering::Release);
                    }
                }
                match stopped.recv_timeout(period) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            })?;
        Ok(Attribution {
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The newest complete scan; `None` before the first one. Never blocks.
    pub fn latest(&self) -> Option<Arc<SocketTable>> {
        self.shared.latest()
    }

    /// Scans completed.
    pub fn scans(&self) -> u64 {
        self.shared.scans.load(Ordering::Acquire)
    }

    /// Scans that failed (the previous table stays the latest).
    pub fn errors(&self) -> u64 {
        self.shared.errors.load(Ordering::Acquire)
    }

    /// The last failure's message, for a log line.
    pub fn last_error(&self) -> Option<String> {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What the last successful scan did.
    pub fn last_stats(&self) -> Option<ScanStats> {
        self.shared
            .last_stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for Attribution {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::TableBuilder;

    fn shared() -> Published {
        Published::new()
    }

    #[test]
    fn readers_see_the_newest_table() {
        let p = shared();
        assert!(p.latest().is_none());
        p.publish(TableBuilder::new(1).finish());
        assert_eq!(p.latest().unwrap().netns(), 1);
        p.publish(TableBuilder::new(2).finish());
        let held = p.latest().unwrap();
        assert_eq!(held.netns(), 2);
        p.publish(TableBuilder::new(3).finish());
        assert_eq!(p.latest().unwrap().netns(), 3);
        // A reader's Arc outlives later publications.
        assert_eq!(held.netns(), 2);
        assert_eq!(p.scans.load(Ordering::Acquire), 3);
    }

    #[test]
    fn a_locked_current_slot_sends_the_reader_to_the_newer_one() {
        let p = shared();
        p.publish(TableBuilder::new(1).finish()); // slot 0
        p.publish(TableBuilder::new(2).finish()); // slot 1
                                                  // The writer is busy refilling slot 0 (not current): readers go on.
        let busy = p.slots[0].lock().unwrap();
        assert_eq!(p.latest().unwrap().netns(), 2);
        drop(busy);
        // The current slot locked: readers do not wait but take the
        // previous complete table.
        let busy = p.slots[1].lock().unwrap();
        assert_eq!(p.latest().unwrap().netns(), 1);
        // Both locked: nothing, still without waiting.
        let busy1 = p.slots[0].lock().unwrap();
        assert!(p.latest().is_none());
        drop((busy, busy1));
    }

    #[test]
    fn zero_period_is_refused() {
        assert_eq!(
            Attribution::spawn(Duration::ZERO).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
