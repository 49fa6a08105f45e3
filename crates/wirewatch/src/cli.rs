//! Command-line parsing: raw arguments become validated [`Settings`] before
//! anything runs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use wirewatch_flow::{ByteMode, FlowConfig, IpNet, LayerMode, SortKey, View};

use crate::live::{self, LiveSettings};
use crate::offline::{self, RunOutcome};
use wirewatch_live::RingConfig;

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
    #[arg(short = 'r', value_name = "FILE", conflicts_with_all = ["interfaces", "write", "promiscuous"])]
    pub read: Option<PathBuf>,

    /// Capture live on this interface (repeat for several; `any` = every interface
    /// that is up). Default: the interface carrying the default route.
    #[arg(short = 'i', value_name = "IFACE")]
    pub interfaces: Vec<String>,

    /// List the interfaces (name, state, MTU, speed, addresses) and exit.
    #[arg(long)]
    pub list_interfaces: bool,

    /// Filter packets with a pcap-filter expression (tcpdump syntax), compiled to
    /// BPF: in the kernel when live, in-process for -r.
    #[arg(short = 'f', value_name = "EXPR")]
    pub filter: Option<String>,

    /// Put the interfaces into promiscuous mode (iftop -p).
    #[arg(short = 'p')]
    pub promiscuous: bool,

    /// Stop after this many seconds (of capture time with -r) and print the final report.
    #[arg(short = 's', value_name = "SECS")]
    pub seconds: Option<f64>,

    /// Write the captured frames to FILE as pcapng (like tcpdump -w).
    #[arg(short = 'w', value_name = "FILE")]
    pub write: Option<PathBuf>,

    /// Bytes kept of each live packet. Default: 262144 with -w, else 512 (headers only).
    #[arg(long, value_name = "BYTES")]
    pub snaplen: Option<u32>,

    /// Live ring: bytes per block (a power of two, at least the page size).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub ring_block_size: u32,

    /// Live ring: blocks per interface (default 32, fewer per interface when capturing on many).
    #[arg(long, value_name = "N")]
    pub ring_blocks: Option<u32>,

    /// After opening the sockets, switch to this user (name, uid or uid:gid) and drop
    /// every capability.
    #[arg(long, value_name = "USER", default_value = "nobody")]
    pub user: String,

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

/// Where packets come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A capture file (`-r`).
    File(PathBuf),
    /// Live interfaces.
    Live(LiveSettings),
}

/// Validated settings for a run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Packet source.
    pub source: Source,
    /// Filter expression for `-r` (live filters are in [`LiveSettings`]).
    pub file_filter: Option<String>,
    /// Stop after this much capture time (`-s` with `-r`).
    pub file_duration_nanos: Option<i64>,
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
    let nanos = (s * 1e9).round() as i64;
    if nanos == 0 {
        anyhow::bail!("{what} must be at least one nanosecond, got {s}");
    }
    Ok(nanos)
}

impl Args {
    /// Checks the arguments and derives the settings.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let duration_nanos = self.seconds.map(|s| secs_to_nanos("-s", s)).transpose()?;
        let source = match self.read.clone() {
            Some(p) => Source::File(p),
            None => {
                let ring_blocks = self.ring_blocks.unwrap_or_else(|| {
                    let n = self.interfaces.len().max(1) as u32;
                    if self.interfaces.iter().any(|i| i == "any") {
                        8
                    } else {
                        (32 / n).max(8)
                    }
                });
                let ring = RingConfig {
                    block_size: self.ring_block_size,
                    block_count: ring_blocks,
                    retire_ms: 50,
                };
                ring.validate()?;
                let snaplen =
                    self.snaplen
                        .unwrap_or(if self.write.is_some() { 262_144 } else { 512 });
                if !(64..=262_144).contains(&snaplen) {
                    anyhow::bail!("--snaplen must be between 64 and 262144, got {snaplen}");
                }
                Source::Live(LiveSettings {
                    interfaces: self.interfaces.clone(),
                    promiscuous: self.promiscuous,
                    snaplen,
                    ring,
                    duration_nanos,
                    write: self.write.clone(),
                    user: self.user.clone(),
                    filter: self.filter.clone(),
                    local_nets_given: !self.net4.is_empty() || !self.net6.is_empty(),
                })
            }
        };
        let live = matches!(source, Source::Live(_));
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
        // Live text output prints every 2 s like iftop -t, unless -s asks for one report.
        let interval = match (self.interval, live, self.seconds, self.format) {
            (Some(i), _, _, _) => Some(i),
            (None, true, None, FormatArg::Text) => Some(2.0),
            _ => None,
        };
        Ok(Settings {
            file_filter: if live { None } else { self.filter.clone() },
            file_duration_nanos: if live { None } else { duration_nanos },
            source,
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
            interval_nanos: interval
                .map(|s| secs_to_nanos("--interval", s))
                .transpose()?,
            format: self.format,
            lines: self.lines,
            bytes_units: self.bytes_units,
            summary: !self.no_summary,
            progress: !live && !self.no_progress && std::io::stderr().is_terminal(),
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
    if args.list_interfaces {
        return match live::list(&mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wirewatch: error: {e:#}");
                ExitCode::from(EXIT_BAD_INPUT)
            }
        };
    }
    let settings = match args.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wirewatch: error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let result = match &settings.source {
        Source::File(p) => offline::run(&settings, p, &mut std::io::stdout().lock()),
        Source::Live(ls) => live::run(&settings, ls, &mut std::io::stdout().lock()),
    };
    match result {
        Ok(RunOutcome::Clean) => ExitCode::SUCCESS,
        Ok(RunOutcome::Warned(w)) => {
            eprintln!("wirewatch: warning: {w}");
            ExitCode::SUCCESS
        }
        Ok(RunOutcome::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wirewatch: error: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
