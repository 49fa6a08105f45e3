//! The real binary's screen in a real terminal: tmux runs it on a capture
//! this test writes, and the pane's text is checked. Skips (with the
//! reason) when tmux is not installed.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use wirewatch_capture::PcapWriter;
use wirewatch_wire::build::*;
use wirewatch_wire::Timestamp;

const BIN: &str = env!("CARGO_BIN_EXE_wirewatch");

fn tmux(args: &[&str]) -> std::process::Output {
    Command::new("tmux").args(args).output().expect("run tmux")
}

/// 10.0.0.1:40000 sends 10 datagrams a second of 1000 IP bytes to
/// 10.0.0.2:53 for 6 s; 10.0.0.2 answers each with 200 bytes.
fn write_capture(p: &Path) {
    let f = std::fs::File::create(p).unwrap();
    let mut w = PcapWriter::new(f, 1, 65535, false).unwrap();
    let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
    for i in 0..60i64 {
        let ts = Timestamp::from_nanos(1_600_000_000_000_000_000 + i * 100_000_000);
        let q = eth(0x0800, &ipv4(a, b, 17, &udp(40000, 53, &[0; 972])));
        let r = eth(0x0800, &ipv4(b, a, 17, &udp(53, 40000, &[0; 172])));
        w.write(ts, &q, q.len() as u32).unwrap();
        w.write(ts, &r, r.len() as u32).unwrap();
    }
    w.finish().unwrap();
}

/// Kills the private tmux server even when an assertion fails.
struct Server(String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = tmux(&["-S", &self.0, "kill-server"]);
    }
}

#[test]
fn the_screen_in_tmux_shows_the_capture_and_quits_on_q() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("s.pcap");
    write_capture(&cap);
    let sock = dir.path().join("tmux.sock");
    let sock = sock.to_str().unwrap();
    let _server = Server(sock.to_string());
    let session = "ww";
    let cmd = format!("{BIN} -r {} --speed max -n -P", cap.display());
    let out = tmux(&[
        "-S",
        sock,
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "100",
        "-y",
        "30",
        &cmd,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pane = || {
        String::from_utf8(tmux(&["-S", sock, "capture-pane", "-p", "-t", session]).stdout).unwrap()
    };
    let t0 = Instant::now();
    let mut screen = pane();
    while !(screen.contains("TOTAL:") && screen.contains("end of capture")) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "screen never complete:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
        screen = pane();
    }
    let lines: Vec<&str> = screen.lines().collect();
    // The scale, then the entry: ports with service names (-P, no -N).
    assert!(lines[1].starts_with('└'), "{screen}");
    let row = lines
        .iter()
        .position(|l| l.contains("10.0.0.1:40000") && l.contains("=>"))
        .unwrap_or_else(|| panic!("no entry line:\n{screen}"));
    assert!(lines[row].contains("10.0.0.2:domain"), "{screen}");
    assert!(lines[row + 1].contains("<="), "{screen}");
    // Cumulative: 60 × 1000 sent = 58.6KB, 60 × 200 received = 11.7KB.
    let tx = lines.iter().find(|l| l.starts_with("TX:")).unwrap();
    let rx = lines.iter().find(|l| l.starts_with("RX:")).unwrap();
    assert!(tx.contains("58.6KB"), "{tx}");
    assert!(rx.contains("11.7KB"), "{rx}");
    // Keys reach it: P pauses, q quits and the session ends with it.
    tmux(&["-S", sock, "send-keys", "-t", session, "P"]);
    let t0 = Instant::now();
    while !pane().contains("PAUSED") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "P not shown:\n{}",
            pane()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    tmux(&["-S", sock, "send-keys", "-t", session, "q"]);
    let t0 = Instant::now();
    while tmux(&["-S", sock, "has-session", "-t", session])
        .status
        .success()
    {
        assert!(t0.elapsed() < Duration::from_secs(10), "q did not quit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_restores_the_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("s.pcap");
    write_capture(&cap);
    let sock = dir.path().join("tmux.sock");
    let sock = sock.to_str().unwrap();
    let _server = Server(sock.to_string());
    // After wirewatch: its exit code and whether the terminal is back in
    // canonical mode (raw mode turns icanon off).
    let cmd = format!(
        "{BIN} -r {} -n; echo EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon; sleep 30",
        cap.display()
    );
    let out = tmux(&[
        "-S",
        sock,
        "new-session",
        "-d",
        "-s",
        "ww",
        "-x",
        "100",
        "-y",
        "30",
        "sh",
        "-c",
        &cmd,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pane =
        || String::from_utf8(tmux(&["-S", sock, "capture-pane", "-p", "-t", "ww"]).stdout).unwrap();
    let t0 = Instant::now();
    while !pane().contains("TOTAL:") {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "screen never up:\n{}",
            pane()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let shell =
        String::from_utf8(tmux(&["-S", sock, "display", "-p", "-t", "ww", "#{pane_pid}"]).stdout)
            .unwrap();
    let children = Command::new("pgrep")
        .args(["-P", shell.trim()])
        .output()
        .unwrap();
    let pid = String::from_utf8(children.stdout).unwrap();
    let pid = pid
        .lines()
        .next()
        .expect("wirewatch under the shell")
        .trim()
        .to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let t0 = Instant::now();
    while !pane().contains("EXIT=") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM:\n{}",
            pane()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let screen = pane();
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        screen.lines().any(|l| l.trim() == "icanon"),
        "raw mode left on:\n{screen}"
    );
    assert!(
        !screen.contains("TOTAL:"),
        "the alternate screen was left:\n{screen}"
    );
}
