//! One entry point: parse, check, run, and map the outcome to an exit code
//! in one place (one broken-pipe rule, one error line).

use std::io;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Args, Command};
use crate::offline::RunOutcome;
use crate::settings::{self, Source};

/// Exit code for bad input: unreadable capture, bad arguments.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit status of `-r FILE --alerts-exit` when an alert fired.
pub const EXIT_ALERTS: u8 = 1;

/// The whole program: what `main` calls.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            crate::message::error(&format!("{e:#}"));
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// Whether `e` is the reader of our output going away: not an error
/// (exit 0, like ripgrep).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Runs what `args` ask for.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    crate::clock::init()?;
    let stdout = &mut io::stdout().lock();
    match &args.command {
        Some(Command::History(h)) => {
            let configured = match &args.db {
                Some(p) => Some(p.clone()),
                None => settings::load_config(args)?.history.db,
            };
            let Some(db) = configured.or_else(settings::default_query_path) else {
                anyhow::bail!("no history database: give --db PATH");
            };
            crate::history_cmd::run(h, &db, stdout)?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Forecast(f)) => {
            let c = settings::load_config(args)?;
            let db = args
                .db
                .clone()
                .or(c.history.db.clone())
                .or_else(settings::default_query_path);
            crate::forecast_cmd::run(f, db.as_deref(), &c.forecast, stdout)?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Eval(e)) => {
            let c = settings::load_config(args)?;
            let cfg = settings::detect_config(args, &c);
            crate::eval_cmd::run(e, &cfg, args.model.as_deref(), stdout)?;
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    if args.list_interfaces {
        crate::live::list(stdout)?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = settings::build(args)?;
    let outcome = match (&s.source, &s.screen) {
        (_, Some(scr)) => crate::tui::run(&s, scr)?,
        (Source::File(p), None) => crate::offline::run(&s, p, Box::new(io::stdout()))?,
        (Source::Live(ls), None) => crate::live::run(&s, ls, Box::new(io::stdout()))?,
    };
    Ok(match outcome {
        RunOutcome::Clean | RunOutcome::BrokenPipe => ExitCode::SUCCESS,
        // The count is on stderr already (Detection::finish).
        RunOutcome::Alerted(_) => ExitCode::from(EXIT_ALERTS),
        RunOutcome::Warned(w) => {
            crate::message::warning(&w);
            ExitCode::SUCCESS
        }
    })
}
