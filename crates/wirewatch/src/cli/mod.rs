//! The command line as parsed, nothing more: [`crate::settings`] checks it
//! and turns it into settings; nothing else reads it.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

pub mod eval;
pub mod forecast;
pub mod history;
pub mod respond;
pub mod values;

/// Command-line arguments (iftop and tcpdump flags where they apply).
#[derive(Parser, Debug)]
#[command(
    name = "wirewatch",
    version,
    about = "Network traffic monitor: per-connection bandwidth like iftop, from captures or live"
)]
pub struct Args {
    /// Print the man page (roff) or a shell's completion script, made from
    /// this command line's definition, and exit.
    #[arg(long, value_enum, value_name = "KIND")]
    pub generate: Option<GenerateArg>,

    /// Where packets come from.
    #[command(flatten)]
    pub capture: CaptureArgs,

    /// What the reports show.
    #[command(flatten)]
    pub report: ReportArgs,

    /// The screen.
    #[command(flatten)]
    pub screen: ScreenArgs,

    /// Which configuration files.
    #[command(flatten)]
    pub files: ConfigFiles,

    /// The history database.
    #[command(flatten)]
    pub history: HistoryFlags,

    /// Detection and alerts.
    #[command(flatten)]
    pub detect: DetectArgs,

    /// The web server (HTTP API and metrics).
    #[command(flatten)]
    pub web: WebArgs,

    /// A subcommand instead of capturing.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Capture flags.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Capture")]
pub struct CaptureArgs {
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

    /// Memory budget of the whole process (default 150M; K, M, G are 1024-based). The flow
    /// table holds what fits; past it the least active flows are folded into "(N other flows)".
    #[arg(long, value_name = "SIZE", value_parser = crate::config::parse_memory)]
    pub memory_limit: Option<u64>,

    /// After opening the sockets, switch to this user (name, uid or uid:gid) and drop
    /// every capability (the process-scan thread alone keeps CAP_SYS_PTRACE and
    /// CAP_DAC_READ_SEARCH unless --no-processes).
    #[arg(long, value_name = "USER", default_value = "nobody")]
    pub user: String,
}

/// Web server flags.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Web")]
pub struct WebArgs {
    /// Serve the HTTP API and /metrics on ADDR:PORT (port 0: any free port) beside
    /// this run; a replay (-r) keeps serving after the file ends until SIGINT/SIGTERM.
    #[arg(long = "web", value_name = "ADDR")]
    pub listen: Option<String>,

    /// A file whose first line is the token clients must send as
    /// `Authorization: Bearer TOKEN` (required on any address but loopback).
    /// Made with a random token (mode 0600) if it does not exist.
    #[arg(long, value_name = "FILE")]
    pub web_token_file: Option<PathBuf>,

    /// A token file for /metrics alone (a scraper's): /metrics then takes
    /// this token or the main one. Made like --web-token-file.
    #[arg(long, value_name = "FILE")]
    pub web_metrics_token_file: Option<PathBuf>,

    /// Serve HTTPS with this PEM certificate chain (needs --web-tls-key).
    #[arg(long, value_name = "FILE")]
    pub web_tls_cert: Option<PathBuf>,

    /// The PEM private key of --web-tls-cert.
    #[arg(long, value_name = "FILE")]
    pub web_tls_key: Option<PathBuf>,

    /// Hosts and processes with their own series in /metrics (the rest is
    /// summed as "other"; default 20).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=1000))]
    pub web_top_n_metrics: Option<u16>,
}

impl WebArgs {
    /// Takes the flags given in `after` (after `serve`); a flag given on
    /// both sides is an error naming it.
    fn merge(&mut self, after: &mut WebArgs) -> Result<(), String> {
        fn one<T>(name: &str, here: &mut Option<T>, there: &mut Option<T>) -> Result<(), String> {
            match (there.take(), here.is_some()) {
                (Some(_), true) => Err(format!("{name} given both before and after serve")),
                (Some(v), false) => {
                    *here = Some(v);
                    Ok(())
                }
                (None, _) => Ok(()),
            }
        }
        one("--web", &mut self.listen, &mut after.listen)?;
        one(
            "--web-token-file",
            &mut self.web_token_file,
            &mut after.web_token_file,
        )?;
        one(
            "--web-metrics-token-file",
            &mut self.web_metrics_token_file,
            &mut after.web_metrics_token_file,
        )?;
        one(
            "--web-tls-cert",
            &mut self.web_tls_cert,
            &mut after.web_tls_cert,
        )?;
        one(
            "--web-tls-key",
            &mut self.web_tls_key,
            &mut after.web_tls_key,
        )?;
        one(
            "--web-top-n-metrics",
            &mut self.web_top_n_metrics,
            &mut after.web_top_n_metrics,
        )
    }
}

impl Args {
    /// Folds the flags given after `serve` into the run's: interfaces add
    /// up; the filter and the web flags may be given on one side only.
    pub fn merge_serve(&mut self) -> Result<(), String> {
        let Some(Command::Serve(s)) = &mut self.command else {
            return Ok(());
        };
        self.capture.interfaces.append(&mut s.interfaces);
        let twice = |name: &str| format!("{name} given both before and after serve");
        if let Some(f) = s.filter.take() {
            if self.capture.filter.replace(f).is_some() {
                return Err(twice("-f"));
            }
        }
        self.web.merge(&mut s.web)
    }
}

/// `serve`'s own flags: the interfaces, the filter and the web server may
/// also follow the subcommand (`wirewatch serve -i eth0`); every other
/// live option goes before it.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Capture live on this interface (repeat for several; `any` = every
    /// interface that is up). Default: the interface carrying the default route.
    #[arg(short = 'i', value_name = "IFACE")]
    pub interfaces: Vec<String>,

    /// Filter packets with a pcap-filter expression (tcpdump syntax).
    #[arg(short = 'f', value_name = "EXPR")]
    pub filter: Option<String>,

    /// The web server's address and token.
    #[command(flatten)]
    pub web: WebArgs,
}

/// Reports flags.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Reports")]
pub struct ReportArgs {
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

    /// Fold flows idle this many seconds into "(N other flows)" (default: 40 live, as
    /// iftop drops a line once its 40 s window is empty; offline, keep every flow; 0: never).
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<f64>,

    /// Never draw the progress bar (it is drawn only when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,

    /// Text output (iftop -t) even when stdout is a terminal; without it a
    /// terminal gets the interactive screen.
    #[arg(short = 't')]
    pub text: bool,

    /// Count and show IPv6 link-local traffic, which live capture leaves out
    /// by default like iftop (files always count it) (iftop -l).
    #[arg(short = 'l')]
    pub link_local: bool,

    /// Analyse TCP connections: retransmissions, out-of-order segments,
    /// duplicate ACKs, zero windows, handshake RTT (in the summary;
    /// docs/TCP.md); and time DNS queries to their answers, with response
    /// codes, per client and server (docs/DNS.md).
    #[arg(long)]
    pub tcp: bool,
}

/// Screen flags.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Screen")]
pub struct ScreenArgs {
    /// Screen and --web/serve: do not resolve host names (iftop -n).
    #[arg(short = 'n')]
    pub no_dns: bool,

    /// Screen: show port numbers, not service names (iftop -N).
    #[arg(short = 'N')]
    pub no_services: bool,

    /// Screen: no bar graphs (iftop -b).
    #[arg(short = 'b')]
    pub no_bars: bool,

    /// Screen: top of the bar scale in bits/s, with K, M or G (iftop -m).
    #[arg(short = 'm', value_name = "LIMIT")]
    pub max_bandwidth: Option<String>,

    /// Screen or --web with -r: replay speed, a multiple of real time (1 =
    /// as recorded) or `max` (as fast as it reads; the default with --web).
    #[arg(long, value_name = "SPEED")]
    pub speed: Option<String>,

    /// Do not look for the processes owning sockets.
    #[arg(long)]
    pub no_processes: bool,
}

/// Configuration files flags.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Configuration files")]
pub struct ConfigFiles {
    /// Read this iftop configuration file instead of ~/.iftoprc (iftop -c);
    /// a name ending in .toml is read as wirewatch TOML.
    #[arg(short = 'c', value_name = "FILE")]
    pub config_iftop: Option<PathBuf>,

    /// wirewatch TOML configuration (default $XDG_CONFIG_HOME/wirewatch/config.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// History flags.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "History")]
pub struct HistoryFlags {
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
}

/// Detection flags.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Detection")]
pub struct DetectArgs {
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
    #[arg(long)]
    pub ml: bool,

    /// The ML detector's model: loaded when the file exists (no new
    /// training period), saved at the end. Implies --ml.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,

    /// Respond to alerts by the `[respond]` policy (or the default one:
    /// block scanners, flooders and password guessers for an hour):
    /// `dry-run` decides and logs, `enforce` blocks with nftables (live
    /// capture only), `off` disables a configured policy.
    #[arg(long, value_name = "MODE", value_parser = ["dry-run", "enforce", "off"])]
    pub respond: Option<String>,
}

/// Subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Query the traffic history: top, series, flows, plot, alerts.
    History(history::HistoryArgs),
    /// Score the detectors against labeled captures.
    Eval(eval::EvalArgs),
    /// Capture live like the default run and serve the HTTP API and
    /// Prometheus metrics (on 127.0.0.1:8080 unless --web says otherwise);
    /// the other live options go before `serve`.
    Serve(ServeArgs),
    /// Forecast traffic from history (intervals, capacity warnings, a
    /// chart), or backtest the models on a CSV series.
    Forecast(forecast::ForecastArgs),
    /// Automated responses: the policy in force, the blocks in place
    /// (list, add, remove, flush), the log of every decision.
    Respond(respond::RespondArgs),
}

/// `--generate`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum GenerateArg {
    /// The man page, roff (`wirewatch --generate man | man -l -`).
    Man,
    /// Bash completion.
    CompleteBash,
    /// Zsh completion.
    CompleteZsh,
    /// Fish completion.
    CompleteFish,
    /// PowerShell completion.
    CompletePowershell,
    /// Elvish completion.
    CompleteElvish,
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
