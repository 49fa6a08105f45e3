//! Command-line parsing: raw arguments become validated [`Settings`] before
//! anything runs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use wirewatch_flow::{ByteMode, FlowConfig, IpNet, LayerMode, SortKey, View};

use crate::config::{self, Config, PortDisplay};
use crate::detect::{AlertMode, DetectSettings};
use crate::history::{HistorySettings, DEFAULT_FLUSH_SECS};
use crate::live::{self, LiveSettings};
use crate::offline::{self, RunOutcome};
use crate::tui::{ScreenOptions, ScreenSettings, ScreenSort};
use wirewatch_live::RingConfig;

/// Exit code for bad input: unreadable capture, bad arguments.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit status of `-r FILE --alerts-exit` when an alert fired.
pub const EXIT_ALERTS: u8 = 1;

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
    /// every capability (the process-scan thread alone keeps CAP_SYS_PTRACE and
    /// CAP_DAC_READ_SEARCH unless --no-processes).
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

    /// Text output (iftop -t) even when stdout is a terminal; without it a
    /// terminal gets the interactive screen.
    #[arg(short = 't')]
    pub text: bool,

    /// Screen: do not resolve host names (iftop -n).
    #[arg(short = 'n')]
    pub no_dns: bool,

    /// Screen: show port numbers, not service names (iftop -N).
    #[arg(short = 'N')]
    pub no_services: bool,

    /// Screen: no bar graphs (iftop -b).
    #[arg(short = 'b')]
    pub no_bars: bool,

    /// Count and show IPv6 link-local traffic, which live capture leaves out
    /// by default like iftop (files always count it) (iftop -l).
    #[arg(short = 'l')]
    pub link_local: bool,

    /// Screen: top of the bar scale in bits/s, with K, M or G (iftop -m).
    #[arg(short = 'm', value_name = "LIMIT")]
    pub max_bandwidth: Option<String>,

    /// Read this iftop configuration file instead of ~/.iftoprc (iftop -c);
    /// a name ending in .toml is read as wirewatch TOML.
    #[arg(short = 'c', value_name = "FILE")]
    pub config_iftop: Option<PathBuf>,

    /// wirewatch TOML configuration (default $XDG_CONFIG_HOME/wirewatch/config.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Screen with -r: replay speed, a multiple of real time (1 = as
    /// recorded) or `max` (as fast as it reads).
    #[arg(long, value_name = "SPEED")]
    pub speed: Option<String>,

    /// Do not look for the processes owning sockets.
    #[arg(long)]
    pub no_processes: bool,

    /// History database: live capture writes it (default
    /// $XDG_DATA_HOME/wirewatch/history.db, /var/lib/wirewatch/history.db
    /// as root); with -r the file is imported into it; `history` reads it.
    #[arg(long, value_name = "PATH", global = true)]
    pub db: Option<PathBuf>,

    /// Keep no history of this live capture.
    #[arg(long, conflicts_with = "db")]
    pub no_history: bool,

    /// Seconds between history writes: what a crash can lose (default 10).
    #[arg(long, value_name = "SECS")]
    pub history_flush: Option<f64>,

    /// Where alerts go: `text` (one line each on stderr; the default),
    /// `json` (NDJSON on stdout, instead of the traffic report),
    /// `json:FILE` (NDJSON appended to FILE) or `none`.
    #[arg(long, value_name = "MODE")]
    pub alerts: Option<String>,

    /// With -r: exit with status 1 when any alert fired (for scripts and CI).
    #[arg(long)]
    pub alerts_exit: bool,

    /// Run no detector.
    #[arg(long, conflicts_with_all = ["alerts", "alerts_exit", "ml", "model"])]
    pub no_detect: bool,

    /// Run the online ML detector too (Kitsune-class; slower: about
    /// 250,000 packets/s).
    #[arg(long, global = true)]
    pub ml: bool,

    /// The ML detector's model: loaded when the file exists (no new
    /// training period), saved at the end. Implies --ml.
    #[arg(long, value_name = "FILE", global = true)]
    pub model: Option<PathBuf>,

    /// A subcommand instead of capturing.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Query the traffic history: top, series, flows, plot.
    History(crate::history_cmd::HistoryArgs),
    /// Score the detectors against labeled captures.
    Eval(crate::eval_cmd::EvalArgs),
    /// Forecast traffic from history (intervals, capacity warnings, a
    /// chart), or backtest the models on a CSV series.
    Forecast(crate::forecast_cmd::ForecastArgs),
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
    /// Owning process (live).
    Process,
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
    /// Detection, unless `--no-detect`.
    pub detect: Option<DetectSettings>,
    /// `--alerts-exit`.
    pub alerts_exit: bool,
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
    /// Run the interactive screen instead of printing reports.
    pub screen: Option<ScreenSettings>,
    /// Attribute flows to local processes in live reports (JSON and CSV).
    pub processes: bool,
    /// Where and how traffic is kept (`None`: not kept).
    pub history: Option<HistorySettings>,
}

/// `-m`: the same parser as `max-bandwidth` (iftop's 1024-based K, M, G).
fn parse_bandwidth(s: &str) -> anyhow::Result<f64> {
    config::parse_bandwidth(s.trim())
        .map(|b| b as f64)
        .map_err(|e| anyhow::anyhow!("-m takes a bandwidth in bits/s like 100M: {e}"))
}

/// A default config path that does not exist or may not be read (another
/// user's home after `sudo -u`) is skipped; a named one is an error.
fn default_unreadable(e: &config::ConfigError) -> bool {
    e.is_not_found() || e.line().is_none() && e.message().contains("ermission denied")
}

/// The configuration files: `-c` (or ~/.iftoprc when present), then the
/// TOML file (`--config`, or the default path when present).
fn load_config(args: &Args) -> anyhow::Result<Config> {
    let (rc_default, toml_default) = config::default_paths();
    let is_toml = |p: &std::path::Path| p.extension().is_some_and(|e| e == "toml");
    // -c names either layer by its format; a named file replaces that
    // layer's default file.
    let (rc_named, toml_named) = match &args.config_iftop {
        Some(p) if is_toml(p) => (None, Some(p.clone())),
        Some(p) => (Some(p.clone()), None),
        None => (None, None),
    };
    if toml_named.is_some() && args.config.is_some() {
        anyhow::bail!("-c names a TOML file and so does --config: give one");
    }
    let toml_named = toml_named.or(args.config.clone());
    let load = |named: Option<std::path::PathBuf>,
                default: Option<std::path::PathBuf>,
                toml: bool|
     -> anyhow::Result<Config> {
        let explicit = named.is_some();
        let Some(p) = named.or(default) else {
            return Ok(Config::default());
        };
        let r = if toml {
            config::load_toml(&p)
        } else {
            config::load_iftoprc(&p)
        };
        match r {
            Ok(c) => Ok(c),
            Err(e) if !explicit && default_unreadable(&e) => Ok(Config::default()),
            Err(e) => Err(anyhow::anyhow!("config {e}")),
        }
    };
    let rc = load(rc_named, rc_default, false)?;
    let toml = load(toml_named, toml_default, true)?;
    Ok(rc.merge(toml))
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
    /// The detectors' settings: the config file's, with `--ml`.
    fn detect_config(&self, cfg: &Config) -> wirewatch_detect::DetectConfig {
        let mut d = cfg.detect.clone().unwrap_or_default();
        if self.ml {
            d.ml.enabled = true;
        }
        d
    }

    /// History: on for live capture unless turned off, on for `-r` only
    /// with `--db` (an import).
    fn history_settings(
        &self,
        cfg: &Config,
        live: bool,
    ) -> anyhow::Result<Option<HistorySettings>> {
        let h = &cfg.history;
        let flush_nanos = match self.history_flush {
            Some(s) => {
                if !(0.01..=60.0).contains(&s) {
                    anyhow::bail!("--history-flush must be between 0.01 and 60 seconds (rows are cut at every minute anyway), got {s}");
                }
                (s * 1e9).round() as i64
            }
            None => h.flush_secs.unwrap_or(DEFAULT_FLUSH_SECS) * 1_000_000_000,
        };
        let defaults = wirewatch_store::Retention::default();
        let retention = wirewatch_store::Retention {
            minutes: h.keep[0].unwrap_or(defaults.minutes),
            hours: h.keep[1].unwrap_or(defaults.hours),
            days: h.keep[2].unwrap_or(defaults.days),
        };
        // Coarser rows are made from finer ones: they must live as long.
        let longer = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a <= b,
        };
        if !longer(retention.minutes, retention.hours) || !longer(retention.hours, retention.days) {
            anyhow::bail!(
                "config [history]: keep-minutes <= keep-hours <= keep-days is required (coarser rows are made from finer ones)"
            );
        }
        let path = match (&self.db, &h.db) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(p)) if live => Some(p.clone()),
            _ => None,
        };
        let wanted = if live {
            !self.no_history && h.enabled.unwrap_or(true)
        } else {
            self.db.is_some()
        };
        if !wanted {
            return Ok(None);
        }
        let Some(path) = path.or_else(crate::history::default_db_path) else {
            return Ok(None);
        };
        Ok(Some(HistorySettings {
            path,
            flush_nanos,
            retention,
        }))
    }

    /// Checks the arguments and derives the settings.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let cfg = load_config(self)?;
        let mut interfaces = self.interfaces.clone();
        if interfaces.is_empty() {
            interfaces.extend(cfg.interface.clone());
        }
        let filter = self.filter.clone().or(cfg.filter_code.clone());
        let promiscuous = self.promiscuous || cfg.promiscuous.unwrap_or(false);
        let duration_nanos = self.seconds.map(|s| secs_to_nanos("-s", s)).transpose()?;
        let source = match self.read.clone() {
            Some(p) => Source::File(p),
            None => {
                let ring_blocks = self.ring_blocks.unwrap_or_else(|| {
                    let n = interfaces.len().max(1) as u32;
                    if interfaces.iter().any(|i| i == "any") {
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
                    interfaces: interfaces.clone(),
                    promiscuous,
                    snaplen,
                    ring,
                    duration_nanos,
                    write: self.write.clone(),
                    user: self.user.clone(),
                    filter: filter.clone(),
                    local_nets_given: !self.net4.is_empty()
                        || !self.net6.is_empty()
                        || cfg.net_filter.is_some()
                        || cfg.net_filter6.is_some(),
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
        if self.net4.is_empty() {
            local_nets.extend(cfg.net_filter);
        }
        if self.net6.is_empty() {
            local_nets.extend(cfg.net_filter6);
        }
        let layers = match (self.ip_layers, self.decap) {
            (Some(LayersArg::Outer), true) => {
                anyhow::bail!("--decap contradicts --ip-layers outer")
            }
            (Some(LayersArg::Outer), false) | (None, false) => LayerMode::Outer,
            (Some(LayersArg::Inner), _) | (None, true) => LayerMode::Inner,
            (Some(LayersArg::All), _) => LayerMode::All,
        };
        let (src_port, dst_port) = match (self.ports, cfg.port_display) {
            (true, _) => (true, true),
            (false, Some(PortDisplay::On)) => (true, true),
            (false, Some(PortDisplay::SourceOnly)) => (true, false),
            (false, Some(PortDisplay::DestinationOnly)) => (false, true),
            (false, _) => (false, false),
        };
        let ports = src_port && dst_port;
        let view = match (self.view, ports) {
            (Some(ViewArg::Port), _) | (None, true) => View::Port,
            (Some(v), true) => {
                anyhow::bail!("-P contradicts --view {}", format!("{v:?}").to_lowercase())
            }
            (Some(ViewArg::Pair), false) | (None, false) => View::Pair,
            (Some(ViewArg::Src), false) => View::Src,
            (Some(ViewArg::Dst), false) => View::Dst,
        };
        let sort = self
            .sort
            .map(|s| match s {
                SortArg::S2 => SortKey::Rate2s,
                SortArg::S10 => SortKey::Rate10s,
                SortArg::S40 => SortKey::Rate40s,
                SortArg::Total => SortKey::Total,
                SortArg::Source => SortKey::Source,
                SortArg::Destination => SortKey::Destination,
                SortArg::Process => SortKey::Owner,
            })
            .or(cfg.sort);
        let bytes_units = self.bytes_units || cfg.use_bytes.unwrap_or(false);
        // The screen: a terminal on stdout, text format, no -t, -s or
        // --interval, and not an import (-r with --db).
        let wants_screen = self.format == FormatArg::Text
            && !self.text
            && !(self.read.is_some() && self.db.is_some())
            && self.seconds.is_none()
            && self.interval.is_none()
            && crate::tui::stdout_is_terminal();
        let processes = !self.no_processes && cfg.processes.unwrap_or(true);
        let screen = if wants_screen {
            let speed = match self.speed.as_deref() {
                None => Some(1.0),
                Some("max") => None,
                Some(x) => match x.parse::<f64>() {
                    Ok(v) if v.is_finite() && v > 0.0 && v <= 1e6 => Some(v),
                    _ => anyhow::bail!(
                        "--speed takes a positive multiple of real time or 'max', got '{x}'"
                    ),
                },
            };
            let max_bits = match &self.max_bandwidth {
                Some(m) => Some(parse_bandwidth(m)?),
                None => cfg.max_bandwidth_bits_per_sec.map(|b| b as f64),
            };
            let refresh_ms = cfg.refresh_ms.unwrap_or(1000);
            if refresh_ms == 0 {
                anyhow::bail!("config: refresh-ms must be at least 1");
            }
            Some(ScreenSettings {
                options: ScreenOptions {
                    dns: !self.no_dns && cfg.dns_resolution.unwrap_or(true),
                    services: !self.no_services && cfg.port_resolution.unwrap_or(true),
                    show_src: !cfg.hide_source.unwrap_or(false),
                    show_dst: !cfg.hide_destination.unwrap_or(false),
                    src_port,
                    dst_port,
                    line_mode: cfg.line_display.unwrap_or_default(),
                    sort: match sort {
                        Some(SortKey::Rate2s) => ScreenSort::Rate(0),
                        Some(SortKey::Rate40s) => ScreenSort::Rate(2),
                        Some(SortKey::Source) => ScreenSort::Source,
                        Some(SortKey::Destination) => ScreenSort::Destination,
                        Some(SortKey::Owner) => ScreenSort::Process,
                        _ => ScreenSort::Rate(1),
                    },
                    bars: !self.no_bars && cfg.show_bars.unwrap_or(true),
                    // iftop's bars show the 10 s average by default.
                    bar_average: 1,
                    totals: cfg.show_totals.unwrap_or(false),
                    log_scale: cfg.log_scale.unwrap_or(true),
                    max_bits,
                    bytes: bytes_units,
                    processes: processes && live,
                    screen_filter: cfg.screen_filter.clone(),
                },
                speed,
                refresh_nanos: refresh_ms as i64 * 1_000_000,
            })
        } else {
            if let Some(m) = &self.max_bandwidth {
                parse_bandwidth(m)?;
            }
            None
        };
        if let Some(re) = cfg.screen_filter.as_deref() {
            if let Err(e) = regex::Regex::new(re) {
                anyhow::bail!("config screen-filter: {}", crate::tui::app::regex_error(&e));
            }
        }
        // Live text output prints every 2 s like iftop -t, unless -s asks for one report.
        let interval = match (self.interval, live, self.seconds, self.format) {
            (Some(i), _, _, _) => Some(i),
            (None, true, None, FormatArg::Text) => Some(2.0),
            _ => None,
        };
        let link_local = self.link_local || cfg.link_local.unwrap_or(false);
        let history = self.history_settings(&cfg, live)?;
        let detect = if self.no_detect {
            None
        } else {
            let mode = match &self.alerts {
                Some(m) => AlertMode::parse(m).map_err(|e| anyhow::anyhow!(e))?,
                None => AlertMode::Text,
            };
            if mode == AlertMode::JsonStdout && screen.is_some() {
                anyhow::bail!(
                    "--alerts json: the screen owns the terminal; give a file (--alerts json:FILE)"
                );
            }
            Some(DetectSettings {
                cfg: self.detect_config(&cfg),
                mode,
                model: self.model.clone(),
                watch: history
                    .as_ref()
                    .filter(|_| cfg.forecast.watch != Some(false))
                    .map(|h| crate::watch::WatchSettings {
                        db: h.path.clone(),
                        capacity: cfg.forecast.capacity.clone(),
                        fraction: cfg.forecast.fraction.unwrap_or(0.9),
                        background: live,
                    }),
            })
        };
        if self.alerts_exit && live {
            anyhow::bail!(
                "--alerts-exit works with -r FILE (a live capture has no end to exit at)"
            );
        }
        let detecting = detect.is_some();
        Ok(Settings {
            detect,
            alerts_exit: self.alerts_exit,
            history: history.clone(),
            screen,
            // Process names go to JSON and CSV reports, and to the history.
            processes: live
                && processes
                && (matches!(self.format, FormatArg::Json | FormatArg::Csv) || history.is_some()),
            file_filter: if live { None } else { filter.clone() },
            file_duration_nanos: if live { None } else { duration_nanos },
            source,
            flow: FlowConfig {
                bytes: match self.bytes {
                    BytesArg::Ip => ByteMode::Ip,
                    BytesArg::Frame => ByteMode::Frame,
                },
                layers,
                only_local_nets: !local_nets.is_empty(),
                skip_link_local: live && !link_local,
                local_nets,
                idle_timeout_nanos: self
                    .idle_timeout
                    .map(|s| secs_to_nanos("--idle-timeout", s))
                    .transpose()?,
                // The history recorder (also the detectors' row cutter)
                // takes expired flows' last counts.
                keep_expired: history.is_some() || detecting,
            },
            view,
            interval_sort: sort.unwrap_or(SortKey::Rate10s),
            final_sort: sort.unwrap_or(SortKey::Total),
            interval_nanos: interval
                .map(|s| secs_to_nanos("--interval", s))
                .transpose()?,
            format: self.format,
            lines: self.lines,
            bytes_units,
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
    if let Err(e) = crate::clock::init() {
        eprintln!("wirewatch: error: {e:#}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    if let Some(Command::History(h)) = &args.command {
        let configured = match &args.db {
            Some(p) => Some(p.clone()),
            None => match load_config(&args) {
                Ok(c) => c.history.db,
                Err(e) => {
                    eprintln!("wirewatch: error: {e}");
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
            },
        };
        let Some(db) = configured.or_else(crate::history::default_query_path) else {
            eprintln!("wirewatch: error: no history database: give --db PATH");
            return ExitCode::from(EXIT_BAD_INPUT);
        };
        return match crate::history_cmd::run(h, &db, &mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e)
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
            {
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("wirewatch: error: {e:#}");
                ExitCode::from(EXIT_BAD_INPUT)
            }
        };
    }
    if let Some(Command::Forecast(f)) = &args.command {
        let result = load_config(&args).and_then(|c| {
            let db = args
                .db
                .clone()
                .or(c.history.db.clone())
                .or_else(crate::history::default_query_path);
            crate::forecast_cmd::run(f, db.as_deref(), &c.forecast, &mut std::io::stdout().lock())
        });
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e)
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
            {
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("wirewatch: error: {e:#}");
                ExitCode::from(EXIT_BAD_INPUT)
            }
        };
    }
    if let Some(Command::Eval(e)) = &args.command {
        let result = load_config(&args).and_then(|c| {
            crate::eval_cmd::run(
                e,
                &args.detect_config(&c),
                args.model.as_deref(),
                &mut std::io::stdout().lock(),
            )
        });
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wirewatch: error: {e:#}");
                ExitCode::from(EXIT_BAD_INPUT)
            }
        };
    }
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
    let result = match (&settings.source, &settings.screen) {
        (_, Some(scr)) => crate::tui::run(&settings, scr),
        (Source::File(p), None) => offline::run(&settings, p, &mut std::io::stdout().lock()),
        (Source::Live(ls), None) => live::run(&settings, ls, &mut std::io::stdout().lock()),
    };
    match result {
        Ok(RunOutcome::Clean) => ExitCode::SUCCESS,
        // The count is on stderr already (Detection::finish).
        Ok(RunOutcome::Alerted(_)) => ExitCode::from(EXIT_ALERTS),
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
