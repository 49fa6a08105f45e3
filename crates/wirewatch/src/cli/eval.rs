//! `wirewatch eval …` as parsed.

use std::path::PathBuf;

/// `wirewatch eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Per-packet labels: a file with one line per packet (`1` attack,
    /// `0` benign), or `attack` / `benign` for a whole capture. Give one
    /// per capture, in order; one file may also cover every capture.
    #[arg(long, value_name = "LABELS", required = true)]
    pub labels: Vec<String>,

    /// Packets before this index (0-based, over all captures) train the
    /// detectors but are not scored (the reference protocol: 10000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub skip: u64,

    /// Score the online ML detector too (Kitsune-class).
    #[arg(long)]
    pub ml: bool,

    /// The ML detector's model: loaded when the file exists (no new
    /// training period), saved at the end. Implies --ml.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// The captures, replayed as one stream: each one's clock is shifted
    /// to start one second after the previous one ended.
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
}
