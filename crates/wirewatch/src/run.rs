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
    // Before any thread starts: the memory budget holds for the allocator too.
    wirewatch_live::limit_allocator_arenas();
    let args = match Args::try_parse() {
        Ok(mut a) => match a.merge_serve() {
            Ok(()) => a,
            Err(e) => {
                crate::message::error(&usage_error(&e));
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        },
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
    let ours = closer_subcommand(rendered).map(|c| format!("tip: did you mean '{c}'?"));
    let extras: Vec<&str> = lines
        .filter(|l| l.starts_with("[possible values") || (l.starts_with("tip:") && ours.is_none()))
        .map(|l| l.trim_start_matches('[').trim_end_matches(']'))
        .chain(ours.as_deref())
        .collect();
    if !extras.is_empty() {
        msg = format!("{msg} ({})", extras.join("; "));
    }
    format!("{msg}; try 'wirewatch --help'")
}

/// For an unknown subcommand, the nearest one at that level by edits
/// (a swap of two neighbours counts as one: `tpo` is `top`, not `plot`).
fn closer_subcommand(rendered: &str) -> Option<String> {
    let wrong = rendered
        .lines()
        .next()?
        .strip_prefix("error: unrecognized subcommand '")?
        .split('\'')
        .next()?;
    // The level: the words after the program name on the usage line.
    let usage = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))?;
    let mut cmd = Args::command();
    for word in usage.split_whitespace().skip(1) {
        if word.starts_with('[') || word.starts_with('<') {
            break;
        }
        cmd = cmd.find_subcommand(word)?.clone();
    }
    cmd.get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .map(|n| (edits(wrong, &n), n))
        .filter(|(d, n)| *d <= 2 && *d < n.len())
        .min()
        .map(|(_, n)| n)
}

/// Edits from `a` to `b`: insertions, deletions, substitutions, and swaps
/// of two neighbours (optimal string alignment).
fn edits(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
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
            let mut cfg = settings::detect_config(args, &c);
            cfg.ml.enabled |= e.ml;
            // Given before the subcommand (`wirewatch --model F eval …`) or after it.
            let model = e.model.as_deref().or(args.detect.model.as_deref());
            crate::eval_cmd::run(e, &cfg, model, &mut io::stdout().lock())?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Respond(r)) => {
            let c = settings::load_config(args)?;
            return crate::respond_cmd::run(args, r, &c, &mut io::stdout().lock());
        }
        Some(Command::Serve(_)) | None => {}
    }
    if args.capture.list_interfaces {
        crate::live::list(&mut io::stdout().lock())?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = settings::build(args)?;
    // Bound before capture starts: a bad address or a missing token
    // fails before anything else.
    let web = s.web.as_ref().map(wirewatch_web::bind).transpose()?;
    let outcome = match (&s.source, &s.screen) {
        (_, Some(scr)) => crate::tui::run(&s, scr)?,
        (Source::File(p), None) => crate::offline::run(&s, p, Box::new(io::stdout()), web)?,
        (Source::Live(ls), None) => crate::live::run(&s, ls, Box::new(io::stdout()), web)?,
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
    fn an_unknown_subcommand_gets_the_nearest_one_at_its_level() {
        // A swap of two letters is one edit: `tpo` is `top`, not `plot`.
        for (args, want) in [
            (vec!["wirewatch", "history", "tpo"], "did you mean 'top'?"),
            (vec!["wirewatch", "histroy"], "did you mean 'history'?"),
            (
                vec!["wirewatch", "forecast", "backtets"],
                "did you mean 'backtest'?",
            ),
        ] {
            let e = Args::try_parse_from(&args).unwrap_err();
            let line = usage_error(&e.to_string());
            assert!(
                line.contains(want) && !line.contains("plot"),
                "{args:?}: {line}"
            );
        }
        // Nothing near: no tip.
        let e = Args::try_parse_from(["wirewatch", "history", "zzzzzz"]).unwrap_err();
        assert!(!usage_error(&e.to_string()).contains("tip"));
        assert_eq!(edits("tpo", "top"), 1);
        assert_eq!(edits("tpo", "plot"), 3);
        assert_eq!(edits("", "ab"), 2);
        assert_eq!(edits("abc", "abc"), 0);
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
