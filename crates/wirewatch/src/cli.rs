//! Command-line parsing: raw arguments become validated [`Settings`] before
//! anything runs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use wirewatch_flow::{ByteMode, FlowConfig, IpNet, LayerMode, SortKey, View};

use crate::offline::{self, RunOutcome};

/// Exit code for bad input: unreadable capture, bad arguments.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Command-line arguments (iftop and tcpdump flags where they apply).
#[derive(Parser, Debug)]
#[command(
    name = "wirewatch",
    version,
    about = "Network traffic monitor: per-connection bandwidth like iftop, from captures or live"
)]
pub struct Args {
    /// Read packets from a pcap or pcapng file (`-` for stdin; .gz is read transparently).
    #[arg(short = 'r', value_name = "FILE")]
    pub read: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,

    /// Which byte count to report and rate: IP-layer length (iftop) or frame length (tshark).
    #[arg(long, value_enum, default_value_t = BytesArg::Ip)]
    pub bytes: BytesArg,

    /// Print a report every N seconds of capture time (fractions allowed), not only at the end.
    #[arg(long, value_name = "SECS")]
    pub interval: Option<f64>,

    /// Show ports: one entry per host pair and ports (iftop -P).
    #[arg(short = 'P')]
    pub ports: bool,

    /// Grouping of flows into entries.
    #[arg(long, value_enum)]
    pub view: Option<ViewArg>,

    /// IPv4 local network (net/len or net/mask): its hosts are the source side.
    #[arg(short = 'F', value_name = "NET/MASK")]
    pub net4: Vec<String>,

    /// IPv6 local network (net6/len): its hosts are the source side.
    #[arg(short = 'G', value_name = "NET6/LEN")]
    pub net6: Vec<String>,

    /// Account tunnelled traffic on its innermost IP header (same as --ip-layers inner).
    #[arg(long)]
    pub decap: bool,

    /// Which IP headers of tunnelled frames to account: outer, inner, or all
    /// (each frame counts once per IP pair it carries, like Wireshark's conversation table).
    #[arg(long, value_enum)]
    pub ip_layers: Option<LayersArg>,

    /// Sort order (iftop -o): 2s, 10s, 40s, total, source, destination.
    /// Default: 10s for interval reports, total for the final report.
    #[arg(short = 'o', value_enum)]
    pub sort: Option<SortArg>,

    /// Text output: number of entries to print (iftop -L). Default all.
    #[arg(short = 'L', value_name = "N")]
    pub lines: Option<usize>,

    /// Text output: show rates in bytes per second rather than bits (iftop -B).
    #[arg(short = 'B')]
    pub bytes_units: bool,

    /// Text output: print no summary after the table.
    #[arg(long)]
    pub no_summary: bool,

    /// Remove flows idle this many seconds (default: keep every flow for the report).
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<f64>,

    /// Never draw the progress bar (it is drawn only when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

/// `--format`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum FormatArg {
    /// iftop -t style table.
    Text,
    /// NDJSON, one object per report.
    Json,
    /// CSV, header then one row per entry.
    Csv,
}

/// `--bytes`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BytesArg {
    /// IP-layer bytes.
    Ip,
    /// Frame bytes.
    Frame,
}

/// `--view`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ViewArg {
    /// Host pairs.
    Pair,
    /// Host pairs with ports.
    Port,
    /// Source hosts.
    Src,
    /// Destination hosts.
    Dst,
}

/// `--ip-layers`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LayersArg {
    /// Outermost header.
    Outer,
    /// Innermost header.
    Inner,
    /// Every header.
    All,
}

/// `-o`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SortArg {
    /// 2-second average.
    #[value(name = "2s")]
    S2,
    /// 10-second average.
    #[value(name = "10s")]
    S10,
    /// 40-second average.
    #[value(name = "40s")]
    S40,
    /// Cumulative bytes.
    Total,
    /// Source address.
    Source,
    /// Destination address.
    Destination,
}

/// Validated settings for a run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Capture to read.
    pub input: PathBuf,
    /// Flow table settings.
    pub flow: FlowConfig,
    /// Grouping.
    pub view: View,
    /// Order for interval reports.
    pub interval_sort: SortKey,
    /// Order for the final report.
    pub final_sort: SortKey,
    /// Report period in nanoseconds of capture time.
    pub interval_nanos: Option<i64>,
    /// Output format.
    pub format: FormatArg,
    /// Text: rows to print.
    pub lines: Option<usize>,
    /// Text: rates in bytes.
    pub bytes_units: bool,
    /// Text: summary after the table.
    pub summary: bool,
    /// Draw a progress bar.
    pub progress: bool,
}

fn secs_to_nanos(what: &str, s: f64) -> anyhow::Result<i64> {
    if !s.is_finite() || s <= 0.0 || s > 1e9 {
        anyhow::bail!("{what} must be a positive number of seconds, got {s}");
    }
    Ok((s * 1e9).round() as i64)
}

impl Args {
    /// Checks the arguments and derives the settings.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let Some(input) = self.read.clone() else {
            anyhow::bail!("live capture is not available yet; read a capture with -r FILE (or -r - for stdin)");
        };
        let mut local_nets = Vec::new();
        for s in &self.net4 {
            let n: IpNet = s.parse()?;
            if !n.addr().is_ipv4() {
                anyhow::bail!("-F takes an IPv4 network, got '{s}' (use -G for IPv6)");
            }
            local_nets.push(n);
        }
        for s in &self.net6 {
            let n: IpNet = s.parse()?;
            if n.addr().is_ipv4() {
                anyhow::bail!("-G takes an IPv6 network, got '{s}' (use -F for IPv4)");
            }
            local_nets.push(n);
        }
        let layers = match (self.ip_layers, self.decap) {
            (Some(LayersArg::Outer), true) => {
                anyhow::bail!("--decap contradicts --ip-layers outer")
            }
            (Some(LayersArg::Outer), false) | (None, false) => LayerMode::Outer,
            (Some(LayersArg::Inner), _) | (None, true) => LayerMode::Inner,
            (Some(LayersArg::All), _) => LayerMode::All,
        };
        let view = match (self.view, self.ports) {
            (Some(ViewArg::Port), _) | (None, true) => View::Port,
            (Some(v), true) => {
                anyhow::bail!("-P contradicts --view {}", format!("{v:?}").to_lowercase())
            }
            (Some(ViewArg::Pair), false) | (None, false) => View::Pair,
            (Some(ViewArg::Src), false) => View::Src,
            (Some(ViewArg::Dst), false) => View::Dst,
        };
        let sort = self.sort.map(|s| match s {
            SortArg::S2 => SortKey::Rate2s,
            SortArg::S10 => SortKey::Rate10s,
            SortArg::S40 => SortKey::Rate40s,
            SortArg::Total => SortKey::Total,
            SortArg::Source => SortKey::Source,
            SortArg::Destination => SortKey::Destination,
        });
        Ok(Settings {
            input,
            flow: FlowConfig {
                bytes: match self.bytes {
                    BytesArg::Ip => ByteMode::Ip,
                    BytesArg::Frame => ByteMode::Frame,
                },
                layers,
                local_nets,
                idle_timeout_nanos: self
                    .idle_timeout
                    .map(|s| secs_to_nanos("--idle-timeout", s))
                    .transpose()?,
            },
            view,
            interval_sort: sort.unwrap_or(SortKey::Rate10s),
            final_sort: sort.unwrap_or(SortKey::Total),
            interval_nanos: self
                .interval
                .map(|s| secs_to_nanos("--interval", s))
                .transpose()?,
            format: self.format,
            lines: self.lines,
            bytes_units: self.bytes_units,
            summary: !self.no_summary,
            progress: !self.no_progress && std::io::stderr().is_terminal(),
        })
    }
}

/// Entry point: parses, runs, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let settings = match args.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wirewatch: error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    match offline::run(&settings, &mut std::io::stdout().lock()) {
        Ok(RunOutcome::Clean) => ExitCode::SUCCESS,
        Ok(RunOutcome::Warned(w)) => {
            eprintln!("wirewatch: warning: {w}");
            ExitCode::SUCCESS
        }
        Ok(RunOutcome::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wirewatch: error: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
