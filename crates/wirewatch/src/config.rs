//! Configuration files: iftop's `~/.iftoprc` and wirewatch's own TOML file.
//!
//! Both are read into one [`Config`] whose fields are all optional, so the
//! sources can be layered: command-line flags over the TOML file over
//! `~/.iftoprc` over built-in defaults. Each source only says what it sets;
//! [`Config::merge`] lays one over another.
//!
//! iftop ignores some mistakes in its file; we refuse them, but every error
//! names the file and line (`FILE:LINE: message`) so it is quick to fix.

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use toml::Spanned;
use wirewatch_flow::{IpNet, SortKey};

mod respond;
pub use respond::RespondConfig;

/// Settings read from configuration files; `None` where a file said nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// `interface`: the interface to listen on.
    pub interface: Option<String>,
    /// `dns-resolution`: look up host names (iftop's `-n` turns it off).
    pub dns_resolution: Option<bool>,
    /// `port-resolution`: show service names for ports (iftop's `-N`).
    pub port_resolution: Option<bool>,
    /// `filter-code`: the packet filter expression (iftop's `-f`).
    pub filter_code: Option<String>,
    /// `show-bars`: draw the bar graph behind each line (iftop's `-b`).
    pub show_bars: Option<bool>,
    /// `promiscuous`: put the interface in promiscuous mode (iftop's `-p`).
    pub promiscuous: Option<bool>,
    /// `port-display`: which ports are shown.
    pub port_display: Option<PortDisplay>,
    /// `hide-source`: aggregate over sources.
    pub hide_source: Option<bool>,
    /// `hide-destination`: aggregate over destinations.
    pub hide_destination: Option<bool>,
    /// `use-bytes`: show rates in bytes rather than bits (iftop's `-B`).
    pub use_bytes: Option<bool>,
    /// `sort`: the line order (iftop's `-o`).
    pub sort: Option<SortKey>,
    /// `line-display`: how each flow's two directions are shown.
    pub line_display: Option<LineDisplay>,
    /// `show-totals`: show cumulative totals.
    pub show_totals: Option<bool>,
    /// `log-scale`: logarithmic bar scale.
    pub log_scale: Option<bool>,
    /// `max-bandwidth`: the top of the bar scale, in bits per second
    /// (iftop's `-m`; K, M and G multiply by 1024, 1024² and 1024³, as iftop does).
    pub max_bandwidth_bits_per_sec: Option<u64>,
    /// `net-filter`: the IPv4 network whose traffic in and out is shown
    /// (iftop's `-F`).
    pub net_filter: Option<IpNet>,
    /// `net-filter6`: the IPv6 network, as `net-filter` (iftop's `-G`).
    pub net_filter6: Option<IpNet>,
    /// `link-local`: count link-local IPv6 traffic (iftop's `-l`).
    pub link_local: Option<bool>,
    /// `screen-filter`: show only lines matching this text.
    pub screen_filter: Option<String>,
    /// TOML `[tui] refresh-ms`: time between screen updates, milliseconds.
    pub refresh_ms: Option<u64>,
    /// TOML `processes`: attribute traffic to local processes.
    pub processes: Option<bool>,
    /// TOML `[history]`.
    pub history: HistoryConfig,
    /// TOML `[detect]`: detector thresholds (checked).
    pub detect: Option<wirewatch_detect::DetectConfig>,
    /// TOML `[forecast]`.
    pub forecast: ForecastConfig,
    /// TOML `[limits]`.
    pub limits: LimitsConfig,
    /// TOML `[web]`.
    pub web: WebConfig,
    /// TOML `[respond]`.
    pub respond: RespondConfig,
}

/// TOML `[web]`: the HTTP API's address for `serve` and its token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebConfig {
    /// `listen`: where `serve` listens (`--web` overrides it).
    pub listen: Option<String>,
    /// `token-file`: the Bearer token's file (`--web-token-file` overrides it).
    pub token_file: Option<std::path::PathBuf>,
    /// `metrics-token-file`: a token `/metrics` takes too.
    pub metrics_token_file: Option<std::path::PathBuf>,
    /// `tls-cert`: PEM certificate chain (with `tls-key`: serve HTTPS).
    pub tls_cert: Option<std::path::PathBuf>,
    /// `tls-key`: PEM private key of `tls-cert`.
    pub tls_key: Option<std::path::PathBuf>,
    /// `top-n-metrics`: hosts and processes with their own `/metrics` series.
    pub top_n_metrics: Option<usize>,
    /// `max-sse-clients`: most clients on `/api/v1/events` at once.
    pub max_sse_clients: Option<usize>,
    /// `max-connections`: most connections served at once.
    pub max_connections: Option<usize>,
}

/// TOML `[limits]`: how much memory the process may use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitsConfig {
    /// `memory`: the whole process's budget, bytes.
    pub memory: Option<u64>,
    /// `flows`: flows held at once (instead of what the budget gives).
    pub flows: Option<usize>,
}

/// Smallest memory budget: the program itself, the capture ring and a few
/// thousand flows.
pub const MIN_MEMORY: u64 = 48 << 20;

/// A memory size: bytes, or a number with K, M or G (1024-based; `MB`,
/// `MiB` are read the same), at least [`MIN_MEMORY`].
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let digits = lower.trim_end_matches("ib").trim_end_matches('b');
    let (num, mult) = match digits.char_indices().last() {
        Some((i, 'k')) => (&digits[..i], 1u64 << 10),
        Some((i, 'm')) => (&digits[..i], 1 << 20),
        Some((i, 'g')) => (&digits[..i], 1 << 30),
        _ => (digits, 1),
    };
    let bytes = num
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n * mult as f64)
        .filter(|b| *b < 1e15)
        .ok_or_else(|| format!("expected a size such as 150M or 1G, got '{t}'"))?;
    if bytes < MIN_MEMORY as f64 {
        return Err(format!(
            "must be at least {} MiB, got '{t}'",
            MIN_MEMORY >> 20
        ));
    }
    Ok(bytes as u64)
}

/// TOML `[forecast]`: link capacities and the live forecast watch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ForecastConfig {
    /// `[forecast.capacity]`: link capacity per interface, bit/s.
    pub capacity: std::collections::BTreeMap<String, f64>,
    /// `capacity-fraction`: the share of capacity a `capacity` alert warns at.
    pub fraction: Option<f64>,
    /// `watch`: judge live traffic against forecasts from history (default true).
    pub watch: Option<bool>,
}

impl ForecastConfig {
    /// What a forecast from history takes of it (the command and the web API).
    pub fn defaults(&self) -> wirewatch_pipeline::requests::forecast::ForecastDefaults {
        wirewatch_pipeline::requests::forecast::ForecastDefaults {
            capacity: self.capacity.clone(),
            fraction: self.fraction,
        }
    }

    fn merge(self, over: ForecastConfig) -> ForecastConfig {
        let mut capacity = self.capacity;
        capacity.extend(over.capacity);
        ForecastConfig {
            capacity,
            fraction: over.fraction.or(self.fraction),
            watch: over.watch.or(self.watch),
        }
    }
}

/// A link rate in bit/s (`1G`, `100Mbit/s`): the parser `forecast
/// --capacity` and the web API use too.
pub use wirewatch_pipeline::requests::params::parse_rate;

/// TOML `[history]`: where and how long traffic is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryConfig {
    /// `enabled`: keep history of live capture (default true).
    pub enabled: Option<bool>,
    /// `db`: the database file.
    pub db: Option<std::path::PathBuf>,
    /// `flush`: seconds between writes (what a crash can lose).
    pub flush_secs: Option<i64>,
    /// `keep-minutes`, `keep-hours`, `keep-days`: seconds each resolution
    /// is kept (`Some(None)`: forever).
    pub keep: [Option<Option<i64>>; 3],
}

impl HistoryConfig {
    fn merge(self, over: HistoryConfig) -> HistoryConfig {
        HistoryConfig {
            enabled: over.enabled.or(self.enabled),
            db: over.db.or(self.db),
            flush_secs: over.flush_secs.or(self.flush_secs),
            keep: [0, 1, 2].map(|k| over.keep[k].or(self.keep[k])),
        }
    }
}

impl Config {
    /// This configuration with every setting that `over` makes replaced by
    /// `over`'s: `iftoprc.merge(toml).merge(flags)`.
    pub fn merge(self, over: Config) -> Config {
        Config {
            interface: over.interface.or(self.interface),
            dns_resolution: over.dns_resolution.or(self.dns_resolution),
            port_resolution: over.port_resolution.or(self.port_resolution),
            filter_code: over.filter_code.or(self.filter_code),
            show_bars: over.show_bars.or(self.show_bars),
            promiscuous: over.promiscuous.or(self.promiscuous),
            port_display: over.port_display.or(self.port_display),
            hide_source: over.hide_source.or(self.hide_source),
            hide_destination: over.hide_destination.or(self.hide_destination),
            use_bytes: over.use_bytes.or(self.use_bytes),
            sort: over.sort.or(self.sort),
            line_display: over.line_display.or(self.line_display),
            show_totals: over.show_totals.or(self.show_totals),
            log_scale: over.log_scale.or(self.log_scale),
            max_bandwidth_bits_per_sec: over
                .max_bandwidth_bits_per_sec
                .or(self.max_bandwidth_bits_per_sec),
            net_filter: over.net_filter.or(self.net_filter),
            net_filter6: over.net_filter6.or(self.net_filter6),
            link_local: over.link_local.or(self.link_local),
            screen_filter: over.screen_filter.or(self.screen_filter),
            refresh_ms: over.refresh_ms.or(self.refresh_ms),
            processes: over.processes.or(self.processes),
            history: self.history.merge(over.history),
            detect: over.detect.or(self.detect),
            forecast: self.forecast.merge(over.forecast),
            limits: LimitsConfig {
                memory: over.limits.memory.or(self.limits.memory),
                flows: over.limits.flows.or(self.limits.flows),
            },
            web: WebConfig {
                listen: over.web.listen.or(self.web.listen),
                token_file: over.web.token_file.or(self.web.token_file),
                metrics_token_file: over.web.metrics_token_file.or(self.web.metrics_token_file),
                tls_cert: over.web.tls_cert.or(self.web.tls_cert),
                tls_key: over.web.tls_key.or(self.web.tls_key),
                top_n_metrics: over.web.top_n_metrics.or(self.web.top_n_metrics),
                max_sse_clients: over.web.max_sse_clients.or(self.web.max_sse_clients),
                max_connections: over.web.max_connections.or(self.web.max_connections),
            },
            respond: RespondConfig {
                policy: over.respond.policy.or(self.respond.policy),
                nft: over.respond.nft.or(self.respond.nft),
            },
        }
    }
}

/// iftop's `port-display`: which end's port is shown beside the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortDisplay {
    /// Hosts only.
    Off,
    /// The source's port only.
    SourceOnly,
    /// The destination's port only.
    DestinationOnly,
    /// Both ports.
    On,
}

impl PortDisplay {
    /// The value as written in the files.
    pub fn as_str(self) -> &'static str {
        match self {
            PortDisplay::Off => "off",
            PortDisplay::SourceOnly => "source-only",
            PortDisplay::DestinationOnly => "destination-only",
            PortDisplay::On => "on",
        }
    }
}

impl FromStr for PortDisplay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "off" => PortDisplay::Off,
            "source-only" => PortDisplay::SourceOnly,
            "destination-only" => PortDisplay::DestinationOnly,
            "on" => PortDisplay::On,
            _ => {
                return Err(format!(
                    "expected off, source-only, destination-only or on, got '{s}'"
                ))
            }
        })
    }
}

/// iftop's `t` cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LineMode {
    /// Sent on one line, received on the next.
    #[default]
    TwoLine,
    /// Sent plus received on one line.
    OneLineBoth,
    /// Sent only.
    OneLineSent,
    /// Received only.
    OneLineReceived,
}

impl LineMode {
    /// The next mode (the `t` key).
    pub fn next(self) -> LineMode {
        match self {
            LineMode::TwoLine => LineMode::OneLineBoth,
            LineMode::OneLineBoth => LineMode::OneLineSent,
            LineMode::OneLineSent => LineMode::OneLineReceived,
            LineMode::OneLineReceived => LineMode::TwoLine,
        }
    }

    /// iftop's name for the mode (also the `line-display` config value).
    pub fn as_str(self) -> &'static str {
        self.name()
    }

    /// iftop's name for the mode (also the `line-display` config value).
    pub fn name(self) -> &'static str {
        match self {
            LineMode::TwoLine => "two-line",
            LineMode::OneLineBoth => "one-line-both",
            LineMode::OneLineSent => "one-line-sent",
            LineMode::OneLineReceived => "one-line-received",
        }
    }
}

impl std::str::FromStr for LineMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            LineMode::TwoLine,
            LineMode::OneLineBoth,
            LineMode::OneLineSent,
            LineMode::OneLineReceived,
        ]
        .into_iter()
        .find(|m| m.name() == s)
        .ok_or_else(|| {
            format!(
                "expected two-line, one-line-both, one-line-sent or one-line-received, got '{s}'"
            )
        })
    }
}

/// iftop's `line-display`: the screen's line mode.
pub type LineDisplay = LineMode;

/// A configuration file that could not be read or understood.
#[derive(Debug)]
pub struct ConfigError {
    path: PathBuf,
    line: Option<usize>,
    message: String,
    not_found: bool,
}

impl ConfigError {
    fn at(path: &Path, line: usize, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.to_path_buf(),
            line: Some(line),
            message: one_line(&message.into()),
            not_found: false,
        }
    }

    fn io(path: &Path, e: &io::Error) -> Self {
        ConfigError {
            path: path.to_path_buf(),
            line: None,
            message: one_line(&e.to_string()),
            not_found: e.kind() == io::ErrorKind::NotFound,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The line (from 1), if the error is in the file's text.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// What is wrong, without the place.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the file does not exist (a default path may well not).
    pub fn is_not_found(&self) -> bool {
        self.not_found
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The default places of the two files: `~/.iftoprc`, and
/// `$XDG_CONFIG_HOME/wirewatch/config.toml` (or `~/.config/wirewatch/config.toml`
/// when `XDG_CONFIG_HOME` is unset or not absolute). None where the
/// environment does not say where home is.
pub fn default_paths() -> (Option<PathBuf>, Option<PathBuf>) {
    default_paths_from(
        std::env::var_os("HOME").as_deref(),
        std::env::var_os("XDG_CONFIG_HOME").as_deref(),
    )
}

fn default_paths_from(
    home: Option<&OsStr>,
    xdg_config_home: Option<&OsStr>,
) -> (Option<PathBuf>, Option<PathBuf>) {
    let home = home.filter(|h| !h.is_empty()).map(PathBuf::from);
    let iftoprc = home.as_ref().map(|h| h.join(".iftoprc"));
    // The XDG spec says a relative XDG_CONFIG_HOME is invalid and ignored.
    let config_dir = xdg_config_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".config")));
    let toml = config_dir.map(|d| d.join("wirewatch").join("config.toml"));
    (iftoprc, toml)
}

/// Reads an iftop configuration file.
pub fn load_iftoprc(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
    let path = path.as_ref();
    let text = fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e))?;
    parse_iftoprc(&text, path)
}

/// Reads a wirewatch TOML configuration file.
pub fn load_toml(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
    let path = path.as_ref();
    let text = fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e))?;
    parse_toml(&text, path)
}

/// Parses iftop's format: one `name: value` per line; `#` starts a comment
/// (whole line or the rest of one); blank lines are skipped. Values run to the
/// end of the line and may contain colons (IPv6 networks, MAC addresses in
/// filters). A directive given twice takes the later value. `path` only names
/// the file in errors.
pub fn parse_iftoprc(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let Some((name, value)) = content.split_once(':') else {
            return Err(ConfigError::at(
                path,
                line,
                format!("expected 'name: value', got '{content}'"),
            ));
        };
        let (name, value) = (name.trim(), value.trim());
        set_directive(&mut config, name, value)
            .map_err(|message| ConfigError::at(path, line, message))?;
    }
    Ok(config)
}

/// Applies one iftoprc directive; the error is the message without place.
fn set_directive(config: &mut Config, name: &str, value: &str) -> Result<(), String> {
    let unknown = || format!("unknown directive '{name}'");
    if value.is_empty() {
        return Err(if DIRECTIVES.contains(&name) {
            format!("{name}: missing value")
        } else {
            unknown()
        });
    }
    let with_name = |e: String| format!("{name}: {e}");
    let flag = || parse_bool(value).map_err(with_name);
    match name {
        "interface" => config.interface = Some(value.to_string()),
        "dns-resolution" => config.dns_resolution = Some(flag()?),
        "port-resolution" => config.port_resolution = Some(flag()?),
        "filter-code" => config.filter_code = Some(value.to_string()),
        "show-bars" => config.show_bars = Some(flag()?),
        "promiscuous" => config.promiscuous = Some(flag()?),
        "port-display" => config.port_display = Some(value.parse().map_err(with_name)?),
        "hide-source" => config.hide_source = Some(flag()?),
        "hide-destination" => config.hide_destination = Some(flag()?),
        "use-bytes" => config.use_bytes = Some(flag()?),
        "sort" => config.sort = Some(parse_sort(value).map_err(with_name)?),
        "line-display" => config.line_display = Some(value.parse().map_err(with_name)?),
        "show-totals" => config.show_totals = Some(flag()?),
        "log-scale" => config.log_scale = Some(flag()?),
        "max-bandwidth" => {
            config.max_bandwidth_bits_per_sec = Some(parse_bandwidth(value).map_err(with_name)?)
        }
        "net-filter" => config.net_filter = Some(parse_net(value, false).map_err(with_name)?),
        "net-filter6" => config.net_filter6 = Some(parse_net(value, true).map_err(with_name)?),
        "link-local" => config.link_local = Some(flag()?),
        "screen-filter" => config.screen_filter = Some(value.to_string()),
        _ => return Err(unknown()),
    }
    Ok(())
}

/// The directives of iftop's file, as its manual lists them, plus
/// `screen-filter`, which iftop also reads (`set_directive` handles each).
const DIRECTIVES: &[&str] = &[
    "interface",
    "dns-resolution",
    "port-resolution",
    "filter-code",
    "show-bars",
    "promiscuous",
    "port-display",
    "hide-source",
    "hide-destination",
    "use-bytes",
    "sort",
    "line-display",
    "show-totals",
    "log-scale",
    "max-bandwidth",
    "net-filter",
    "net-filter6",
    "link-local",
    "screen-filter",
];

/// iftop's manual writes `yes`/`no`; `true`/`false` and `on`/`off` are taken
/// too, in any case.
fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        _ => Err(format!("expected yes or no (or true/false), got '{value}'")),
    }
}

/// iftop's sort orders plus `total`, which the `-o` flag also takes.
fn parse_sort(value: &str) -> Result<SortKey, String> {
    Ok(match value {
        "2s" => SortKey::Rate2s,
        "10s" => SortKey::Rate10s,
        "40s" => SortKey::Rate40s,
        "total" => SortKey::Total,
        "source" => SortKey::Source,
        "destination" => SortKey::Destination,
        _ => {
            return Err(format!(
                "expected 2s, 10s, 40s, total, source or destination, got '{value}'"
            ))
        }
    })
}

/// A bandwidth in bits per second: a number (fractions allowed) with an
/// optional K, M or G suffix, 1024-based as in iftop's own parser (`-m 10M`
/// is 10 × 1024² bits/s, matching its 1024-based rate display).
pub fn parse_bandwidth(value: &str) -> Result<u64, String> {
    let bad =
        || format!("expected a number of bits/s with an optional K, M or G suffix, got '{value}'");
    let (number, multiplier) = match value.char_indices().last() {
        Some((i, 'k' | 'K')) => (&value[..i], 1024.0),
        Some((i, 'm' | 'M')) => (&value[..i], 1024.0 * 1024.0),
        Some((i, 'g' | 'G')) => (&value[..i], 1024.0 * 1024.0 * 1024.0),
        _ => (value, 1.0),
    };
    // Only digits and one point: f64's parser would also take "inf", "1e9"
    // and a sign.
    if number.is_empty()
        || number.matches('.').count() > 1
        || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || !number.bytes().any(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let bits = number.parse::<f64>().map_err(|_| bad())? * multiplier;
    if bits < 1.0 {
        return Err(format!("must be at least 1 bit/s, got '{value}'"));
    }
    if bits >= u64::MAX as f64 {
        return Err(format!("too large: '{value}'"));
    }
    Ok(bits.round() as u64)
}

/// A network for `net-filter` (IPv4) or `net-filter6` (IPv6): `net/len`, or
/// for IPv4 also `net/dotted-mask`.
fn parse_net(value: &str, v6: bool) -> Result<IpNet, String> {
    let net: IpNet = value.parse().map_err(|e| format!("{e}"))?;
    match (net.addr().is_ipv6(), v6) {
        (false, true) => Err(format!("expected an IPv6 network, got '{value}'")),
        (true, false) => Err(format!(
            "expected an IPv4 network, got '{value}' (IPv6 goes in net-filter6)"
        )),
        _ => Ok(net),
    }
}

/// The TOML file as written, before the values are checked. Values that need
/// checking keep their place in the file so errors can name the line.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct TomlFile {
    interface: Option<Spanned<String>>,
    dns_resolution: Option<bool>,
    port_resolution: Option<bool>,
    filter_code: Option<Spanned<String>>,
    show_bars: Option<bool>,
    promiscuous: Option<bool>,
    port_display: Option<Spanned<String>>,
    hide_source: Option<bool>,
    hide_destination: Option<bool>,
    use_bytes: Option<bool>,
    sort: Option<Spanned<String>>,
    line_display: Option<Spanned<String>>,
    show_totals: Option<bool>,
    log_scale: Option<bool>,
    max_bandwidth: Option<Spanned<Bandwidth>>,
    net_filter: Option<Spanned<String>>,
    net_filter6: Option<Spanned<String>>,
    link_local: Option<bool>,
    screen_filter: Option<Spanned<String>>,
    processes: Option<bool>,
    tui: Option<TomlTui>,
    history: Option<TomlHistory>,
    detect: Option<Spanned<wirewatch_detect::DetectConfig>>,
    forecast: Option<TomlForecast>,
    limits: Option<TomlLimits>,
    web: Option<TomlWeb>,
    respond: Option<respond::TomlRespond>,
}

/// `[web]` as written (checked into [`WebConfig`]).
#[derive(Deserialize)]
#[serde(
    expecting = "a [web] table",
    rename_all = "kebab-case",
    deny_unknown_fields
)]
struct TomlWeb {
    /// Where `serve` listens.
    listen: Option<Spanned<String>>,
    /// The Bearer token's file.
    token_file: Option<Spanned<String>>,
    /// A token `/metrics` takes too.
    metrics_token_file: Option<Spanned<String>>,
    /// PEM certificate chain.
    tls_cert: Option<Spanned<String>>,
    /// PEM private key.
    tls_key: Option<Spanned<String>>,
    /// Hosts and processes with their own `/metrics` series.
    top_n_metrics: Option<Spanned<u64>>,
    /// Most SSE clients at once.
    max_sse_clients: Option<Spanned<u64>>,
    /// Most connections at once.
    max_connections: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "kebab-case",
    deny_unknown_fields,
    expecting = "a [limits] table"
)]
struct TomlLimits {
    memory: Option<Spanned<String>>,
    flows: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "kebab-case",
    deny_unknown_fields,
    expecting = "a [forecast] table"
)]
struct TomlForecast {
    capacity: Option<std::collections::BTreeMap<String, Spanned<LinkRate>>>,
    capacity_fraction: Option<Spanned<f64>>,
    watch: Option<bool>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "kebab-case",
    deny_unknown_fields,
    expecting = "a [history] table"
)]
struct TomlHistory {
    enabled: Option<bool>,
    db: Option<Spanned<String>>,
    flush: Option<Spanned<String>>,
    keep_minutes: Option<Spanned<String>>,
    keep_hours: Option<Spanned<String>>,
    keep_days: Option<Spanned<String>>,
}

/// A retention: a duration, or `forever`.
fn parse_keep(s: &str) -> Result<Option<i64>, String> {
    if s.trim() == "forever" {
        return Ok(None);
    }
    match wirewatch_store::time::parse_duration(s)? {
        0 => Err("must be longer than 0 (or 'forever')".into()),
        d => Ok(Some(d)),
    }
}

#[derive(Deserialize)]
#[serde(
    rename_all = "kebab-case",
    deny_unknown_fields,
    expecting = "a [tui] table"
)]
struct TomlTui {
    refresh_ms: Option<Spanned<u64>>,
}

/// A `[forecast.capacity]` value: bit/s as a number, or a string with a prefix.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "expected a link rate: bit/s as a number, or a string such as \"1G\""
)]
enum LinkRate {
    Number(f64),
    Text(String),
}

/// `max-bandwidth` in TOML: bits/s as an integer, or a string with a suffix.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "max-bandwidth: expected an integer number of bits/s or a string such as \"100M\""
)]
enum Bandwidth {
    Bits(u64),
    Text(String),
}

/// Screen updates faster than this are invisible; slower than the upper
/// bound and the screen looks frozen.
const REFRESH_MS: std::ops::RangeInclusive<u64> = 10..=60_000;

/// The TOML text being checked, to turn byte offsets into line numbers.
struct TomlPlace<'a> {
    text: &'a str,
    path: &'a Path,
}

impl TomlPlace<'_> {
    fn error(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        let before = &self.text.as_bytes()[..offset.min(self.text.len())];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        ConfigError::at(self.path, line, message)
    }

    /// A whole number that must lie in `lo..=hi`; errors name the key and
    /// its line.
    fn range(
        &self,
        key: &str,
        v: Option<Spanned<u64>>,
        lo: u64,
        hi: u64,
    ) -> Result<Option<u64>, ConfigError> {
        match v {
            Some(v) if !(lo..=hi).contains(v.get_ref()) => Err(self.error(
                v.span().start,
                format!("{key}: must be between {lo} and {hi}, got {}", v.get_ref()),
            )),
            v => Ok(v.map(Spanned::into_inner)),
        }
    }

    /// `parse` applied to a string value; errors name the key and its line.
    fn check<T>(
        &self,
        key: &str,
        value: Option<Spanned<String>>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        value
            .map(|v| {
                parse(v.get_ref()).map_err(|e| self.error(v.span().start, format!("{key}: {e}")))
            })
            .transpose()
    }
}

/// A string setting that must say something.
fn nonempty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("empty value".to_string())
    } else {
        Ok(value.to_string())
    }
}

/// Parses wirewatch's TOML file: the iftoprc keys at the top level, plus
/// `processes` and a `[tui]` table with `refresh-ms`. `path` only names the
/// file in errors.
pub fn parse_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let place = TomlPlace { text, path };
    let file: TomlFile = toml::from_str(text)
        .map_err(|e| place.error(e.span().map_or(0, |s| s.start), e.message()))?;
    let max_bandwidth_bits_per_sec = match file.max_bandwidth {
        None => None,
        Some(v) => {
            let at = v.span().start;
            let bits = match v.into_inner() {
                Bandwidth::Bits(0) => Err("must be at least 1 bit/s, got 0".to_string()),
                Bandwidth::Bits(n) => Ok(n),
                Bandwidth::Text(s) => parse_bandwidth(&s),
            };
            Some(bits.map_err(|e| place.error(at, format!("max-bandwidth: {e}")))?)
        }
    };
    let refresh_ms = match file.tui.and_then(|t| t.refresh_ms) {
        Some(v) if !REFRESH_MS.contains(v.get_ref()) => {
            return Err(place.error(
                v.span().start,
                format!(
                    "tui.refresh-ms: must be between {} and {}, got {}",
                    REFRESH_MS.start(),
                    REFRESH_MS.end(),
                    v.get_ref()
                ),
            ))
        }
        v => v.map(Spanned::into_inner),
    };
    let detect = match file.detect {
        None => None,
        Some(d) => {
            let at = d.span().start;
            let d = d.into_inner();
            d.validate().map_err(|e| place.error(at, e))?;
            Some(d)
        }
    };
    let history = match file.history {
        None => HistoryConfig::default(),
        Some(h) => HistoryConfig {
            enabled: h.enabled,
            db: place
                .check("history.db", h.db, nonempty)?
                .map(std::path::PathBuf::from),
            flush_secs: place.check("history.flush", h.flush, |v| {
                match wirewatch_store::time::parse_duration(v)? {
                    d if (1..=60).contains(&d) => Ok(d),
                    d => Err(format!("must be between 1s and 60s (rows are cut at every minute anyway), got {d} s")),
                }
            })?,
            keep: [
                place.check("history.keep-minutes", h.keep_minutes, parse_keep)?,
                place.check("history.keep-hours", h.keep_hours, parse_keep)?,
                place.check("history.keep-days", h.keep_days, parse_keep)?,
            ],
        },
    };
    let forecast = match file.forecast {
        None => ForecastConfig::default(),
        Some(f) => {
            let mut capacity = std::collections::BTreeMap::new();
            for (iface, v) in f.capacity.unwrap_or_default() {
                let at = v.span().start;
                let bits = match v.into_inner() {
                    LinkRate::Number(b) if b.is_finite() && b > 0.0 => Ok(b),
                    LinkRate::Number(_) => Err("must be more than 0".to_string()),
                    LinkRate::Text(t) => parse_rate(&t),
                }
                .map_err(|e| place.error(at, format!("forecast.capacity.{iface}: {e}")))?;
                capacity.insert(iface, bits);
            }
            let fraction = match f.capacity_fraction {
                Some(v) if !(*v.get_ref() > 0.0 && *v.get_ref() <= 1.0) => {
                    return Err(place.error(
                        v.span().start,
                        format!(
                            "forecast.capacity-fraction: must be more than 0 and at most 1, got {}",
                            v.get_ref()
                        ),
                    ))
                }
                v => v.map(|v| v.into_inner()),
            };
            ForecastConfig {
                capacity,
                fraction,
                watch: f.watch,
            }
        }
    };
    let limits = match file.limits {
        None => LimitsConfig::default(),
        Some(l) => LimitsConfig {
            memory: place.check("limits.memory", l.memory, parse_memory)?,
            flows: place
                .range(
                    "limits.flows",
                    l.flows,
                    16,
                    wirewatch_flow::MAX_FLOWS as u64,
                )?
                .map(|v| v as usize),
        },
    };
    let web = match file.web {
        None => WebConfig::default(),
        Some(w) => {
            let path = |key: &str, v| {
                place
                    .check(key, v, nonempty)
                    .map(|p| p.map(std::path::PathBuf::from))
            };
            let max = wirewatch_web::metrics::MAX_TOP_N as u64;
            let in_range = |key: &str, v: Option<Spanned<u64>>, lo: u64, hi: u64| {
                place.range(key, v, lo, hi).map(|v| v.map(|v| v as usize))
            };
            WebConfig {
                listen: place.check("web.listen", w.listen, nonempty)?,
                token_file: path("web.token-file", w.token_file)?,
                metrics_token_file: path("web.metrics-token-file", w.metrics_token_file)?,
                tls_cert: path("web.tls-cert", w.tls_cert)?,
                tls_key: path("web.tls-key", w.tls_key)?,
                top_n_metrics: in_range("web.top-n-metrics", w.top_n_metrics, 0, max)?,
                max_sse_clients: in_range("web.max-sse-clients", w.max_sse_clients, 1, 10_000)?,
                max_connections: in_range("web.max-connections", w.max_connections, 1, 65_536)?,
            }
        }
    };
    let respond = match file.respond {
        None => RespondConfig::default(),
        Some(t) => place.respond(t)?,
    };
    Ok(Config {
        respond,
        history,
        detect,
        forecast,
        limits,
        web,
        interface: place.check("interface", file.interface, nonempty)?,
        dns_resolution: file.dns_resolution,
        port_resolution: file.port_resolution,
        filter_code: place.check("filter-code", file.filter_code, nonempty)?,
        show_bars: file.show_bars,
        promiscuous: file.promiscuous,
        port_display: place.check("port-display", file.port_display, str::parse)?,
        hide_source: file.hide_source,
        hide_destination: file.hide_destination,
        use_bytes: file.use_bytes,
        sort: place.check("sort", file.sort, parse_sort)?,
        line_display: place.check("line-display", file.line_display, str::parse)?,
        show_totals: file.show_totals,
        log_scale: file.log_scale,
        max_bandwidth_bits_per_sec,
        net_filter: place.check("net-filter", file.net_filter, |s| parse_net(s, false))?,
        net_filter6: place.check("net-filter6", file.net_filter6, |s| parse_net(s, true))?,
        link_local: file.link_local,
        screen_filter: place.check("screen-filter", file.screen_filter, nonempty)?,
        refresh_ms,
        processes: file.processes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(text: &str) -> Result<Config, ConfigError> {
        parse_iftoprc(text, Path::new("/home/u/.iftoprc"))
    }

    fn rc_ok(text: &str) -> Config {
        rc(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn rc_err(text: &str) -> String {
        rc(text).expect_err(text).to_string()
    }

    fn tm(text: &str) -> Result<Config, ConfigError> {
        parse_toml(text, Path::new("/etc/ww.toml"))
    }

    fn tm_ok(text: &str) -> Config {
        tm(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn tm_err(text: &str) -> String {
        tm(text).expect_err(text).to_string()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn iftoprc_every_directive() {
        let c = rc_ok(
            "# iftop settings\n\
             interface: eth1\n\
             dns-resolution: no\n\
             port-resolution: yes\n\
             filter-code: not ether host ff:ff:ff:ff:ff:ff and port 80\n\
             show-bars: false\n\
             promiscuous: true\n\
             port-display: source-only\n\
             hide-source: yes\n\
             hide-destination: no\n\
             use-bytes: yes\n\
             sort: 40s\n\
             line-display: one-line-both\n\
             show-totals: yes\n\
             log-scale: on\n\
             max-bandwidth: 100M\n\
             net-filter: 10.0.0.0/255.0.0.0\n\
             net-filter6: 2001:db8::/32\n\
             link-local: off\n\
             screen-filter: example.com\n",
        );
        assert_eq!(
            c,
            Config {
                respond: RespondConfig::default(),
                interface: Some("eth1".into()),
                dns_resolution: Some(false),
                port_resolution: Some(true),
                filter_code: Some("not ether host ff:ff:ff:ff:ff:ff and port 80".into()),
                show_bars: Some(false),
                promiscuous: Some(true),
                port_display: Some(PortDisplay::SourceOnly),
                hide_source: Some(true),
                hide_destination: Some(false),
                use_bytes: Some(true),
                sort: Some(SortKey::Rate40s),
                line_display: Some(LineDisplay::OneLineBoth),
                show_totals: Some(true),
                log_scale: Some(true),
                max_bandwidth_bits_per_sec: Some(100 << 20),
                net_filter: Some(net("10.0.0.0/8")),
                net_filter6: Some(net("2001:db8::/32")),
                link_local: Some(false),
                screen_filter: Some("example.com".into()),
                refresh_ms: None,
                processes: None,
                history: HistoryConfig::default(),
                detect: None,
                forecast: ForecastConfig::default(),
                limits: LimitsConfig::default(),
                web: WebConfig::default(),
            }
        );
    }

    #[test]
    fn iftoprc_blank_comments_and_spacing() {
        let c = rc_ok("\n   \n# whole line\n  interface :   wlan0   # trailing\n\t\n");
        assert_eq!(c.interface.as_deref(), Some("wlan0"));
        assert_eq!(rc_ok(""), Config::default());
        assert_eq!(rc_ok("# only a comment"), Config::default());
        // Windows line endings.
        assert_eq!(rc_ok("use-bytes: yes\r\n").use_bytes, Some(true));
        // The later of two lines wins.
        assert_eq!(
            rc_ok("sort: 2s\nsort: source\n").sort,
            Some(SortKey::Source)
        );
    }

    #[test]
    fn iftoprc_booleans() {
        for (text, want) in [
            ("yes", true),
            ("YES", true),
            ("true", true),
            ("True", true),
            ("on", true),
            ("no", false),
            ("false", false),
            ("off", false),
        ] {
            assert_eq!(
                rc_ok(&format!("promiscuous: {text}")).promiscuous,
                Some(want)
            );
        }
        for name in [
            "dns-resolution",
            "port-resolution",
            "show-bars",
            "promiscuous",
            "hide-source",
            "hide-destination",
            "use-bytes",
            "show-totals",
            "log-scale",
            "link-local",
        ] {
            let e = rc_err(&format!("\n{name}: maybe\n"));
            assert_eq!(
                e,
                format!(
                    "/home/u/.iftoprc:2: {name}: expected yes or no (or true/false), got 'maybe'"
                )
            );
        }
    }

    #[test]
    fn iftoprc_enumerations() {
        for (text, want) in [
            ("off", PortDisplay::Off),
            ("source-only", PortDisplay::SourceOnly),
            ("destination-only", PortDisplay::DestinationOnly),
            ("on", PortDisplay::On),
        ] {
            assert_eq!(
                rc_ok(&format!("port-display: {text}")).port_display,
                Some(want)
            );
            assert_eq!(want.as_str(), text);
        }
        for (text, want) in [
            ("two-line", LineDisplay::TwoLine),
            ("one-line-both", LineDisplay::OneLineBoth),
            ("one-line-sent", LineDisplay::OneLineSent),
            ("one-line-received", LineDisplay::OneLineReceived),
        ] {
            assert_eq!(
                rc_ok(&format!("line-display: {text}")).line_display,
                Some(want)
            );
            assert_eq!(want.as_str(), text);
        }
        for (text, want) in [
            ("2s", SortKey::Rate2s),
            ("10s", SortKey::Rate10s),
            ("40s", SortKey::Rate40s),
            ("total", SortKey::Total),
            ("source", SortKey::Source),
            ("destination", SortKey::Destination),
        ] {
            assert_eq!(rc_ok(&format!("sort: {text}")).sort, Some(want));
        }
        assert!(rc_err("port-display: both")
            .starts_with("/home/u/.iftoprc:1: port-display: expected off"));
        assert!(rc_err("line-display: three-line").contains(":1: line-display: expected two-line"));
        assert!(rc_err("sort: 5s").contains(":1: sort: expected 2s, 10s"));
        // Values are case-sensitive, as in iftop.
        assert!(rc("sort: Source").is_err());
    }

    #[test]
    fn iftoprc_strings() {
        let c = rc_ok("interface: enp0s31f6\nfilter-code: host 10.0.0.1 and not port 22\nscreen-filter: foo bar");
        assert_eq!(c.interface.as_deref(), Some("enp0s31f6"));
        assert_eq!(
            c.filter_code.as_deref(),
            Some("host 10.0.0.1 and not port 22")
        );
        assert_eq!(c.screen_filter.as_deref(), Some("foo bar"));
        assert_eq!(
            rc_err("\n\ninterface:"),
            "/home/u/.iftoprc:3: interface: missing value"
        );
        assert_eq!(
            rc_err("filter-code:   # nothing"),
            "/home/u/.iftoprc:1: filter-code: missing value"
        );
    }

    #[test]
    fn iftoprc_max_bandwidth() {
        for (text, bits) in [
            ("1", 1),
            ("9600", 9600),
            ("56k", 56 * 1024),
            ("56K", 56 * 1024),
            ("10M", 10 << 20),
            ("1.5M", 3 << 19),
            ("2G", 2 << 30),
            ("0.5k", 512),
            ("100m", 100 << 20),
        ] {
            assert_eq!(
                rc_ok(&format!("max-bandwidth: {text}")).max_bandwidth_bits_per_sec,
                Some(bits),
                "{text}"
            );
        }
        for bad in [
            "M", "ten", "10T", "-5", "+5", "1e6", "inf", "1.2.3", "10 M", "0", "0.0001", "1x",
        ] {
            let e = rc_err(&format!("# c\nmax-bandwidth: {bad}"));
            assert!(
                e.starts_with("/home/u/.iftoprc:2: max-bandwidth: "),
                "{bad}: {e}"
            );
        }
        assert!(rc_err("max-bandwidth: 99999999999999999999G").contains("too large"));
    }

    #[test]
    fn iftoprc_networks() {
        let c = rc_ok("net-filter: 192.168.1.7/24\nnet-filter6: fe80::/10");
        assert_eq!(c.net_filter, Some(net("192.168.1.0/24")));
        assert_eq!(c.net_filter6, Some(net("fe80::/10")));
        assert_eq!(
            rc_ok("net-filter: 10.1.0.0/255.255.0.0").net_filter,
            Some(net("10.1.0.0/16"))
        );
        assert_eq!(
            rc_ok("net-filter: 10.1.2.3").net_filter,
            Some(net("10.1.2.3/32"))
        );
        assert!(rc_err("net-filter: 2001:db8::/32")
            .contains(":1: net-filter: expected an IPv4 network"));
        assert!(
            rc_err("net-filter6: 10.0.0.0/8").contains(":1: net-filter6: expected an IPv6 network")
        );
        assert!(rc_err("\n\n\nnet-filter: 10.0.0.0/33")
            .starts_with("/home/u/.iftoprc:4: net-filter: bad network"));
        assert!(rc_err("net-filter: 10.0.0.0/255.0.255.0").contains("not contiguous"));
        assert!(rc_err("net-filter6: nonsense").contains(":1: net-filter6: bad network"));
    }

    #[test]
    fn directive_list_matches_the_parser() {
        for name in DIRECTIVES {
            let value = match *name {
                "port-display" => "on",
                "sort" => "2s",
                "line-display" => "two-line",
                "max-bandwidth" => "1",
                "net-filter" => "10.0.0.0/8",
                "net-filter6" => "::/0",
                "interface" | "filter-code" | "screen-filter" => "x",
                _ => "yes",
            };
            assert_ne!(
                rc_ok(&format!("{name}: {value}")),
                Config::default(),
                "{name}"
            );
            assert_eq!(
                rc_err(&format!("{name}:")),
                format!("/home/u/.iftoprc:1: {name}: missing value")
            );
        }
        assert_eq!(
            rc_err("nonsense:"),
            "/home/u/.iftoprc:1: unknown directive 'nonsense'"
        );
    }

    #[test]
    fn iftoprc_errors_name_the_line() {
        assert_eq!(
            rc_err("interface: eth0\n\n# x\ncolour: blue\n"),
            "/home/u/.iftoprc:4: unknown directive 'colour'"
        );
        assert_eq!(
            rc_err("interface: eth0\nshow-bars yes\n"),
            "/home/u/.iftoprc:2: expected 'name: value', got 'show-bars yes'"
        );
        // TOML keys are not iftoprc directives.
        assert_eq!(
            rc_err("processes: yes"),
            "/home/u/.iftoprc:1: unknown directive 'processes'"
        );
        // The first error stops the parse.
        assert!(rc_err("a: 1\nb: 2").contains(":1:"));
    }

    #[test]
    fn toml_every_key() {
        let c = tm_ok(
            r#"
# wirewatch
interface = "eth2"
dns-resolution = false
port-resolution = true
filter-code = "tcp port 443"
show-bars = true
promiscuous = false
port-display = "destination-only"
hide-source = false
hide-destination = true
use-bytes = false
sort = "destination"
line-display = "one-line-received"
show-totals = false
log-scale = false
max-bandwidth = "1G"
net-filter = "172.16.0.0/12"
net-filter6 = "fd00::/8"
link-local = true
screen-filter = "db"
processes = true

[tui]
refresh-ms = 500

[history]
enabled = true
db = "/srv/ww.db"
flush = "5s"
keep-minutes = "2d"
keep-hours = "30d"
keep-days = "forever"

[forecast]
capacity-fraction = 0.8
watch = false

[limits]
memory = "200M"

[web]
listen = "[::1]:9000"
token-file = "/etc/ww.token"
metrics-token-file = "/etc/ww.scrape"
tls-cert = "/etc/ww.crt"
tls-key = "/etc/ww.key"
top-n-metrics = 5
max-sse-clients = 16
max-connections = 64

[forecast.capacity]
eth2 = "10G"
eth3 = 2.5e9
eth4 = 100000000
wlan0 = "54 Mbit/s"
"#,
        );
        assert_eq!(
            c,
            Config {
                respond: RespondConfig::default(),
                interface: Some("eth2".into()),
                dns_resolution: Some(false),
                port_resolution: Some(true),
                filter_code: Some("tcp port 443".into()),
                show_bars: Some(true),
                promiscuous: Some(false),
                port_display: Some(PortDisplay::DestinationOnly),
                hide_source: Some(false),
                hide_destination: Some(true),
                use_bytes: Some(false),
                sort: Some(SortKey::Destination),
                line_display: Some(LineDisplay::OneLineReceived),
                show_totals: Some(false),
                log_scale: Some(false),
                max_bandwidth_bits_per_sec: Some(1 << 30),
                net_filter: Some(net("172.16.0.0/12")),
                net_filter6: Some(net("fd00::/8")),
                link_local: Some(true),
                screen_filter: Some("db".into()),
                refresh_ms: Some(500),
                processes: Some(true),
                history: HistoryConfig {
                    enabled: Some(true),
                    db: Some("/srv/ww.db".into()),
                    flush_secs: Some(5),
                    keep: [Some(Some(2 * 86_400)), Some(Some(30 * 86_400)), Some(None)],
                },
                detect: None,
                forecast: ForecastConfig {
                    capacity: [
                        ("eth2", 1e10),
                        ("eth3", 2.5e9),
                        ("eth4", 1e8),
                        ("wlan0", 54e6)
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                    fraction: Some(0.8),
                    watch: Some(false),
                },
                limits: LimitsConfig {
                    memory: Some(200 << 20),
                    flows: None,
                },
                web: WebConfig {
                    listen: Some("[::1]:9000".into()),
                    token_file: Some("/etc/ww.token".into()),
                    metrics_token_file: Some("/etc/ww.scrape".into()),
                    tls_cert: Some("/etc/ww.crt".into()),
                    tls_key: Some("/etc/ww.key".into()),
                    top_n_metrics: Some(5),
                    max_sse_clients: Some(16),
                    max_connections: Some(64),
                },
            }
        );
        for (bad, want) in [
            (
                "[history]
flush = \"0s\"",
                "/etc/ww.toml:2: history.flush: must be between 1s and 60s",
            ),
            (
                "[history]
keep-hours = \"soon\"",
                "/etc/ww.toml:2: history.keep-hours: 'soon' is not a duration",
            ),
            (
                "[history]
keep-days = \"0d\"",
                "/etc/ww.toml:2: history.keep-days: must be longer than 0 (or 'forever')",
            ),
            (
                "[history]
db = \"\"",
                "/etc/ww.toml:2: history.db: empty value",
            ),
            (
                "[web]
listen = \"\"",
                "/etc/ww.toml:2: web.listen: empty value",
            ),
            (
                "[web]
top-n-metrics = 1001",
                "/etc/ww.toml:2: web.top-n-metrics: must be between 0 and 1000, got 1001",
            ),
            (
                "[web]
max-sse-clients = 0",
                "/etc/ww.toml:2: web.max-sse-clients: must be between 1 and 10000, got 0",
            ),
            (
                "[web]
max-connections = 70000",
                "/etc/ww.toml:2: web.max-connections: must be between 1 and 65536, got 70000",
            ),
            (
                "[web]
tls-key = \"\"",
                "/etc/ww.toml:2: web.tls-key: empty value",
            ),
            (
                "[history]
size = 3",
                "/etc/ww.toml:2: unknown field `size`",
            ),
            (
                "[forecast]
capacity-fraction = 1.5",
                "/etc/ww.toml:2: forecast.capacity-fraction: must be more than 0 and at most 1, got 1.5",
            ),
            (
                "[forecast.capacity]
eth0 = \"quick\"",
                "/etc/ww.toml:2: forecast.capacity.eth0: expected a link rate such as 1G",
            ),
            (
                "[forecast.capacity]
eth0 = 0",
                "/etc/ww.toml:2: forecast.capacity.eth0: must be more than 0",
            ),
            (
                "[forecast.capacity]
eth0 = true",
                "/etc/ww.toml:2: expected a link rate",
            ),
            (
                "[forecast]
horizon = \"1d\"",
                "/etc/ww.toml:2: unknown field `horizon`",
            ),
        ] {
            let e = tm_err(bad);
            assert!(e.starts_with(want), "{bad}: {e}");
        }
        assert_eq!(tm_ok(""), Config::default());
        assert_eq!(tm_ok("[tui]\n"), Config::default());
        for (text, bits) in [
            ("1G", 1e9),
            ("100Mbit/s", 1e8),
            ("2.5e9", 2.5e9),
            ("10 kbps", 1e4),
            ("1T", 1e12),
        ] {
            assert_eq!(parse_rate(text), Ok(bits), "{text}");
        }
        assert!(
            parse_rate("-1G").is_err() && parse_rate("G").is_err() && parse_rate("1 GB").is_err()
        );
        assert_eq!(
            tm_ok("max-bandwidth = 2048").max_bandwidth_bits_per_sec,
            Some(2048)
        );
    }

    #[test]
    fn toml_syntax_errors_name_the_line() {
        assert_eq!(
            tm_err("interface = \"eth0\"\nsort = \n"),
            "/etc/ww.toml:2: string values must be quoted, expected literal string"
        );
        let e = tm_err("interface = \"a\"\ninterface = \"b\"\n");
        assert!(e.starts_with("/etc/ww.toml:2: duplicate key"), "{e}");
        let e = tm_err("[tui\nrefresh-ms = 1\n");
        assert!(e.starts_with("/etc/ww.toml:1: "), "{e}");
        // Every message is one line.
        for text in ["a = [\n1,\n", "x = \"unterminated\n", "= 1"] {
            let e = tm_err(text);
            assert!(!e.contains('\n'), "{e:?}");
        }
    }

    #[test]
    fn toml_type_errors_name_the_line() {
        assert_eq!(
            tm_err("interface = \"eth0\"\n\ndns-resolution = \"yes\"\n"),
            "/etc/ww.toml:3: invalid type: string \"yes\", expected a boolean"
        );
        assert_eq!(
            tm_err("interface = 7\n"),
            "/etc/ww.toml:1: invalid type: integer `7`, expected a string"
        );
        assert_eq!(
            tm_err("\nmax-bandwidth = true\n"),
            "/etc/ww.toml:2: max-bandwidth: expected an integer number of bits/s or a string such as \"100M\""
        );
        assert!(tm_err("max-bandwidth = -5").contains(":1: max-bandwidth: expected"));
        assert_eq!(
            tm_err("tui = 3"),
            "/etc/ww.toml:1: invalid type: integer `3`, expected a [tui] table"
        );
        assert!(tm_err("[tui]\nrefresh-ms = \"fast\"").starts_with("/etc/ww.toml:2: invalid type"));
        assert!(tm_err("[tui]\nrefresh-ms = -1").starts_with("/etc/ww.toml:2: "));
    }

    #[test]
    fn toml_unknown_keys_name_the_line() {
        let e = tm_err("interface = \"eth0\"\n\ncolour = \"blue\"\n");
        assert!(
            e.starts_with("/etc/ww.toml:3: unknown field `colour`, expected one of"),
            "{e}"
        );
        let e = tm_err("[tui]\nrefresh-ms = 100\nfps = 60\n");
        assert_eq!(
            e,
            "/etc/ww.toml:3: unknown field `fps`, expected `refresh-ms`"
        );
        // Keys are kebab-case only.
        assert!(tm_err("use_bytes = true").contains("unknown field `use_bytes`"));
        let e = tm_err("[other]\n");
        assert!(
            e.starts_with("/etc/ww.toml:1: unknown field `other`"),
            "{e}"
        );
    }

    #[test]
    fn toml_value_errors_name_the_line() {
        assert_eq!(
            tm_err("interface = \"eth0\"\nsort = \"5s\"\n"),
            "/etc/ww.toml:2: sort: expected 2s, 10s, 40s, total, source or destination, got '5s'"
        );
        assert!(tm_err("\n\nport-display = \"both\"")
            .starts_with("/etc/ww.toml:3: port-display: expected off"));
        assert!(tm_err("line-display = \"x\"")
            .starts_with("/etc/ww.toml:1: line-display: expected two-line"));
        assert!(tm_err("\nnet-filter = \"::/0\"")
            .starts_with("/etc/ww.toml:2: net-filter: expected an IPv4 network"));
        assert!(tm_err("net-filter6 = \"1.0.0.0/8\"")
            .starts_with("/etc/ww.toml:1: net-filter6: expected an IPv6"));
        assert!(tm_err("max-bandwidth = \"lots\"")
            .starts_with("/etc/ww.toml:1: max-bandwidth: expected a number"));
        assert_eq!(
            tm_err("max-bandwidth = 0"),
            "/etc/ww.toml:1: max-bandwidth: must be at least 1 bit/s, got 0"
        );
        assert_eq!(
            tm_err("[tui]\n\nrefresh-ms = 5\n"),
            "/etc/ww.toml:3: tui.refresh-ms: must be between 10 and 60000, got 5"
        );
        assert!(tm_err("[tui]\nrefresh-ms = 60001").contains(":2: tui.refresh-ms"));
        assert_eq!(tm_ok("[tui]\nrefresh-ms = 10").refresh_ms, Some(10));
        assert_eq!(
            tm_err("\ninterface = \"  \""),
            "/etc/ww.toml:2: interface: empty value"
        );
        assert_eq!(
            tm_err("filter-code = ''"),
            "/etc/ww.toml:1: filter-code: empty value"
        );
        assert_eq!(
            tm_err("screen-filter = ''"),
            "/etc/ww.toml:1: screen-filter: empty value"
        );
        // Multi-line strings: the error is at the line where the value starts.
        let e = tm_err("\n\nsort = \"\"\"\nfast\nest\"\"\"");
        assert!(e.starts_with("/etc/ww.toml:3: sort:"), "{e}");
        assert!(!e.contains('\n'), "{e:?}");
        assert_eq!(tm_ok("sort = \"\"\"\n2s\"\"\"").sort, Some(SortKey::Rate2s));
    }

    #[test]
    fn limits_are_read_and_checked() {
        let l = tm_ok("[limits]\nmemory = \"150M\"\nflows = 5000\n").limits;
        assert_eq!(l.memory, Some(150 << 20));
        assert_eq!(l.flows, Some(5000));
        assert_eq!(
            tm_ok("[limits]\nmemory = \"1GiB\"").limits.memory,
            Some(1 << 30)
        );
        assert_eq!(
            tm_ok("[limits]\nmemory = \"64MB\"").limits.memory,
            Some(64 << 20)
        );
        assert_eq!(
            tm_err("\n[limits]\nmemory = \"10M\""),
            "/etc/ww.toml:3: limits.memory: must be at least 48 MiB, got '10M'"
        );
        assert_eq!(
            tm_err("[limits]\nmemory = \"lots\""),
            "/etc/ww.toml:2: limits.memory: expected a size such as 150M or 1G, got 'lots'"
        );
        assert_eq!(
            tm_err("[limits]\nflows = 3"),
            "/etc/ww.toml:2: limits.flows: must be between 16 and 16777216, got 3"
        );
    }

    #[test]
    fn merge_precedence() {
        let iftoprc = rc_ok("interface: eth0\nsort: 2s\nuse-bytes: yes\nmax-bandwidth: 10M\n");
        let toml = tm_ok("interface = \"eth1\"\nprocesses = true\n[tui]\nrefresh-ms = 250\n");
        let flags = Config {
            sort: Some(SortKey::Source),
            ..Config::default()
        };
        let c = Config::default().merge(iftoprc).merge(toml).merge(flags);
        assert_eq!(c.interface.as_deref(), Some("eth1")); // TOML over iftoprc
        assert_eq!(c.sort, Some(SortKey::Source)); // flags over iftoprc
        assert_eq!(c.use_bytes, Some(true)); // only iftoprc says it
        assert_eq!(c.max_bandwidth_bits_per_sec, Some(10 << 20));
        assert_eq!(c.processes, Some(true)); // only TOML says it
        assert_eq!(c.refresh_ms, Some(250));
        assert_eq!(c.dns_resolution, None); // nobody says it: the default applies later

        // None never overrides, Some always does, for every field.
        let full = rc_ok(
            "interface: a\ndns-resolution: yes\nport-resolution: yes\nfilter-code: tcp\n\
             show-bars: yes\npromiscuous: yes\nport-display: on\nhide-source: yes\n\
             hide-destination: yes\nuse-bytes: yes\nsort: 2s\nline-display: two-line\n\
             show-totals: yes\nlog-scale: yes\nmax-bandwidth: 1\nnet-filter: 1.0.0.0/8\n\
             net-filter6: ::/0\nlink-local: yes\nscreen-filter: s\n",
        )
        .merge(tm_ok("processes = true\n[tui]\nrefresh-ms = 100"));
        assert_eq!(full.clone().merge(Config::default()), full);
        assert_eq!(Config::default().merge(full.clone()), full);
        let other = rc_ok(
            "interface: b\ndns-resolution: no\nport-resolution: no\nfilter-code: udp\n\
             show-bars: no\npromiscuous: no\nport-display: off\nhide-source: no\n\
             hide-destination: no\nuse-bytes: no\nsort: 40s\nline-display: one-line-sent\n\
             show-totals: no\nlog-scale: no\nmax-bandwidth: 2\nnet-filter: 2.0.0.0/8\n\
             net-filter6: fe80::/10\nlink-local: no\nscreen-filter: t\n",
        )
        .merge(tm_ok("processes = false\n[tui]\nrefresh-ms = 200"));
        assert_eq!(full.clone().merge(other.clone()), other);
        assert_eq!(other.clone().merge(full.clone()), full);
    }

    #[test]
    fn load_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let rc_path = dir.path().join(".iftoprc");
        fs::write(&rc_path, "interface: lo\nsort: bogus\n").unwrap();
        let e = load_iftoprc(&rc_path).unwrap_err();
        assert_eq!(e.path(), rc_path);
        assert_eq!(e.line(), Some(2));
        assert!(e.message().starts_with("sort: expected"));
        assert_eq!(
            e.to_string(),
            format!("{}:2: {}", rc_path.display(), e.message())
        );
        assert!(!e.is_not_found());
        fs::write(&rc_path, "interface: lo\n").unwrap();
        assert_eq!(
            load_iftoprc(&rc_path).unwrap().interface.as_deref(),
            Some("lo")
        );

        let toml_path = dir.path().join("config.toml");
        fs::write(&toml_path, "use-bytes = true\n").unwrap();
        assert_eq!(load_toml(&toml_path).unwrap().use_bytes, Some(true));

        let missing = dir.path().join("nope.toml");
        let e = load_toml(&missing).unwrap_err();
        assert!(e.is_not_found());
        assert_eq!(e.line(), None);
        assert!(e
            .to_string()
            .starts_with(&format!("{}: ", missing.display())));
        assert!(load_iftoprc(&missing).unwrap_err().is_not_found());

        // Not UTF-8: an error naming the file, not a panic.
        fs::write(&rc_path, b"interface: \xff\n").unwrap();
        let e = load_iftoprc(&rc_path).unwrap_err();
        assert!(!e.is_not_found());
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn default_locations() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert_eq!(
            default_paths_from(os("/home/u"), None),
            (
                Some(PathBuf::from("/home/u/.iftoprc")),
                Some(PathBuf::from("/home/u/.config/wirewatch/config.toml"))
            )
        );
        assert_eq!(
            default_paths_from(os("/home/u"), os("/xdg")),
            (
                Some(PathBuf::from("/home/u/.iftoprc")),
                Some(PathBuf::from("/xdg/wirewatch/config.toml"))
            )
        );
        // A relative or empty XDG_CONFIG_HOME is ignored, as the spec says.
        assert_eq!(
            default_paths_from(os("/home/u"), os("rel")).1,
            Some(PathBuf::from("/home/u/.config/wirewatch/config.toml"))
        );
        assert_eq!(
            default_paths_from(os("/home/u"), os("")).1,
            Some(PathBuf::from("/home/u/.config/wirewatch/config.toml"))
        );
        assert_eq!(
            default_paths_from(None, os("/xdg")),
            (None, Some(PathBuf::from("/xdg/wirewatch/config.toml")))
        );
        assert_eq!(default_paths_from(os(""), None), (None, None));
        // The real environment gives something sensible (or nothing).
        let (rc_path, toml_path) = default_paths();
        if let Some(p) = rc_path {
            assert!(p.ends_with(".iftoprc"));
        }
        if let Some(p) = toml_path {
            assert!(p.ends_with("wirewatch/config.toml"));
        }
    }
}
