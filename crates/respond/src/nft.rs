//! Blocks in nftables: a table of our own, `inet <table>` (default
//! `wirewatch`), driven through the `nft` binary's JSON interface.
//!
//! The table holds the sets `block_v4`/`block_v6` (blocked sources,
//! addresses and prefixes: flags `timeout, interval`), `dst_v4`/`dst_v6`
//! (blocked destination addresses) and `dstport_v4`/`dstport_v6` (blocked
//! destination address . TCP/UDP port), all with per-element timeouts so
//! the kernel expires a block even when wirewatch is gone, and
//! `allow_v4`/`allow_v6` (flags `interval`), checked before any block.
//! Chains at priority −10: `input` (sources), `output` (destinations) and,
//! with `forward`, `forward` (both). Every drop rule has a counter.
//!
//! Each operation is one or two `nft` runs: a listing (`nft -j list
//! table`) to count and check, and one transaction (`nft -j -f -`), which
//! the kernel applies whole or not at all.

mod json;
mod run;

/// `nft -j list table …` output as the backend reads it: the blocks it
/// finds (for the fuzz target; an error is one line, never a panic).
pub fn parse_listing(json: &str) -> Result<Vec<Target>, NftError> {
    json::parse_listing(json).map(|l| l.blocks().map(|b| b.target.clone()).collect())
}

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use nftables::schema::NfCmd;

use crate::{IpNet, Target};
use json::{Listed, Listing, SetKind};

/// How the table is set up and where `nft` is.
#[derive(Clone, Debug)]
pub struct NftConfig {
    /// The table's name (family `inet`).
    pub table: String,
    /// Also a forward chain (routers, container hosts).
    pub forward: bool,
    /// The most elements the block and destination sets may hold together.
    pub max_elements: usize,
    /// Never blocked: accepted before any block rule.
    pub allow: Vec<IpNet>,
    /// The `nft` program (a name is looked up on `PATH`).
    pub nft: PathBuf,
    /// A command `nft` runs under, program and arguments (`ip netns exec
    /// NAME`); empty to run `nft` itself.
    pub wrapper: Vec<String>,
    /// How long one `nft` run may take before it is killed.
    pub timeout: Duration,
}

impl Default for NftConfig {
    fn default() -> Self {
        NftConfig {
            table: "wirewatch".into(),
            forward: false,
            max_elements: 10_000,
            allow: Vec::new(),
            nft: "nft".into(),
            wrapper: Vec::new(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// What went wrong with nftables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NftError {
    /// The `nft` binary or nf_tables in the kernel is not available.
    #[error("nftables unavailable: {0}")]
    Missing(String),
    /// The block would take the sets past their cap.
    #[error("refused: the block sets would exceed their cap of {max} elements")]
    Cap {
        /// The cap ([`NftConfig::max_elements`]).
        max: usize,
    },
    /// A source block overlaps a different block already there or in the
    /// same batch (nft refuses overlapping intervals).
    #[error("refused: {target} overlaps the block {existing}")]
    Overlap {
        /// The new block.
        target: Target,
        /// The one it overlaps.
        existing: Target,
    },
    /// `nft` failed; its own message.
    #[error("nft failed: {0}")]
    Failed(String),
    /// `nft` did not finish in time and was killed.
    #[error("nft did not finish within {0:?} and was killed")]
    Timeout(Duration),
    /// `nft`'s JSON could not be understood.
    #[error("unexpected nft output: {0}")]
    Parse(String),
}

/// A block in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// What is blocked.
    pub target: Target,
    /// The time left before the kernel removes it (whole seconds, as nft
    /// reports them); `None` for an element without timeout (added by hand).
    pub expires: Option<Duration>,
}

/// What the drop rules have counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets dropped for their source.
    pub source_packets: u64,
    /// Bytes dropped for their source.
    pub source_bytes: u64,
    /// Packets dropped for their destination.
    pub destination_packets: u64,
    /// Bytes dropped for their destination.
    pub destination_bytes: u64,
}

/// Our nftables table.
#[derive(Debug)]
pub struct Nft {
    cfg: NftConfig,
    runner: run::Runner,
}

impl Nft {
    /// Checks that `nft` runs and nf_tables works, and brings the table to
    /// its shape: creates what is missing, replaces the chains and any set
    /// of the wrong type, keeps the blocks already in it (with their
    /// remaining time) and reloads the allow sets from `cfg.allow`.
    pub fn open(cfg: NftConfig) -> Result<Nft, NftError> {
        let runner = run::Runner {
            wrapper: cfg.wrapper.clone(),
            program: cfg.nft.clone(),
            timeout: cfg.timeout,
        };
        let nft = Nft { cfg, runner };
        let now = nft.listing_if_any()?;
        let cmds = json::setup(&nft.cfg.table, nft.cfg.forward, &nft.cfg.allow, &now);
        nft.apply(cmds)?;
        Ok(nft)
    }

    /// The table as it is, without creating or changing it; `None` when
    /// it does not exist (nothing was ever blocked here, or it was removed).
    pub fn existing(cfg: NftConfig) -> Result<Option<Nft>, NftError> {
        let runner = run::Runner {
            wrapper: cfg.wrapper.clone(),
            program: cfg.nft.clone(),
            timeout: cfg.timeout,
        };
        let nft = Nft { cfg, runner };
        match nft.listing() {
            Ok(_) => Ok(Some(nft)),
            Err(NftError::Failed(m)) if is_absent(&m) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Blocks each target for its duration (rounded up to whole seconds),
    /// in one transaction. A target already blocked keeps the longer of its
    /// remaining time and the new duration (one without timeout, added by
    /// hand, is left alone). Refused, with nothing changed,
    /// when the new elements would take the sets past the cap
    /// ([`NftError::Cap`]) or a source overlaps another block
    /// ([`NftError::Overlap`]).
    pub fn block(&mut self, items: &[(Target, Duration)]) -> Result<(), NftError> {
        if items.is_empty() {
            return Ok(());
        }
        let now = self.listing()?;
        let wanted = merge(items);
        check_overlaps(&wanted, &now)?;
        let present: BTreeMap<&Target, Option<u32>> =
            now.blocks().map(|l| (&l.target, l.expires)).collect();
        let new = wanted.keys().filter(|t| !present.contains_key(t)).count();
        if present.len() + new > self.cfg.max_elements {
            return Err(NftError::Cap {
                max: self.cfg.max_elements,
            });
        }
        let changes = plan(wanted, &present);
        if changes.is_empty() {
            return Ok(());
        }
        self.apply(block_commands(&self.cfg.table, &changes))
    }

    /// Removes a block; `false` when it was not there.
    pub fn unblock(&mut self, t: &Target) -> Result<bool, NftError> {
        let del = NfCmd::Delete(json::element(
            &self.cfg.table,
            SetKind::of(t),
            vec![json::value(t)],
        ));
        match self.apply(vec![del]) {
            Ok(()) => Ok(true),
            Err(NftError::Failed(m)) if is_absent(&m) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Empties the block and destination sets (not the allow sets): the
    /// kill switch. Returns how many elements were removed (as listed just
    /// before; one that expired in between is counted too).
    pub fn flush(&mut self) -> Result<usize, NftError> {
        let n = self.listing()?.blocks().count();
        let table = &self.cfg.table;
        let cmds = json::BLOCK_SETS
            .into_iter()
            .map(|k| json::flush_set(table, k))
            .collect();
        self.apply(cmds)?;
        Ok(n)
    }

    /// The blocks in place, with their remaining time.
    pub fn list(&mut self) -> Result<Vec<Element>, NftError> {
        Ok(self.listing()?.blocks().map(element).collect())
    }

    /// Packets and bytes the drop rules have counted.
    pub fn counters(&mut self) -> Result<Counters, NftError> {
        Ok(counters(&self.listing()?))
    }

    /// Deletes the table, blocks, allow sets and counters included.
    pub fn remove(self) -> Result<(), NftError> {
        self.apply(vec![json::delete_table(&self.cfg.table)])
    }

    /// The table's listing; an error when it is not there.
    fn listing(&self) -> Result<Listing, NftError> {
        let out = self
            .runner
            .run(&["list", "table", "inet", &self.cfg.table], None)?;
        json::parse_listing(&out)
    }

    /// The listing, empty when the table does not exist yet.
    fn listing_if_any(&self) -> Result<Listing, NftError> {
        match self.listing() {
            Err(NftError::Failed(m)) if is_absent(&m) => Ok(Listing::default()),
            other => other,
        }
    }

    /// Runs `cmds` as one transaction.
    fn apply(&self, cmds: Vec<NfCmd<'static>>) -> Result<(), NftError> {
        let input = json::batch(cmds);
        self.runner.run(&["-f", "-"], Some(&input)).map(drop)
    }
}

/// Whether nft's message says the table or element is not there.
fn is_absent(message: &str) -> bool {
    ["No such file or directory", "does not exist"]
        .iter()
        .any(|m| message.contains(m))
}

/// The targets of a batch, each once, with the longest of its durations
/// in whole seconds (at least 1).
fn merge(items: &[(Target, Duration)]) -> BTreeMap<Target, u32> {
    let mut out = BTreeMap::new();
    for (t, d) in items {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        let secs = u32::try_from(secs.max(1)).unwrap_or(u32::MAX);
        let e = out.entry(t.clone()).or_insert(secs);
        *e = (*e).max(secs);
    }
    out
}

/// What a block has to change: new targets, and those already there with
/// less time left than wanted; not those blocked at least as long already,
/// or for good (added by hand without timeout).
fn plan(wanted: BTreeMap<Target, u32>, present: &BTreeMap<&Target, Option<u32>>) -> Vec<Change> {
    let change = |target, secs, existing| Change {
        target,
        secs,
        existing,
    };
    wanted
        .into_iter()
        .filter_map(|(t, secs)| match present.get(&t) {
            None => Some(change(t, secs, false)),
            Some(Some(left)) if *left < secs => Some(change(t, secs, true)),
            Some(_) => None,
        })
        .collect()
}

/// [`NftError::Overlap`] for the first source that overlaps a different
/// source already blocked or in the batch.
fn check_overlaps(wanted: &BTreeMap<Target, u32>, now: &Listing) -> Result<(), NftError> {
    let nets = |t: &Target| match t {
        Target::Source(n) => Some(*n),
        Target::Destination { .. } => None,
    };
    let existing = now.blocks().filter_map(|l| nets(&l.target));
    let mut seen: Vec<IpNet> = existing.collect();
    for n in wanted.keys().filter_map(nets) {
        if let Some(o) = seen.iter().find(|o| **o != n && overlap(o, &n)) {
            return Err(NftError::Overlap {
                target: Target::Source(n),
                existing: Target::Source(*o),
            });
        }
        seen.push(n);
    }
    Ok(())
}

fn overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b.addr()) || b.contains(a.addr())
}

/// One element to add: new, or `existing` with less time left than `secs`.
#[derive(Clone, Debug)]
struct Change {
    target: Target,
    secs: u32,
    existing: bool,
}

/// Per set: the existing elements to extend are added (recreated if they
/// expired since the listing), deleted, and added again with their new
/// timeout, which older kernels do not update on a plain `add`; new
/// elements are only added. All in one transaction. (Deleting from an
/// interval set is slow in nft, about 10 ms per element among 10,000:
/// only extensions pay for it; docs/RESPONSE.md.)
fn block_commands(table: &str, changes: &[Change]) -> Vec<NfCmd<'static>> {
    let mut by_set: BTreeMap<&'static str, (SetKind, Vec<&Change>)> = BTreeMap::new();
    for c in changes {
        let kind = SetKind::of(&c.target);
        by_set
            .entry(kind.name())
            .or_insert((kind, Vec::new()))
            .1
            .push(c);
    }
    let mut cmds = Vec::new();
    for (kind, items) in by_set.into_values() {
        let timed = |cs: &[&Change]| -> Vec<_> {
            cs.iter().map(|c| json::timed(&c.target, c.secs)).collect()
        };
        let extend: Vec<&Change> = items.iter().copied().filter(|c| c.existing).collect();
        if !extend.is_empty() {
            let bare = extend.iter().map(|c| json::value(&c.target)).collect();
            cmds.push(NfCmd::Add(json::element(table, kind, timed(&extend))));
            cmds.push(NfCmd::Delete(json::element(table, kind, bare)));
        }
        cmds.push(NfCmd::Add(json::element(table, kind, timed(&items))));
    }
    cmds
}

fn element(l: &Listed) -> Element {
    Element {
        target: l.target.clone(),
        expires: l.expires.map(|s| Duration::from_secs(s.into())),
    }
}

fn counters(l: &Listing) -> Counters {
    let mut c = Counters::default();
    for (comment, packets, bytes) in &l.counters {
        let (p, b) = match comment.as_str() {
            json::SOURCE_DROP => (&mut c.source_packets, &mut c.source_bytes),
            json::DESTINATION_DROP => (&mut c.destination_packets, &mut c.destination_bytes),
            _ => continue,
        };
        *p += packets;
        *b += bytes;
    }
    c
}

impl crate::responder::Firewall for Nft {
    fn block(&mut self, items: &[(Target, Duration)]) -> Result<(), String> {
        Nft::block(self, items).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Target {
        Target::Source(s.parse().unwrap())
    }

    #[test]
    fn a_batch_names_each_target_once_with_its_longest_duration_in_whole_seconds() {
        let m = merge(&[
            (net("192.0.2.1"), Duration::from_millis(1500)),
            (net("192.0.2.1"), Duration::from_secs(1)),
            (net("192.0.2.2"), Duration::ZERO),
            (net("192.0.2.3"), Duration::from_secs(u64::MAX)),
        ]);
        let got: Vec<_> = m.into_iter().collect();
        assert_eq!(
            got,
            [
                (net("192.0.2.1"), 2),
                (net("192.0.2.2"), 1),
                (net("192.0.2.3"), u32::MAX)
            ]
        );
    }

    fn listing_with(kind: SetKind, targets: &[Target]) -> Listing {
        let listed = targets
            .iter()
            .map(|t| Listed {
                target: t.clone(),
                expires: Some(10),
            })
            .collect();
        Listing {
            sets: vec![(kind, listed)],
            ..Listing::default()
        }
    }

    #[test]
    fn overlapping_sources_are_refused_equal_ones_and_destinations_are_not() {
        let now = listing_with(SetKind::Block4, &[net("10.0.0.0/24")]);
        let wanted = |ts: &[&str]| ts.iter().map(|t| (net(t), 5)).collect::<BTreeMap<_, _>>();
        assert!(check_overlaps(&wanted(&["10.0.0.0/24", "10.0.1.0/24"]), &now).is_ok());
        assert_eq!(
            check_overlaps(&wanted(&["10.0.0.9"]), &now),
            Err(NftError::Overlap {
                target: net("10.0.0.9"),
                existing: net("10.0.0.0/24")
            })
        );
        assert!(check_overlaps(&wanted(&["10.0.0.0/16"]), &now).is_err());
        // Within the batch, and across families never.
        let empty = Listing::default();
        assert!(check_overlaps(&wanted(&["192.0.2.0/24", "192.0.2.7"]), &empty).is_err());
        assert!(check_overlaps(&wanted(&["0.0.0.0/0", "::/0"]), &empty).is_ok());
        let dst: BTreeMap<_, _> = [(
            Target::Destination {
                addr: "10.0.0.1".parse().unwrap(),
                port: None,
            },
            5,
        )]
        .into();
        assert!(check_overlaps(&dst, &now).is_ok());
    }

    #[test]
    fn new_elements_are_added_and_extended_ones_deleted_and_added_again() {
        let change = |t: &str, secs, existing| Change {
            target: net(t),
            secs,
            existing,
        };
        let cmds = block_commands(
            "ww",
            &[
                change("192.0.2.1", 60, true),
                change("2001:db8::/32", 30, false),
                change("192.0.2.2", 9, false),
            ],
        );
        let doc: serde_json::Value = serde_json::from_str(&json::batch(cmds)).unwrap();
        let verbs: Vec<String> = doc["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let (verb, obj) = c.as_object().unwrap().iter().next().unwrap();
                format!(
                    "{verb} {} {}",
                    obj["element"]["name"], obj["element"]["elem"]
                )
            })
            .collect();
        let e1 = r#"{"elem":{"comment":null,"counter":null,"expires":null,"timeout":60,"val":"192.0.2.1"}}"#;
        let e2 = r#"{"elem":{"comment":null,"counter":null,"expires":null,"timeout":9,"val":"192.0.2.2"}}"#;
        let v6 = r#"[{"elem":{"comment":null,"counter":null,"expires":null,"timeout":30,"val":{"prefix":{"addr":"2001:db8::","len":32}}}}]"#;
        assert_eq!(
            verbs,
            [
                format!("add \"block_v4\" [{e1}]"),
                "delete \"block_v4\" [\"192.0.2.1\"]".to_string(),
                format!("add \"block_v4\" [{e1},{e2}]"),
                format!("add \"block_v6\" {v6}"),
            ]
        );
    }

    #[test]
    fn a_block_changes_only_what_is_new_or_would_last_longer() {
        let (a, b, c, d) = (
            net("192.0.2.1"),
            net("192.0.2.2"),
            net("192.0.2.3"),
            net("192.0.2.4"),
        );
        let present: BTreeMap<&Target, Option<u32>> =
            [(&a, Some(100)), (&b, Some(5)), (&c, None)].into();
        let wanted = [
            (a.clone(), 50),
            (b.clone(), 60),
            (c.clone(), 60),
            (d.clone(), 7),
        ]
        .into();
        let got: Vec<_> = plan(wanted, &present)
            .into_iter()
            .map(|ch| (ch.target, ch.secs, ch.existing))
            .collect();
        assert_eq!(got, [(b, 60, true), (d, 7, false)]);
    }

    #[test]
    fn counters_add_up_the_rules_by_their_comment() {
        let l = Listing {
            counters: vec![
                (json::SOURCE_DROP.into(), 3, 180),
                (json::SOURCE_DROP.into(), 1, 60),
                (json::DESTINATION_DROP.into(), 2, 120),
                ("someone else's".into(), 100, 100),
            ],
            ..Listing::default()
        };
        assert_eq!(
            counters(&l),
            Counters {
                source_packets: 4,
                source_bytes: 240,
                destination_packets: 2,
                destination_bytes: 120
            }
        );
    }
}
