//! Differential test against tshark: every capture in `../shared/corpus` is
//! read and its per-IP-conversation packets and frame bytes, each direction,
//! are compared with tshark's table (`*.oracle.tsv`).
//!
//! Wireshark counts a frame once for every IP header it carries, so the
//! comparison accounts every layer (`LayerMode::All`). Files whose difference
//! is understood are listed with the reason in
//! `tests/corpus-known-differences.tsv`; the test fails on any other
//! difference, on a listed file that now matches (so the list stays true),
//! and on any panic. Skipped with a message when the corpus is absent.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use wirewatch_flow::{ByteMode, FlowConfig, FlowTable, LayerMode, Snapshot, SortKey, View};
use wirewatch_pipeline::account_all;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            if !(n.ends_with(".oracle.tsv")
                || n == "MANIFEST.tsv"
                || n == "filters.tsv"
                || n == "README.md")
            {
                out.push(p);
            }
        }
    }
}

/// `(family, a, b)` with a < b textually → `[pk a→b, bytes a→b, pk b→a, bytes b→a]`.
type Table = BTreeMap<(String, String, String), [u64; 4]>;

fn ours(path: &Path) -> Result<Table, String> {
    let reader = wirewatch_capture::open(path).map_err(|e| e.to_string())?;
    let cfg = FlowConfig {
        bytes: ByteMode::Frame,
        layers: LayerMode::All,
        ..FlowConfig::default()
    };
    let (table, _) = account_all(reader, FlowTable::new(cfg));
    let snap = Snapshot::build(
        &table,
        View::Pair,
        SortKey::Total,
        table.slot_of(table.now()),
        false,
    );
    let mut t = Table::new();
    for e in &snap.entries {
        let (s, d) = (
            e.key.src.unwrap().to_string(),
            e.key.dst.unwrap().to_string(),
        );
        let fam = e.key.family().to_string();
        let (fwd, rev) = (
            [e.sent.counters.packets, e.sent.bytes],
            [e.recv.counters.packets, e.recv.bytes],
        );
        // tshark files every packet of a host talking to itself under A→B.
        let (fwd, rev) = if s == d {
            ([fwd[0] + rev[0], fwd[1] + rev[1]], [0, 0])
        } else {
            (fwd, rev)
        };
        let (k, v) = if s <= d {
            ((fam, s, d), [fwd[0], fwd[1], rev[0], rev[1]])
        } else {
            ((fam, d, s), [rev[0], rev[1], fwd[0], fwd[1]])
        };
        let slot = t.entry(k).or_default();
        for i in 0..4 {
            slot[i] += v[i];
        }
    }
    Ok(t)
}

fn oracle(path: &Path) -> Option<Table> {
    let text = fs::read_to_string(path).ok()?;
    let mut t = Table::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let c: Vec<&str> = line.split('\t').collect();
        let n = |i: usize| c[i].parse::<u64>().unwrap();
        t.insert(
            (c[0].into(), c[1].into(), c[2].into()),
            [n(3), n(4), n(5), n(6)],
        );
    }
    Some(t)
}

fn known_differences() -> BTreeMap<String, String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus-known-differences.tsv");
    let text = fs::read_to_string(p).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (f, why) = l.split_once('\t').unwrap_or((l, ""));
            (f.to_string(), why.to_string())
        })
        .collect()
}

fn describe(ours: &Table, theirs: &Table) -> String {
    let keys: BTreeSet<_> = ours.keys().chain(theirs.keys()).collect();
    let mut out = Vec::new();
    for k in keys {
        let (a, b) = (ours.get(k), theirs.get(k));
        if a != b {
            out.push(format!(
                "{} {} {}: ours {:?} tshark {:?}",
                k.0, k.1, k.2, a, b
            ));
        }
    }
    let n = out.len();
    out.truncate(3);
    format!("{n} rows differ; {}", out.join("; "))
}

#[test]
fn corpus_matches_tshark_conversations() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("corpus"));
    let mut files = Vec::new();
    walk(&dir, &mut files);
    files.sort();
    let known = known_differences();
    let (mut compared, mut matched, mut no_oracle) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut stale = Vec::new();
    let mut report = String::new();
    for f in &files {
        let rel = f.strip_prefix(&dir).unwrap().to_string_lossy().to_string();
        let res = std::panic::catch_unwind(|| ours(f));
        let ours = match res {
            Err(_) => {
                failures.push(format!("{rel}: PANIC"));
                continue;
            }
            Ok(Err(e)) => {
                // Unreadable as a whole: fine only when tshark could not read it either.
                if oracle(&PathBuf::from(format!("{}.oracle.tsv", f.display()))).is_some()
                    && !known.contains_key(&rel)
                {
                    failures.push(format!("{rel}: we cannot open it ({e}) but tshark can"));
                }
                no_oracle += 1;
                continue;
            }
            Ok(Ok(t)) => t,
        };
        let Some(theirs) = oracle(&PathBuf::from(format!("{}.oracle.tsv", f.display()))) else {
            no_oracle += 1;
            continue;
        };
        compared += 1;
        let same = ours == theirs;
        if same {
            matched += 1;
            if known.contains_key(&rel) {
                stale.push(rel.clone());
            }
        } else {
            let d = describe(&ours, &theirs);
            report.push_str(&format!("{rel}\t{d}\n"));
            if !known.contains_key(&rel) {
                failures.push(format!("{rel}: {d}"));
            }
        }
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corpus-differences.tsv");
    let _ = fs::write(&out, &report);
    println!(
        "corpus: {} files, {compared} compared with tshark, {matched} match exactly, {} differ ({} known), {no_oracle} without oracle; details in {}",
        files.len(),
        compared - matched,
        compared - matched - failures.iter().filter(|f| !f.contains("PANIC")).count().min(compared - matched),
        out.display()
    );
    assert!(
        stale.is_empty(),
        "listed as known differences but now match (remove them): {stale:?}"
    );
    assert!(
        failures.is_empty(),
        "{} unexplained differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
