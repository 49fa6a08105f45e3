//! The alert budget of one output: at most so many alerts a minute (of
//! alert time) are shown, the rest are counted and said when the minute
//! ends. Roll-ups are always shown (they are what stands for the storm)
//! and count toward the minute.

use wirewatch_units::thousands;
use wirewatch_wire::Timestamp;

use crate::alert::Alert;

/// A budget window.
const MINUTE_NANOS: i64 = 60_000_000_000;

/// At most `per_minute` alerts a minute for one output.
#[derive(Debug)]
pub struct Budget {
    per_minute: u64,
    /// Start of the current window (the first alert's time in it).
    start: Option<Timestamp>,
    shown: u64,
    held: u64,
    held_total: u64,
}

impl Budget {
    /// `per_minute` alerts a minute; 0 means no limit.
    pub fn new(per_minute: u32) -> Budget {
        Budget {
            per_minute: u64::from(per_minute),
            start: None,
            shown: 0,
            held: 0,
            held_total: 0,
        }
    }

    /// Whether `a` is shown. A window that ended with alerts held back
    /// leaves its note in `notes`.
    pub fn admit(&mut self, a: &Alert, notes: &mut Vec<String>) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        self.advance(a.time, notes);
        if self.start.is_none() {
            self.start = Some(a.time);
        }
        if self.shown < self.per_minute || a.is_rollup() {
            self.shown += 1;
            true
        } else {
            self.held += 1;
            self.held_total += 1;
            false
        }
    }

    /// The clock moved to `now`: a window that ended says what it held
    /// back into `notes`.
    pub fn advance(&mut self, now: Timestamp, notes: &mut Vec<String>) {
        let Some(start) = self.start else { return };
        if now.nanos_since(start) >= MINUTE_NANOS {
            self.close(notes);
        }
    }

    /// The end of the run: the last window's note, if it held any back.
    pub fn finish(&mut self, notes: &mut Vec<String>) {
        self.close(notes);
    }

    fn close(&mut self, notes: &mut Vec<String>) {
        if self.held > 0 {
            let start = self.start.map_or_else(String::new, |s| s.to_rfc3339());
            notes.push(format!(
                "{} more alert(s) held back in the minute from {start} (budget: {} a minute)",
                thousands(self.held),
                self.per_minute
            ));
        }
        self.start = None;
        self.shown = 0;
        self.held = 0;
    }

    /// Alerts held back over the whole run.
    pub fn held_total(&self) -> u64 {
        self.held_total
    }

    /// The budget a minute (0: none).
    pub fn per_minute(&self) -> u64 {
        self.per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Entity, Evidence, Kind, Severity};

    fn alert(secs: i64, many: bool) -> Alert {
        Alert {
            time: Timestamp::from_secs(secs),
            kind: Kind::VerticalScan,
            severity: Severity::Low,
            entity: if many {
                Entity::Many {
                    members: 9,
                    noun: "sources".into(),
                    target: None,
                }
            } else {
                Entity::Host {
                    addr: "10.0.0.1".parse().unwrap(),
                }
            },
            summary: String::new(),
            evidence: Evidence::default(),
            action: String::new(),
            detector: "vertical_scan".into(),
            suppressed: 0,
        }
    }

    #[test]
    fn past_the_budget_alerts_are_held_and_said_when_the_minute_ends() {
        let mut b = Budget::new(3);
        let mut notes = Vec::new();
        let shown: Vec<bool> = (0..6)
            .map(|i| b.admit(&alert(i, false), &mut notes))
            .collect();
        assert_eq!(shown, [true, true, true, false, false, false]);
        // A roll-up is shown past the budget.
        assert!(b.admit(&alert(7, true), &mut notes));
        assert!(notes.is_empty());
        b.advance(Timestamp::from_secs(59), &mut notes);
        assert!(notes.is_empty());
        b.advance(Timestamp::from_secs(60), &mut notes);
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0]
                .starts_with("3 more alert(s) held back in the minute from 1970-01-01T00:00:00"),
            "{notes:?}"
        );
        // A new minute starts with a full budget.
        assert!(b.admit(&alert(61, false), &mut notes));
        b.finish(&mut notes);
        assert_eq!((notes.len(), b.held_total()), (1, 3));
    }

    #[test]
    fn zero_means_no_budget() {
        let mut b = Budget::new(0);
        let mut notes = Vec::new();
        assert!((0..100).all(|i| b.admit(&alert(i / 10, false), &mut notes)));
        b.finish(&mut notes);
        assert!(notes.is_empty() && b.held_total() == 0);
    }
}
