//! `wirewatch respond …` as parsed.

/// `wirewatch respond`.
#[derive(clap::Args, Debug)]
pub struct RespondArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RespondCommand,
}

/// `wirewatch respond` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum RespondCommand {
    /// Print the policy in force and what is never blocked.
    Policy,
    /// List the blocks in place (from nftables), with the decision behind each.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Block an address or network by hand (checked against what is
    /// never blocked).
    Add {
        /// ADDR or ADDR/PREFIX (a source), or with --to an address.
        target: String,
        /// How long (30m, 1h, 7d).
        #[arg(long = "for", value_name = "DURATION", default_value = "1h")]
        duration: String,
        /// Block outbound traffic to the address instead of traffic from it.
        #[arg(long)]
        to: bool,
        /// With --to: only this TCP/UDP port.
        #[arg(long, requires = "to", value_name = "PORT")]
        port: Option<u16>,
    },
    /// Remove a block (the address as given to `add`, or as `list` shows it).
    Remove {
        /// ADDR or ADDR/PREFIX.
        target: String,
        /// The outbound block to the address.
        #[arg(long)]
        to: bool,
        /// With --to: the port of the block.
        #[arg(long, requires = "to", value_name = "PORT")]
        port: Option<u16>,
    },
    /// Remove every block at once (the kill switch).
    Flush,
    /// Every decision: blocks, dry-run decisions, refusals with their reason, hooks.
    Log {
        /// From this time (RFC 3339, a date, or a duration ago like 2h).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Until this time.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// At most this many (the newest).
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}
