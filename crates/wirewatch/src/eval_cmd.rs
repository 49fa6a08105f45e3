//! `wirewatch eval --labels LABELS captures…`: every packet detector's
//! score for every packet, against per-packet labels: ROC AUC, average
//! precision, precision and recall at the alert threshold, detection
//! delay and alerts per hour of benign traffic.

use crate::cli::eval::EvalArgs;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use serde::Serialize;
use wirewatch_detect::metrics::{average_precision, precision_recall_at, roc_auc};
use wirewatch_detect::{DetectConfig, Obs};
use wirewatch_wire::{decode, DecodeOptions, Timestamp};

/// One detector's figures.
#[derive(Debug, Serialize)]
pub struct Figures {
    /// The detector.
    pub detector: String,
    /// Area under the ROC curve of the packet scores.
    pub roc_auc: Option<f64>,
    /// Average precision of the packet scores.
    pub average_precision: Option<f64>,
    /// Precision with score ≥ 1 (the alert threshold) as the decision;
    /// `None` when no packet reached it.
    pub precision: Option<f64>,
    /// Recall likewise.
    pub recall: f64,
    /// Seconds from the first scored attack packet to the first attack
    /// packet at or over the threshold.
    pub delay_secs: Option<f64>,
    /// Alerts raised by benign packets per hour of benign traffic.
    pub alerts_per_benign_hour: Option<f64>,
    /// Alerts raised in all.
    pub alerts: u64,
}

enum Labels {
    /// Every packet of the capture.
    All(bool),
    /// One per packet, from a file.
    File(BufReader<std::fs::File>, PathBuf, u64),
}

impl Labels {
    fn open(s: &str) -> anyhow::Result<Labels> {
        Ok(match s {
            "attack" => Labels::All(true),
            "benign" => Labels::All(false),
            p => {
                let f = std::fs::File::open(p).with_context(|| format!("--labels {p}"))?;
                Labels::File(BufReader::new(f), PathBuf::from(p), 0)
            }
        })
    }

    /// Fails when a label file has lines left over.
    fn check_used_up(&mut self, packets: u64) -> anyhow::Result<()> {
        if let Labels::File(_, p, _) = self {
            let p = p.clone();
            if self.next()?.is_some() {
                bail!(
                    "--labels {}: more labels than packets ({packets} packets)",
                    p.display()
                );
            }
        }
        Ok(())
    }

    fn next(&mut self) -> anyhow::Result<Option<bool>> {
        match self {
            Labels::All(v) => Ok(Some(*v)),
            Labels::File(r, p, line) => {
                let mut s = String::new();
                if r.read_line(&mut s)? == 0 {
                    return Ok(None);
                }
                *line += 1;
                match s.trim() {
                    "1" => Ok(Some(true)),
                    "0" => Ok(Some(false)),
                    other => bail!(
                        "{}:{}: expected 0 or 1, got '{}'",
                        p.display(),
                        line,
                        other.chars().take(20).collect::<String>()
                    ),
                }
            }
        }
    }
}

/// Runs the evaluation and prints the table (or JSON) to `out`.
pub fn run(
    a: &EvalArgs,
    cfg: &DetectConfig,
    model: Option<&std::path::Path>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if a.labels.len() != 1 && a.labels.len() != a.captures.len() {
        bail!(
            "--labels: give one per capture ({} captures, {} labels) or one file for all",
            a.captures.len(),
            a.labels.len()
        );
    }
    let mut engine = wirewatch_pipeline::detect::engine(cfg, model)?;
    let names: Vec<String> = engine
        .packet_detector_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let n = names.len();
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut labels: Vec<bool> = Vec::new();
    let mut times: Vec<Timestamp> = Vec::new();
    // Alerts per detector: (raised by a benign packet, all).
    let mut alerts = vec![(0u64, 0u64); n];
    let opts = DecodeOptions::default();
    let mut shift: i64 = 0;
    let mut end: Option<Timestamp> = None;
    let mut index: u64 = 0;
    let mut shared = if a.labels.len() == 1 {
        Some(Labels::open(&a.labels[0])?)
    } else {
        None
    };
    for (k, path) in a.captures.iter().enumerate() {
        let mut own = match shared {
            Some(_) => None,
            None => Some(Labels::open(&a.labels[k])?),
        };
        let lab = own.as_mut().or(shared.as_mut()).expect("labels");
        let mut reader =
            wirewatch_capture::open(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let mut first = true;
        loop {
            let f = match reader.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => bail!("{}: {e}", path.display()),
            };
            if first {
                first = false;
                if let Some(e) = end {
                    shift = e.add_nanos(1_000_000_000).nanos_since(f.ts);
                }
            }
            let ts = f.ts.add_nanos(shift);
            let Some(is_attack) = lab.next()? else {
                bail!(
                    "{}: more packets than labels (labels end at packet {index})",
                    path.display()
                );
            };
            let meta = decode(f.link_type, ts, f.data, f.wire_len, &opts);
            end = Some(end.map_or(ts, |e| e.max(ts)));
            let s = match Obs::new(&meta, f.data, 0) {
                Some(o) => engine.packet(&o).to_vec(),
                None => vec![0.0; n],
            };
            let fired = engine.take_alerts();
            for al in &fired {
                if let Some(d) = names.iter().position(|x| *x == al.detector) {
                    alerts[d].1 += 1;
                    if !is_attack {
                        alerts[d].0 += 1;
                    }
                }
            }
            if index >= a.skip {
                for (d, v) in s.iter().enumerate() {
                    scores[d].push(*v);
                }
                labels.push(is_attack);
                times.push(ts);
            }
            index += 1;
        }
        if let Some(l) = own.as_mut() {
            l.check_used_up(index)?;
        }
    }
    if let Some(l) = shared.as_mut() {
        l.check_used_up(index)?;
    }
    let figures = figures(&names, &scores, &labels, &times, &alerts);
    if a.json {
        serde_json::to_writer_pretty(&mut *out, &wirewatch_pipeline::json::to_value(&figures)?)?;
        writeln!(out)?;
        return Ok(());
    }
    let attacks = labels.iter().filter(|l| **l).count();
    writeln!(
        out,
        "{} packets scored ({} attack, {} benign)",
        labels.len(),
        attacks,
        labels.len() - attacks
    )?;
    writeln!(
        out,
        "{:<18} {:>8} {:>8} {:>9} {:>7} {:>9} {:>12} {:>7}",
        "detector", "ROC AUC", "AP", "precision", "recall", "delay s", "benign al/h", "alerts"
    )?;
    let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
    for f in &figures {
        writeln!(
            out,
            "{:<18} {:>8} {:>8} {:>9} {:>7.3} {:>9} {:>12} {:>7}",
            f.detector,
            opt(f.roc_auc, 3),
            opt(f.average_precision, 3),
            opt(f.precision, 3),
            f.recall,
            opt(f.delay_secs, 3),
            opt(f.alerts_per_benign_hour, 2),
            f.alerts
        )?;
    }
    Ok(())
}

/// The figures of every detector, and of all heuristics together (each
/// packet's highest heuristic score).
fn figures(
    names: &[String],
    scores: &[Vec<f64>],
    labels: &[bool],
    times: &[Timestamp],
    alerts: &[(u64, u64)],
) -> Vec<Figures> {
    let first_attack = labels.iter().position(|l| *l);
    let last_attack = labels.iter().rposition(|l| *l);
    let span = |a: usize, b: usize| times[b].nanos_since(times[a]) as f64 / 3.6e12;
    // Benign time: the whole stream less the attack's span.
    let benign_hours = if times.is_empty() {
        0.0
    } else {
        let all = span(0, times.len() - 1);
        match (first_attack, last_attack) {
            (Some(a), Some(b)) => all - span(a, b),
            _ => all,
        }
    };
    let one = |name: &str, s: &[f64], al: (u64, u64)| {
        let (precision, recall) = precision_recall_at(s, labels, 1.0);
        let precision = s.iter().any(|v| *v >= 1.0).then_some(precision);
        let delay = first_attack.and_then(|a| {
            (a..labels.len())
                .find(|&i| labels[i] && s[i] >= 1.0)
                .map(|i| times[i].nanos_since(times[a]) as f64 / 1e9)
        });
        Figures {
            detector: name.to_string(),
            roc_auc: roc_auc(s, labels),
            average_precision: average_precision(s, labels),
            precision,
            recall,
            delay_secs: delay,
            alerts_per_benign_hour: (benign_hours > 0.0).then(|| al.0 as f64 / benign_hours),
            alerts: al.1,
        }
    };
    let mut v: Vec<Figures> = names
        .iter()
        .zip(scores)
        .zip(alerts)
        .map(|((n, s), al)| one(n, s, *al))
        .collect();
    let heur: Vec<usize> = (0..names.len())
        .filter(|&d| names[d] != "kitsune")
        .collect();
    if heur.len() > 1 {
        let combined: Vec<f64> = (0..labels.len())
            .map(|i| heur.iter().map(|&d| scores[d][i]).fold(0.0, f64::max))
            .collect();
        let al = heur
            .iter()
            .fold((0, 0), |acc, &d| (acc.0 + alerts[d].0, acc.1 + alerts[d].1));
        v.push(one("heuristics (max)", &combined, al));
    }
    v
}
