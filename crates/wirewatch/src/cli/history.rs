//! `wirewatch history …` as parsed.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args as ClapArgs, Subcommand};
use wirewatch_pipeline::requests::params::{By, Metric, Order};

use super::values;

/// `wirewatch history …`.
#[derive(ClapArgs, Debug)]
pub struct HistoryArgs {
    /// The query.
    #[command(subcommand)]
    pub query: Query,
}

/// The history queries.
#[derive(Subcommand, Debug)]
pub enum Query {
    /// The hosts, pairs, processes, ports or interfaces with the most traffic.
    Top(TopArgs),
    /// Traffic per time step (one line, or one per top entity with --by).
    Series(SeriesArgs),
    /// Flows (host pairs with ports) with their traffic.
    Flows(FlowsArgs),
    /// Draw a series as a PNG or SVG chart, one line per top entity.
    Plot(PlotArgs),
    /// Alerts recorded by detection, oldest first.
    Alerts(AlertsArgs),
}

/// Options every query takes.
#[derive(ClapArgs, Debug, Clone)]
pub struct Common {
    /// Start: a duration back from now (30m, 24h, 7d, 2w) or an RFC 3339
    /// time (2026-11-23T14:00:00Z, 2026-11-23).
    #[arg(long, default_value = "24h", value_name = "TIME")]
    pub since: String,
    /// End (excluded): `now`, a duration back from now, or an RFC 3339 time.
    #[arg(long, default_value = "now", value_name = "TIME")]
    pub until: String,
    /// The range's length, back from --until (instead of --since): 1h, 7d.
    #[arg(long, value_name = "DURATION", conflicts_with = "since")]
    pub last: Option<String>,
    /// Only this interface (or capture file name, for imports).
    #[arg(long, value_name = "IFACE")]
    pub iface: Option<String>,
    /// Only flows with this host at either end.
    #[arg(long, value_name = "ADDR", value_parser = values::host())]
    pub host: Option<IpAddr>,
    /// Only flows of this process name.
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,
    /// Only flows with this port at either end.
    #[arg(long, value_name = "PORT", value_parser = values::port())]
    pub port: Option<u16>,
    /// Only this protocol (tcp, udp, icmp, icmp6, or a number).
    #[arg(long, value_name = "PROTO")]
    pub proto: Option<String>,
    /// Only flows a pcap filter accepts (tcpdump syntax, as for -f): a flow
    /// is kept when the filter accepts its packets in either direction.
    #[arg(short = 'f', value_name = "EXPR")]
    pub filter: Option<String>,
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV.
    #[arg(long)]
    pub csv: bool,
}

/// `history top`.
#[derive(ClapArgs, Debug)]
pub struct TopArgs {
    /// What to rank.
    #[arg(long, default_value = "host", value_parser = values::by())]
    pub by: By,
    /// What to rank by: bytes, or TCP health (retrans, rtt: TCP rows of
    /// minutes recorded with --tcp).
    #[arg(long, default_value = "bytes", value_parser = values::sort())]
    pub sort: Order,
    /// Entries to print (0: all).
    #[arg(long, default_value_t = 10, value_parser = values::limit())]
    pub limit: usize,
    /// Range, selection and output format.
    #[command(flatten)]
    pub common: Common,
}

/// `history series`.
#[derive(ClapArgs, Debug)]
pub struct SeriesArgs {
    /// Bucket length (whole minutes: 1m, 5m, 1h, 1d). Default: about 100 buckets.
    #[arg(long, value_name = "DURATION")]
    pub step: Option<String>,
    /// One line per entity of this kind (the --limit largest).
    #[arg(long, value_parser = values::by())]
    pub by: Option<By>,
    /// Lines with --by.
    #[arg(long, default_value_t = 5, value_parser = values::limit())]
    pub limit: usize,
    /// What to measure: bytes, or TCP health (retrans_rate, rtt_p95: TCP
    /// rows of minutes recorded with --tcp).
    #[arg(long, default_value = "bytes", value_parser = values::metric())]
    pub metric: Metric,
    /// Range, selection and output format.
    #[command(flatten)]
    pub common: Common,
}

/// `history flows`.
#[derive(ClapArgs, Debug)]
pub struct FlowsArgs {
    /// Flows to print (0: all).
    #[arg(long, default_value_t = 100, value_parser = values::limit())]
    pub limit: usize,
    /// Range, selection and output format.
    #[command(flatten)]
    pub common: Common,
}

/// `history plot`.
#[derive(ClapArgs, Debug)]
pub struct PlotArgs {
    /// Output file: .png or .svg.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Bucket length (whole minutes). Default: about 200 buckets.
    #[arg(long, value_name = "DURATION")]
    pub step: Option<String>,
    /// One line per entity of this kind.
    #[arg(long, default_value = "host", value_parser = values::by())]
    pub by: By,
    /// Lines drawn.
    #[arg(long, default_value_t = 5, value_parser = values::limit())]
    pub limit: usize,
    /// What to draw (as `series --metric`).
    #[arg(long, default_value = "bytes", value_parser = values::metric())]
    pub metric: Metric,
    /// Chart width in pixels.
    #[arg(long, default_value_t = 1200)]
    pub width: u32,
    /// Chart height in pixels.
    #[arg(long, default_value_t = 600)]
    pub height: u32,
    /// Chart title (default: what is drawn and the range).
    #[arg(long)]
    pub title: Option<String>,
    /// Range, selection and output format.
    #[command(flatten)]
    pub common: Common,
}

/// `history alerts`.
#[derive(ClapArgs, Debug)]
pub struct AlertsArgs {
    /// Start: a duration back from now (30m, 24h, 7d, 2w) or an RFC 3339
    /// time (2026-11-23T14:00:00Z, 2026-11-23).
    #[arg(long, default_value = "24h", value_name = "TIME")]
    pub since: String,
    /// End (excluded): `now`, a duration back from now, or an RFC 3339 time.
    #[arg(long, default_value = "now", value_name = "TIME")]
    pub until: String,
    /// The range's length, back from --until (instead of --since): 1h, 7d.
    #[arg(long, value_name = "DURATION", conflicts_with = "since")]
    pub last: Option<String>,
    /// Only alerts of this kind, as printed (vertical_scan, syn_flood, spike, …).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Alerts to print: the newest N, oldest first (0: all).
    #[arg(long, default_value_t = 100, value_parser = values::limit())]
    pub limit: usize,
    /// Print one JSON array of the alerts, each as it was printed live.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV.
    #[arg(long)]
    pub csv: bool,
}
