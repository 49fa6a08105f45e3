//! Running the `nft` binary: no shell, the JSON on stdin, stdout and
//! stderr captured, killed when it outlives its timeout.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::NftError;

/// How `nft` is started: an optional command it runs under (e.g. `ip netns
/// exec NAME`), the program, and how long it may take.
#[derive(Clone, Debug)]
pub(super) struct Runner {
    pub(super) wrapper: Vec<String>,
    pub(super) program: PathBuf,
    pub(super) timeout: Duration,
}

impl Runner {
    /// `nft -j ARGS`, with `stdin` written to its standard input when
    /// given; its standard output on success.
    pub(super) fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, NftError> {
        let mut child = self.spawn(args)?;
        let (out, err) = self.collect(&mut child, stdin.unwrap_or("").to_string())?;
        let status = child
            .wait()
            .map_err(|e| NftError::Failed(format!("waiting for nft: {e}")))?;
        if status.success() {
            Ok(out)
        } else {
            Err(classify(&err, &status.to_string()))
        }
    }

    fn spawn(&self, args: &[&str]) -> Result<Child, NftError> {
        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        cmd.arg("-j")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().map_err(|e| {
            let what = match self.wrapper.first() {
                Some(w) => w.clone(),
                None => self.program.display().to_string(),
            };
            NftError::Missing(format!(
                "cannot run {what}: {e} (is the nftables package installed?)"
            ))
        })
    }

    /// Writes `input` to the child's stdin and reads its stdout and stderr
    /// to their ends, each on a thread of its own (a child that does not
    /// read, or fills one pipe, blocks none of them); kills the child when
    /// they are not done within the timeout.
    fn collect(&self, child: &mut Child, input: String) -> Result<(String, String), NftError> {
        let stdin = child.stdin.take();
        let out = child.stdout.take();
        let err = child.stderr.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let writer = std::thread::spawn(move || {
                // A child that died early closes the pipe: its stderr says why.
                if let Some(mut pipe) = stdin {
                    let _ = pipe.write_all(input.as_bytes());
                }
            });
            let err = std::thread::spawn(move || read_all(err));
            let out = read_all(out);
            let _ = writer.join();
            let _ = tx.send((out, err.join().unwrap_or_default()));
        });
        match rx.recv_timeout(self.timeout) {
            Ok(both) => Ok(both),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(NftError::Timeout(self.timeout))
            }
        }
    }
}

fn read_all(pipe: Option<impl Read>) -> String {
    let mut s = String::new();
    if let Some(mut p) = pipe {
        let _ = p.read_to_string(&mut s);
    }
    s
}

/// The error of a failed `nft`: its first line (the rest points at the
/// input), and [`NftError::Missing`] when nf_tables itself is not there.
pub(super) fn classify(stderr: &str, status: &str) -> NftError {
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map_or_else(
            || format!("nft failed ({status}) without a message"),
            str::to_string,
        );
    let unsupported = ["Protocol not supported", "Operation not supported"];
    if unsupported.iter().any(|u| line.contains(u)) {
        NftError::Missing(format!("nf_tables is not available: {line}"))
    } else if line.starts_with("exec of") {
        NftError::Missing(format!("cannot run nft: {line}"))
    } else {
        NftError::Failed(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfts_first_line_is_the_error() {
        let e = classify(
            "/dev/stdin:1:0-0: Error: Could not process rule: No such file or directory\nadd element …\n    ^^^\n",
            "exit status: 1",
        );
        assert_eq!(
            e,
            NftError::Failed(
                "/dev/stdin:1:0-0: Error: Could not process rule: No such file or directory".into()
            )
        );
        assert_eq!(
            classify("", "exit status: 1"),
            NftError::Failed("nft failed (exit status: 1) without a message".into())
        );
        let e = classify(
            "\nError: Could not process rule: Protocol not supported\n",
            "",
        );
        assert!(
            matches!(&e, NftError::Missing(m) if m.starts_with("nf_tables is not available")),
            "{e:?}"
        );
        let e = classify(
            "exec of \"/no/nft\" failed: No such file or directory\n",
            "",
        );
        assert!(matches!(e, NftError::Missing(_)), "{e:?}");
    }

    fn sh(script: &str, timeout: Duration) -> Runner {
        // `sh -c SCRIPT nft -j …`: the script sees nft's arguments as $0…
        Runner {
            wrapper: vec!["sh".into(), "-c".into(), script.into()],
            program: "nft".into(),
            timeout,
        }
    }

    #[test]
    fn a_hung_nft_is_killed_at_its_timeout() {
        let r = sh("sleep 30", Duration::from_millis(200));
        let timeout = Err(NftError::Timeout(Duration::from_millis(200)));
        assert_eq!(r.run(&["list", "tables"], None), timeout);
        // Also when it never reads an input larger than a pipe's buffer.
        let big = "x".repeat(1 << 20);
        assert_eq!(r.run(&["-f", "-"], Some(&big)), timeout);
    }

    #[test]
    fn stdin_reaches_nft_and_stdout_comes_back() {
        let r = sh("echo \"$0 $*\"; cat", Duration::from_secs(10));
        let out = r.run(&["-f", "-"], Some("{\"nftables\": []}")).unwrap();
        assert_eq!(out, "nft -j -f -\n{\"nftables\": []}");
        let r = sh("echo 'Error: no' >&2; exit 1", Duration::from_secs(10));
        assert_eq!(r.run(&[], None), Err(NftError::Failed("Error: no".into())));
    }
}
