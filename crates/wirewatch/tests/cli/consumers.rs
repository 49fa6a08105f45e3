//! One contract every consumer the binary builds must keep (the way a
//! component compliance test holds every sink to the same rules): on an
//! empty capture and on a capture with traffic, interval ticks and alerts,
//! it starts, takes everything, finishes without an error and without
//! losing what it was given; and what it was given is in its output.

use std::path::Path;

use clap::Parser;
use wirewatch::cli::Args;
use wirewatch::output::Report;
use wirewatch::settings::{self, AlertMode};
use wirewatch_flow::FlowTable;
use wirewatch_pipeline::detect::{DetectSettings, Detection};
use wirewatch_pipeline::history::{HistorySettings, Recorder};
use wirewatch_pipeline::{Consumer, Ending, FileSource, Pipeline};
use wirewatch_wire::{build, FixedClock, Timestamp};

use crate::common::{ip, t, write_pcap};

/// A vertical scan of 60 ports and some ordinary UDP, over 5 s.
fn traffic(dir: &Path) -> std::path::PathBuf {
    let mut frames = Vec::new();
    for p in 1..=60u16 {
        let f = build::eth(
            0x0800,
            &build::ipv4(
                ip("10.0.0.9"),
                ip("10.0.0.2"),
                6,
                &build::tcp(40_000, p, 0x02, &[]),
            ),
        );
        frames.push((t(i64::from(p) * 10), f));
    }
    for k in 0..50 {
        let f = build::eth(
            0x0800,
            &build::ipv4(
                ip("10.0.0.1"),
                ip("10.0.0.3"),
                17,
                &build::udp(5000, 53, &[0; 40]),
            ),
        );
        frames.push((t(1_000 + k * 80), f));
    }
    frames.sort_by_key(|(ts, _)| *ts);
    write_pcap(dir, "traffic.pcap", &frames)
}

/// The consumers a run can have, each under test, with a way to read back
/// what it kept.
enum Kind {
    Report(&'static str),
    AlertLines,
    AlertFile { live: bool },
    Notes,
    History,
    RowCut,
}

const KINDS: [Kind; 9] = [
    Kind::Report("text"),
    Kind::Report("json"),
    Kind::Report("csv"),
    Kind::AlertLines,
    Kind::AlertFile { live: false },
    Kind::AlertFile { live: true },
    Kind::Notes,
    Kind::History,
    Kind::RowCut,
];

fn consumer(kind: &Kind, dir: &Path, pcap: &Path) -> Box<dyn Consumer> {
    match kind {
        Kind::Report(format) => {
            let args = Args::try_parse_from([
                "wirewatch",
                "-r",
                pcap.to_str().unwrap(),
                "--format",
                format,
                "--interval",
                "1",
            ])
            .unwrap();
            let s = settings::build(&args).unwrap();
            let out = std::fs::File::create(dir.join(format!("report.{format}"))).unwrap();
            Box::new(Report::new(&s, Box::new(out), false))
        }
        Kind::AlertLines => wirewatch::alerts::open(&AlertMode::Text, false, 20)
            .unwrap()
            .unwrap(),
        Kind::AlertFile { live } => wirewatch::alerts::open(
            &AlertMode::JsonFile(dir.join(format!("alerts-{live}.ndjson"))),
            *live,
            20,
        )
        .unwrap()
        .unwrap(),
        Kind::Notes => Box::new(wirewatch::alerts::Notes),
        Kind::History => {
            let h = HistorySettings {
                path: dir.join("h.db"),
                flush_nanos: 60_000_000_000,
                retention: Default::default(),
            };
            // A clock past the capture: retention counts back from its rows.
            let clock = std::sync::Arc::new(FixedClock(Timestamp::from_secs(4_102_444_800)));
            Box::new(Recorder::open(&h, vec!["traffic.pcap".into()], false, clock).unwrap())
        }
        Kind::RowCut => Box::new(Recorder::without_store(vec!["traffic.pcap".into()])),
    }
}

/// Runs `pcap` through detection (the source of the alerts; it is in every
/// run, so it is under test too) and `kind`; returns the
/// pipeline's counters and the result of the end.
fn run(kind: &Kind, dir: &Path, pcap: &Path) -> (wirewatch_pipeline::Counters, anyhow::Result<()>) {
    let source = FileSource::open(pcap).unwrap();
    let mut p = Pipeline::new(source, FlowTable::new(Default::default()));
    let d = DetectSettings {
        cfg: Default::default(),
        model: None,
        watch: None,
    };
    p.add(Box::new(Detection::new(&d).unwrap()));
    p.add(consumer(kind, dir, pcap));
    p.tick_every(Some(1_000_000_000));
    p.begin().unwrap();
    p.run_to_end(|_| {}).unwrap();
    let end = Ending {
        input: pcap.display().to_string(),
        link_types: vec![1],
        ..Ending::default()
    };
    let r = p.finish(&end);
    (p.counters(), r)
}

#[test]
fn every_consumer_keeps_the_contract_on_an_empty_capture() {
    for kind in &KINDS {
        let dir = tempfile::tempdir().unwrap();
        let pcap = write_pcap(dir.path(), "traffic.pcap", &[]);
        let (c, r) = run(kind, dir.path(), &pcap);
        assert!(r.is_ok(), "{r:?}");
        assert_eq!((c.frames, c.alerts, c.ticks), (0, 0, 0));
    }
}

#[test]
fn every_consumer_takes_ticks_and_alerts_and_keeps_them() {
    for kind in &KINDS {
        let dir = tempfile::tempdir().unwrap();
        let pcap = traffic(dir.path());
        let (c, r) = run(kind, dir.path(), &pcap);
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(c.frames, 110);
        assert_eq!(c.alerts, 1, "the scan");
        assert_eq!(c.ticks, 4, "[0,1) .. [3,4) s before the last frames");
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        match kind {
            Kind::Report("text") => {
                let out = read("report.text");
                assert_eq!(out.matches("Interval ").count(), 4, "{out}");
                assert!(out.contains("Summary of"), "{out}");
            }
            Kind::Report("json") => {
                let out = read("report.json");
                let types: Vec<String> = out
                    .lines()
                    .map(|l| {
                        let v: serde_json::Value = serde_json::from_str(l).unwrap();
                        v["type"].as_str().unwrap().to_string()
                    })
                    .collect();
                assert_eq!(
                    types,
                    ["interval", "interval", "interval", "interval", "final", "summary"]
                );
            }
            Kind::Report(_) => {
                let out = read("report.csv");
                assert!(out.lines().count() > 5, "{out}");
            }
            Kind::AlertFile { live } => {
                // From a file nothing is dropped; live, one alert fits the
                // queue: the same either way.
                let out = read(&format!("alerts-{live}.ndjson"));
                assert_eq!(out.lines().count(), 1, "{out}");
                assert!(out.contains("\"kind\":\"vertical_scan\""), "{out}");
            }
            Kind::History => {
                let store =
                    wirewatch_store::SqliteStore::open_reader(&dir.path().join("h.db")).unwrap();
                let mut alerts = 0;
                wirewatch_store::Store::alerts(&store, 0, i64::MAX, None, &mut |_| alerts += 1)
                    .unwrap();
                assert_eq!(alerts, 1);
                assert_eq!(c.rows, 0, "the rows are raised only for detection");
            }
            Kind::RowCut => assert!(c.rows >= 2, "{c:?}"),
            Kind::AlertLines | Kind::Notes => {}
        }
    }
}
