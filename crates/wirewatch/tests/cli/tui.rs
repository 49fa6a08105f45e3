//! The screen against ratatui's TestBackend: an in-memory packet source, a
//! hand-driven clock, snapshot files for whole screens, and one test per
//! key. No sleeps: time moves only when a test moves it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Modifier;
use ratatui::Terminal;
use wirewatch::config::LineMode;
use wirewatch::settings::ScreenOptions;
use wirewatch::tui::{App, HostNames, SourceStatus, Ui, UiSource};
use wirewatch_flow::{FlowConfig, FlowTable, IpNet};
use wirewatch_pipeline::filter::FrameFilter;
use wirewatch_pipeline::procs::Owners;
use wirewatch_pipeline::{Pipeline, Source};
use wirewatch_procs::Owner;
use wirewatch_wire::{build, linktype, Frame, Timestamp};

/// Frames released by a hand-set clock.
struct Memory {
    frames: VecDeque<(Timestamp, Vec<u8>)>,
    now: Timestamp,
    filter: Option<FrameFilter>,
}

impl Source for Memory {
    fn pull(
        &mut self,
        _wait_ns: i64,
        sink: &mut dyn FnMut(&Frame<'_>, u16) -> bool,
    ) -> anyhow::Result<()> {
        while self.frames.front().is_some_and(|(t, _)| *t <= self.now) {
            let (t, f) = self.frames.pop_front().unwrap();
            if let Some(flt) = &mut self.filter {
                if !flt.matches(linktype::RAW, &f, f.len() as u32).unwrap() {
                    continue;
                }
            }
            let frame = Frame {
                ts: t,
                link_type: linktype::RAW,
                wire_len: f.len() as u32,
                data: &f,
            };
            sink(&frame, 0);
        }
        Ok(())
    }

    fn now(&self) -> Timestamp {
        self.now
    }

    fn packet_clock(&self) -> bool {
        false
    }

    fn ended(&self) -> bool {
        false
    }

    fn interface_names(&self) -> Vec<String> {
        vec!["test0".into()]
    }

    fn set_filter(&mut self, expr: Option<&str>) -> Result<(), String> {
        self.filter = match expr {
            Some(e) => Some(FrameFilter::new(e, linktype::RAW)?),
            None => None,
        };
        Ok(())
    }
}

impl UiSource for Memory {
    fn status(&mut self) -> SourceStatus {
        SourceStatus {
            label: "test0".into(),
            received: 1000,
            dropped: 7,
            ended: false,
            fault: None,
        }
    }
}

struct FakeNames(HashMap<IpAddr, &'static str>);

impl HostNames for FakeNames {
    fn host(&mut self, ip: IpAddr) -> Option<String> {
        self.0.get(&ip).map(|s| s.to_string())
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const T0: i64 = 1_700_000_000_000_000_000;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_nanos(T0 + ms * 1_000_000)
}

/// 20 s of traffic: a big TCP download to 10.0.0.1 from 10.0.0.2:80, a DNS
/// exchange with 10.0.0.3, and a small ping from 10.0.0.4 that stops at 10 s.
fn traffic() -> VecDeque<(Timestamp, Vec<u8>)> {
    let mut v = Vec::new();
    for i in 0..200 {
        let t = at(i * 100);
        v.push((
            t,
            build::ipv4(
                ip("10.0.0.2"),
                ip("10.0.0.1"),
                6,
                &build::tcp(80, 40000, 0x10, &[0; 1000]),
            ),
        ));
        v.push((
            t,
            build::ipv4(
                ip("10.0.0.1"),
                ip("10.0.0.2"),
                6,
                &build::tcp(40000, 80, 0x10, &[]),
            ),
        ));
        if i % 5 == 0 {
            v.push((
                t,
                build::ipv4(
                    ip("10.0.0.1"),
                    ip("10.0.0.3"),
                    17,
                    &build::udp(5353, 53, &[0; 40]),
                ),
            ));
            v.push((
                t,
                build::ipv4(
                    ip("10.0.0.3"),
                    ip("10.0.0.1"),
                    17,
                    &build::udp(53, 5353, &[0; 120]),
                ),
            ));
        }
        if i < 100 && i % 10 == 0 {
            v.push((
                t,
                build::ipv4(
                    ip("10.0.0.4"),
                    ip("10.0.0.1"),
                    1,
                    &build::icmp(8, 0, &[0; 56]),
                ),
            ));
        }
    }
    v.into()
}

fn ui_with(opt: ScreenOptions) -> Ui<Memory> {
    let cfg = FlowConfig {
        local_nets: vec![IpNet::new(ip("10.0.0.1"), 32).unwrap()],
        ..FlowConfig::default()
    };
    let names = FakeNames(HashMap::from([
        (ip("10.0.0.2"), "web.example"),
        (ip("10.0.0.3"), "dns.example"),
    ]));
    let src = Memory {
        frames: traffic(),
        now: at(0),
        filter: None,
    };
    Ui::new(
        App::new(opt, None),
        FlowTable::new(cfg),
        src,
        Owners::default(),
        Box::new(names),
        1_000_000_000,
    )
}

fn ui() -> Ui<Memory> {
    ui_with(ScreenOptions::default())
}

/// Moves the clock to `ms` and refreshes.
fn run_to(ui: &mut Ui<Memory>, ms: i64) {
    ui.pipeline.source.now = at(ms);
    ui.turn(0).unwrap();
}

fn key(ui: &mut Ui<Memory>, c: char) -> bool {
    ui.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn keys(ui: &mut Ui<Memory>, s: &str) {
    for c in s.chars() {
        key(ui, c);
    }
}

fn special(ui: &mut Ui<Memory>, code: KeyCode) {
    ui.key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn render(ui: &mut Ui<Memory>, w: u16, h: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| ui.draw(f)).unwrap();
    term.backend().buffer().clone()
}

fn text(b: &Buffer) -> String {
    let a = b.area;
    (0..a.height)
        .map(|y| {
            let line: String = (0..a.width).map(|x| b[(x, y)].symbol()).collect();
            line.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn screen(ui: &mut Ui<Memory>, w: u16, h: u16) -> String {
    text(&render(ui, w, h))
}

/// Reversed (bar) cells at the start of row `y`.
fn bar_len(b: &Buffer, y: u16) -> u16 {
    (0..b.area.width)
        .take_while(|&x| b[(x, y)].modifier.contains(Modifier::REVERSED))
        .count() as u16
}

fn row_of(s: &str, needle: &str) -> usize {
    s.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{s}"))
}

#[test]
fn layout_80x24() {
    let mut ui = ui();
    run_to(&mut ui, 12_000);
    insta::assert_snapshot!("layout_80x24", screen(&mut ui, 80, 24));
}

#[test]
fn layout_200x60() {
    let mut ui = ui();
    run_to(&mut ui, 12_000);
    insta::assert_snapshot!("layout_200x60", screen(&mut ui, 200, 60));
}

#[test]
fn rates_on_screen_are_the_tables() {
    let mut ui = ui();
    run_to(&mut ui, 12_000);
    let s = screen(&mut ui, 200, 60);
    // 10 packets/s of 1040 IP bytes from web.example: 83.2 kb/s = 81.2 Kb (1024 steps).
    let r = row_of(&s, "web.example");
    let line2 = s.lines().nth(r + 1).unwrap();
    assert!(line2.contains("<="), "{line2}");
    assert!(line2.contains("81.2Kb"), "received 2 s rate: {line2}");
    // The footer's received 2 s rate is the sum over every flow.
    let snap = ui.app.snap.as_ref().unwrap();
    let sum: f64 = snap.entries.iter().map(|e| e.recv.rates[0]).sum();
    let footer = s.lines().find(|l| l.starts_with("RX:")).unwrap();
    let want = wirewatch::output::readable(sum * 8.0, false);
    assert!(footer.contains(&want), "{footer} lacks {want}");
}

#[test]
fn bars_follow_the_rate_and_b_hides_them() {
    let mut ui = ui();
    run_to(&mut ui, 12_000);
    let b = render(&mut ui, 80, 24);
    let s = text(&b);
    let web = row_of(&s, "web.example") as u16;
    let dns = row_of(&s, "dns.example") as u16;
    // Received on the second line: the download's bar is longer than DNS's.
    assert!(bar_len(&b, web + 1) > bar_len(&b, dns + 1), "{s}");
    assert!(bar_len(&b, web + 1) > 0);
    key(&mut ui, 'b');
    let b = render(&mut ui, 80, 24);
    assert_eq!(bar_len(&b, web + 1), 0, "b hides the bars");
    // L: linear scale makes small rates shorter than log does.
    key(&mut ui, 'b');
    let log = bar_len(&render(&mut ui, 80, 24), dns + 1);
    key(&mut ui, 'L');
    let lin = bar_len(&render(&mut ui, 80, 24), dns + 1);
    assert!(lin < log, "linear {lin} < log {log}");
}

#[test]
fn line_modes_cycle_with_t() {
    let mut ui = ui();
    run_to(&mut ui, 12_000);
    let mut shots = Vec::new();
    for mode in [
        LineMode::TwoLine,
        LineMode::OneLineBoth,
        LineMode::OneLineSent,
        LineMode::OneLineReceived,
    ] {
        assert_eq!(ui.app.opt.line_mode, mode);
        shots.push(screen(&mut ui, 80, 24));
        key(&mut ui, 't');
    }
    assert_eq!(ui.app.opt.line_mode, LineMode::TwoLine, "t cycles back");
    insta::assert_snapshot!("one_line_both", shots[1]);
    let web = |s: &str| {
        s.lines()
            .find(|l| l.contains("web.example"))
            .unwrap()
            .to_string()
    };
    assert!(web(&shots[1]).contains("<=>"));
    assert!(web(&shots[2]).contains("=>") && !web(&shots[2]).contains("<="));
    assert!(web(&shots[3]).contains("<="));
    // One line per entry: the second line of the download is gone.
    let two = row_of(&shots[0], "dns.example") - row_of(&shots[0], "web.example");
    let one = row_of(&shots[1], "dns.example") - row_of(&shots[1], "web.example");
    assert_eq!((two, one), (2, 1));
}

#[test]
fn n_and_big_n_toggle_names() {
    let mut ui = ui();
    keys(&mut ui, "p");
    run_to(&mut ui, 12_000);
    let s = screen(&mut ui, 120, 30);
    assert!(s.contains("web.example:http"), "{s}");
    key(&mut ui, 'n');
    let s = screen(&mut ui, 120, 30);
    assert!(
        s.contains("10.0.0.2:http") && !s.contains("web.example"),
        "{s}"
    );
    key(&mut ui, 'N');
    let s = screen(&mut ui, 120, 30);
    assert!(s.contains("10.0.0.2:80"), "{s}");
    assert!(s.contains("port resolution off"), "message shown: {s}");
}

#[test]
fn ports_s_d_and_p() {
    let mut ui = ui();
    run_to(&mut ui, 12_000);
    let s = screen(&mut ui, 120, 30);
    assert!(!s.contains(":http"));
    key(&mut ui, 'S');
    let s = screen(&mut ui, 120, 30);
    assert!(
        s.contains("10.0.0.1:40000") || s.contains("10.0.0.1:5353"),
        "{s}"
    );
    assert!(!s.contains(":http"), "only the source port: {s}");
    key(&mut ui, 'D');
    let s = screen(&mut ui, 120, 30);
    assert!(s.contains("web.example:http"), "{s}");
    key(&mut ui, 'p');
    let s = screen(&mut ui, 120, 30);
    assert!(
        !s.contains(":http") && !s.contains(":40000"),
        "p turns both off: {s}"
    );
    key(&mut ui, 'p');
    let s = screen(&mut ui, 120, 30);
    assert!(
        s.contains("10.0.0.1:40000") && s.contains("web.example:http"),
        "{s}"
    );
}

#[test]
fn s_and_d_aggregate_hosts() {
    let mut ui = ui();
    run_to(&mut ui, 8_000);
    key(&mut ui, 'd');
    run_to(&mut ui, 9_000);
    let s = screen(&mut ui, 120, 30);
    // Every entry's destination is now "*": one entry per source.
    let rows: Vec<&str> = s.lines().filter(|l| l.contains("=>")).collect();
    assert!(rows.iter().all(|l| l.contains(" *")), "{s}");
    assert!(rows.len() < 3, "aggregated: {s}");
    key(&mut ui, 'd');
    key(&mut ui, 's');
    run_to(&mut ui, 10_000);
    let s = screen(&mut ui, 120, 30);
    let rows: Vec<&str> = s.lines().filter(|l| l.contains("=>")).collect();
    assert!(rows.iter().all(|l| l.trim_start().starts_with('*')), "{s}");
}

#[test]
fn sorting_keys() {
    let mut ui = ui();
    run_to(&mut ui, 12_000);
    // 10 s average: the download first.
    let s = screen(&mut ui, 120, 30);
    assert!(row_of(&s, "web.example") < row_of(&s, "dns.example"));
    // Sort by destination name: dns.example before web.example.
    key(&mut ui, '>');
    run_to(&mut ui, 13_000);
    let s = screen(&mut ui, 120, 30);
    assert!(row_of(&s, "dns.example") < row_of(&s, "web.example"), "{s}");
    // 40 s column: the ping stopped at 10 s but is still in the 40 s window.
    key(&mut ui, '3');
    run_to(&mut ui, 14_000);
    let s = screen(&mut ui, 120, 30);
    assert!(row_of(&s, "web.example") < row_of(&s, "dns.example"));
    assert!(s.contains("10.0.0.4"), "{s}");
    key(&mut ui, '<');
    run_to(&mut ui, 15_000);
    assert_eq!(ui.app.opt.sort, wirewatch::settings::ScreenSort::Source);
    key(&mut ui, '1');
    assert_eq!(ui.app.opt.sort, wirewatch::settings::ScreenSort::Rate(0));
    key(&mut ui, '2');
    assert_eq!(ui.app.opt.sort, wirewatch::settings::ScreenSort::Rate(1));
}

#[test]
fn every_small_window_draws() {
    for toggles in ["", "T", "x", "Tx", "t", "tt", "ttt", "pT", "Tb"] {
        let mut ui = ui();
        run_to(&mut ui, 6_000);
        // A long process name in the process column.
        let owner = ui.pipeline.owners_mut().intern(&Owner {
            pid: 1,
            comm: "a-rather-long-command-name".into(),
            exe: None,
            uid: 0,
            user: "root".into(),
            netns: 1,
            foreign_netns: false,
        });
        ui.pipeline.table_mut().label_owners(at(0), |_| owner);
        run_to(&mut ui, 12_000);
        keys(&mut ui, toggles);
        for w in 40..=130 {
            for h in [8, 9, 12, 24] {
                let s = screen(&mut ui, w, h);
                assert!(
                    s.lines().any(|l| l.starts_with("TOTAL:")),
                    "{toggles} {w}x{h}:\n{s}"
                );
                assert!(s.lines().all(|l| l.chars().count() <= w as usize));
            }
        }
    }
}

#[test]
fn o_freezes_the_order_on_screen_even_by_name() {
    let mut ui = ui();
    run_to(&mut ui, 12_000);
    key(&mut ui, '>');
    let by_name = screen(&mut ui, 120, 30);
    let order = |s: &str| {
        let mut v: Vec<(usize, &str)> = ["10.0.0.4", "dns.example", "web.example"]
            .iter()
            .map(|h| (row_of(s, h), *h))
            .collect();
        v.sort();
        v.into_iter()
            .map(|(_, h)| h.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(order(&by_name), ["10.0.0.4", "dns.example", "web.example"]);
    key(&mut ui, 'o');
    key(&mut ui, '1');
    run_to(&mut ui, 13_000);
    assert_eq!(
        order(&screen(&mut ui, 120, 30)),
        order(&by_name),
        "frozen as shown"
    );
    key(&mut ui, 'o');
    run_to(&mut ui, 14_000);
    assert_eq!(
        order(&screen(&mut ui, 120, 30)),
        ["web.example", "dns.example", "10.0.0.4"]
    );
    key(&mut ui, '<');
    run_to(&mut ui, 15_000);
    // Every source is 10.0.0.1: the tie keeps the rate order.
    assert_eq!(order(&screen(&mut ui, 120, 30))[0], "web.example");
}

#[test]
fn o_freezes_the_order() {
    let mut ui = ui();
    run_to(&mut ui, 12_000);
    key(&mut ui, 'o');
    let before = screen(&mut ui, 120, 30);
    key(&mut ui, '>');
    run_to(&mut ui, 13_000);
    let after = screen(&mut ui, 120, 30);
    assert!(
        row_of(&after, "web.example") < row_of(&after, "dns.example"),
        "frozen order kept despite the new sort:\n{after}"
    );
    assert_eq!(
        row_of(&before, "web.example"),
        row_of(&after, "web.example")
    );
    key(&mut ui, 'o');
    run_to(&mut ui, 14_000);
    let s = screen(&mut ui, 120, 30);
    assert!(row_of(&s, "dns.example") < row_of(&s, "web.example"));
}

#[test]
fn pause_freezes_the_display_not_the_capture() {
    let mut ui = ui();
    run_to(&mut ui, 4_000);
    key(&mut ui, 'P');
    let paused = screen(&mut ui, 80, 24);
    run_to(&mut ui, 12_000);
    let still = screen(&mut ui, 80, 24);
    let body = |s: &str| s.lines().take(20).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&paused), body(&still), "display frozen");
    assert!(still.contains("PAUSED"));
    key(&mut ui, 'P');
    run_to(&mut ui, 13_000);
    let resumed = screen(&mut ui, 80, 24);
    assert_ne!(body(&paused), body(&resumed));
    // The capture went on while paused: cumulative bytes cover 13 s.
    let snap = ui.app.snap.as_ref().unwrap();
    assert!(snap.stats.packets > 250, "{}", snap.stats.packets);
}

#[test]
fn t_shows_cumulative_totals() {
    let mut ui = ui();
    run_to(&mut ui, 12_000);
    key(&mut ui, 'T');
    let s = screen(&mut ui, 120, 30);
    // 121 packets (0 s to 12 s) of 1040 bytes received from web.example: 123KB.
    let r = row_of(&s, "web.example");
    assert!(s.lines().nth(r + 1).unwrap().contains("123KB"), "{s}");
}

#[test]
fn b_cycles_the_bar_average_and_j_k_scroll() {
    let mut ui = ui();
    run_to(&mut ui, 12_000);
    // iftop's default: bars show the 10 s average. The ping stopped at 10 s:
    // its 10 s and 40 s averages are not zero, its 2 s average is.
    assert_eq!(ui.app.opt.bar_average, 1);
    let bar = |ui: &mut Ui<Memory>| {
        let b = render(ui, 120, 30);
        let r = row_of(&text(&b), "10.0.0.4") as u16;
        bar_len(&b, r + 1)
    };
    let ten = bar(&mut ui);
    key(&mut ui, 'B');
    assert_eq!(ui.app.opt.bar_average, 2);
    let forty = bar(&mut ui);
    key(&mut ui, 'B');
    assert_eq!(ui.app.opt.bar_average, 0);
    let two = bar(&mut ui);
    assert!(
        ten > 0 && forty > 0 && two == 0,
        "10 s {ten}, 40 s {forty}, 2 s {two}"
    );
    let s = screen(&mut ui, 120, 30);
    let first = row_of(&s, "web.example");
    key(&mut ui, 'j');
    let s2 = screen(&mut ui, 120, 30);
    assert!(
        !s2.contains("web.example"),
        "scrolled past the first entry:\n{s2}"
    );
    assert_eq!(row_of(&s2, "dns.example"), first);
    key(&mut ui, 'k');
    assert_eq!(row_of(&screen(&mut ui, 120, 30), "web.example"), first);
}

#[test]
fn f_edits_the_packet_filter() {
    let mut ui = ui();
    run_to(&mut ui, 2_000);
    key(&mut ui, 'f');
    keys(&mut ui, "udp");
    let s = screen(&mut ui, 80, 24);
    assert!(
        s.lines().last().unwrap().starts_with("Filter code: udp_"),
        "{s}"
    );
    special(&mut ui, KeyCode::Enter);
    assert_eq!(ui.app.filter.as_deref(), Some("udp"));
    let tcp_before = ui
        .table()
        .flows()
        .find(|f| f.key.protocol == 6)
        .unwrap()
        .dirs[1]
        .packets
        + ui.table()
            .flows()
            .find(|f| f.key.protocol == 6)
            .unwrap()
            .dirs[0]
            .packets;
    run_to(&mut ui, 12_000);
    let tcp_after: u64 = ui
        .table()
        .flows()
        .filter(|f| f.key.protocol == 6)
        .map(|f| f.dirs[0].packets + f.dirs[1].packets)
        .sum();
    assert_eq!(tcp_before, tcp_after, "no TCP counted after 'udp'");
    // A bad expression leaves the filter as it was and says why.
    key(&mut ui, 'f');
    special(&mut ui, KeyCode::Backspace);
    special(&mut ui, KeyCode::Backspace);
    special(&mut ui, KeyCode::Backspace);
    keys(&mut ui, "tcp prt 80");
    special(&mut ui, KeyCode::Enter);
    assert_eq!(ui.app.filter.as_deref(), Some("udp"));
    let s = screen(&mut ui, 200, 30);
    assert!(s.contains("filter not changed"), "{s}");
    // Esc cancels an edit.
    key(&mut ui, 'f');
    keys(&mut ui, " and port 9");
    special(&mut ui, KeyCode::Esc);
    assert_eq!(ui.app.filter.as_deref(), Some("udp"));
}

#[test]
fn l_filters_the_screen_by_regex() {
    let mut ui = ui();
    run_to(&mut ui, 12_000);
    key(&mut ui, 'l');
    keys(&mut ui, "^dns|dns\\.");
    special(&mut ui, KeyCode::Enter);
    let s = screen(&mut ui, 120, 30);
    assert!(
        s.contains("dns.example") && !s.contains("web.example"),
        "{s}"
    );
    // A bad regex keeps the old one.
    key(&mut ui, 'l');
    ui.key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    keys(&mut ui, "(");
    special(&mut ui, KeyCode::Enter);
    let s = screen(&mut ui, 200, 30);
    assert!(s.contains("bad screen filter"), "{s}");
    assert!(
        s.contains("dns.example") && !s.contains("web.example"),
        "{s}"
    );
    // Empty: off.
    key(&mut ui, 'l');
    for _ in 0..20 {
        special(&mut ui, KeyCode::Backspace);
    }
    special(&mut ui, KeyCode::Enter);
    assert!(screen(&mut ui, 120, 30).contains("web.example"));
}

#[test]
fn help_and_quit() {
    let mut ui = ui();
    run_to(&mut ui, 2_000);
    key(&mut ui, 'h');
    let s = screen(&mut ui, 80, 24);
    assert!(s.contains("n - toggle DNS host resolution"), "{s}");
    insta::assert_snapshot!("help_80x24", s);
    key(&mut ui, 'h');
    assert!(!screen(&mut ui, 80, 24).contains("toggle DNS"));
    key(&mut ui, '?');
    assert!(ui.app.help);
    assert!(!key(&mut ui, 'q'), "q quits");
    assert!(!ui.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
}

#[test]
fn process_column_and_view() {
    let mut ui = ui();
    run_to(&mut ui, 6_000);
    let curl = ui.pipeline.owners_mut().intern(&Owner {
        pid: 4242,
        comm: "curl".into(),
        exe: Some("/usr/bin/curl".into()),
        uid: 1000,
        user: "alice".into(),
        netns: 4026531840,
        foreign_netns: false,
    });
    let resolved = ui.pipeline.owners_mut().intern(&Owner {
        pid: 77,
        comm: "resolved".into(),
        exe: None,
        uid: 101,
        user: "systemd-resolve".into(),
        netns: 4026532999,
        foreign_netns: true,
    });
    ui.pipeline.table_mut().label_owners(at(0), |f| {
        if f.key.protocol == 6 {
            curl
        } else if f.key.protocol == 17 {
            resolved
        } else {
            0
        }
    });
    run_to(&mut ui, 12_000);
    let s = screen(&mut ui, 120, 30);
    assert!(
        s.lines()
            .nth(row_of(&s, "web.example"))
            .unwrap()
            .contains("curl/4242"),
        "{s}"
    );
    assert!(
        s.lines()
            .nth(row_of(&s, "dns.example"))
            .unwrap()
            .contains("resolved/77@ns"),
        "{s}"
    );
    key(&mut ui, 'x');
    run_to(&mut ui, 13_000);
    let s = screen(&mut ui, 120, 30);
    insta::assert_snapshot!("process_view_120x30", s);
    assert!(s.contains("pid 4242  user alice  /usr/bin/curl"), "{s}");
    assert!(s.contains("unknown"), "ICMP has no process: {s}");
    // Sort by process name (4): curl, resolved, unknown.
    key(&mut ui, '4');
    run_to(&mut ui, 14_000);
    let s = screen(&mut ui, 120, 30);
    assert!(
        row_of(&s, "curl") < row_of(&s, "resolved")
            && row_of(&s, "resolved") < row_of(&s, "unknown")
    );
    // The screen filter matches process names too.
    key(&mut ui, 'x');
    key(&mut ui, 'l');
    keys(&mut ui, "curl");
    special(&mut ui, KeyCode::Enter);
    run_to(&mut ui, 15_000);
    let s = screen(&mut ui, 120, 30);
    assert!(
        s.contains("web.example") && !s.contains("dns.example"),
        "{s}"
    );
}

#[test]
fn status_line_has_drops_errors_and_a_sparkline() {
    let mut ui = ui();
    for ms in (1_000..=12_000).step_by(1_000) {
        run_to(&mut ui, ms);
    }
    let s = screen(&mut ui, 120, 30);
    let last = s.lines().last().unwrap();
    assert!(
        last.contains("test0") && last.contains("drops 7") && last.contains("errors 0"),
        "{last}"
    );
    let spark: String = last.chars().filter(|c| ('▁'..='█').contains(c)).collect();
    assert_eq!(spark.chars().count(), 12, "one sample per refresh: {last}");
    assert!(spark.contains('█'));
}

#[test]
fn m_fixes_the_scale_and_resizing_redraws() {
    let mut ui = ui_with(ScreenOptions {
        max_bits: Some(1e6),
        log_scale: false,
        ..ScreenOptions::default()
    });
    run_to(&mut ui, 12_000);
    let s = screen(&mut ui, 100, 30);
    assert!(
        s.lines().next().unwrap().trim_end().ends_with("977Kb"),
        "{s}"
    );
    // Any size redraws the whole layout; tiny windows say so.
    for (w, h) in [(40, 8), (61, 17), (150, 40)] {
        let s = screen(&mut ui, w, h);
        assert!(s.lines().any(|l| l.starts_with("TOTAL:")), "{w}x{h}:\n{s}");
    }
    assert!(screen(&mut ui, 30, 5).contains("too small"));
}

#[test]
fn replay_follows_the_wall_clock_at_its_speed() {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;
    use wirewatch_capture::PcapWriter;
    use wirewatch_pipeline::FileSource;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pcap");
    let mut w = PcapWriter::new(
        std::fs::File::create(&path).unwrap(),
        linktype::RAW,
        65535,
        false,
    )
    .unwrap();
    for s in 0..10 {
        let f = build::ipv4(
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            17,
            &build::udp(1, 2, &[0; 10]),
        );
        w.write(at(s * 1000), &f, f.len() as u32).unwrap();
    }
    w.finish().unwrap();
    // (speed, wall seconds, frames due by then)
    for (speed, steps) in [
        (Some(1.0), vec![(0.0, 1), (1.5, 2), (3.0, 4), (20.0, 10)]),
        (Some(2.0), vec![(0.0, 1), (1.5, 4), (4.0, 9), (4.6, 10)]),
        (None, vec![(0.0, 10)]),
    ] {
        let wall = Rc::new(Cell::new(Duration::ZERO));
        let clock = wall.clone();
        let reader = wirewatch_capture::open_with(&path, |r| r).unwrap();
        let replay = FileSource::new(reader, "r.pcap".into())
            .paced(speed)
            .with_wall_clock(move || clock.get());
        let table = FlowTable::new(FlowConfig::default());
        let mut p = Pipeline::new(replay, table);
        for (secs, due) in steps {
            wall.set(Duration::from_secs_f64(secs));
            p.pump(0).unwrap();
            let (replay, table) = (&p.source, p.table());
            assert_eq!(table.stats().packets, due, "speed {speed:?} at {secs} s");
            // The table's clock is the replay position, never past the file.
            assert!(replay.now() <= at(9_000));
        }
        assert!(
            p.source.status().ended,
            "speed {speed:?}: the file was read to its end"
        );
    }
}

#[test]
fn the_screen_records_history_and_says_when_it_cannot() {
    use wirewatch_pipeline::history::{open_live, HistorySettings, Recorder};
    use wirewatch_store::query::{self, GroupBy, Range};
    let dir = tempfile::tempdir().unwrap();
    let settings = |path: std::path::PathBuf| HistorySettings {
        path,
        flush_nanos: 1_000_000_000,
        retention: Default::default(),
    };
    let db = dir.path().join("h.db");
    let (rec, note) = open_live(
        Some(&settings(db.clone())),
        vec!["test0".into()],
        std::sync::Arc::new(wirewatch_wire::SystemClock),
    );
    assert_eq!(note, None);
    let mut ui = ui().with_history(rec, None);
    for ms in (0..=25_000).step_by(250) {
        run_to(&mut ui, ms);
    }
    let counted: u64 = ui
        .table()
        .flows()
        .map(|f| f.dirs[0].ip_bytes + f.dirs[1].ip_bytes)
        .sum();
    let Ui { mut pipeline, .. } = ui;
    pipeline.finish(&Default::default()).unwrap();
    let st = pipeline
        .consumer_mut::<Recorder>()
        .unwrap()
        .finished()
        .unwrap()
        .clone();
    let table = pipeline.table();
    assert_eq!(st.error, None);
    // Each 1-s flush handed over the flows active in it: more rows than flows.
    assert!(st.rows_written as usize > 2 * table.len(), "{st:?}");
    let store = wirewatch_store::SqliteStore::open_reader(&db).unwrap();
    let t = query::top(
        &store,
        &Range {
            from: 0,
            to: i64::MAX / 2,
        },
        GroupBy::Iface,
        &Default::default(),
        5,
    )
    .unwrap();
    assert_eq!(t.total.bytes(), counted);
    assert_eq!(t.entries[0].key, "test0");

    // A history that cannot be opened: the screen says so on its status line.
    let (rec, note) = open_live(
        Some(&settings("/proc/wirewatch-none/h.db".into())),
        vec!["test0".into()],
        std::sync::Arc::new(wirewatch_wire::SystemClock),
    );
    assert!(rec.is_none());
    let mut off = self::ui().with_history(None, note);
    run_to(&mut off, 1_000);
    let screen = text(&render(&mut off, 160, 30));
    assert!(
        screen.contains("history: opening /proc/wirewatch-none")
            || screen.contains("history: creating /proc/wirewatch-none"),
        "{screen}"
    );
}

#[test]
fn alerts_show_in_the_status_area() {
    use wirewatch_pipeline::detect::{DetectSettings, Detection};
    let settings = DetectSettings {
        cfg: Default::default(),
        model: None,
        watch: None,
    };
    let mut ui = ui().with_detection(Some(Detection::new(&settings).unwrap()));
    // A SYN scan of 60 ports of 10.0.0.2 at 5 s.
    for p in 1..=60u16 {
        let f = wirewatch_wire::build::ip(
            ip("10.0.0.9"),
            ip("10.0.0.2"),
            6,
            &wirewatch_wire::build::tcp(50_000, p, 0x02, &[]),
        );
        ui.pipeline
            .source
            .frames
            .push_back((at(5_000 + p as i64), f));
    }
    ui.pipeline
        .source
        .frames
        .make_contiguous()
        .sort_by_key(|(t, _)| *t);
    run_to(&mut ui, 4_000);
    let before = text(&render(&mut ui, 160, 30));
    assert!(!before.contains("alert"), "{before}");
    run_to(&mut ui, 6_000);
    let screen = text(&render(&mut ui, 160, 30));
    assert!(
        screen.contains(
            "alert [medium] vertical_scan 10.0.0.9 -> 10.0.0.2: 10.0.0.9 contacted 50 ports"
        ),
        "{screen}"
    );
    assert_eq!(ui.pipeline.consumer_mut::<Detection>().unwrap().fired(), 1);
}

#[test]
fn a_bad_filter_message_stays_until_a_key_and_wraps() {
    let mut ui = ui();
    run_to(&mut ui, 2_000);
    key(&mut ui, 'f');
    keys(&mut ui, "tcp and port 80 and host 10.0.0.999");
    special(&mut ui, KeyCode::Enter);
    let message = ui.app.current_message().unwrap().to_string();
    assert!(message.starts_with("filter not changed"), "{message}");
    assert!(message.len() > 60, "long enough to wrap: {message}");
    // Ten seconds later (a replay runs through them in an instant) it is
    // still there, whole, over the lines above the status line.
    run_to(&mut ui, 12_000);
    let s = screen(&mut ui, 60, 24);
    let lines: Vec<&str> = s.lines().collect();
    let status = lines.len() - 1;
    assert!(lines[status].contains("test0"), "{s}");
    let block = (0..status)
        .rev()
        .take_while(|&y| {
            let b = render(&mut ui, 60, 24);
            b[(0, y as u16)].modifier.contains(Modifier::REVERSED)
        })
        .count();
    assert!(block >= 2, "wrapped over {block} line(s):\n{s}");
    let wrapped: Vec<&str> = lines[status - block..status]
        .iter()
        .map(|l| l.trim())
        .collect();
    assert_eq!(wrapped.join(" "), message, "{s}");
    // The next key takes it away.
    key(&mut ui, 'T');
    assert_ne!(ui.app.current_message(), Some(message.as_str()));
    assert!(!screen(&mut ui, 60, 24).contains("filter not changed"));
}

/// A paced replay of `frames` (raw IPv4) on a wall clock the test moves;
/// returns the screen after each step of `walls` (seconds).
fn replay_screens(frames: &[(i64, Vec<u8>)], speed: Option<f64>, walls: &[f64]) -> Vec<String> {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;
    use wirewatch_capture::PcapWriter;
    use wirewatch_pipeline::FileSource;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.pcap");
    let file = std::fs::File::create(&path).unwrap();
    let mut w = PcapWriter::new(file, linktype::RAW, 65535, false).unwrap();
    for (ms, f) in frames {
        w.write(at(*ms), f, f.len() as u32).unwrap();
    }
    w.finish().unwrap();
    let wall = Rc::new(Cell::new(Duration::ZERO));
    let clock = wall.clone();
    let reader = wirewatch_capture::open_with(&path, |r| r).unwrap();
    let replay = FileSource::new(reader, "short.pcap".into())
        .paced(speed)
        .with_wall_clock(move || clock.get());
    let p = Pipeline::new(replay, FlowTable::new(FlowConfig::default()));
    let names = Box::new(FakeNames(HashMap::new()));
    let opt = ScreenOptions {
        dns: false,
        ..ScreenOptions::default()
    };
    let mut ui = Ui::on(App::new(opt, None), p, names, 1_000_000_000);
    walls
        .iter()
        .map(|&secs| {
            wall.set(Duration::from_secs_f64(secs));
            ui.turn(0).unwrap();
            let b = render_file(&mut ui, 100, 24);
            text(&b)
        })
        .collect()
}

fn render_file<S: UiSource>(ui: &mut Ui<S>, w: u16, h: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| ui.draw(f)).unwrap();
    term.backend().buffer().clone()
}

#[test]
fn a_replay_shorter_than_a_slot_ends_on_its_pairs() {
    // 20 datagrams of 1028 IP bytes from 10.0.0.1 to 10.0.0.2 over 0.65 s.
    let frames: Vec<(i64, Vec<u8>)> = (0..20)
        .map(|i| {
            let f = build::ipv4(
                ip("10.0.0.1"),
                ip("10.0.0.2"),
                17,
                &build::udp(4000, 53, &[0; 1000]),
            );
            (i * 650 / 19, f)
        })
        .collect();
    for speed in [Some(1.0), None] {
        let screens = replay_screens(&frames, speed, &[0.0, 0.3, 0.7, 0.75]);
        let last = screens.last().unwrap();
        let status = last.lines().last().unwrap();
        assert!(
            status.contains("pkts 20") && status.contains("end of capture"),
            "speed {speed:?}: {status}"
        );
        let row = row_of(last, "10.0.0.1");
        let line = last.lines().nth(row).unwrap();
        assert!(line.contains("10.0.0.2"), "{last}");
        // 20,560 B over 0.65 s = 253,046 bit/s (247Kb in iftop's 1024
        // steps) in every column, where whole slots gave a third of it.
        assert_eq!(line.matches("247Kb").count(), 3, "speed {speed:?}:\n{last}");
        let total = last.lines().find(|l| l.starts_with("TX:")).unwrap();
        assert!(total.contains("20.1KB"), "{total}");
        assert!(!last.contains("no traffic"), "{last}");
    }
}

/// A table at its limit: the flows folded away are one line on screen,
/// "(N other flows)", with their rates; the busy pairs keep theirs.
#[test]
fn folded_flows_are_one_line_on_screen() {
    let mut frames: Vec<_> = traffic().into();
    for n in 0..100u8 {
        frames.push((
            at(i64::from(n) * 100 + 50),
            build::ipv4(
                ip(&format!("172.16.0.{n}")),
                ip("10.0.0.1"),
                17,
                &build::udp(1024 + u16::from(n), 5000, &[0; 18]),
            ),
        ));
    }
    frames.sort_by_key(|f| f.0);
    let cfg = FlowConfig {
        local_nets: vec![IpNet::new(ip("10.0.0.1"), 32).unwrap()],
        max_flows: 16,
        ..FlowConfig::default()
    };
    let src = Memory {
        frames: frames.into(),
        now: at(0),
        filter: None,
    };
    let mut ui = Ui::new(
        App::new(ScreenOptions::default(), None),
        FlowTable::new(cfg),
        src,
        Owners::default(),
        Box::new(FakeNames(HashMap::new())),
        1_000_000_000,
    );
    run_to(&mut ui, 12_000);
    let s = screen(&mut ui, 200, 60);
    let folded = ui.pipeline.table().stats().evicted_flows;
    assert!(folded > 80, "{folded} folded");
    let r = row_of(&s, &format!("({folded} other flows)"));
    assert!(
        row_of(&s, "10.0.0.2") < r,
        "the other flows come last:\n{s}"
    );
}
