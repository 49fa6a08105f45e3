//! An online unsupervised anomaly detector of the Kitsune class (Mirsky
//! et al., NDSS 2018): damped per-host, per-channel and per-socket
//! statistics give 100 features per packet; a feature map groups
//! correlated features; one small autoencoder per group learns to
//! reconstruct normal traffic, and an output autoencoder over their
//! errors gives the packet's score.
//!
//! Three phases, counted in packets: the feature map learns (`fm-grace`
//! packets, no score), the autoencoders learn (`ad-grace` packets, no
//! score; the second half also fits the alert threshold), then packets
//! are scored (by default without further learning, so an attacker cannot
//! teach the model that the attack is normal).
//!
//! The threshold is fitted on the logarithm of the training scores:
//! `threshold = exp(mean + k·sd)` with `k` = `threshold-sd`.

mod ae;
pub mod features;
pub mod fmap;
pub mod incstat;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wirewatch_wire::Timestamp;

pub use ae::{Ae, Rng};
pub use features::{describe, feature_names, FeatureExtractor, N_FEATURES};

use crate::alert::{Alert, Contributor, Entity, Evidence, Kind, Severity};
use crate::detector::PacketDetector;
use crate::obs::Obs;

/// The ML detector's settings (`[detect.ml]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct KitsuneConfig {
    /// Run the detector (off by default: it costs ~4 µs a packet, which
    /// would cut `-r`'s speed from millions of packets a second to about
    /// 250,000; `--ml` or `--model` turn it on).
    pub enabled: bool,
    /// Packets that train the feature map (no scores meanwhile).
    pub fm_grace: u64,
    /// Packets that then train the autoencoders (no scores meanwhile).
    pub ad_grace: u64,
    /// Most features per autoencoder.
    pub max_ae: usize,
    /// Hidden units per input of each autoencoder.
    pub hidden_ratio: f64,
    /// SGD learning rate.
    pub learning_rate: f64,
    /// The alert threshold in standard deviations of the log training
    /// score above its mean.
    pub threshold_sd: f64,
    /// Keep learning after the grace periods (off: an attack in progress
    /// cannot become normal).
    pub train_after_grace: bool,
    /// Seconds after which an idle host, channel or socket is forgotten.
    pub max_idle_secs: f64,
    /// Most hosts, channels and sockets tracked (each).
    pub max_entries: usize,
    /// Seed of the initial weights.
    pub seed: u64,
}

impl Default for KitsuneConfig {
    fn default() -> Self {
        KitsuneConfig {
            enabled: false,
            fm_grace: 5_000,
            ad_grace: 50_000,
            max_ae: 10,
            hidden_ratio: 0.75,
            learning_rate: 0.1,
            threshold_sd: DEFAULT_THRESHOLD_SD,
            train_after_grace: false,
            // The slowest window (λ 0.01) weighs an observation this old
            // below 2^-10 ≈ 0.001: forgetting it changes nothing visible.
            max_idle_secs: 1_000.0,
            max_entries: 50_000,
            seed: 0x006b_6974_7375_6e65,
        }
    }
}

/// The default `threshold-sd`; see [`Kitsune`] for how it was chosen.
pub const DEFAULT_THRESHOLD_SD: f64 = 4.0;

impl KitsuneConfig {
    /// Checks the settings; the message names the bad key.
    pub fn validate(&self) -> Result<(), String> {
        if self.fm_grace < 2 {
            return Err(format!(
                "detect.ml.fm-grace must be at least 2 packets, not {}",
                self.fm_grace
            ));
        }
        if self.ad_grace < 1 {
            return Err("detect.ml.ad-grace must be at least 1 packet, not 0".into());
        }
        if !(1..=N_FEATURES).contains(&self.max_ae) {
            return Err(format!(
                "detect.ml.max-ae must be between 1 and {N_FEATURES}, not {}",
                self.max_ae
            ));
        }
        if !(self.hidden_ratio > 0.0 && self.hidden_ratio <= 1.0) {
            return Err(format!(
                "detect.ml.hidden-ratio must be above 0 and at most 1, not {}",
                self.hidden_ratio
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 10.0) {
            return Err(format!(
                "detect.ml.learning-rate must be above 0 and at most 10, not {}",
                self.learning_rate
            ));
        }
        if !(self.threshold_sd.is_finite() && self.threshold_sd >= 0.0) {
            return Err(format!(
                "detect.ml.threshold-sd must be a number ≥ 0, not {}",
                self.threshold_sd
            ));
        }
        if !(self.max_idle_secs.is_finite() && self.max_idle_secs > 0.0) {
            return Err(format!(
                "detect.ml.max-idle-secs must be a number of seconds above 0, not {}",
                self.max_idle_secs
            ));
        }
        if self.max_entries == 0 {
            return Err("detect.ml.max-entries must be at least 1, not 0".into());
        }
        Ok(())
    }
}

/// Where the detector is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Learning which features go together.
    FeatureMap,
    /// Training the autoencoders and fitting the threshold.
    Training,
    /// Scoring packets.
    Executing,
}

/// Running mean and variance (Welford).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
struct Fit {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Fit {
    fn add(&mut self, v: f64) {
        self.n += 1;
        let d = v - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (v - self.mean);
    }

    fn sd(&self) -> f64 {
        if self.n > 1 {
            (self.m2 / (self.n - 1) as f64).max(0.0).sqrt()
        } else {
            0.0
        }
    }
}

/// Everything learned: what a model file holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Model {
    fm_grace: u64,
    ad_grace: u64,
    /// Packets the autoencoders have trained on.
    trained: u64,
    /// Feature indices of each ensemble member.
    groups: Vec<Vec<usize>>,
    ensemble: Vec<Ae>,
    output: Ae,
    /// Fit of ln(score) over the second half of training.
    fit: Fit,
    /// Mean training RMSE of each ensemble member (same half).
    group_mean: Vec<f64>,
    group_n: u64,
}

/// The output autoencoder sees each member's error on a log scale, as
/// the reference's threshold does: errors span orders of magnitude, and a
/// min-max normaliser on the raw values would squash the normal ones
/// (measured: ROC AUC 0.73 on the dnscat2 mix with raw errors, 0.98 with
/// their logarithm).
#[inline]
fn out_input(rmse: f64) -> f64 {
    (rmse + 1e-6).ln()
}

/// ln of a score, floored so that a perfect reconstruction stays finite.
#[inline]
fn ln_score(s: f64) -> f64 {
    s.max(1e-12).ln()
}

/// The model file's header.
#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
}

#[derive(Serialize, Deserialize)]
struct ModelFile {
    format: String,
    version: u32,
    model: Model,
}

const FORMAT: &str = "wirewatch-kitsune-model";
/// The model file format version this build writes and reads.
pub const MODEL_VERSION: u32 = 1;

/// Why a model could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read or written.
    #[error("model file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Not a model file, or a damaged one.
    #[error("model file {path} is not a valid wirewatch Kitsune model: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, in one line.
        reason: String,
    },
    /// A model of another format version.
    #[error("model file {path} has format version {found}; this wirewatch reads version {expected} (retrain the model)")]
    Version {
        /// The file.
        path: PathBuf,
        /// The file's version.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// The settings given to [`Kitsune::load`] are invalid.
    #[error("{0}")]
    Settings(String),
    /// Nothing to save yet: the feature map is still learning.
    #[error("the ML detector has not learned anything to save yet ({seen} of {needed} feature-map packets seen)")]
    NotTrained {
        /// Packets seen.
        seen: u64,
        /// Packets needed before there is a model.
        needed: u64,
    },
}

/// The Kitsune-class detector.
///
/// Choice of the default `threshold-sd` (k = 4), measured with the
/// reference's grace periods (1,000 + 9,000 packets) on a benign home
/// DNS capture of 30,000 packets: benign packets 10,001–30,000 at or
/// above the threshold were 40% at k = 2, 3.7% at k = 3, 1.3% at k = 4
/// and 1.2% at k = 5 (what remains at k ≥ 4 is two bursts of new, benign
/// traffic; right after training it is 0.05%). On the labelled tunnel
/// mixes k = 4 still flags 99.8% (dnscat2) and 100% (iodine) of the
/// tunnel packets; k = 5 starts to miss some. The test suite re-measures
/// this (`tests/kitsune.rs`).
pub struct Kitsune {
    cfg: KitsuneConfig,
    fx: FeatureExtractor,
    names: Vec<String>,
    x: [f64; N_FEATURES],
    corr: Option<fmap::CorrStats>,
    model: Option<Model>,
    /// Readable name of each group.
    labels: Vec<String>,
    /// Each member's RMSE on the last packet.
    rmse: Vec<f64>,
    sub: Vec<f64>,
    outin: Vec<f64>,
    seen: u64,
    threshold: f64,
    /// When each host pair last had an alert built (nanoseconds): within
    /// [`REBUILD_NANOS`] another is not built, as the engine's limiter
    /// would hold it anyway (building one costs more than scoring).
    recent: crate::Bounded<(std::net::IpAddr, std::net::IpAddr), i64>,
}

/// Most host pairs whose last alert time is kept.
const RECENT_CAP: usize = 10_000;

/// A pair's next alert is built no sooner than this after the last one.
const REBUILD_NANOS: i64 = 60_000_000_000;

impl Kitsune {
    /// A fresh detector (feature-map phase). Fails on invalid settings.
    pub fn new(cfg: &KitsuneConfig) -> Result<Kitsune, String> {
        cfg.validate()?;
        Ok(Kitsune {
            cfg: cfg.clone(),
            fx: FeatureExtractor::new(cfg.max_idle_secs, cfg.max_entries),
            names: feature_names(),
            x: [0.0; N_FEATURES],
            corr: Some(fmap::CorrStats::new(N_FEATURES)),
            model: None,
            labels: Vec::new(),
            rmse: Vec::new(),
            sub: Vec::with_capacity(N_FEATURES),
            outin: Vec::new(),
            seen: 0,
            threshold: f64::INFINITY,
            recent: crate::Bounded::new(RECENT_CAP),
        })
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match &self.model {
            None => Phase::FeatureMap,
            Some(m) if m.trained < m.ad_grace => Phase::Training,
            Some(_) => Phase::Executing,
        }
    }

    /// Packets processed since this detector was made or loaded.
    pub fn packets(&self) -> u64 {
        self.seen
    }

    /// The alert threshold on the raw score, once training is over.
    pub fn threshold(&self) -> Option<f64> {
        (self.phase() == Phase::Executing).then_some(self.threshold)
    }

    /// The fit of ln(score) over the second half of training: (mean,
    /// standard deviation), once training is over. The threshold is
    /// `exp(mean + threshold-sd · sd)`.
    pub fn threshold_fit(&self) -> Option<(f64, f64)> {
        let m = self.model.as_ref()?;
        (m.trained >= m.ad_grace).then(|| (m.fit.mean, m.fit.sd()))
    }

    /// The feature groups (indices into [`feature_names`]), once the
    /// feature map is built.
    pub fn groups(&self) -> Option<&[Vec<usize>]> {
        self.model.as_ref().map(|m| m.groups.as_slice())
    }

    /// Readable names of the feature groups.
    pub fn group_labels(&self) -> &[String] {
        &self.labels
    }

    /// Hosts, channels and sockets currently tracked.
    pub fn state_len(&self) -> (usize, usize, usize) {
        self.fx.len()
    }

    /// The last packet's features (for explanations and tests).
    pub fn features(&self) -> &[f64; N_FEATURES] {
        &self.x
    }

    /// Processes one packet: updates the statistics and learns or scores.
    /// Returns the raw score (the output autoencoder's RMSE) once the
    /// grace periods are over, `None` before.
    pub fn process(&mut self, o: &Obs) -> Option<f64> {
        self.fx.update(o, &mut self.x);
        self.seen += 1;
        for v in &mut self.x {
            if !v.is_finite() {
                *v = 0.0;
            }
        }
        if let Some(c) = &mut self.corr {
            c.update(&self.x);
            if c.count() >= self.cfg.fm_grace {
                let groups = c.cluster(self.cfg.max_ae);
                self.corr = None;
                self.build(groups);
            }
            return None;
        }
        let train = match &self.model {
            Some(m) => m.trained < m.ad_grace || self.cfg.train_after_grace,
            None => return None,
        };
        let score = self.run(train);
        let m = self.model.as_mut()?;
        if m.trained < m.ad_grace {
            if m.trained >= m.ad_grace / 2 {
                m.fit.add(ln_score(score));
                m.group_n += 1;
                let k = m.group_n as f64;
                for (g, r) in m.group_mean.iter_mut().zip(&self.rmse) {
                    *g += (r - *g) / k;
                }
            }
            m.trained += 1;
            if m.trained == m.ad_grace {
                self.threshold = threshold_of(&m.fit, self.cfg.threshold_sd);
            }
            return None;
        }
        Some(score)
    }

    /// Builds the ensemble from the feature groups.
    fn build(&mut self, groups: Vec<Vec<usize>>) {
        let mut rng = Rng::new(self.cfg.seed);
        let (ratio, lr) = (self.cfg.hidden_ratio, self.cfg.learning_rate);
        let ensemble: Vec<Ae> = groups
            .iter()
            .map(|g| Ae::new(g.len(), ratio, lr, &mut rng))
            .collect();
        let output = Ae::new(groups.len(), ratio, lr, &mut rng);
        let k = groups.len();
        self.model = Some(Model {
            fm_grace: self.cfg.fm_grace,
            ad_grace: self.cfg.ad_grace,
            trained: 0,
            groups,
            ensemble,
            output,
            fit: Fit::default(),
            group_mean: vec![0.0; k],
            group_n: 0,
        });
        self.after_model();
    }

    /// Names, buffers and threshold for the current model.
    fn after_model(&mut self) {
        let Some(m) = &self.model else { return };
        self.labels = m
            .groups
            .iter()
            .map(|g| {
                let names: Vec<&str> = g
                    .iter()
                    .filter_map(|&i| self.names.get(i).map(String::as_str))
                    .collect();
                describe(&names)
            })
            .collect();
        self.rmse = vec![0.0; m.groups.len()];
        self.outin = vec![0.0; m.groups.len()];
        self.threshold = if m.trained >= m.ad_grace {
            threshold_of(&m.fit, self.cfg.threshold_sd)
        } else {
            f64::INFINITY
        };
    }

    /// Runs the ensemble and the output layer on `self.x`, learning when
    /// `train`; leaves each member's RMSE in `self.rmse`.
    fn run(&mut self, train: bool) -> f64 {
        let Some(m) = &mut self.model else { return 0.0 };
        for ((g, ae), r) in m.groups.iter().zip(&mut m.ensemble).zip(&mut self.rmse) {
            self.sub.clear();
            self.sub.extend(g.iter().map(|&i| self.x[i]));
            *r = if train {
                ae.train(&self.sub)
            } else {
                ae.execute(&self.sub)
            };
        }
        for (o, r) in self.outin.iter_mut().zip(&self.rmse) {
            *o = out_input(*r);
        }
        if train {
            m.output.train(&self.outin)
        } else {
            m.output.execute(&self.outin)
        }
    }

    /// The three groups furthest above their training error, largest
    /// first: (readable name, RMSE over training mean).
    pub fn contributors(&self) -> Vec<(String, f64)> {
        let Some(m) = &self.model else {
            return Vec::new();
        };
        let mut v: Vec<(usize, f64)> = self
            .rmse
            .iter()
            .zip(&m.group_mean)
            .enumerate()
            .map(|(i, (r, g))| (i, r / g.max(1e-12)))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.into_iter()
            .take(3)
            .map(|(i, r)| (self.labels.get(i).cloned().unwrap_or_default(), r))
            .collect()
    }

    /// Writes the learned model to `path` atomically (a temporary file in
    /// the same directory, then a rename). The per-host, per-channel and
    /// per-socket statistics are not saved: they describe the last
    /// minutes of traffic and rebuild within seconds of new packets.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let Some(m) = &self.model else {
            return Err(ModelError::NotTrained {
                seen: self.seen,
                needed: self.cfg.fm_grace,
            });
        };
        let file = ModelFile {
            format: FORMAT.into(),
            version: MODEL_VERSION,
            model: m.clone(),
        };
        let io = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_vec(&file).map_err(|e| ModelError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("cannot encode: {e}"),
        })?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }

    /// A detector with the model saved at `path`, ready to score at once
    /// if the model finished training (otherwise training continues). The
    /// grace lengths come from the file; everything else (threshold `k`,
    /// state bounds, whether to keep learning) from `cfg`.
    pub fn load(path: &Path, cfg: &KitsuneConfig) -> Result<Kitsune, ModelError> {
        let corrupt = |reason: String| ModelError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        cfg.validate()
            .map_err(|e| corrupt(format!("settings: {e}")))?;
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let h: Header = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if h.format != FORMAT {
            return Err(corrupt(format!("format is {:?}, not {FORMAT:?}", h.format)));
        }
        if h.version != MODEL_VERSION {
            return Err(ModelError::Version {
                path: path.to_path_buf(),
                found: h.version,
                expected: MODEL_VERSION,
            });
        }
        let f: ModelFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let mut m = f.model;
        check_model(&m).map_err(corrupt)?;
        for ae in m.ensemble.iter_mut().chain(std::iter::once(&mut m.output)) {
            ae.ready();
        }
        let mut k = Kitsune::new(cfg).map_err(ModelError::Settings)?;
        k.corr = None;
        k.model = Some(m);
        k.after_model();
        Ok(k)
    }
}

fn threshold_of(fit: &Fit, k: f64) -> f64 {
    let t = (fit.mean + k * fit.sd()).exp();
    if t.is_finite() && t > 0.0 {
        t
    } else {
        f64::MAX
    }
}

/// Checks that a loaded model's parts fit together.
fn check_model(m: &Model) -> Result<(), String> {
    if m.groups.is_empty() {
        return Err("no feature groups".into());
    }
    let mut seen = [false; N_FEATURES];
    for g in &m.groups {
        if g.is_empty() {
            return Err("an empty feature group".into());
        }
        for &i in g {
            if i >= N_FEATURES || std::mem::replace(&mut seen[i], true) {
                return Err(format!("feature index {i} out of range or repeated"));
            }
        }
    }
    if m.ensemble.len() != m.groups.len() || m.group_mean.len() != m.groups.len() {
        return Err("ensemble and feature groups differ in number".into());
    }
    for (g, ae) in m.groups.iter().zip(&m.ensemble) {
        if ae.n != g.len() || !ae.consistent() {
            return Err("an autoencoder's sizes or weights are inconsistent".into());
        }
    }
    if m.output.n != m.groups.len() || !m.output.consistent() {
        return Err("the output autoencoder's sizes or weights are inconsistent".into());
    }
    if m.fm_grace < 2 || m.ad_grace < 1 || m.trained > m.ad_grace {
        return Err("training counters are inconsistent".into());
    }
    let finite = m.fit.mean.is_finite()
        && m.fit.m2.is_finite()
        && m.group_mean.iter().all(|v| v.is_finite());
    if !finite {
        return Err("threshold statistics are not finite".into());
    }
    Ok(())
}

fn proto_name(p: u8) -> std::borrow::Cow<'static, str> {
    wirewatch_wire::proto::name(p)
}

impl PacketDetector for Kitsune {
    fn name(&self) -> &'static str {
        "kitsune"
    }

    fn packet(&mut self, o: &Obs, out: &mut Vec<Alert>) -> f64 {
        let Some(raw) = self.process(o) else {
            return 0.0;
        };
        let ratio = raw / self.threshold;
        if ratio.is_finite() && ratio >= 1.0 {
            let now = o.ts.as_nanos();
            let last = self
                .recent
                .get_or_insert_with((o.src, o.dst), |t| *t, || i64::MIN);
            if *last == i64::MIN || now.saturating_sub(*last) >= REBUILD_NANOS {
                *last = now;
                out.push(self.alert(o, raw, ratio));
            }
        }
        if ratio.is_finite() {
            ratio
        } else {
            0.0
        }
    }

    fn expire(&mut self, now: Timestamp) {
        let now = now.as_nanos();
        self.fx.expire(now);
        self.recent
            .expire_idle(Timestamp::from_nanos(now), REBUILD_NANOS, |t| {
                Timestamp::from_nanos(*t)
            });
    }

    fn evicted(&self) -> u64 {
        self.fx.evicted() + self.recent.evicted()
    }

    fn tracked(&self) -> usize {
        let (h, c, s) = self.fx.len();
        h + c + s + self.recent.len()
    }
}

impl Kitsune {
    fn alert(&self, o: &Obs, raw: f64, ratio: f64) -> Alert {
        let contributors = self.contributors();
        let mut summary = String::new();
        let proto = proto_name(o.protocol);
        if o.has_ports {
            let _ = write!(summary, "{} → {}:{}/{proto}", o.src, o.dst, o.dst_port);
        } else {
            let _ = write!(summary, "{} → {} ({proto})", o.src, o.dst);
        }
        let _ = write!(summary, " scored {ratio:.1}× the anomaly threshold");
        if !contributors.is_empty() {
            summary.push_str("; least like the learned traffic: ");
            let names: Vec<&str> = contributors.iter().map(|(n, _)| n.as_str()).collect();
            summary.push_str(&names.join("; "));
        }
        let typical = self
            .model
            .as_ref()
            .map(|m| m.fit.mean.exp())
            .filter(|v| v.is_finite());
        Alert {
            time: o.ts,
            kind: Kind::Anomaly,
            severity: Severity::from_ratio(ratio),
            // The pair, not the socket: one conversation's anomalous
            // packets (answers to many client ports included) are one
            // incident for the limiter; the summary names the socket.
            entity: Entity::Pair {
                src: o.src,
                dst: o.dst,
            },
            summary,
            evidence: Evidence {
                observed: raw,
                baseline: typical,
                expected: None,
                threshold: self.threshold,
                unit: "reconstruction error (RMSE)".into(),
                score: ratio,
                contributors: contributors
                    .into_iter()
                    .map(|(feature, value)| Contributor { feature, value })
                    .collect(),
                ..Evidence::default()
            },
            action: format!(
                "Look at what {} sent to {} around this time and whether it is expected; \
                 if it is new but legitimate, retrain the model on traffic that includes it, \
                 otherwise isolate {} and investigate.",
                o.src, o.dst, o.src
            ),
            detector: "kitsune".into(),
            suppressed: 0,
        }
    }
}
