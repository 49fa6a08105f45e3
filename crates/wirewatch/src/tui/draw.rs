//! Drawing iftop's screen into a ratatui [`Buffer`]: the scale, one or two
//! lines per entry with bars, the TX/RX/TOTAL footer, and our status line
//! with a sparkline. Cells are placed by hand because iftop's layout is
//! positional (columns counted from the right edge).

use std::net::IpAddr;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use wirewatch_flow::{DirView, EntryKey, EntryTcp};
use wirewatch_wire::proto;

use super::app::{App, PromptKind, UNTIL_KEY};
use crate::config::LineMode;
use crate::output::readable;
use crate::settings::ScreenSort;

/// Names the screen shows instead of numbers.
pub trait Labels {
    /// The host name of `ip`, if it is known already (never waits).
    fn host(&mut self, ip: IpAddr) -> Option<String>;
    /// The service name of a port.
    fn service(&self, protocol: u8, port: u16) -> Option<&'static str>;
    /// Short (column) and long (process view) text for an owner id.
    fn owner(&self, id: u32) -> Option<(String, String)>;
}

/// One entry as it is displayed.
struct Row<'a> {
    key: EntryKey,
    src: String,
    dst: String,
    process: String,
    sent: &'a DirView,
    recv: &'a DirView,
    tcp: Option<&'a EntryTcp>,
}

/// One screen line of an entry: source, arrow, destination, the three
/// rates (the bar shows the one `B` picks), the cumulative bytes, and the
/// directions it counts (sent, received).
type Line<'r> = (&'r str, &'r str, &'r str, [f64; 3], u64, [bool; 2]);

/// Rate columns: 2 s, 10 s, 40 s (and the total with `T`), 8 cells each.
const RATE_CELL: u16 = 8;

/// The RTT / retransmission column (key `R`): the smoothed RTT in 9
/// cells, the retransmitted segments in 7.
const TCP_W: u16 = 16;

/// The column's heading, over its two cells.
const TCP_HEADING: &str = "      RTT  retr ";

/// The RTT / retransmission cells of one line of an entry: the smoothed
/// RTT (first line only: it pools both directions) and the retransmitted
/// segments of the directions the line counts; `-` where nothing is known.
pub fn tcp_cells(tcp: Option<&EntryTcp>, dirs: [bool; 2], first: bool) -> String {
    let rtt = match tcp.and_then(EntryTcp::rtt_nanos) {
        _ if !first => String::new(),
        Some(ns) => format!("{:.1}ms", ns as f64 / 1e6),
        None => "-".into(),
    };
    let retr = tcp.map_or("-".to_string(), |t| {
        let n: u64 = (0..2)
            .filter(|&i| dirs[i])
            .map(|i| t.retransmissions[i])
            .sum();
        n.to_string()
    });
    format!("{rtt:>8} {retr:>6} ")
}

fn reversed() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

impl App {
    fn rate_text(&self, bytes_per_s: f64) -> String {
        if self.opt.bytes {
            readable(bytes_per_s, true)
        } else {
            readable(bytes_per_s * 8.0, false)
        }
    }

    fn host_text(
        &self,
        labels: &mut dyn Labels,
        ip: Option<IpAddr>,
        port: Option<u16>,
        protocol: Option<u8>,
    ) -> String {
        let mut s = match ip {
            None => "*".to_string(),
            Some(a) if self.opt.dns => labels.host(a).unwrap_or_else(|| a.to_string()),
            Some(a) => a.to_string(),
        };
        match (port, protocol) {
            (Some(p), Some(pr)) if proto::has_ports(pr) => {
                s.push(':');
                match labels.service(pr, p).filter(|_| self.opt.services) {
                    Some(name) => s.push_str(name),
                    None => s.push_str(&p.to_string()),
                }
            }
            (Some(_), Some(pr)) => s.push_str(&format!(" ({})", proto::name(pr))),
            _ => {}
        }
        s
    }

    fn rows<'a>(
        &mut self,
        labels: &mut dyn Labels,
        snap: &'a wirewatch_flow::Snapshot,
        window: Option<std::ops::Range<usize>>,
    ) -> Vec<Row<'a>> {
        let order: Vec<usize> = match window {
            // Only the lines on screen get their text made.
            Some(w) => w.start.min(snap.entries.len())..w.end.min(snap.entries.len()),
            None => {
                let keys: Vec<EntryKey> = snap.entries.iter().map(|e| e.key).collect();
                let order = self.frozen_order(&keys);
                return self.all_rows(labels, snap, order);
            }
        }
        .collect();
        self.all_rows(labels, snap, order)
    }

    fn all_rows<'a>(
        &mut self,
        labels: &mut dyn Labels,
        snap: &'a wirewatch_flow::Snapshot,
        order: Vec<usize>,
    ) -> Vec<Row<'a>> {
        let mut rows: Vec<Row<'a>> = Vec::with_capacity(order.len());
        for i in order {
            let e = &snap.entries[i];
            let (src, dst, process) = if self.process_view {
                let (short, long) = labels.owner(e.owner).unwrap_or_else(|| {
                    ("unknown".into(), "unknown (no local process found)".into())
                });
                let flows = if e.flows == 1 { "flow" } else { "flows" };
                (long, format!("{} {flows}", e.flows), short)
            } else {
                let k = &e.key;
                let src = self.host_text(labels, k.src, k.src_port, k.protocol);
                let dst = self.host_text(labels, k.dst, k.dst_port, k.protocol);
                let mut p = match e.owner {
                    0 => String::new(),
                    id => labels.owner(id).map(|o| o.0).unwrap_or_default(),
                };
                if e.mixed_owners {
                    p.push('+');
                }
                (src, dst, p)
            };
            rows.push(Row {
                key: e.key,
                src,
                dst,
                process,
                sent: &e.sent,
                recv: &e.recv,
                tcp: e.tcp.as_ref(),
            });
        }
        rows.retain(|r| self.screen_match(&format!("{} {} {}", r.src, r.dst, r.process)));
        if self.frozen.is_none() {
            match self.opt.sort {
                ScreenSort::Source => rows.sort_by(|a, b| a.src.cmp(&b.src)),
                ScreenSort::Destination => rows.sort_by(|a, b| a.dst.cmp(&b.dst)),
                // Lines without a known process last.
                ScreenSort::Process => rows.sort_by(|a, b| {
                    (a.process.is_empty(), &a.process).cmp(&(b.process.is_empty(), &b.process))
                }),
                // The snapshot's own order.
                ScreenSort::Rate(_) | ScreenSort::Retransmissions | ScreenSort::Rtt => {}
            }
        }
        // What `o` freezes: the order on screen.
        self.shown.clear();
        self.shown.extend(rows.iter().map(|r| r.key));
        rows
    }

    /// Top of the bar scale in bits per second: `-m`, else the smallest
    /// power of ten above the highest rate shown (at least 10 kb/s).
    fn scale_max(&self) -> f64 {
        if let Some(m) = self.opt.max_bits {
            return m;
        }
        let peak = self.snap.as_ref().map_or(0.0, |s| {
            let entries = s
                .entries
                .iter()
                .flat_map(|e| [e.sent.peak, e.recv.peak])
                .fold(0.0, f64::max);
            entries.max(s.totals.peak[0]).max(s.totals.peak[1])
        }) * 8.0;
        let mut m = 10_000.0;
        while m < peak {
            m *= 10.0;
        }
        m
    }

    /// Length in cells of the bar for `bits` per second on a `width`-cell
    /// scale topped at `max` bits per second ([`App::scale_max`], worked out
    /// once per draw: it looks at every entry).
    fn bar_len(&self, bits: f64, max: f64, width: u16) -> u16 {
        let frac = if bits <= 0.0 {
            0.0
        } else if self.opt.log_scale {
            (bits.max(1.0).log10() / max.log10()).clamp(0.0, 1.0)
        } else {
            (bits / max).clamp(0.0, 1.0)
        };
        (frac * f64::from(width)).round() as u16
    }

    fn draw_scale(&self, buf: &mut Buffer, area: Rect, max: f64) {
        let w = area.width;
        let (y0, y1) = (area.y, area.y + 1);
        let mut ticks: Vec<f64> = Vec::new();
        if self.opt.log_scale {
            let mut v = 10.0;
            while v <= max * 1.0001 {
                ticks.push(v);
                v *= 10.0;
            }
        } else {
            ticks.extend((1..=5).map(|i| max * f64::from(i) / 5.0));
        }
        for x in 0..w {
            buf[(area.x + x, y1)].set_symbol(if x == 0 { "└" } else { "─" });
        }
        for t in ticks {
            let x = self.bar_len(t, max, w).min(w.saturating_sub(1));
            buf[(area.x + x, y1)].set_symbol("┴");
            let label = if self.opt.bytes {
                readable(t / 8.0, true)
            } else {
                readable(t, false)
            };
            let lx = x.saturating_sub(label.len() as u16);
            if lx > 0 || x as usize >= label.len() {
                buf.set_string(area.x + lx, y0, &label, Style::default());
            }
        }
    }

    fn draw_rates(&self, buf: &mut Buffer, x: u16, y: u16, rates: [f64; 3], total: Option<u64>) {
        let mut cx = x;
        if let Some(t) = total {
            buf.set_string(
                cx,
                y,
                format!("{:>7}", readable(t as f64, true)),
                Style::default(),
            );
            cx += RATE_CELL;
        }
        for r in rates {
            buf.set_string(cx, y, format!("{:>7}", self.rate_text(r)), Style::default());
            cx += RATE_CELL;
        }
    }

    /// Draws the whole screen.
    pub fn draw(&mut self, labels: &mut dyn Labels, area: Rect, buf: &mut Buffer) {
        buf.set_style(area, Style::default());
        let (w, h) = (area.width, area.height);
        if w < 40 || h < 8 {
            buf.set_string(
                area.x,
                area.y,
                "wirewatch: window too small",
                Style::default(),
            );
            return;
        }
        let scale = self.scale_max();
        self.draw_scale(buf, area, scale);
        let footer_top = area.y + h - 5;
        let ncols = if self.opt.totals { 4 } else { 3 };
        let rates_x = area.x + w - ncols * RATE_CELL;
        // The TCP column (`R`) only when the hosts keep at least 24 cells.
        let tcp_w = match self.tcp_column && self.tcp_analysis {
            true if rates_x - area.x > 24 + TCP_W => TCP_W,
            _ => 0,
        };
        let tcp_x = rates_x - tcp_w;
        if tcp_w > 0 {
            buf.set_string(tcp_x, area.y, TCP_HEADING, Style::default());
        }
        // The process column only when the hosts keep at least 24 cells.
        let hosts_w = tcp_x - area.x - 1;
        let proc_w: u16 = match (self.opt.processes, w) {
            (false, _) => 0,
            (true, w) if w >= 120 => 20,
            (true, _) if hosts_w >= 24 + 13 => 12,
            (true, _) => 0,
        };
        let host_end = tcp_x - 1 - if proc_w > 0 { proc_w + 1 } else { 0 };
        let proc_x = host_end + 1;
        let half = host_end.saturating_sub(area.x + 4) / 2;
        let (src_x, arrow_x, dst_x) = (area.x, area.x + half, area.x + half + 4);
        let list_top = area.y + 2;
        let list_rows = footer_top.saturating_sub(list_top);

        if self.help {
            self.draw_help(buf, Rect::new(area.x, list_top, w, list_rows));
        } else if let Some(snap) = self.snap.take() {
            let per = if self.opt.line_mode == LineMode::TwoLine {
                2
            } else {
                1
            };
            let fit = (list_rows / per) as usize;
            // With the snapshot's own order and no screen filter, the
            // snapshot holds only the first entries and only the visible
            // ones are turned into text (100 k flows stay cheap).
            self.fit = fit;
            let rows = if self.direct() {
                self.scroll = self.scroll.min(snap.total_entries.saturating_sub(1));
                let want = (self.scroll + fit).min(snap.total_entries);
                self.needs_rebuild = snap.entries.len() < want;
                self.rows(labels, &snap, Some(self.scroll..self.scroll + fit))
            } else {
                let all = self.rows(labels, &snap, None);
                self.scroll = self.scroll.min(all.len().saturating_sub(1));
                all.into_iter().skip(self.scroll).take(fit).collect()
            };
            // The folded flows last, once the list ends on this page.
            let mut rows = rows;
            if let Some(o) = snap.other.as_ref().filter(|_| rows.len() < fit) {
                rows.push(Row {
                    key: o.entry.key,
                    src: crate::output::other_label(o.flows),
                    dst: String::new(),
                    process: String::new(),
                    sent: &o.entry.sent,
                    recv: &o.entry.recv,
                    tcp: o.entry.tcp.as_ref(),
                });
            }
            let avg = self.opt.bar_average;
            let mut y = list_top;
            for r in &rows {
                let (sent, recv) = (r.sent, r.recv);
                let hosts = |arrow, rates, total, dirs| {
                    (r.src.as_str(), arrow, r.dst.as_str(), rates, total, dirs)
                };
                let lines: Vec<Line> = match self.opt.line_mode {
                    LineMode::TwoLine => vec![
                        hosts("=>", sent.rates, sent.bytes, [true, false]),
                        ("", "<=", "", recv.rates, recv.bytes, [false, true]),
                    ],
                    LineMode::OneLineBoth => vec![hosts(
                        "<=>",
                        [0, 1, 2].map(|i| sent.rates[i] + recv.rates[i]),
                        sent.bytes + recv.bytes,
                        [true, true],
                    )],
                    LineMode::OneLineSent => {
                        vec![hosts("=>", sent.rates, sent.bytes, [true, false])]
                    }
                    LineMode::OneLineReceived => {
                        vec![hosts("<=", recv.rates, recv.bytes, [false, true])]
                    }
                };
                for (k, (src, arrow, dst, rates, total, dirs)) in lines.into_iter().enumerate() {
                    if self.process_view {
                        // The process's description spans the host columns.
                        let ax = host_end.saturating_sub(4);
                        buf.set_stringn(
                            src_x,
                            y,
                            src,
                            ax.saturating_sub(src_x + 1) as usize,
                            Style::default(),
                        );
                        buf.set_string(ax, y, arrow, Style::default());
                        if proc_w > 0 {
                            buf.set_stringn(proc_x, y, dst, proc_w as usize, Style::default());
                        }
                    } else {
                        buf.set_stringn(
                            src_x,
                            y,
                            src,
                            (half as usize).saturating_sub(1),
                            Style::default(),
                        );
                        buf.set_string(arrow_x, y, arrow, Style::default());
                        buf.set_stringn(
                            dst_x,
                            y,
                            dst,
                            host_end.saturating_sub(dst_x) as usize,
                            Style::default(),
                        );
                        if k == 0 && proc_w > 0 {
                            buf.set_stringn(
                                proc_x,
                                y,
                                &r.process,
                                proc_w as usize,
                                Style::default(),
                            );
                        }
                    }
                    if tcp_w > 0 {
                        let cells = tcp_cells(r.tcp, dirs, k == 0);
                        buf.set_string(tcp_x, y, cells, Style::default());
                    }
                    self.draw_rates(buf, rates_x, y, rates, self.opt.totals.then_some(total));
                    if self.opt.bars {
                        let len = self.bar_len(rates[avg] * 8.0, scale, w);
                        buf.set_style(Rect::new(area.x, y, len, 1), reversed());
                    }
                    y += 1;
                }
            }
            if rows.is_empty() && list_rows > 0 {
                let why = if self.opt.screen_filter.is_some() {
                    "no entries match the screen filter"
                } else {
                    "no traffic in the last 40 s"
                };
                buf.set_string(area.x, list_top, why, Style::default());
            }
            self.snap = Some(snap);
        }
        self.draw_footer(buf, area, footer_top, rates_x);
        self.draw_status(buf, Rect::new(area.x, area.y + h - 1, w, 1));
    }

    /// A message too long for the status line, wrapped on the lines above
    /// it (at most half the screen), highlighted.
    fn draw_long_message(&self, buf: &mut Buffer, status: Rect, message: &str) {
        let lines = wrap(message, status.width as usize);
        let room = usize::from(status.y / 2).max(1);
        let shown = &lines[..lines.len().min(room)];
        for (i, text) in shown.iter().enumerate() {
            let y = status.y - (shown.len() - i) as u16;
            let blank = Rect::new(status.x, y, status.width, 1);
            buf.set_style(blank, reversed());
            for x in blank.left()..blank.right() {
                buf[(x, y)].set_symbol(" ");
            }
            buf.set_stringn(status.x, y, text, status.width as usize, reversed());
        }
    }

    fn draw_footer(&self, buf: &mut Buffer, area: Rect, top: u16, rates_x: u16) {
        for x in 0..area.width {
            buf[(area.x + x, top)].set_symbol("─");
        }
        let Some(s) = &self.snap else { return };
        let t = &s.totals;
        let labels = ["TX:", "RX:", "TOTAL:"];
        for (i, label) in labels.iter().enumerate() {
            let y = top + 1 + i as u16;
            buf.set_string(area.x, y, label, Style::default());
            if i == 0 {
                buf.set_string(area.x + 10, y, "cum:", Style::default());
                buf.set_string(area.x + 26, y, "peak:", Style::default());
                if rates_x >= area.x + 49 {
                    buf.set_string(rates_x - 7, y, "rates:", Style::default());
                }
            }
            buf.set_string(
                area.x + 15,
                y,
                format!("{:>8}", readable(t.cumulative[i] as f64, true)),
                Style::default(),
            );
            buf.set_string(
                area.x + 32,
                y,
                format!("{:>8}", self.rate_text(t.peak[i])),
                Style::default(),
            );
            let cols = if self.opt.totals { 1 } else { 0 };
            self.draw_rates(buf, rates_x + cols * RATE_CELL, y, t.rates[i], None);
        }
    }

    fn draw_status(&self, buf: &mut Buffer, line: Rect) {
        if let Some(p) = &self.prompt {
            let label = match p.kind {
                PromptKind::Filter => "Filter code: ",
                PromptKind::Screen => "Screen filter: ",
            };
            buf.set_stringn(
                line.x,
                line.y,
                format!("{label}{}_", p.text),
                line.width as usize,
                reversed(),
            );
            return;
        }
        let spark_w = (line.width / 4).min(SPARK_W);
        let text_w = line.width - spark_w - 1;
        let mut parts: Vec<String> = Vec::new();
        if self.paused {
            parts.push("PAUSED".into());
        }
        let st = &self.status;
        parts.push(st.label.clone());
        if let Some(f) = &self.filter {
            parts.push(format!("filter: {f}"));
        }
        if let Some(r) = &self.opt.screen_filter {
            parts.push(format!("screen: /{r}/"));
        }
        if let Some(s) = &self.snap {
            let errs = s.stats.decode_errors_total();
            parts.push(format!("pkts {}", s.stats.packets));
            if st.received > 0 || st.dropped > 0 {
                parts.push(format!("drops {}", st.dropped));
            }
            parts.push(format!("errors {errs}"));
        }
        if let Some(f) = &st.fault {
            parts.push(f.clone());
        }
        if st.ended {
            parts.push("end of capture".into());
        }
        parts.push("h: help".into());
        let mut text = parts.join(" | ");
        if let Some(m) = self.current_message() {
            let to_read = self.message.as_ref().is_some_and(|(_, t)| *t == UNTIL_KEY);
            if to_read && m.chars().count() > text_w as usize {
                // An error longer than the line: whole, on lines of its own.
                self.draw_long_message(buf, line, m);
            } else {
                // First on the status line (the rest is cut if need be).
                text = format!("{m} | {text}");
            }
        }
        buf.set_stringn(line.x, line.y, text, text_w as usize, Style::default());
        let spark = sparkline(&self.spark, spark_w as usize);
        buf.set_string(
            line.x + line.width - spark_w,
            line.y,
            spark,
            Style::default(),
        );
    }

    fn draw_help(&self, buf: &mut Buffer, area: Rect) {
        for (i, line) in HELP.iter().enumerate() {
            if i as u16 >= area.height {
                break;
            }
            buf.set_stringn(
                area.x,
                area.y + i as u16,
                line,
                area.width as usize,
                Style::default(),
            );
        }
    }
}

/// `text` in lines of at most `width` characters, broken at spaces where
/// it can be (a word longer than a line is cut).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        let used = line.chars().count();
        if used > 0 && used + 1 + word.len() <= width {
            line.push(' ');
            line.extend(word);
            continue;
        }
        if used > 0 {
            lines.push(std::mem::take(&mut line));
        }
        while word.len() > width {
            lines.push(word.drain(..width).collect());
        }
        line = word.into_iter().collect();
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Sparkline width at most.
const SPARK_W: u16 = 40;

/// The last `width` samples as block characters scaled to their maximum.
pub fn sparkline(samples: &std::collections::VecDeque<f64>, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let start = samples.len().saturating_sub(width);
    let shown: Vec<f64> = samples.iter().skip(start).copied().collect();
    let max = shown.iter().copied().fold(0.0, f64::max);
    let mut s: String = " ".repeat(width - shown.len());
    for v in shown {
        let i = if max <= 0.0 {
            0
        } else {
            ((v / max) * 7.0).round() as usize
        };
        s.push(BARS[i.min(7)]);
    }
    s
}

/// The help screen (keys as in `man iftop`, plus ours).
const HELP: [&str; 17] = [
    "Host display:                          General:",
    " n - toggle DNS host resolution         P - pause display",
    " s - toggle show source host            h - toggle this help display",
    " d - toggle show destination host       b - toggle bar graph display",
    " t - cycle line display mode            B - cycle bar graph average",
    "                                        T - toggle cumulative line totals",
    "Port display:                           j/k - scroll display",
    " N - toggle service resolution          f - edit filter code",
    " S - toggle show source port            l - set screen filter",
    " D - toggle show destination port       L - lin/log scales",
    " p - toggle port display                x - per-process view",
    "Sorting:                                q - quit",
    " 1/2/3 - sort by 1st/2nd/3rd column     4 - sort by process",
    " < - sort by source name                > - sort by dest name",
    " o - freeze current order",
    " 5 - sort by retransmissions            6 - sort by RTT (slowest first)",
    "TCP (--tcp):                            R - RTT / retransmission column",
];
