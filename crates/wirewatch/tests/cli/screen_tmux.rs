//! The real binary's screen in a real terminal: tmux runs it on a capture
//! this test writes, and the pane's text is checked. Skips (with the
//! reason; a failure under `WIREWATCH_STRICT=1`) when tmux is not installed.

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

/// A private tmux server running one 100×30 session `ww` on a capture this
/// test wrote; the server is killed even when an assertion fails.
struct Session {
    sock: String,
    _dir: tempfile::TempDir,
}

impl Session {
    /// Starts `command(capture path)` in the session (the caller has
    /// checked that tmux is installed).
    fn start(command: impl FnOnce(&Path) -> Vec<String>) -> Session {
        Self::on(write_capture, command)
    }

    /// [`Session::start`] on the capture `write` makes.
    fn on(write: impl FnOnce(&Path), command: impl FnOnce(&Path) -> Vec<String>) -> Session {
        let dir = tempfile::tempdir().unwrap();
        let cap = dir.path().join("s.pcap");
        write(&cap);
        let sock = dir.path().join("tmux.sock").to_str().unwrap().to_string();
        let mut args: Vec<String> = [
            "-S",
            &sock,
            "new-session",
            "-d",
            "-s",
            "ww",
            "-x",
            "100",
            "-y",
            "30",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.extend(command(&cap));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let s = Session { sock, _dir: dir };
        let out = tmux(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        s
    }

    fn pane(&self) -> String {
        String::from_utf8(tmux(&["-S", &self.sock, "capture-pane", "-p", "-t", "ww"]).stdout)
            .unwrap()
    }

    fn keys(&self, k: &str) {
        tmux(&["-S", &self.sock, "send-keys", "-t", "ww", k]);
    }

    /// Polls the pane until `done` holds; fails with `what` after `secs`.
    fn wait_for(&self, what: &str, secs: u64, done: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let screen = self.pane();
            if done(&screen) {
                return screen;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "{what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = tmux(&["-S", &self.sock, "kill-server"]);
    }
}

#[test]
fn the_screen_in_tmux_shows_the_capture_and_quits_on_q() {
    wirewatch_testkit::require!(wirewatch_testkit::tool("tmux"));
    let t = Session::start(|cap| vec![format!("{BIN} -r {} --speed max -n -P", cap.display())]);
    let screen = t.wait_for("screen never complete", 20, |s| {
        s.contains("TOTAL:") && s.contains("end of capture")
    });
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
    t.keys("P");
    t.wait_for("P not shown", 10, |s| s.contains("PAUSED"));
    t.keys("q");
    let t0 = Instant::now();
    while tmux(&["-S", &t.sock, "has-session", "-t", "ww"])
        .status
        .success()
    {
        assert!(t0.elapsed() < Duration::from_secs(10), "q did not quit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_restores_the_terminal() {
    // After wirewatch: its exit code and whether the terminal is back in
    // canonical mode (raw mode turns icanon off).
    for program in ["tmux", "pgrep", "kill"] {
        wirewatch_testkit::require!(wirewatch_testkit::tool(program));
    }
    let t = Session::start(|cap| {
        let script = format!(
            "{BIN} -r {} -n; echo EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon; sleep 30",
            cap.display()
        );
        vec!["sh".into(), "-c".into(), script]
    });
    t.wait_for("screen never up", 20, |s| s.contains("TOTAL:"));
    let shell = String::from_utf8(
        tmux(&["-S", &t.sock, "display", "-p", "-t", "ww", "#{pane_pid}"]).stdout,
    )
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
    t.wait_for("no exit after SIGTERM", 10, |s| s.contains("EXIT="));
    std::thread::sleep(Duration::from_millis(200));
    let screen = t.pane();
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

/// A capture of `(ms, from, to, IP bytes)` datagrams between 10.0.0.x hosts.
fn capture_of(p: &Path, packets: &[(i64, u8, u8, usize)]) {
    let f = std::fs::File::create(p).unwrap();
    let mut w = PcapWriter::new(f, 1, 65535, false).unwrap();
    for &(ms, a, b, bytes) in packets {
        let (a, b) = (format!("10.0.0.{a}"), format!("10.0.0.{b}"));
        let frame = wirewatch_testkit::udp_frame(&a, 40000, &b, 53, bytes - 28);
        let ts = Timestamp::from_nanos(1_600_000_000_000_000_000 + ms * 1_000_000);
        w.write(ts, &frame, frame.len() as u32).unwrap();
    }
    w.finish().unwrap();
}

/// Plays `packets` at `speed` (`None`: the default) and returns the screen
/// once it says "end of capture", failing after `secs`.
fn replay_to_the_end(packets: &[(i64, u8, u8, usize)], speed: Option<&str>, secs: u64) -> String {
    let packets = packets.to_vec();
    let t = Session::on(
        move |p| capture_of(p, &packets),
        |cap| {
            let speed = speed.map_or(String::new(), |s| format!(" --speed {s}"));
            vec![format!("{BIN} -r {} -n -N{speed}", cap.display())]
        },
    );
    // No key is pressed: the replay must get there by itself.
    t.wait_for("the replay never ended", secs, |s| {
        s.contains("end of capture")
    })
}

/// The rates (2 s, 10 s, 40 s) on the screen's line of `host` sending.
fn sent_rates<'s>(screen: &'s str, host: &str) -> Vec<&'s str> {
    let line = screen
        .lines()
        .find(|l| l.starts_with(host) && l.contains("=>"))
        .unwrap_or_else(|| panic!("no line for {host}:\n{screen}"));
    let mut r: Vec<&str> = line.split_whitespace().rev().take(3).collect();
    r.reverse();
    r
}

#[test]
fn a_capture_shorter_than_a_slot_shows_its_pairs_at_every_speed() {
    wirewatch_testkit::require!(wirewatch_testkit::tool("tmux"));
    // 40 × 1000 B from 10.0.0.1 to 10.0.0.2 over 0.65 s, answered by 200 B.
    let mut packets = Vec::new();
    for i in 0..40i64 {
        packets.push((i * 650 / 39, 1, 2, 1000));
        packets.push((i * 650 / 39, 2, 1, 200));
    }
    for speed in [None, Some("max"), Some("20")] {
        let screen = replay_to_the_end(&packets, speed, 20);
        let status = screen.lines().last().unwrap();
        assert!(status.contains("pkts 80"), "{speed:?}: {status}");
        assert!(!screen.contains("no traffic"), "{speed:?}:\n{screen}");
        // 40,000 B over 0.65 s = 492 kbit/s (iftop's 1024 steps: 481Kb),
        // at any speed: the table's clock stops at the last packet.
        assert_eq!(
            sent_rates(&screen, "10.0.0.1"),
            ["481Kb"; 3],
            "{speed:?}:\n{screen}"
        );
        // Both directions are sent by someone (no local network given):
        // 48,000 B, 577Kb, and the peak is the 2 s rate.
        let tx = screen.lines().find(|l| l.starts_with("TX:")).unwrap();
        assert!(tx.contains("46.9KB"), "{tx}");
        assert_eq!(tx.matches("577Kb").count(), 4, "{tx}");
    }
}

#[test]
fn a_capture_with_a_one_second_gap_plays_through_it() {
    wirewatch_testkit::require!(wirewatch_testkit::tool("tmux"));
    // 10.0.0.1 → .2 for 0.3 s, nothing for 1 s, then 10.0.0.3 → .4 for 0.3 s.
    let mut packets = Vec::new();
    for i in 0..10i64 {
        packets.push((i * 30, 1, 2, 500));
        packets.push((1_300 + i * 30, 3, 4, 1500));
    }
    packets.sort();
    for speed in [None, Some("max")] {
        let screen = replay_to_the_end(&packets, speed, 20);
        let status = screen.lines().last().unwrap();
        assert!(status.contains("pkts 20"), "{speed:?}: {status}");
        // Both pairs, over the 1.57 s the capture covers: 5,000 B is
        // 24.9 kbit/s, 15,000 B 74.6 kbit/s.
        assert_eq!(sent_rates(&screen, "10.0.0.1"), ["24.9Kb"; 3], "{screen}");
        assert_eq!(sent_rates(&screen, "10.0.0.3"), ["74.6Kb"; 3], "{screen}");
    }
}

#[test]
fn a_capture_longer_than_the_history_ends_on_its_last_40_s() {
    wirewatch_testkit::require!(wirewatch_testkit::tool("tmux"));
    // 10.0.0.1 → .2: 1000 B every 100 ms for 45 s (80 kbit/s); 10.0.0.5 →
    // .6 only in the first second, long out of the 40 s window at the end.
    let mut packets: Vec<_> = (0..=450i64).map(|k| (k * 100, 1, 2, 1000)).collect();
    packets.extend((0..5i64).map(|k| (k * 200 + 50, 5, 6, 1000)));
    packets.sort();
    for speed in ["max", "20"] {
        let screen = replay_to_the_end(&packets, Some(speed), 30);
        let status = screen.lines().last().unwrap();
        assert!(status.contains("pkts 456"), "{speed}: {status}");
        // The report is at 45 s, 1 s into slot 22 (44..46 s). 2 s: slot
        // 22's 11 packets and half of slot 21's 20 over 2 s = 10,500 B/s;
        // 10 s: 91 + 10 packets over 10 s; 40 s: the history's slots 3..=22
        // (6..45 s: 391 packets over 39 s). The steady 78.1Kb, give or take
        // the packets at both ends of a window.
        let r = sent_rates(&screen, "10.0.0.1");
        assert_eq!(r, ["82.0Kb", "78.9Kb", "78.3Kb"], "{speed}:\n{screen}");
        assert!(!screen.contains("10.0.0.5"), "idle for 44 s:\n{screen}");
        // The totals count everything.
        let tx = screen.lines().find(|l| l.starts_with("TX:")).unwrap();
        assert!(tx.contains("445KB"), "{tx}");
    }
}

/// `--tcp` reaches the real screen: `R` shows the RTT / retransmission
/// column with the numbers of the capture's lossy connection.
#[test]
fn with_tcp_r_shows_rtt_and_retransmissions() {
    wirewatch_testkit::require!(wirewatch_testkit::tool("tmux"));
    let t = Session::on(crate::tcp_views::write_capture, |cap| {
        vec![format!("{BIN} -r {} --speed max -n --tcp", cap.display())]
    });
    t.wait_for("screen never complete", 20, |s| {
        s.contains("end of capture")
    });
    t.keys("R");
    let s = t.wait_for("no TCP column after R", 20, |s| s.contains("RTT  retr"));
    // 10.0.0.4: smoothed RTT 15.5 ms, the client sent its data 5 times again.
    let line = s.lines().find(|l| l.contains("10.0.0.4")).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(
        words.windows(2).any(|w| w == ["15.5ms", "5"]),
        "{line}\n{s}"
    );
    t.keys("q");
}
