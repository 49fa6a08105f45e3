//! The screen's state and iftop's keys. No terminal here: keys come in as
//! [`KeyEvent`]s, time as a [`Timestamp`], and the packets as a [`FlowTable`],
//! so every key's effect can be tested by hand.

use std::collections::{HashMap, VecDeque};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use regex::Regex;
use wirewatch_flow::{EntryKey, FlowTable, Snapshot, SortKey, View};
use wirewatch_wire::Timestamp;

use crate::settings::{regex_error, ScreenOptions, ScreenSort};

/// Kernel and decoder counters for the status line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceStatus {
    /// What is being watched: interfaces or the file.
    pub label: String,
    /// Packets the kernel handed over (live).
    pub received: u64,
    /// Packets the kernel dropped (live).
    pub dropped: u64,
    /// The file has been read to its end (replay).
    pub ended: bool,
    /// A fault to show (interface down or gone, read error).
    pub fault: Option<String>,
}

/// A line being typed at the bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    /// `f` (BPF filter) or `l` (screen filter).
    pub kind: PromptKind,
    /// The text so far.
    pub text: String,
}

/// Which prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    /// `f`: pcap-filter expression, recompiled and attached.
    Filter,
    /// `l`: regular expression over the displayed lines.
    Screen,
}

/// What a key asks of the capture side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing beyond the screen.
    None,
    /// Leave.
    Quit,
    /// Replace the packet filter (`None`: remove it).
    SetFilter(Option<String>),
}

/// Sparkline length: total rate samples kept.
pub const SPARK_SAMPLES: usize = 240;

/// The screen's state.
pub struct App {
    /// Current options (keys change them).
    pub opt: ScreenOptions,
    /// The per-process view (key `x`).
    pub process_view: bool,
    /// Display frozen (key `P`); capture goes on.
    pub paused: bool,
    /// Order frozen (key `o`): keys in the order they were shown.
    pub frozen: Option<Vec<EntryKey>>,
    /// First entry shown (keys `j`, `k`).
    pub scroll: usize,
    /// Help screen shown (keys `h`, `?`).
    pub help: bool,
    /// Line being typed.
    pub prompt: Option<Prompt>,
    /// A message and when it stops being shown ([`UNTIL_KEY`]: at the
    /// next key).
    pub message: Option<(String, Timestamp)>,
    /// The packet filter in force.
    pub filter: Option<String>,
    screen_re: Option<Regex>,
    /// The latest snapshot shown.
    pub snap: Option<Snapshot>,
    /// Total rate (bytes/s, 2 s average) at each refresh, newest last.
    pub spark: VecDeque<f64>,
    /// Status counters.
    pub status: SourceStatus,
    /// Time of the last refresh.
    pub now: Timestamp,
    /// Entries that fit on the screen at the last draw.
    pub fit: usize,
    /// The last draw needed more entries than the picture holds (the window grew).
    pub needs_rebuild: bool,
    /// Keys in the order last drawn (when every entry was turned into a line).
    pub shown: Vec<EntryKey>,
    /// The table analyses TCP (`--tcp`): the RTT / retransmission column
    /// and orders have something to show.
    pub tcp_analysis: bool,
    /// The RTT / retransmission column is shown (key `R`).
    pub tcp_column: bool,
}

/// What the TCP keys say when the run does not analyse TCP.
pub const TCP_OFF: &str = "TCP analysis is off (start with --tcp)";

/// The keys that pick an order by name: key, order, what the status line
/// says (`5` and `6` only with `--tcp`).
const ORDER_KEYS: [(char, ScreenSort, &str); 5] = [
    ('4', ScreenSort::Process, "sort by process"),
    ('<', ScreenSort::Source, "sort by source"),
    ('>', ScreenSort::Destination, "sort by destination"),
    ('5', ScreenSort::Retransmissions, "sort by retransmissions"),
    ('6', ScreenSort::Rtt, "sort by RTT"),
];

/// Messages stay this long.
const MESSAGE_NANOS: i64 = 3_000_000_000;

/// The end of a message that stays until the next key.
pub const UNTIL_KEY: Timestamp = Timestamp::from_nanos(i64::MAX);

impl App {
    /// A screen with these options and the filter already in force.
    pub fn new(opt: ScreenOptions, filter: Option<String>) -> App {
        let screen_re = opt
            .screen_filter
            .as_deref()
            .and_then(|r| Regex::new(r).ok());
        App {
            opt,
            process_view: false,
            paused: false,
            frozen: None,
            scroll: 0,
            help: false,
            prompt: None,
            message: None,
            filter,
            screen_re,
            snap: None,
            spark: VecDeque::with_capacity(SPARK_SAMPLES),
            status: SourceStatus::default(),
            now: Timestamp::ZERO,
            fit: 100,
            needs_rebuild: false,
            shown: Vec::new(),
            tcp_analysis: false,
            tcp_column: false,
        }
    }

    /// Entries are shown in the snapshot's own order without a screen
    /// filter, so only the visible ones need to exist.
    pub fn direct(&self) -> bool {
        self.frozen.is_none()
            && self.opt.screen_filter.is_none()
            && matches!(
                self.opt.sort,
                ScreenSort::Rate(_) | ScreenSort::Retransmissions | ScreenSort::Rtt
            )
    }

    /// The grouping the options ask for.
    pub fn view(&self) -> View {
        if self.process_view {
            return View::Process;
        }
        let o = &self.opt;
        View::from_fields([o.show_src, o.show_dst, o.src_port, o.dst_port])
    }

    fn sort_key(&self) -> SortKey {
        match self.opt.sort {
            ScreenSort::Rate(0) => SortKey::Rate2s,
            ScreenSort::Rate(2) => SortKey::Rate40s,
            ScreenSort::Rate(_) => SortKey::Rate10s,
            ScreenSort::Source => SortKey::Source,
            ScreenSort::Destination => SortKey::Destination,
            ScreenSort::Process => SortKey::Owner,
            ScreenSort::Retransmissions => SortKey::Retransmissions,
            ScreenSort::Rtt => SortKey::Rtt,
        }
    }

    /// Shows `text` for a few seconds.
    pub fn say(&mut self, text: impl Into<String>) {
        self.message = Some((text.into(), self.now.add_nanos(MESSAGE_NANOS)));
    }

    /// Shows `text` until the next key: an error the user has to read
    /// whatever the clock does (a replay at full speed runs through seconds
    /// in an instant).
    pub fn tell(&mut self, text: impl Into<String>) {
        self.message = Some((text.into(), UNTIL_KEY));
    }

    /// The message to show now, if any.
    pub fn current_message(&self) -> Option<&str> {
        self.message
            .as_ref()
            .filter(|(_, until)| self.now < *until)
            .map(|(m, _)| m.as_str())
    }

    /// Takes a new picture of the table at `now` (unless paused) and the
    /// status counters.
    pub fn refresh(&mut self, table: &FlowTable, now: Timestamp, status: SourceStatus) {
        self.now = now;
        self.status = status;
        if self.paused {
            return;
        }
        self.rebuild(table);
        if let Some(snap) = &self.snap {
            if self.spark.len() == SPARK_SAMPLES {
                self.spark.pop_front();
            }
            self.spark.push_back(snap.totals.rates[2][0]);
        }
    }

    /// Rebuilds the picture at the last refresh time with the current view
    /// and order (after a key changed them), unless paused.
    pub fn rebuild(&mut self, table: &FlowTable) {
        if self.paused {
            return;
        }
        // The newest complete 2-second slot, so rates are over whole slots;
        // once a replay has ended its last picture counts the last slot
        // too, for the part of it the capture covers.
        let slot = table.slot_of(self.now) - i64::from(!self.status.ended);
        // The old picture goes first: two at once would double the peak memory.
        self.snap = None;
        // Only the entries up to the bottom of the screen, when the
        // snapshot's order is the screen's.
        let keep = self.direct().then_some(self.scroll + self.fit);
        self.snap = Some(Snapshot::build_top(
            table,
            self.view(),
            self.sort_key(),
            slot,
            true,
            keep,
        ));
        self.needs_rebuild = false;
    }

    /// Applies the frozen order to `keys` (the snapshot's order): entries
    /// shown before keep their places, new ones follow in snapshot order.
    pub fn frozen_order(&mut self, keys: &[EntryKey]) -> Vec<usize> {
        let Some(order) = &mut self.frozen else {
            return (0..keys.len()).collect();
        };
        let pos: HashMap<EntryKey, usize> =
            order.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        let mut idx: Vec<usize> = (0..keys.len()).collect();
        idx.sort_by_key(|&i| pos.get(&keys[i]).copied().unwrap_or(usize::MAX));
        for &i in &idx {
            if !pos.contains_key(&keys[i]) {
                order.push(keys[i]);
            }
        }
        idx
    }

    /// Whether a displayed line passes the screen filter.
    pub fn screen_match(&self, text: &str) -> bool {
        self.screen_re.as_ref().is_none_or(|r| r.is_match(text))
    }

    fn toggle(flag: &mut bool, what: &str) -> String {
        *flag = !*flag;
        format!("{what} {}", if *flag { "on" } else { "off" })
    }

    /// Handles one key press.
    pub fn key(&mut self, k: KeyEvent) -> Action {
        if self
            .message
            .as_ref()
            .is_some_and(|(_, until)| *until == UNTIL_KEY)
        {
            // Read: a key was pressed after it.
            self.message = None;
        }
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if self.prompt.is_some() {
            return self.prompt_key(k);
        }
        if self.help && !matches!(k.code, KeyCode::Char('q')) {
            // Any key leaves the help screen, as in iftop.
            self.help = false;
            if matches!(k.code, KeyCode::Char('h') | KeyCode::Char('?')) {
                return Action::None;
            }
        }
        match k.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('h') | KeyCode::Char('?') => self.help = true,
            KeyCode::Char('j') | KeyCode::Down => self.scroll += 1,
            KeyCode::Char('k') | KeyCode::Up => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::Char('f') => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Filter,
                    text: self.filter.clone().unwrap_or_default(),
                });
            }
            KeyCode::Char('l') => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Screen,
                    text: self.opt.screen_filter.clone().unwrap_or_default(),
                });
            }
            KeyCode::Char('R' | '5' | '6') if !self.tcp_analysis => {
                // Nothing to show or sort by: said until the next key.
                self.tell(TCP_OFF);
            }
            code => {
                let said = self
                    .display_key(code)
                    .or_else(|| self.order_key(code))
                    .or_else(|| self.view_key(code));
                if let Some(msg) = said {
                    self.say(msg);
                }
            }
        }
        Action::None
    }

    /// A key while the `f` or `l` prompt is open: editing, Enter, Esc.
    fn prompt_key(&mut self, k: KeyEvent) -> Action {
        let Some(p) = &mut self.prompt else {
            return Action::None;
        };
        match k.code {
            KeyCode::Enter => {
                let p = self.prompt.take().unwrap_or(Prompt {
                    kind: PromptKind::Screen,
                    text: String::new(),
                });
                let text = p.text.trim().to_string();
                let value = (!text.is_empty()).then_some(text);
                return match p.kind {
                    PromptKind::Filter => Action::SetFilter(value),
                    PromptKind::Screen => {
                        self.set_screen_filter(value);
                        Action::None
                    }
                };
            }
            KeyCode::Esc => {
                self.prompt = None;
                self.say("cancelled");
            }
            KeyCode::Backspace => {
                p.text.pop();
            }
            KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                p.text.clear();
            }
            KeyCode::Char(c) => p.text.push(c),
            _ => {}
        }
        Action::None
    }

    /// What is shown: names, ports, line mode, bars and totals.
    fn display_key(&mut self, code: KeyCode) -> Option<String> {
        Some(match code {
            KeyCode::Char('n') => Self::toggle(&mut self.opt.dns, "host name resolution"),
            KeyCode::Char('N') => Self::toggle(&mut self.opt.services, "port resolution"),
            KeyCode::Char('s') => Self::toggle(&mut self.opt.show_src, "show source host"),
            KeyCode::Char('d') => Self::toggle(&mut self.opt.show_dst, "show destination host"),
            KeyCode::Char('S') => Self::toggle(&mut self.opt.src_port, "show source port"),
            KeyCode::Char('D') => Self::toggle(&mut self.opt.dst_port, "show destination port"),
            KeyCode::Char('p') => {
                let on = !(self.opt.src_port || self.opt.dst_port);
                self.opt.src_port = on;
                self.opt.dst_port = on;
                format!("port display {}", if on { "on" } else { "off" })
            }
            KeyCode::Char('t') => {
                self.opt.line_mode = self.opt.line_mode.next();
                format!("line display: {}", self.opt.line_mode.name())
            }
            KeyCode::Char('T') => Self::toggle(&mut self.opt.totals, "cumulative totals"),
            KeyCode::Char('R') => Self::toggle(&mut self.tcp_column, "RTT / retransmission column"),
            KeyCode::Char('b') => Self::toggle(&mut self.opt.bars, "bar graphs"),
            KeyCode::Char('B') => {
                self.opt.bar_average = (self.opt.bar_average + 1) % 3;
                format!(
                    "bars show the {} average",
                    ["2 s", "10 s", "40 s"][self.opt.bar_average]
                )
            }
            KeyCode::Char('L') => {
                self.opt.log_scale = !self.opt.log_scale;
                format!(
                    "{} bar scale",
                    if self.opt.log_scale {
                        "logarithmic"
                    } else {
                        "linear"
                    }
                )
            }
            _ => return None,
        })
    }

    /// The order of the lines: by an average, a name, a process, TCP
    /// health (`--tcp`), or frozen.
    fn order_key(&mut self, code: KeyCode) -> Option<String> {
        let named = ORDER_KEYS.iter().find(|k| code == KeyCode::Char(k.0));
        if let Some(&(_, sort, said)) = named {
            self.opt.sort = sort;
            return Some(said.into());
        }
        Some(match code {
            KeyCode::Char(c @ '1'..='3') => {
                let i = c as usize - '1' as usize;
                self.opt.sort = ScreenSort::Rate(i);
                format!("sort by the {} average", ["2 s", "10 s", "40 s"][i])
            }
            KeyCode::Char('o') => {
                if self.frozen.is_some() {
                    self.frozen = None;
                    "order unfrozen".into()
                } else {
                    // The order on screen (by name when sorted by name);
                    // with the snapshot's own order, the snapshot's.
                    let order = match &self.snap {
                        Some(s) if self.direct() => s.entries.iter().map(|e| e.key).collect(),
                        _ => self.shown.clone(),
                    };
                    self.frozen = Some(order);
                    "order frozen".into()
                }
            }
            _ => return None,
        })
    }

    /// Pausing and the per-process view.
    fn view_key(&mut self, code: KeyCode) -> Option<String> {
        Some(match code {
            KeyCode::Char('P') => {
                self.paused = !self.paused;
                if self.paused {
                    "display paused".into()
                } else {
                    "display resumed".into()
                }
            }
            KeyCode::Char('x') => {
                self.process_view = !self.process_view;
                self.scroll = 0;
                self.frozen = None;
                if self.process_view {
                    "per-process view".into()
                } else {
                    "host view".into()
                }
            }
            _ => return None,
        })
    }

    /// Sets the screen filter; a bad regular expression is reported and the
    /// old filter stays.
    pub fn set_screen_filter(&mut self, re: Option<String>) {
        match re {
            None => {
                self.screen_re = None;
                self.opt.screen_filter = None;
                self.say("screen filter off");
            }
            Some(r) => match Regex::new(&r) {
                Ok(x) => {
                    self.screen_re = Some(x);
                    self.say(format!("screen filter: {r}"));
                    self.opt.screen_filter = Some(r);
                    self.scroll = 0;
                }
                Err(e) => {
                    self.tell(format!("bad screen filter '{r}': {}", regex_error(&e)));
                }
            },
        }
    }

    /// The outcome of a filter change from the capture side.
    pub fn filter_applied(&mut self, expr: Option<String>, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.say(match &expr {
                    Some(e) => format!("filter: {e}"),
                    None => "filter removed".into(),
                });
                self.filter = expr;
            }
            Err(e) => self.tell(format!("filter not changed: {e}")),
        }
    }
}
