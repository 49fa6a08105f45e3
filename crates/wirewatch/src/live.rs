//! The live pipeline: AF_PACKET rings → decode → flow table → sink, with the
//! same table, snapshots and sinks as the offline pipeline.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use wirewatch_capture::PcapngWriter;
use wirewatch_flow::{FlowConfig, FlowTable, IpNet, Snapshot};
use wirewatch_live::{
    default_interface, list_interfaces, poll, privs, signal, BpfInsn, Interface, LiveError,
    PacketSocket, PollFd, SocketConfig,
};
use wirewatch_wire::{DecodeOptions, Timestamp};

use crate::detect::Detection;
use crate::filter::FrameFilter;
use crate::offline::{account_frame, decode_options, write_final, RunOutcome};
use crate::output::{self, CaptureStats, IfaceCapture, ReportKind, Summary};
use crate::procs::Owners;
use crate::settings::{AlertMode, LiveSettings, Settings};

/// Capabilities kept after the privilege drop when processes are looked up:
/// reading other users' /proc/PID/fd needs CAP_SYS_PTRACE (and
/// CAP_DAC_READ_SEARCH for the directories).
pub const PROCESS_CAPS: u64 = (1 << privs::CAP_SYS_PTRACE) | (1 << privs::CAP_DAC_READ_SEARCH);

/// Starts the process scan when `enabled`: its thread inherits the
/// capabilities the privilege drop kept ([`PROCESS_CAPS`]); then this thread,
/// which goes on to parse packets, gives them up (capabilities are per thread).
pub fn start_owner_scan(enabled: bool) -> anyhow::Result<Owners> {
    if !enabled {
        return Ok(Owners::default());
    }
    let owners = Owners::scanning(std::time::Duration::from_secs(1))
        .map_err(|e| anyhow!("starting the process scan: {e}"))?;
    privs::drop_thread_capabilities().map_err(|e| anyhow!("dropping capabilities: {e}"))?;
    eprintln!(
        "wirewatch: only the process-scan thread keeps cap_dac_read_search and cap_sys_ptrace"
    );
    Ok(owners)
}

/// `--list-interfaces`: one line per interface.
pub fn list(out: &mut dyn Write) -> anyhow::Result<()> {
    let ifaces = list_interfaces().context("listing interfaces")?;
    let default = default_interface(&ifaces);
    writeln!(
        out,
        "{:<3} {:<16} {:<16} {:>6} {:>10}  {:<17}  addresses",
        "#", "name", "state", "mtu", "speed", "mac"
    )?;
    for i in &ifaces {
        let speed = i.speed_mbps.map_or("-".to_string(), |s| {
            if s >= 1000 && s % 1000 == 0 {
                format!("{}Gb/s", s / 1000)
            } else {
                format!("{s}Mb/s")
            }
        });
        let mac = i.mac.map_or("-".to_string(), |m| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        });
        let addrs: Vec<String> = i.addrs.iter().map(|(a, p)| format!("{a}/{p}")).collect();
        let mut name = i.name.clone();
        if default.as_ref().is_some_and(|d| d.name() == i.name) {
            name.push('*');
        }
        writeln!(
            out,
            "{:<3} {:<16} {:<16} {:>6} {:>10}  {:<17}  {}",
            i.index,
            name,
            i.state(),
            i.mtu.map_or("-".into(), |m| m.to_string()),
            speed,
            mac,
            if addrs.is_empty() {
                "-".into()
            } else {
                addrs.join(" ")
            }
        )?;
    }
    match default {
        Some(d) => writeln!(out, "* default: {} ({})", d.name(), d.reason())?,
        None => writeln!(out, "no default: no interface is up")?,
    }
    Ok(())
}

/// Picks the interfaces to open, saying on stderr which and why when the
/// user named none.
fn choose(ls: &LiveSettings, all: &[Interface]) -> anyhow::Result<Vec<Interface>> {
    let names = || {
        all.iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if ls.interfaces.is_empty() {
        let Some(d) = default_interface(all) else {
            bail!(
                "no interface is up to capture on; name one with -i (interfaces: {})",
                names()
            );
        };
        eprintln!("wirewatch: capturing on {} ({})", d.name(), d.reason());
        return Ok(all.iter().filter(|i| i.name == d.name()).cloned().collect());
    }
    let mut out: Vec<Interface> = Vec::new();
    for n in &ls.interfaces {
        if n == "any" {
            for i in all.iter().filter(|i| i.up) {
                if !out.iter().any(|o| o.name == i.name) {
                    out.push(i.clone());
                }
            }
            continue;
        }
        match all.iter().find(|i| &i.name == n) {
            Some(i) => {
                if !out.iter().any(|o| o.name == i.name) {
                    out.push(i.clone());
                }
            }
            None => bail!("no interface named '{n}'; available: {}", names()),
        }
    }
    if out.is_empty() {
        bail!("-i any: no interface is up (interfaces: {})", names());
    }
    if ls.interfaces.iter().any(|n| n == "any") {
        let v: Vec<&str> = out.iter().map(|i| i.name.as_str()).collect();
        eprintln!("wirewatch: capturing on {}", v.join(", "));
    }
    Ok(out)
}

/// The interfaces' own addresses as host networks: the default "local"
/// side for direction, like iftop.
fn own_addresses(ifaces: &[Interface]) -> Vec<IpNet> {
    let mut v = Vec::new();
    for i in ifaces {
        for (a, _) in &i.addrs {
            let len = if a.is_ipv4() { 32 } else { 128 };
            if let Some(n) = IpNet::new(*a, len) {
                v.push(n);
            }
        }
    }
    v
}

fn setcap_hint(e: &LiveError) -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "wirewatch".into());
    format!(
        "{e}; run it as root, or give the binary the capability once: sudo setcap cap_net_raw=eip {exe}"
    )
}

struct Source {
    sock: Option<PacketSocket>,
    name: String,
    index: u32,
    link_type: u32,
    pcapng_id: u32,
    kind: wirewatch_live::LinkKind,
    /// Counters as of the last read (kept when the socket is gone).
    stats: wirewatch_live::KernelStats,
    state: &'static str,
    /// The filter run here instead of in the kernel (cooked sockets: the
    /// kernel runs the program on the network-layer packet, not on the
    /// Linux SLL header the program is compiled for).
    soft_filter: Option<FrameFilter>,
}

impl Source {
    /// Takes every frame the kernel has released into the table (and the
    /// `-w` file), through the in-process filter when there is one.
    fn drain<W: Write>(
        &mut self,
        table: &mut FlowTable,
        opts: &DecodeOptions,
        writer: &mut Option<PcapngWriter<W>>,
        write_error: &mut Option<io::Error>,
        mut detect: Option<&mut Detection>,
    ) {
        let id = self.pcapng_id;
        let Some(sock) = &mut self.sock else { return };
        let mut filter = self.soft_filter.as_mut();
        sock.drain(|p| {
            // The in-process filter was compiled for this link type when the
            // socket was opened, so it cannot fail here.
            let kept = account_frame(
                table,
                filter.as_deref_mut(),
                opts,
                &p,
                detect.as_deref_mut(),
            );
            if kept != Ok(true) {
                return;
            }
            if let Some(w) = writer {
                if write_error.is_none() {
                    if let Err(e) = w.packet(id, p.ts, p.data, p.wire_len) {
                        *write_error = Some(e);
                    }
                }
            }
        });
    }

    /// The interface no longer exists: keep its last counters, close the
    /// socket; returns the warning.
    fn mark_gone(&mut self) -> String {
        let msg = format!(
            "{}: interface disappeared; its counts so far are kept",
            self.name
        );
        self.refresh();
        self.sock = None;
        self.state = "gone";
        msg
    }

    fn refresh(&mut self) {
        if let Some(s) = &mut self.sock {
            if let Ok(st) = s.stats() {
                self.stats = st;
            }
        }
    }
}

fn capture_stats(sources: &mut [Source]) -> CaptureStats {
    CaptureStats {
        interfaces: sources
            .iter_mut()
            .map(|s| {
                s.refresh();
                IfaceCapture {
                    name: s.name.clone(),
                    link_type: s.link_type,
                    received: s.stats.received,
                    dropped: s.stats.dropped,
                    state: s.state,
                }
            })
            .collect(),
    }
}

fn still_exists(name: &str, index: u32) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        == Some(index)
}

fn is_up(name: &str) -> bool {
    list_interfaces()
        .ok()
        .and_then(|l| l.into_iter().find(|i| i.name == name))
        .is_some_and(|i| i.up)
}

/// Where the filter runs for a socket of this kind: in the kernel, except on
/// cooked (SOCK_DGRAM) sockets, where the kernel would run it on the
/// network-layer packet while it is compiled for the Linux SLL header the
/// ring reader puts in front; those frames are filtered here instead.
fn filter_plan(
    kind: wirewatch_live::LinkKind,
    expr: &str,
    snaplen: u32,
) -> anyhow::Result<(Option<Vec<BpfInsn>>, Option<FrameFilter>)> {
    let lt = kind.link_type();
    if kind == wirewatch_live::LinkKind::Cooked {
        let f = FrameFilter::new(expr, lt).map_err(|e| anyhow!(e))?;
        return Ok((None, Some(f)));
    }
    Ok((crate::filter::kernel_program(expr, lt, snaplen)?, None))
}

/// Open packet sockets feeding one flow table: the live packet source of
/// both the report loop ([`run`]) and the terminal UI.
pub struct LiveCapture {
    sources: Vec<Source>,
    writer: Option<PcapngWriter<BufWriter<File>>>,
    write_error: Option<io::Error>,
    write_path: Option<PathBuf>,
    opts: DecodeOptions,
    snaplen: u32,
    retire_ms: u32,
    next_counters: Timestamp,
    fds: Vec<PollFd>,
    /// The latest fault worth a line in the summary.
    pub warning: Option<String>,
    chosen: Vec<Interface>,
    /// Interface events not yet shown (`warning: …`, `… is up again`): the
    /// report loop prints them on stderr, the screen on its status line.
    events: Vec<String>,
}

/// What [`LiveCapture::finish`] hands back for the final report.
pub struct Finished {
    /// Kernel counters per interface.
    pub capture: CaptureStats,
    /// "live capture on a, b".
    pub input: String,
    /// Link types of the interfaces.
    pub link_types: Vec<u32>,
    /// Writing the `-w` file failed.
    pub file_error: Option<String>,
}

impl LiveCapture {
    /// Chooses the interfaces, compiles the filter per link type, opens every
    /// socket and the `-w` file. Privileges are still held afterwards: call
    /// [`LiveCapture::drop_privileges`].
    pub fn open(ls: &LiveSettings, decode: DecodeOptions) -> anyhow::Result<LiveCapture> {
        // Live packets carry the kernel's time: a clock pinned to another
        // date would put every packet outside the windows.
        if crate::clock::is_pinned() {
            anyhow::bail!(
                "{} pins the clock for replays and queries; unset it for live capture",
                crate::clock::ENV
            );
        }
        let all = list_interfaces().context("listing interfaces")?;
        let chosen = choose(ls, &all)?;
        let cfg = SocketConfig {
            ring: ls.ring,
            promiscuous: ls.promiscuous,
            snaplen: ls.snaplen,
        };
        let mut sources: Vec<Source> = Vec::new();
        for i in &chosen {
            let hatype = std::fs::read_to_string(format!("/sys/class/net/{}/type", i.name))
                .ok()
                .and_then(|t| t.trim().parse::<u16>().ok())
                .unwrap_or(1);
            let kind = wirewatch_live::LinkKind::for_hatype(hatype);
            let (prog, soft_filter) = match ls.filter.as_deref() {
                Some(expr) => filter_plan(kind, expr, ls.snaplen)?,
                None => (None, None),
            };
            let sock = PacketSocket::open(i, &cfg, prog.as_deref()).map_err(|e| match e {
                LiveError::Permission { .. } => anyhow!(setcap_hint(&e)),
                other => anyhow!(other),
            })?;
            sources.push(Source {
                link_type: sock.link().link_type(),
                kind,
                sock: Some(sock),
                name: i.name.clone(),
                index: i.index,
                pcapng_id: 0,
                stats: Default::default(),
                state: "capturing",
                soft_filter,
            });
        }
        // The output file is opened with the privileges the user started with.
        let writer = match &ls.write {
            Some(p) => {
                let f = File::create(p).with_context(|| format!("creating {}", p.display()))?;
                let mut w = PcapngWriter::new(BufWriter::with_capacity(1 << 20, f))
                    .with_context(|| format!("writing {}", p.display()))?;
                for src in &mut sources {
                    src.pcapng_id = w
                        .interface_named(src.link_type as u16, ls.snaplen, 9, &src.name)
                        .with_context(|| format!("writing {}", p.display()))?;
                }
                Some(w)
            }
            None => None,
        };
        Ok(LiveCapture {
            sources,
            writer,
            write_error: None,
            write_path: ls.write.clone(),
            opts: decode,
            snaplen: ls.snaplen,
            retire_ms: ls.ring.retire_ms,
            next_counters: Timestamp::ZERO,
            fds: Vec::new(),
            warning: None,
            chosen,
            events: Vec::new(),
        })
    }

    /// Installs the SIGINT/SIGTERM flag and switches to `--user`, keeping
    /// only the capabilities in `keep` (a mask of CAP_* bits; process
    /// attribution needs CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH to read other
    /// users' /proc/PID/fd). Says on stderr what the process now runs as.
    pub fn drop_privileges(&self, user: &str, keep: u64) -> anyhow::Result<()> {
        signal::install().context("installing the SIGINT/SIGTERM handler")?;
        let account = privs::lookup(user).map_err(|e| anyhow!("--user {user}: {e}"))?;
        let dropped =
            privs::drop_to(&account, keep).map_err(|e| anyhow!("dropping privileges: {e}"))?;
        eprintln!("wirewatch: {dropped}");
        Ok(())
    }

    /// The interfaces' own addresses: the default local networks.
    pub fn own_addresses(&self) -> Vec<IpNet> {
        own_addresses(&self.chosen)
    }

    /// Interface events since the last call (down, gone, up again).
    pub fn take_events(&mut self) -> Vec<String> {
        std::mem::take(&mut self.events)
    }

    /// Every interface is gone.
    pub fn all_gone(&self) -> bool {
        self.sources.iter().all(|s| s.sock.is_none())
    }

    /// Replaces the filter on every socket (`None`: accept everything):
    /// compiled per link type first, so a bad expression changes nothing.
    pub fn set_filter(&mut self, expr: Option<&str>) -> anyhow::Result<()> {
        let mut plans = Vec::with_capacity(self.sources.len());
        for src in &self.sources {
            plans.push(match expr {
                Some(e) => filter_plan(src.kind, e, self.snaplen)?,
                None => (None, None),
            });
        }
        for (src, (prog, soft)) in self.sources.iter_mut().zip(plans) {
            if let Some(sock) = &src.sock {
                let accept = [BpfInsn {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: self.snaplen,
                }];
                sock.set_filter(prog.as_deref().unwrap_or(&accept))
                    .with_context(|| format!("{}: attaching the filter", src.name))?;
            }
            src.soft_filter = soft;
        }
        Ok(())
    }

    /// Interface names, by the index flows carry ([`wirewatch_flow::Flow::iface`]).
    pub fn interface_names(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.name.clone()).collect()
    }

    /// Kernel counters of every interface (read now).
    pub fn capture_stats(&mut self) -> CaptureStats {
        capture_stats(&mut self.sources)
    }

    /// Waits up to `wait_ns` for packets, takes every released frame into
    /// `table`, handles interfaces going down, coming back or disappearing,
    /// and moves the table's clock to the wall clock.
    pub fn pump(
        &mut self,
        table: &mut FlowTable,
        wait_ns: i64,
        mut detect: Option<&mut Detection>,
    ) -> anyhow::Result<()> {
        let now = crate::clock::now();
        // The kernel's counters are 32-bit and reset on each read: read
        // them every second so they cannot wrap between reports.
        if now >= self.next_counters {
            self.sources.iter_mut().for_each(Source::refresh);
            self.next_counters = now.add_nanos(1_000_000_000);
        }
        self.fds.clear();
        let live: Vec<usize> = (0..self.sources.len())
            .filter(|&k| self.sources[k].sock.is_some())
            .collect();
        for &k in &live {
            if let Some(sock) = &self.sources[k].sock {
                self.fds.push(PollFd::input(sock.fd()));
            }
        }
        poll(&mut self.fds, (wait_ns.max(0) / 1_000_000) as i32).context("poll")?;
        for (slot, &k) in live.iter().enumerate() {
            let src = &mut self.sources[k];
            let failed = self.fds[slot].failed();
            table.set_interface(k as u16);
            src.drain(
                table,
                &self.opts,
                &mut self.writer,
                &mut self.write_error,
                detect.as_deref_mut(),
            );
            if failed {
                let err = src.sock.as_mut().and_then(|sock| sock.take_error());
                if !still_exists(&src.name, src.index) {
                    let msg = src.mark_gone();
                    self.events.push(format!("warning: {msg}"));
                    self.warning = Some(msg);
                } else if src.state != "down" {
                    let why = err.map_or("no carrier".to_string(), |e| e.to_string());
                    let msg = format!(
                        "{}: interface went down ({why}); capture goes on elsewhere",
                        src.name
                    );
                    self.events.push(format!("warning: {msg}"));
                    src.state = "down";
                    self.warning = Some(msg);
                }
            } else if src.state == "down" && !still_exists(&src.name, src.index) {
                // Deleted while down: the kernel reports nothing more.
                let msg = src.mark_gone();
                self.events.push(format!("warning: {msg}"));
                self.warning = Some(msg);
            } else if src.state == "down" && is_up(&src.name) {
                self.events
                    .push(format!("{}: interface is up again", src.name));
                src.state = "capturing";
            }
        }
        table.advance(crate::clock::now());
        Ok(())
    }

    /// Takes the frames still in the rings, closes the `-w` file and
    /// returns what the final report needs.
    pub fn finish(mut self, table: &mut FlowTable, mut detect: Option<&mut Detection>) -> Finished {
        // Frames in a block the kernel has not released yet: it releases a
        // partly filled block after the retire timeout, so wait that long once
        // and take what is there.
        if !self.all_gone() {
            // Twice the timeout plus a margin: the kernel's timer is not exact.
            std::thread::sleep(std::time::Duration::from_millis(
                2 * u64::from(self.retire_ms) + 20,
            ));
            for (k, src) in self.sources.iter_mut().enumerate() {
                table.set_interface(k as u16);
                src.drain(
                    table,
                    &self.opts,
                    &mut self.writer,
                    &mut self.write_error,
                    detect.as_deref_mut(),
                );
            }
        }
        table.advance(crate::clock::now());
        let capture = capture_stats(&mut self.sources);
        let names: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
        let input = format!("live capture on {}", names.join(", "));
        let mut link_types: Vec<u32> = self.sources.iter().map(|s| s.link_type).collect();
        link_types.dedup();
        let file_error = match (self.writer.take(), &self.write_path, self.write_error) {
            (_, Some(p), Some(e)) => Some(format!("writing {}: {e}", p.display())),
            (Some(w), Some(p), None) => w
                .finish()
                .and_then(|mut b| b.flush())
                .err()
                .map(|e| format!("writing {}: {e}", p.display())),
            _ => None,
        };
        Finished {
            capture,
            input,
            link_types,
            file_error,
        }
    }
}

/// Runs a live capture until `-s` expires, a signal arrives or every
/// interface is gone; then prints the final report.
pub fn run(s: &Settings, ls: &LiveSettings, out: &mut dyn Write) -> anyhow::Result<RunOutcome> {
    let opts = decode_options(&s.flow);
    let mut cap = LiveCapture::open(ls, opts)?;
    // The database and the alert file are opened before the privilege
    // drop: their files stay open.
    let (mut history, note) = crate::history::open_live(s.history.as_ref(), cap.interface_names());
    if let Some(n) = note {
        eprintln!("wirewatch: {n}");
    }
    let mut detect = s.detect.as_ref().map(Detection::new).transpose()?;
    if let Some(m) =
        crate::history::warm_live(detect.as_mut(), s.history.as_ref(), &cap.interface_names())
    {
        eprintln!("wirewatch: {m}");
    }
    if history.is_none() && detect.as_ref().is_some_and(Detection::wants_rows) {
        history = Some(crate::history::Recorder::without_store(
            cap.interface_names(),
        ));
    }
    cap.drop_privileges(&ls.user, if s.processes { PROCESS_CAPS } else { 0 })?;
    let mut owners = start_owner_scan(s.processes)?;
    // The writer thread starts now, born without privileges (the scan
    // thread, started above, is the only one that keeps some).
    crate::history::start_after_drop(&mut history);
    let mut flow_cfg: FlowConfig = s.flow.clone();
    if !ls.local_nets_given {
        flow_cfg.local_nets = cap.own_addresses();
    }
    let mut table = FlowTable::new(flow_cfg);
    // NDJSON alerts on stdout own it: the traffic report is not printed.
    let mut nowhere = io::sink();
    let report_out: &mut dyn Write = if s
        .detect
        .as_ref()
        .is_some_and(|d| d.mode == AlertMode::JsonStdout)
    {
        &mut nowhere
    } else {
        out
    };
    let mut sink = output::make_sink(s, report_out);

    let start = crate::clock::now();
    table.advance(start);
    let deadline = ls.duration_nanos.map(|d| start.add_nanos(d));
    let mut next_tick = s.interval_nanos.map(|iv| start.add_nanos(iv));

    let stop_reason: String = loop {
        if let Some(sig) = signal::requested() {
            break format!("stopped by {}", signal::name(sig));
        }
        let now = crate::clock::now();
        if deadline.is_some_and(|d| now >= d) {
            break "stopped after the -s duration".into();
        }
        if let (Some(t), Some(iv)) = (next_tick, s.interval_nanos) {
            if now >= t {
                table.advance(now);
                owners.label(&mut table, now);
                sink.set_owners(owners.all());
                // The newest complete 2-second slot: the one starting now is empty.
                let slot = table.slot_of(now) - 1;
                let mut snap = Snapshot::build(&table, s.view, s.interval_sort, slot, true);
                owners.sort_by_name(&mut snap, s.interval_sort);
                sink.set_capture(&cap.capture_stats());
                let r = sink.report(
                    &snap,
                    ReportKind::Interval {
                        start: t.add_nanos(-iv),
                        end: t,
                    },
                );
                match r.and_then(|()| sink.flush()) {
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                        return Ok(RunOutcome::BrokenPipe)
                    }
                    Err(e) => return Err(anyhow!("writing output: {e}")),
                    Ok(()) => {}
                }
                let mut t = t.add_nanos(iv);
                while t <= now {
                    t = t.add_nanos(iv);
                }
                next_tick = Some(t);
            }
        }
        if cap.all_gone() {
            break "every interface is gone".into();
        }
        // Wait at most 100 ms, less when a report or the deadline is due.
        let mut wait_ns: i64 = 100_000_000;
        for t in [next_tick, deadline].into_iter().flatten() {
            wait_ns = wait_ns.min(t.nanos_since(now).max(0));
        }
        cap.pump(&mut table, wait_ns, detect.as_mut())?;
        for e in cap.take_events() {
            eprintln!("wirewatch: {e}");
        }
        // Label flows while their sockets exist (cheap unless a scan is new).
        owners.label(&mut table, crate::clock::now());
        if let Some(h) = &mut history {
            let now = table.now();
            h.tick(&mut table, now, &owners, detect.as_mut());
            for e in h.take_events() {
                eprintln!("wirewatch: {e}");
            }
        }
    };
    eprintln!("wirewatch: {stop_reason}");
    let warning = cap.warning.take();
    let fin = cap.finish(&mut table, detect.as_mut());
    let end = table.now();
    owners.wait_for_scan(std::time::Duration::from_secs(2));
    owners.label(&mut table, end);
    if let Some(h) = history.take() {
        h.finish_and_report(&mut table, &owners, detect.as_mut());
    }
    if let Some(d) = detect.take() {
        d.finish()?;
    }
    sink.set_owners(owners.all());
    sink.set_capture(&fin.capture);
    let mut snap = Snapshot::build(&table, s.view, s.final_sort, table.slot_of(end), false);
    owners.sort_by_name(&mut snap, s.final_sort);
    let summary = Summary {
        input: &fin.input,
        link_types: &fin.link_types,
        warning: warning.as_deref(),
        error: fin.file_error.as_deref(),
        capture: Some(&fin.capture),
    };
    if !write_final(sink.as_mut(), &snap, &summary)? {
        return Ok(RunOutcome::BrokenPipe);
    }
    if let Some(e) = fin.file_error {
        return Err(anyhow!(e));
    }
    Ok(RunOutcome::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirewatch_live::LinkKind;
    use wirewatch_wire::build;

    fn udp_v4() -> Vec<u8> {
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        build::ipv4(a, b, 17, &build::udp(1000, 53, &[0; 4]))
    }

    #[test]
    fn cooked_sockets_filter_in_process_on_the_sll_frame() {
        let (prog, soft) = filter_plan(LinkKind::Cooked, "udp port 53", 512).unwrap();
        assert!(prog.is_none(), "no kernel program on a cooked socket");
        let mut f = soft.expect("in-process filter");
        let udp = build::sll(0x0800, &udp_v4());
        assert_eq!(f.matches(113, &udp, udp.len() as u32), Ok(true));
        let arp = build::sll(0x0806, &[0; 28]);
        assert_eq!(f.matches(113, &arp, arp.len() as u32), Ok(false));
    }

    #[test]
    fn other_sockets_filter_in_the_kernel() {
        for kind in [LinkKind::Ethernet, LinkKind::RawIp] {
            let (prog, soft) = filter_plan(kind, "udp port 53", 512).unwrap();
            assert!(soft.is_none());
            let prog = prog.expect("kernel program");
            // Accepting returns the snap length, as libpcap does.
            assert!(
                prog.iter().any(|i| i.code == 0x06 && i.k == 512),
                "{kind:?}"
            );
        }
        match filter_plan(LinkKind::Ethernet, "udp prt 53", 512) {
            Err(e) => assert!(format!("{e}").contains("column 5"), "{e}"),
            Ok(_) => panic!("a bad expression compiled"),
        }
    }
}
