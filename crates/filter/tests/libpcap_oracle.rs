//! Differential test against libpcap: `shared/corpus/filters.tsv` records how
//! many packets `tcpdump -r FILE -w - EXPR` kept for 260 captures and 45
//! expressions each, or `error` where libpcap refused the expression. Every
//! row must agree: same count, or a compile error where libpcap had one.
//! Rows listed in `libpcap-known-differences.tsv` must still differ.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use wirewatch_filter::{compile, CompileOptions};

struct Frame {
    data: Vec<u8>,
    wire_len: u32,
}

/// Reads every frame up to the first read error, like tcpdump does.
fn read_frames(path: &Path) -> Option<(u32, Vec<Frame>)> {
    let mut r = wirewatch_capture::open(path).ok()?;
    let mut frames = Vec::new();
    let mut link_type = None;
    while let Ok(Some(f)) = r.next_frame() {
        link_type.get_or_insert(f.link_type);
        frames.push(Frame {
            data: f.data.to_vec(),
            wire_len: f.wire_len,
        });
    }
    let lt = link_type.or_else(|| r.link_types().first().copied())?;
    Some((lt, frames))
}

#[test]
fn libpcap_oracle() {
    let dir = wirewatch_testkit::require!(wirewatch_testkit::shared("corpus"));
    let tsv = dir.join("filters.tsv");
    let text = match std::fs::read_to_string(&tsv) {
        Ok(t) => t,
        Err(e) => wirewatch_testkit::skip!("the corpus has no {}: {e}", tsv.display()),
    };
    let known_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/libpcap-known-differences.tsv");
    let mut known: BTreeSet<(String, String)> = BTreeSet::new();
    if let Ok(k) = std::fs::read_to_string(&known_path) {
        for line in k
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let mut cols = line.split('\t');
            let (Some(f), Some(e), Some(_reason)) = (cols.next(), cols.next(), cols.next()) else {
                panic!("bad line in {}: {line:?}", known_path.display());
            };
            known.insert((f.to_string(), e.to_string()));
        }
    }

    // file -> rows in order.
    let mut by_file: BTreeMap<String, Vec<(String, Option<u64>)>> = BTreeMap::new();
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 3, "bad row {line:?}");
        let count = match cols[2] {
            "error" => None,
            n => Some(
                n.parse::<u64>()
                    .unwrap_or_else(|_| panic!("bad count in {line:?}")),
            ),
        };
        by_file
            .entry(cols[0].to_string())
            .or_default()
            .push((cols[1].to_string(), count));
    }

    let start = Instant::now();
    let mut rows = 0usize;
    let mut matched_counts = 0usize;
    let mut matched_errors = 0usize;
    let mut known_seen = 0usize;
    let mut unreadable = Vec::new();
    let mut mismatches = Vec::new();
    let mut stale = Vec::new();
    for (file, exprs) in &by_file {
        if exprs.iter().all(|(_, c)| c.is_none()) {
            unreadable.push(file.clone());
            continue;
        }
        let Some((link_type, frames)) = read_frames(&dir.join(file)) else {
            panic!("{file}: libpcap read it but wirewatch-capture cannot");
        };
        let opts = CompileOptions {
            link_type,
            snaplen: 262_144,
            linux_vlan_extensions: false,
        };
        for (expr, want) in exprs {
            rows += 1;
            let got = compile(expr, &opts).map(|p| {
                frames
                    .iter()
                    .filter(|f| p.matches(&f.data, f.wire_len))
                    .count() as u64
            });
            let ours = match &got {
                Ok(n) => n.to_string(),
                Err(e) => format!("error ({e})"),
            };
            let theirs = want.map_or("error".to_string(), |n| n.to_string());
            let agree = match (&got, want) {
                (Ok(n), Some(w)) => n == w,
                (Err(_), None) => true,
                _ => false,
            };
            let is_known = known.contains(&(file.clone(), expr.clone()));
            match (agree, is_known) {
                (true, false) => {
                    if want.is_some() {
                        matched_counts += 1;
                    } else {
                        matched_errors += 1;
                    }
                }
                (true, true) => stale.push(format!("{file}\t{expr}\tnow agrees: {ours}")),
                (false, true) => known_seen += 1,
                (false, false) => {
                    mismatches.push(format!("{file}\t{expr}\tours {ours}\tlibpcap {theirs}"))
                }
            }
        }
    }
    println!(
        "libpcap oracle: {} rows compared: {} counts equal, {} errors where libpcap errs, {} known differences, {} mismatches; {} files skipped as unreadable by tcpdump ({}); {:.1?}",
        rows,
        matched_counts,
        matched_errors,
        known_seen,
        mismatches.len(),
        unreadable.len(),
        unreadable.join(", "),
        start.elapsed()
    );
    for m in &mismatches {
        println!("MISMATCH {m}");
    }
    for s in &stale {
        println!("STALE known difference {s}");
    }
    assert!(
        mismatches.is_empty(),
        "{} rows disagree with libpcap",
        mismatches.len()
    );
    assert!(
        stale.is_empty(),
        "{} known differences no longer differ",
        stale.len()
    );
    assert!(rows > 10_000, "only {rows} rows compared");
}
