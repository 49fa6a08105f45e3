//! `wirewatch respond …`: the policy in force, the blocks in place, the
//! log of decisions.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::respond::{RespondArgs, RespondCommand};
use crate::cli::Args;
use crate::config::Config;

/// Runs a `respond` subcommand, writing to `out`.
pub fn run(
    args: &Args,
    r: &RespondArgs,
    cfg: &Config,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let policy = crate::settings::respond_policy(args, cfg).unwrap_or_default();
    match &r.command {
        RespondCommand::Policy => {
            write!(out, "{}", policy.describe())?;
        }
        _ => anyhow::bail!("not yet"),
    }
    Ok(ExitCode::SUCCESS)
}
