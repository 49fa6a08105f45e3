//! Validated settings: what the command line and the config files ask
//! for, checked and turned into typed settings per part (capture, flow
//! table, reports, screen, history, detection) before anything runs.
//!
//! The parsed command line ([`crate::cli::Args`]) comes in; nothing below
//! this module sees it.

use std::io::IsTerminal;
use std::path::PathBuf;

use wirewatch_flow::{ByteMode, FlowConfig, IpNet, LayerMode, SortKey, View};
use wirewatch_live::RingConfig;

use wirewatch_pipeline::detect::DetectSettings;
use wirewatch_pipeline::history::DEFAULT_FLUSH_SECS;
pub use wirewatch_pipeline::history::{default_db_path, default_query_path, HistorySettings};
pub use wirewatch_pipeline::live::LiveSettings;
use wirewatch_pipeline::watch::WatchSettings;

use crate::cli::{Args, BytesArg, FormatArg, LayersArg, SortArg, ViewArg};
use crate::config::{self, Config, LineMode, PortDisplay};

/// Where packets come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A capture file (`-r`).
    File(PathBuf),
    /// Live interfaces.
    Live(LiveSettings),
}

/// Detection and where its alerts go.
#[derive(Clone, Debug)]
pub struct Detect {
    /// The detectors.
    pub settings: DetectSettings,
    /// `--alerts`.
    pub alerts: AlertMode,
}

/// Report format (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// iftop -t style table.
    Text,
    /// NDJSON, one object per report.
    Json,
    /// CSV, header then one row per entry.
    Csv,
}

/// Validated settings for a run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The web server (`--web`, `serve`).
    pub web: Option<wirewatch_web::WebSettings>,
    /// Detection, unless `--no-detect`.
    pub detect: Option<Detect>,
    /// `--alerts-exit`.
    pub alerts_exit: bool,
    /// Packet source.
    pub source: Source,
    /// Filter expression for `-r` (live filters are in [`LiveSettings`]).
    pub file_filter: Option<String>,
    /// Stop after this much capture time (`-s` with `-r`).
    pub file_duration_nanos: Option<i64>,
    /// `-r` with `--web` and `--speed`: the replay is paced at this multiple
    /// of real time (`None`: as fast as it reads).
    pub replay_speed: Option<f64>,
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
    pub format: Format,
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
    /// `[forecast]` for the web API's forecasts.
    pub forecast: wirewatch_pipeline::requests::forecast::ForecastDefaults,
    /// Automated responses (`--respond`, `[respond]`).
    pub respond: Option<RespondSettings>,
}

/// Automated responses, checked.
#[derive(Clone, Debug)]
pub struct RespondSettings {
    /// The policy in force (its mode from `--respond` over the config's).
    pub policy: wirewatch_respond::policy::Policy,
    /// The nft program.
    pub nft: std::path::PathBuf,
    /// Where decisions are recorded (the history database), if anywhere.
    pub db: Option<std::path::PathBuf>,
}

/// The policy in force: `[respond]`'s (or the default one), in the mode
/// `--respond` gives; `None` when responses are off (no `--respond` and
/// no `[respond]`, or `--respond off`).
pub fn respond_policy(a: &Args, cfg: &Config) -> Option<wirewatch_respond::policy::Policy> {
    use wirewatch_respond::policy::Mode;
    let configured = cfg.respond.policy.clone();
    let mode = match a.detect.respond.as_deref() {
        Some("off") => return None,
        Some("enforce") => Some(Mode::Enforce),
        Some(_) => Some(Mode::DryRun),
        None => None,
    };
    let mut p = match (configured, mode) {
        (None, None) => return None,
        (p, _) => p.unwrap_or_default(),
    };
    if let Some(m) = mode {
        p.mode = m;
    }
    Some(p)
}

/// `--respond` and `[respond]` checked against the rest of the run.
fn respond(
    a: &Args,
    cfg: &Config,
    live: bool,
    detecting: bool,
    history: Option<&HistorySettings>,
) -> anyhow::Result<Option<RespondSettings>> {
    use wirewatch_respond::policy::Mode;
    let Some(policy) = respond_policy(a, cfg) else {
        return Ok(None);
    };
    if !detecting {
        anyhow::bail!("--respond acts on alerts: it needs the detectors (drop --no-detect)");
    }
    if policy.mode == Mode::Enforce && !live {
        anyhow::bail!(
            "--respond enforce acts on live capture only; a replay can show what it would do with --respond dry-run"
        );
    }
    let db = match history {
        Some(h) => Some(h.path.clone()),
        None if live => a
            .history
            .db
            .clone()
            .or(cfg.history.db.clone())
            .or_else(wirewatch_pipeline::history::default_db_path),
        None => None,
    };
    Ok(Some(RespondSettings {
        policy,
        nft: cfg
            .respond
            .nft
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("nft")),
        db,
    }))
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
pub fn load_config(args: &Args) -> anyhow::Result<Config> {
    let (rc_default, toml_default) = config::default_paths();
    let is_toml = |p: &std::path::Path| p.extension().is_some_and(|e| e == "toml");
    // -c names either layer by its format; a named file replaces that
    // layer's default file.
    let (rc_named, toml_named) = match &args.files.config_iftop {
        Some(p) if is_toml(p) => (None, Some(p.clone())),
        Some(p) => (Some(p.clone()), None),
        None => (None, None),
    };
    if toml_named.is_some() && args.files.config.is_some() {
        anyhow::bail!("-c names a TOML file and so does --config: give one");
    }
    let toml_named = toml_named.or(args.files.config.clone());
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

// ---- Capture

/// The memory budget when neither `--memory-limit` nor `[limits] memory` says.
pub const DEFAULT_MEMORY: u64 = 150 << 20;

/// Memory the budget keeps for everything but the flow table, detection
/// and the capture rings: the program, the history writer's queue, process
/// and name tables.
const RESERVED_MEMORY: u64 = 24 << 20;

/// Detection's share of what the budget leaves after the rings and the
/// reserve (its tables are shrunk to fit, the baselines excepted).
const DETECT_SHARE: f64 = 0.45;

/// Splits the memory budget: the rings and the reserve first, then
/// detection's share (its tables shrunk to fit it), and the rest to the
/// flow table at what a flow costs in the table and in a report of every
/// entry. Returns the flows the table may hold (`[limits] flows` if set).
fn split_budget(
    a: &Args,
    cfg: &Config,
    source: &Source,
    detect: Option<&mut wirewatch_detect::DetectConfig>,
) -> usize {
    let memory = a
        .capture
        .memory_limit
        .or(cfg.limits.memory)
        .unwrap_or(DEFAULT_MEMORY);
    let rings = match source {
        Source::File(_) => 0,
        Source::Live(l) => l.ring.total_bytes() * l.interfaces.len().max(1) as u64,
    };
    let mut left = memory.saturating_sub(rings + RESERVED_MEMORY).max(8 << 20);
    if let Some(d) = detect {
        let state = d.fit_memory((left as f64 * DETECT_SHARE) as u64);
        left = left.saturating_sub(state).max(8 << 20);
    }
    if a.report.tcp {
        // The DNS transaction tracker's most (flow::DnsTracker).
        left = left.saturating_sub(wirewatch_flow::DnsTracker::MAX_BYTES as u64);
    }
    if let Some(n) = cfg.limits.flows {
        return n;
    }
    let mut per_flow =
        wirewatch_flow::FlowTable::BYTES_PER_FLOW + wirewatch_flow::Snapshot::BYTES_PER_FLOW;
    if a.report.tcp {
        // At most one flow in four holds a TCP analysis (flow::tcp_cap).
        per_flow += wirewatch_flow::TcpAnalysis::SIZE_BYTES.div_ceil(4);
    }
    (left / per_flow as u64) as usize
}

/// `--idle-timeout`: seconds (0 for never); by default 40 s live (iftop's
/// longest window) and never for files.
fn idle_timeout(secs: Option<f64>, live: bool) -> anyhow::Result<Option<i64>> {
    match secs {
        Some(0.0) => Ok(None),
        Some(s) => secs_to_nanos("--idle-timeout", s).map(Some),
        None if live => Ok(Some(LIVE_IDLE_TIMEOUT_NANOS)),
        None => Ok(None),
    }
}

/// Live flows idle this long are folded away: iftop's 40 s window.
const LIVE_IDLE_TIMEOUT_NANOS: i64 = 40_000_000_000;

// ---- History

// ---- Detection

/// Where alerts are shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertMode {
    /// One line per alert on stderr (the screen shows them in its status area).
    Text,
    /// NDJSON on stdout: the traffic report is then not printed.
    JsonStdout,
    /// NDJSON appended to a file.
    JsonFile(PathBuf),
    /// Not shown (still stored in history and counted for --alerts-exit).
    Quiet,
}

impl AlertMode {
    /// Parses `--alerts`: `text`, `json`, `json:PATH`, `none`.
    pub fn parse(s: &str) -> Result<AlertMode, String> {
        match s {
            "text" => Ok(AlertMode::Text),
            "json" | "json:-" => Ok(AlertMode::JsonStdout),
            "none" => Ok(AlertMode::Quiet),
            _ => match s.strip_prefix("json:") {
                Some(p) if !p.is_empty() => Ok(AlertMode::JsonFile(PathBuf::from(p))),
                _ => Err(format!(
                    "--alerts: expected text, json, json:FILE or none, got '{s}'"
                )),
            },
        }
    }
}

// ---- Screen

/// Screen settings from flags and config files.
#[derive(Clone, Debug)]
pub struct ScreenSettings {
    /// What the screen starts with.
    pub options: ScreenOptions,
    /// Replay speed for `-r` (`None`: as fast as possible).
    pub speed: Option<f64>,
    /// Redraw period.
    pub refresh_nanos: i64,
}

/// Whether the screen should be used: stdout is a terminal.
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// The last line of a regex error (the one that says what is wrong).
pub fn regex_error(e: &regex::Error) -> String {
    e.to_string()
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Entry order on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScreenSort {
    /// By the 2 s (0), 10 s (1) or 40 s (2) average, both directions.
    Rate(usize),
    /// By the source as displayed (name or address).
    Source,
    /// By the destination as displayed.
    Destination,
    /// By the owning process's name.
    Process,
    /// By retransmitted segments, most first (`--tcp`; key `5`).
    Retransmissions,
    /// By smoothed RTT, slowest first (`--tcp`; key `6`).
    Rtt,
}

/// What the screen starts with: iftop's flags and config directives.
#[derive(Clone, Debug)]
pub struct ScreenOptions {
    /// Resolve host names (`-n` turns it off; key `n`).
    pub dns: bool,
    /// Port numbers as service names (`-N` turns it off; key `N`).
    pub services: bool,
    /// Show the source host (key `s`).
    pub show_src: bool,
    /// Show the destination host (key `d`).
    pub show_dst: bool,
    /// Show the source port (`-P`, keys `S`, `p`).
    pub src_port: bool,
    /// Show the destination port (`-P`, keys `D`, `p`).
    pub dst_port: bool,
    /// Line display (key `t`).
    pub line_mode: LineMode,
    /// Order (`-o`, keys `1 2 3 < >`).
    pub sort: ScreenSort,
    /// Bar graphs (`-b` turns them off; key `b`).
    pub bars: bool,
    /// Which average the bars show: 0 = 2 s, 1 = 10 s, 2 = 40 s (key `B`).
    pub bar_average: usize,
    /// Cumulative column per entry (key `T`).
    pub totals: bool,
    /// Logarithmic bar scale (key `L`).
    pub log_scale: bool,
    /// Fixed top of the bar scale, bits per second (`-m`).
    pub max_bits: Option<f64>,
    /// Rates in bytes (`-B`).
    pub bytes: bool,
    /// The process column, and (live) the socket scan that fills it.
    pub processes: bool,
    /// Screen filter regex (key `l`), applied to the displayed text.
    pub screen_filter: Option<String>,
}

impl Default for ScreenOptions {
    fn default() -> Self {
        ScreenOptions {
            dns: true,
            services: true,
            show_src: true,
            show_dst: true,
            src_port: false,
            dst_port: false,
            line_mode: LineMode::TwoLine,
            sort: ScreenSort::Rate(1),
            bars: true,
            bar_average: 1,
            totals: false,
            log_scale: true,
            max_bits: None,
            bytes: false,
            processes: true,
            screen_filter: None,
        }
    }
}

// ---- From the command line

/// The detectors' settings: the config file's, with `--ml`.
pub fn detect_config(a: &Args, cfg: &Config) -> wirewatch_detect::DetectConfig {
    let mut d = cfg.detect.clone().unwrap_or_default();
    if a.detect.ml {
        d.ml.enabled = true;
    }
    d
}

/// History: on for live capture unless turned off, on for `-r` only
/// with `--db` (an import).
fn history_settings(a: &Args, cfg: &Config, live: bool) -> anyhow::Result<Option<HistorySettings>> {
    let h = &cfg.history;
    let flush_nanos = match a.history.history_flush {
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
    let path = match (&a.history.db, &h.db) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(p)) if live => Some(p.clone()),
        _ => None,
    };
    let wanted = if live {
        !a.history.no_history && h.enabled.unwrap_or(true)
    } else {
        a.history.db.is_some()
    };
    if !wanted {
        return Ok(None);
    }
    let Some(path) = path.or_else(default_db_path) else {
        return Ok(None);
    };
    Ok(Some(HistorySettings {
        path,
        flush_nanos,
        retention,
    }))
}

/// Checks the arguments and the config files and derives the settings,
/// part by part.
pub fn build(a: &Args) -> anyhow::Result<Settings> {
    let cfg = load_config(a)?;
    let mut interfaces = a.capture.interfaces.clone();
    if interfaces.is_empty() {
        interfaces.extend(cfg.interface.clone());
    }
    let filter = a.capture.filter.clone().or(cfg.filter_code.clone());
    let duration_nanos = a
        .capture
        .seconds
        .map(|s| secs_to_nanos("-s", s))
        .transpose()?;
    let source = source(a, &cfg, interfaces, filter.clone(), duration_nanos)?;
    let live = matches!(source, Source::Live(_));
    let local_nets = local_nets(a, &cfg)?;
    let layers = layers(a)?;
    let (src_port, dst_port, view) = ports_and_view(a, &cfg)?;
    let sort = sort(a, &cfg);
    let bytes_units = a.report.bytes_units || cfg.use_bytes.unwrap_or(false);
    let processes = !a.screen.no_processes && cfg.processes.unwrap_or(true);
    let screen = screen(
        a,
        &cfg,
        ScreenParts {
            src_port,
            dst_port,
            sort,
            bytes_units,
            processes: processes && live,
        },
    )?;
    if let Some(re) = cfg.screen_filter.as_deref() {
        if let Err(e) = regex::Regex::new(re) {
            anyhow::bail!("config screen-filter: {}", regex_error(&e));
        }
    }
    // Live text output prints every 2 s like iftop -t, unless -s asks for one report.
    let interval = match (a.report.interval, live, a.capture.seconds, a.report.format) {
        (Some(i), _, _, _) => Some(i),
        (None, true, None, FormatArg::Text) => Some(2.0),
        _ => None,
    };
    let link_local = a.report.link_local || cfg.link_local.unwrap_or(false);
    let history = history_settings(a, &cfg, live)?;
    let mut detect = detection(a, &cfg, history.as_ref(), screen.is_some(), live)?;
    if a.detect.alerts_exit && live {
        anyhow::bail!("--alerts-exit works with -r FILE (a live capture has no end to exit at)");
    }
    let detecting = detect.is_some();
    let respond = respond(a, &cfg, live, detecting, history.as_ref())?;
    let max_flows = split_budget(
        a,
        &cfg,
        &source,
        detect.as_mut().map(|d| &mut d.settings.cfg),
    );
    Ok(Settings {
        respond,
        web: web(a, &cfg),
        detect,
        alerts_exit: a.detect.alerts_exit,
        history: history.clone(),
        forecast: cfg.forecast.defaults(),
        screen,
        // Process names go to JSON and CSV reports, to the history and to
        // the web API.
        processes: live
            && processes
            && (matches!(a.report.format, FormatArg::Json | FormatArg::Csv)
                || history.is_some()
                || web(a, &cfg).is_some()),
        file_filter: if live { None } else { filter.clone() },
        file_duration_nanos: if live { None } else { duration_nanos },
        replay_speed: match (live, web(a, &cfg)) {
            (false, Some(_)) => parse_speed(a.screen.speed.as_deref())?.flatten(),
            _ => None,
        },
        source,
        flow: FlowConfig {
            bytes: match a.report.bytes {
                BytesArg::Ip => ByteMode::Ip,
                BytesArg::Frame => ByteMode::Frame,
            },
            layers,
            only_local_nets: !local_nets.is_empty(),
            skip_link_local: live && !link_local,
            local_nets,
            idle_timeout_nanos: idle_timeout(a.report.idle_timeout, live)?,
            max_flows,
            // The history recorder (also the detectors' row cutter)
            // takes expired flows' last counts.
            keep_expired: history.is_some() || detecting,
            tcp_analysis: a.report.tcp,
        },
        view,
        interval_sort: sort.unwrap_or(SortKey::Rate10s),
        final_sort: sort.unwrap_or(SortKey::Total),
        interval_nanos: interval
            .map(|s| secs_to_nanos("--interval", s))
            .transpose()?,
        format: match a.report.format {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Csv => Format::Csv,
        },
        lines: a.report.lines,
        bytes_units,
        summary: !a.report.no_summary,
        progress: !live && !a.report.no_progress && std::io::stderr().is_terminal(),
    })
}

/// Where packets come from: `-r FILE`, or live interfaces with their ring,
/// snap length and filter.
fn source(
    a: &Args,
    cfg: &Config,
    interfaces: Vec<String>,
    filter: Option<String>,
    duration_nanos: Option<i64>,
) -> anyhow::Result<Source> {
    let promiscuous = a.capture.promiscuous || cfg.promiscuous.unwrap_or(false);
    Ok(match a.capture.read.clone() {
        Some(p) => Source::File(p),
        None => {
            let ring_blocks = a.capture.ring_blocks.unwrap_or_else(|| {
                let n = interfaces.len().max(1) as u32;
                if interfaces.iter().any(|i| i == "any") {
                    8
                } else {
                    (32 / n).max(8)
                }
            });
            let ring = RingConfig {
                block_size: a.capture.ring_block_size,
                block_count: ring_blocks,
                retire_ms: 50,
            };
            ring.validate()?;
            let snaplen = a.capture.snaplen.unwrap_or(if a.capture.write.is_some() {
                262_144
            } else {
                512
            });
            if !(64..=262_144).contains(&snaplen) {
                anyhow::bail!("--snaplen must be between 64 and 262144, got {snaplen}");
            }
            Source::Live(LiveSettings {
                interfaces: interfaces.clone(),
                promiscuous,
                snaplen,
                ring,
                duration_nanos,
                write: a.capture.write.clone(),
                user: a.capture.user.clone(),
                filter: filter.clone(),
                local_nets_given: !a.report.net4.is_empty()
                    || !a.report.net6.is_empty()
                    || cfg.net_filter.is_some()
                    || cfg.net_filter6.is_some(),
            })
        }
    })
}

/// `-F`, `-G` and their config lines: the local side of every flow.
fn local_nets(a: &Args, cfg: &Config) -> anyhow::Result<Vec<IpNet>> {
    let mut local_nets = Vec::new();
    for s in &a.report.net4 {
        let n: IpNet = s.parse()?;
        if !n.addr().is_ipv4() {
            anyhow::bail!("-F takes an IPv4 network, got '{s}' (use -G for IPv6)");
        }
        local_nets.push(n);
    }
    for s in &a.report.net6 {
        let n: IpNet = s.parse()?;
        if n.addr().is_ipv4() {
            anyhow::bail!("-G takes an IPv6 network, got '{s}' (use -F for IPv4)");
        }
        local_nets.push(n);
    }
    if a.report.net4.is_empty() {
        local_nets.extend(cfg.net_filter);
    }
    if a.report.net6.is_empty() {
        local_nets.extend(cfg.net_filter6);
    }
    Ok(local_nets)
}

/// `--ip-layers` and `--decap`.
fn layers(a: &Args) -> anyhow::Result<LayerMode> {
    Ok(match (a.report.ip_layers, a.report.decap) {
        (Some(LayersArg::Outer), true) => {
            anyhow::bail!("--decap contradicts --ip-layers outer")
        }
        (Some(LayersArg::Outer), false) | (None, false) => LayerMode::Outer,
        (Some(LayersArg::Inner), _) | (None, true) => LayerMode::Inner,
        (Some(LayersArg::All), _) => LayerMode::All,
    })
}

/// `-P`, `port-display` and `--view`: (source ports, destination ports, view).
fn ports_and_view(a: &Args, cfg: &Config) -> anyhow::Result<(bool, bool, View)> {
    let (src_port, dst_port) = match (a.report.ports, cfg.port_display) {
        (true, _) => (true, true),
        (false, Some(PortDisplay::On)) => (true, true),
        (false, Some(PortDisplay::SourceOnly)) => (true, false),
        (false, Some(PortDisplay::DestinationOnly)) => (false, true),
        (false, _) => (false, false),
    };
    let ports = src_port && dst_port;
    let view = match (a.report.view, ports) {
        (Some(ViewArg::Port), _) | (None, true) => View::Port,
        (Some(v), true) => {
            anyhow::bail!("-P contradicts --view {}", format!("{v:?}").to_lowercase())
        }
        (Some(ViewArg::Pair), false) | (None, false) => View::Pair,
        (Some(ViewArg::Src), false) => View::Src,
        (Some(ViewArg::Dst), false) => View::Dst,
    };
    Ok((src_port, dst_port, view))
}

/// `-o` or the config's `sort`.
fn sort(a: &Args, cfg: &Config) -> Option<SortKey> {
    a.report
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
        .or(cfg.sort)
}

/// What the screen takes from the report settings.
struct ScreenParts {
    src_port: bool,
    dst_port: bool,
    sort: Option<SortKey>,
    bytes_units: bool,
    processes: bool,
}

/// Whether host names are resolved (the screen's and the web API's):
/// unless `-n` or `dns-resolution` says no.
fn dns(a: &Args, cfg: &Config) -> bool {
    !a.screen.no_dns && cfg.dns_resolution.unwrap_or(true)
}

/// The web server `--web` or `serve` asks for (serve: on the config's
/// `[web] listen`, else [`wirewatch_web::DEFAULT_ADDR`], unless `--web`
/// gives another address).
pub fn web(a: &Args, cfg: &Config) -> Option<wirewatch_web::WebSettings> {
    let serve = matches!(a.command, Some(crate::cli::Command::Serve(_)));
    let listen = match (&a.web.listen, serve) {
        (Some(l), _) => l.clone(),
        (None, true) => cfg
            .web
            .listen
            .clone()
            .unwrap_or_else(|| wirewatch_web::DEFAULT_ADDR.to_string()),
        (None, false) => return None,
    };
    let (w, c) = (&a.web, &cfg.web);
    let pick = |flag: &Option<PathBuf>, key: &Option<PathBuf>| flag.clone().or_else(|| key.clone());
    Some(wirewatch_web::WebSettings {
        listen,
        token_file: pick(&w.web_token_file, &c.token_file),
        metrics_token_file: pick(&w.web_metrics_token_file, &c.metrics_token_file),
        tls_cert: pick(&w.web_tls_cert, &c.tls_cert),
        tls_key: pick(&w.web_tls_key, &c.tls_key),
        top_n_metrics: w
            .web_top_n_metrics
            .map(usize::from)
            .or(c.top_n_metrics)
            .unwrap_or(wirewatch_web::metrics::DEFAULT_TOP_N),
        max_sse_clients: c
            .max_sse_clients
            .unwrap_or(wirewatch_web::hub::MAX_SSE_CLIENTS),
        max_connections: c.max_connections.unwrap_or(wirewatch_web::MAX_CONNECTIONS),
        names: dns(a, cfg),
    })
}

/// The screen's settings when it is used: a terminal on stdout, text
/// format, no -t, -s or --interval, and not an import (-r with --db).
/// `--speed`: `None` when not given, `Some(None)` for `max`, else the
/// multiple of real time.
fn parse_speed(speed: Option<&str>) -> anyhow::Result<Option<Option<f64>>> {
    Ok(match speed {
        None => None,
        Some("max") => Some(None),
        Some(x) => match x.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 && v <= 1e6 => Some(Some(v)),
            _ => {
                anyhow::bail!("--speed takes a positive multiple of real time or 'max', got '{x}'")
            }
        },
    })
}

fn screen(a: &Args, cfg: &Config, p: ScreenParts) -> anyhow::Result<Option<ScreenSettings>> {
    let ScreenParts {
        src_port,
        dst_port,
        sort,
        bytes_units,
        processes,
    } = p;
    let wants_screen = a.report.format == FormatArg::Text
        && !a.report.text
        && !(a.capture.read.is_some() && a.history.db.is_some())
        && a.capture.seconds.is_none()
        && a.report.interval.is_none()
        && web(a, cfg).is_none()
        && stdout_is_terminal();
    Ok(if wants_screen {
        let speed = parse_speed(a.screen.speed.as_deref())?.unwrap_or(Some(1.0));
        let max_bits = match &a.screen.max_bandwidth {
            Some(m) => Some(parse_bandwidth(m)?),
            None => cfg.max_bandwidth_bits_per_sec.map(|b| b as f64),
        };
        let refresh_ms = cfg.refresh_ms.unwrap_or(1000);
        if refresh_ms == 0 {
            anyhow::bail!("config: refresh-ms must be at least 1");
        }
        Some(ScreenSettings {
            options: ScreenOptions {
                dns: dns(a, cfg),
                services: !a.screen.no_services && cfg.port_resolution.unwrap_or(true),
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
                bars: !a.screen.no_bars && cfg.show_bars.unwrap_or(true),
                // iftop's bars show the 10 s average by default.
                bar_average: 1,
                totals: cfg.show_totals.unwrap_or(false),
                log_scale: cfg.log_scale.unwrap_or(true),
                max_bits,
                bytes: bytes_units,
                processes,
                screen_filter: cfg.screen_filter.clone(),
            },
            speed,
            refresh_nanos: refresh_ms as i64 * 1_000_000,
        })
    } else {
        if let Some(m) = &a.screen.max_bandwidth {
            parse_bandwidth(m)?;
        }
        None
    })
}

/// Detection and its alert outputs, unless `--no-detect`.
fn detection(
    a: &Args,
    cfg: &Config,
    history: Option<&HistorySettings>,
    screen: bool,
    live: bool,
) -> anyhow::Result<Option<Detect>> {
    Ok(if a.detect.no_detect {
        None
    } else {
        let mode = match &a.detect.alerts {
            Some(m) => AlertMode::parse(m).map_err(|e| anyhow::anyhow!(e))?,
            None => AlertMode::Text,
        };
        if mode == AlertMode::JsonStdout && screen {
            anyhow::bail!(
                "--alerts json: the screen owns the terminal; give a file (--alerts json:FILE)"
            );
        }
        Some(Detect {
            settings: DetectSettings {
                cfg: detect_config(a, cfg),
                model: a.detect.model.clone(),
                watch: history
                    .filter(|_| cfg.forecast.watch != Some(false))
                    .map(|h| WatchSettings {
                        db: h.path.clone(),
                        capacity: cfg.forecast.capacity.clone(),
                        fraction: cfg.forecast.fraction.unwrap_or(0.9),
                        background: live,
                        say_short_history: cfg.forecast.watch == Some(true)
                            || !cfg.forecast.capacity.is_empty(),
                    }),
            },
            alerts: mode,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_flows_expire_after_the_40_s_window_by_default() {
        assert_eq!(idle_timeout(None, true).unwrap(), Some(40_000_000_000));
        assert_eq!(idle_timeout(None, false).unwrap(), None);
        assert_eq!(idle_timeout(Some(0.0), true).unwrap(), None);
        assert_eq!(idle_timeout(Some(2.5), false).unwrap(), Some(2_500_000_000));
        assert!(idle_timeout(Some(-1.0), true).is_err());
    }

    #[test]
    fn the_budget_is_split_between_rings_detection_and_flows() {
        use clap::Parser;
        use wirewatch_flow::{FlowTable, Snapshot};
        let settings = |args: &[&str]| {
            let mut v = vec!["wirewatch", "--config", "/dev/null"];
            v.extend_from_slice(args);
            build(&Args::try_parse_from(v).unwrap()).unwrap()
        };
        let per = (FlowTable::BYTES_PER_FLOW + Snapshot::BYTES_PER_FLOW) as u64;
        let mib = |n: u64| n << 20;
        // Without detection the flows get all but the reserve.
        let s = settings(&["-r", "x.pcap", "--no-detect"]);
        assert_eq!(
            s.flow.max_flows as u64,
            (DEFAULT_MEMORY - RESERVED_MEMORY) / per
        );
        let s = settings(&["-r", "x.pcap", "--no-detect", "--memory-limit", "1G"]);
        assert_eq!(s.flow.max_flows as u64, (mib(1024) - RESERVED_MEMORY) / per);
        // --tcp: the DNS tracker's most comes off, and each flow carries a
        // quarter of a TCP analysis.
        let s = settings(&["-r", "x.pcap", "--no-detect", "--tcp"]);
        let dns = wirewatch_flow::DnsTracker::MAX_BYTES as u64;
        let tcp = wirewatch_flow::TcpAnalysis::SIZE_BYTES.div_ceil(4) as u64;
        assert_eq!(
            s.flow.max_flows as u64,
            (DEFAULT_MEMORY - RESERVED_MEMORY - dns) / (per + tcp)
        );
        // With detection, its tables are shrunk to its share, and the flows
        // get the rest: together within the budget.
        let within = |s: &Settings, budget: u64, rings: u64| {
            let state = s.detect.as_ref().unwrap().settings.cfg.state_bytes();
            let left = budget - rings - RESERVED_MEMORY;
            // Its share, but for tables kept at their floor of 1,000 entries.
            assert!(
                state as f64 <= left as f64 * DETECT_SHARE * 1.01,
                "{state} of {left}"
            );
            assert_eq!(s.flow.max_flows as u64, (left - state) / per);
        };
        within(&settings(&["-r", "x.pcap"]), DEFAULT_MEMORY, 0);
        // Live, the rings come out of the budget first.
        within(&settings(&["-i", "lo"]), DEFAULT_MEMORY, mib(32));
        // A bigger budget leaves the default caps as they are.
        let s = settings(&["-r", "x.pcap", "--memory-limit", "2G"]);
        let d = &s.detect.as_ref().unwrap().settings.cfg;
        assert_eq!(
            d.state_bytes(),
            wirewatch_detect::DetectConfig::default().state_bytes()
        );
    }
}
