//! The pipeline's contract, with consumers written for the tests: what a
//! consumer is called with and in which order, events between consumers,
//! ticks on the packet clock, the end, and the bounded queue of a
//! detached consumer.

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use wirewatch_capture::{CaptureReader, PcapWriter};
use wirewatch_detect::{Alert, Entity, Evidence, Kind, Severity};
use wirewatch_flow::{FlowConfig, FlowTable};
use wirewatch_pipeline::detached::{Detached, Message, Receiver, WhenFull};
use wirewatch_pipeline::{
    Consumer, Context, Ending, FileSource, Outbox, Packet, Pipeline, Source, Tick, Wants,
};
use wirewatch_wire::{build, decode, linktype, DecodeOptions, Timestamp};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const T0: i64 = 1_700_000_000_000_000_000;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_nanos(T0 + ms * 1_000_000)
}

/// A raw-IP pcap in memory: a UDP datagram from 10.0.0.1 to 10.0.0.2 at
/// each time (ms), to port 53 + its index mod 2.
fn capture(times_ms: &[i64]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), linktype::RAW, 65535, false).unwrap();
    for (k, &t) in times_ms.iter().enumerate() {
        let f = build::ipv4(
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            17,
            &build::udp(4000, 53 + (k % 2) as u16, &[0; 20]),
        );
        w.write(at(t), &f, f.len() as u32).unwrap();
    }
    w.finish().unwrap()
}

fn pipeline(bytes: Vec<u8>) -> Pipeline<FileSource<std::io::Cursor<Vec<u8>>>> {
    let reader = CaptureReader::new(std::io::Cursor::new(bytes)).unwrap();
    Pipeline::new(
        FileSource::new(reader, "mem.pcap".into()),
        FlowTable::new(FlowConfig::default()),
    )
}

fn alert(time: Timestamp, summary: &str) -> Alert {
    Alert {
        time,
        kind: Kind::VerticalScan,
        severity: Severity::Low,
        entity: Entity::Host {
            addr: ip("10.0.0.1"),
        },
        summary: summary.into(),
        evidence: Evidence::default(),
        action: String::new(),
        detector: "test".into(),
        suppressed: 0,
    }
}

/// Records every call, in order, into a shared log.
struct Recorder {
    name: &'static str,
    log: Rc<RefCell<Vec<String>>>,
    wants: Wants,
    /// Raise an alert on this packet (1-based).
    alert_on: Option<u64>,
    packets: u64,
}

impl Recorder {
    fn new(name: &'static str, log: &Rc<RefCell<Vec<String>>>, wants: Wants) -> Self {
        Recorder {
            name,
            log: log.clone(),
            wants,
            alert_on: None,
            packets: 0,
        }
    }

    fn say(&self, what: String) {
        self.log.borrow_mut().push(format!("{} {what}", self.name));
    }
}

impl Consumer for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }

    fn wants(&self) -> Wants {
        self.wants
    }

    fn begin(&mut self, cx: &Context<'_>, _out: &mut Outbox) -> anyhow::Result<()> {
        self.say(format!("begin {:?}", cx.interfaces));
        Ok(())
    }

    fn before_frame(
        &mut self,
        _t: &mut FlowTable,
        ts: Timestamp,
        _cx: &Context<'_>,
        _o: &mut Outbox,
    ) {
        self.say(format!("before {}", (ts.as_nanos() - T0) / 1_000_000));
    }

    fn packet(&mut self, p: &Packet<'_>, out: &mut Outbox) {
        self.packets += 1;
        self.say(format!(
            "packet {} port {}",
            (p.meta.ts.as_nanos() - T0) / 1_000_000,
            p.meta.layers.outer().unwrap().dst_port
        ));
        if self.alert_on == Some(self.packets) {
            out.alert(alert(p.meta.ts, "seen"));
            out.note("a note");
        }
    }

    fn alert(&mut self, a: &Alert) {
        self.say(format!("alert {}", a.summary));
    }

    fn note(&mut self, line: &str) {
        self.say(format!("note {line}"));
    }

    fn tick(&mut self, table: &FlowTable, t: &Tick, _cx: &Context<'_>) -> std::io::Result<()> {
        self.say(format!(
            "tick {}..{} packets {}",
            (t.start.as_nanos() - T0) / 1_000_000,
            (t.end.as_nanos() - T0) / 1_000_000,
            table.stats().packets
        ));
        Ok(())
    }

    fn finish(
        &mut self,
        table: &mut FlowTable,
        end: &Ending,
        _cx: &Context<'_>,
        out: &mut Outbox,
    ) -> anyhow::Result<()> {
        self.say(format!("finish {} {}", end.input, table.stats().packets));
        if self.name == "a" {
            out.alert(alert(table.now(), "at the end"));
        }
        Ok(())
    }
}

#[test]
fn consumers_see_packets_ticks_events_and_the_end_in_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut p = pipeline(capture(&[0, 500, 1200, 3400]));
    let mut a = Recorder::new(
        "a",
        &log,
        Wants {
            packets: true,
            before_frame: true,
            capture_stats: false,
        },
    );
    a.alert_on = Some(2);
    p.add(Box::new(a));
    // B takes no packets: only ticks, events and the end.
    p.add(Box::new(Recorder::new("b", &log, Wants::default())));
    p.tick_every(Some(1_000_000_000));
    p.begin().unwrap();
    p.run_to_end(|_| {}).unwrap();
    p.finish(&Ending {
        input: "mem.pcap".into(),
        ..Ending::default()
    })
    .unwrap();
    let log = log.borrow();
    let got: Vec<&str> = log.iter().map(String::as_str).collect();
    assert_eq!(
        got,
        vec![
            "a begin [\"mem.pcap\"]",
            "b begin [\"mem.pcap\"]",
            "a before 0",
            "a packet 0 port 53",
            "a before 500",
            "a packet 500 port 54",
            // What A raised reaches everyone, A included, before the next frame.
            "a alert seen",
            "b alert seen",
            "a note a note",
            "b note a note",
            // The period [0, 1 s) ends before the frame at 1.2 s is accounted.
            "a tick 0..1000 packets 2",
            "b tick 0..1000 packets 2",
            "a before 1200",
            "a packet 1200 port 53",
            "a tick 1000..2000 packets 3",
            "b tick 1000..2000 packets 3",
            "a tick 2000..3000 packets 3",
            "b tick 2000..3000 packets 3",
            "a before 3400",
            "a packet 3400 port 54",
            "a finish mem.pcap 4",
            // Raised in A's finish: B sees it before its own finish.
            "a alert at the end",
            "b alert at the end",
            "b finish mem.pcap 4",
        ]
    );
    assert_eq!(p.counters().frames, 4);
    assert_eq!(p.counters().alerts, 2);
    assert_eq!(p.counters().ticks, 3);
}

#[test]
fn the_table_is_the_one_a_plain_decode_loop_makes() {
    let times: Vec<i64> = (0..2000).map(|k| k * 37 % 90_000).collect();
    let mut sorted = times.clone();
    sorted.sort();
    let bytes = capture(&sorted);
    let mut p = pipeline(bytes.clone());
    p.run_to_end(|_| {}).unwrap();
    let mut direct = FlowTable::new(FlowConfig::default());
    let mut rd = CaptureReader::new(&bytes[..]).unwrap();
    while let Some(f) = rd.next_frame().unwrap() {
        direct.ingest(&decode(
            f.link_type,
            f.ts,
            f.data,
            f.wire_len,
            &DecodeOptions::default(),
        ));
    }
    let flows = |t: &FlowTable| {
        let mut v: Vec<String> = t
            .flows()
            .map(|f| format!("{:?} {:?}", f.key, f.dirs))
            .collect();
        v.sort();
        v
    };
    assert_eq!(flows(p.table()), flows(&direct));
    assert_eq!(p.table().stats(), direct.stats());
}

#[test]
fn the_source_filter_and_time_limit_keep_frames_out() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let bytes = capture(&[0, 100, 200, 300, 5000]);
    let reader = CaptureReader::new(std::io::Cursor::new(bytes)).unwrap();
    let mut src = FileSource::new(reader, "mem.pcap".into()).limited(Some(1_000_000_000));
    src.set_filter(Some("udp dst port 54")).unwrap();
    let mut p = Pipeline::new(src, FlowTable::new(FlowConfig::default()));
    p.add(Box::new(Recorder::new(
        "a",
        &log,
        Wants {
            packets: true,
            ..Wants::default()
        },
    )));
    p.run_to_end(|_| {}).unwrap();
    let got: Vec<String> = log.borrow().clone();
    assert_eq!(got, vec!["a packet 100 port 54", "a packet 300 port 54"]);
    assert!(matches!(
        p.source.stop_reason(),
        Some(wirewatch_pipeline::Stop::Duration)
    ));
}

/// Raises an alert on every packet.
struct Loud;

impl Consumer for Loud {
    fn name(&self) -> &'static str {
        "loud"
    }

    fn wants(&self) -> Wants {
        Wants {
            packets: true,
            ..Wants::default()
        }
    }

    fn packet(&mut self, p: &Packet<'_>, out: &mut Outbox) {
        out.alert(alert(p.meta.ts, "again"));
    }
}

/// Takes messages only once released.
struct Gate {
    open: Arc<(Mutex<bool>, Condvar)>,
    got: Arc<AtomicU64>,
}

impl Receiver for Gate {
    fn receive(&mut self, _m: Message) {
        let (lock, cv) = &*self.open;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
        self.got.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_detached_consumer_that_falls_behind_drops_and_counts_never_blocks() {
    let open = Arc::new((Mutex::new(false), Condvar::new()));
    let got = Arc::new(AtomicU64::new(0));
    let gate = Gate {
        open: open.clone(),
        got: got.clone(),
    };
    let log = Rc::new(RefCell::new(Vec::new()));
    let times: Vec<i64> = (0..100).collect();
    let mut p = pipeline(capture(&times));
    // Every packet raises an alert (the receiver is stuck meanwhile).
    p.add(Box::new(Loud));
    p.add(Box::new(
        Detached::start("slow", 4, false, WhenFull::Drop, gate).unwrap(),
    ));
    p.add(Box::new(Recorder::new("notes", &log, Wants::default())));
    // Reading every frame returns with the receiver still stuck.
    p.run_to_end(|_| {}).unwrap();
    let dropped = p.consumer_mut::<Detached>().unwrap().dropped();
    assert!(dropped >= 90, "{dropped} dropped");
    {
        let (lock, cv) = &*open;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
    p.finish(&Ending::default()).unwrap();
    assert_eq!(got.load(Ordering::Relaxed) + dropped, 100);
    assert!(log
        .borrow()
        .iter()
        .any(|l| l == &format!("notes note slow: {dropped} event(s) dropped while it was behind")));
}

/// Counts what it gets, slowly; fails at the end when asked.
struct Slow {
    got: Arc<AtomicU64>,
    fail: bool,
}

impl Receiver for Slow {
    fn receive(&mut self, _m: Message) {
        std::thread::sleep(std::time::Duration::from_millis(1));
        self.got.fetch_add(1, Ordering::Relaxed);
    }

    fn close(&mut self) -> Result<(), String> {
        if self.fail {
            Err("the receiver failed".into())
        } else {
            Ok(())
        }
    }
}

#[test]
fn reading_a_file_a_detached_consumer_waits_and_loses_nothing() {
    for fail in [false, true] {
        let got = Arc::new(AtomicU64::new(0));
        let times: Vec<i64> = (0..100).collect();
        let mut p = pipeline(capture(&times));
        p.add(Box::new(Loud));
        let slow = Slow {
            got: got.clone(),
            fail,
        };
        p.add(Box::new(
            Detached::start("slow", 2, false, WhenFull::Wait, slow).unwrap(),
        ));
        p.run_to_end(|_| {}).unwrap();
        let r = p.finish(&Ending::default());
        assert_eq!(got.load(Ordering::Relaxed), 100);
        assert_eq!(p.consumer_mut::<Detached>().unwrap().dropped(), 0);
        match r {
            Ok(()) => assert!(!fail),
            Err(e) => assert_eq!(
                (fail, e.to_string().as_str()),
                (true, "the receiver failed")
            ),
        }
    }
}

/// Wants every packet and a call before the first frame of each second;
/// logs what the table held then.
struct Cutter {
    log: Rc<RefCell<Vec<String>>>,
    next: Option<Timestamp>,
}

impl Consumer for Cutter {
    fn name(&self) -> &'static str {
        "cutter"
    }

    fn wants(&self) -> Wants {
        Wants {
            packets: true,
            before_frame: true,
            capture_stats: false,
        }
    }

    fn before_frame_due(&self) -> Option<Timestamp> {
        self.next
    }

    fn before_frame(
        &mut self,
        table: &mut FlowTable,
        ts: Timestamp,
        _cx: &Context<'_>,
        _out: &mut Outbox,
    ) {
        let ms = (ts.as_nanos() - T0) / 1_000_000;
        let held = table.stats().packets;
        self.log
            .borrow_mut()
            .push(format!("before {ms}: {held} in the table"));
        self.next = Some(at((ms / 1_000 + 1) * 1_000));
    }

    fn packet(&mut self, p: &Packet<'_>, _out: &mut Outbox) {
        let ms = (p.meta.ts.as_nanos() - T0) / 1_000_000;
        self.log.borrow_mut().push(format!("packet {ms}"));
    }
}

#[test]
fn frames_go_into_the_table_in_batches_cut_exactly_where_a_consumer_asks() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let times: Vec<i64> = vec![0, 100, 200, 1_000, 1_100, 3_500, 3_600, 3_700];
    let mut p = pipeline(capture(&times));
    p.add(Box::new(Cutter {
        log: log.clone(),
        next: None,
    }));
    p.begin().unwrap();
    p.run_to_end(|_| {}).unwrap();
    let got = log.borrow().clone();
    assert_eq!(
        got,
        vec![
            // Called before the first frame, then only from each second
            // it asked for on: the table holds every frame before, none after.
            "before 0: 0 in the table",
            "packet 0",
            "packet 100",
            "packet 200",
            "before 1000: 3 in the table",
            "packet 1000",
            "packet 1100",
            "before 3500: 5 in the table",
            "packet 3500",
            "packet 3600",
            "packet 3700",
        ]
    );
    assert_eq!(p.table().stats().packets, 8);
}
