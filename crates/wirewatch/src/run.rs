//! One entry point: parse, check, run, and map the outcome to an exit code
//! in one place (one broken-pipe rule, one error line).

use std::io;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use clap_complete::Shell;

use crate::cli::{Args, Command, GenerateArg};
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
        // Help and version: as clap prints them.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            crate::message::error(&usage_error(&e.to_string()));
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(e) if crate::message::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            crate::message::error(&format!("{e:#}"));
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// clap's usage error (several lines: the message, possible values, a
/// tip, the usage) as one line like every other error.
pub fn usage_error(rendered: &str) -> String {
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("bad arguments");
    let mut msg = first.strip_prefix("error: ").unwrap_or(first).to_string();
    let extras: Vec<&str> = lines
        .filter(|l| l.starts_with("[possible values") || l.starts_with("tip:"))
        .map(|l| l.trim_start_matches('[').trim_end_matches(']'))
        .collect();
    if !extras.is_empty() {
        msg = format!("{msg} ({})", extras.join("; "));
    }
    format!("{msg}; try 'wirewatch --help'")
}

/// The man page or a completion script of the command line, into `out`.
pub fn generate(kind: GenerateArg, out: &mut dyn io::Write) -> io::Result<()> {
    let mut cmd = Args::command();
    let shell = match kind {
        GenerateArg::Man => return clap_mangen::Man::new(cmd).render(out),
        GenerateArg::CompleteBash => Shell::Bash,
        GenerateArg::CompleteZsh => Shell::Zsh,
        GenerateArg::CompleteFish => Shell::Fish,
        GenerateArg::CompletePowershell => Shell::PowerShell,
        GenerateArg::CompleteElvish => Shell::Elvish,
    };
    // Rendered in memory: the generator panics on a write error (a
    // closed pipe is not one for us).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "wirewatch", &mut script);
    out.write_all(&script)
}

/// Runs what `args` ask for.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    crate::clock::init()?;
    if let Some(kind) = args.generate {
        generate(kind, &mut io::stdout().lock())?;
        return Ok(ExitCode::SUCCESS);
    }
    match &args.command {
        Some(Command::History(h)) => {
            let configured = match &args.history.db {
                Some(p) => Some(p.clone()),
                None => settings::load_config(args)?.history.db,
            };
            let Some(db) = configured.or_else(settings::default_query_path) else {
                anyhow::bail!("no history database: give --db PATH");
            };
            crate::history_cmd::run(h, &db, &mut io::stdout().lock())?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Forecast(f)) => {
            let c = settings::load_config(args)?;
            let db = args
                .history
                .db
                .clone()
                .or(c.history.db.clone())
                .or_else(settings::default_query_path);
            crate::forecast_cmd::run(f, db.as_deref(), &c.forecast, &mut io::stdout().lock())?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Eval(e)) => {
            let c = settings::load_config(args)?;
            let cfg = settings::detect_config(args, &c);
            crate::eval_cmd::run(
                e,
                &cfg,
                args.detect.model.as_deref(),
                &mut io::stdout().lock(),
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    if args.capture.list_interfaces {
        crate::live::list(&mut io::stdout().lock())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn made(kind: GenerateArg) -> String {
        let mut out = Vec::new();
        generate(kind, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn usage_errors_are_one_line() {
        for args in [
            vec!["wirewatch", "-r", "a", "-r", "b"],
            vec!["wirewatch", "history", "top", "--by", "nope"],
            vec!["wirewatch", "history", "tpo"],
            vec!["wirewatch", "--no-such-flag"],
        ] {
            let e = Args::try_parse_from(&args).unwrap_err();
            let line = usage_error(&e.to_string());
            assert!(
                !line.contains('\n') && line.ends_with("; try 'wirewatch --help'"),
                "{line}"
            );
            assert!(!line.starts_with("error:"), "{line}");
        }
        let e = Args::try_parse_from(["wirewatch", "history", "top", "--by", "nope"]).unwrap_err();
        let line = usage_error(&e.to_string());
        assert!(
            line.contains("possible values: host, local, remote, pair"),
            "{line}"
        );
    }

    #[test]
    fn the_man_page_documents_every_flag_and_subcommand() {
        let man = made(GenerateArg::Man);
        assert!(man.contains(".TH wirewatch 1"), "{man}");
        for flag in [
            "list\\-interfaces",
            "alerts\\-exit",
            "ip\\-layers",
            "generate",
        ] {
            assert!(man.contains(&format!("\\-\\-{flag}")), "{flag} missing");
        }
        for sub in ["history", "forecast", "eval"] {
            assert!(man.contains(sub), "{sub} missing");
        }
    }

    #[test]
    fn completion_scripts_name_the_flags_and_parse() {
        let bash = made(GenerateArg::CompleteBash);
        assert!(bash.contains("--list-interfaces") && bash.contains("history"));
        // The shell itself checks the script's syntax (bash is on every
        // machine these tests run on).
        let dir = std::env::temp_dir().join(format!("ww-compl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("wirewatch.bash");
        std::fs::write(&path, &bash).unwrap();
        let st = std::process::Command::new("bash")
            .arg("-n")
            .arg(&path)
            .status()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(st.success(), "bash -n rejected the completion script");
        for kind in [
            GenerateArg::CompleteZsh,
            GenerateArg::CompleteFish,
            GenerateArg::CompletePowershell,
            GenerateArg::CompleteElvish,
        ] {
            assert!(made(kind).contains("list-interfaces"), "{kind:?}");
        }
    }
}
