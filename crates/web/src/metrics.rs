//! `/metrics`: Prometheus' text exposition format 0.0.4, written here
//! (HELP and TYPE once per family, its samples together, label values
//! escaped).

use std::fmt::Write;

use crate::feed::LiveSnapshot;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value as the format wants it: `\`, `"` and newline escaped.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out, name }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: u64) {
        let _ = write!(self.out, "{}", self.name);
        if !labels.is_empty() {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", l.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// Per-interface counters: (name, help, value of a row).
type IfaceMetric = (
    &'static str,
    &'static str,
    fn(&crate::feed::IfaceRow) -> u64,
);

const IFACE_METRICS: [IfaceMetric; 4] = [
    (
        "wirewatch_interface_receive_bytes_total",
        "Bytes destination to source of the interface's flows.",
        |r| r.rx.1,
    ),
    (
        "wirewatch_interface_receive_packets_total",
        "Packets destination to source of the interface's flows.",
        |r| r.rx.0,
    ),
    (
        "wirewatch_interface_transmit_bytes_total",
        "Bytes source to destination of the interface's flows.",
        |r| r.tx.1,
    ),
    (
        "wirewatch_interface_transmit_packets_total",
        "Packets source to destination of the interface's flows.",
        |r| r.tx.0,
    ),
];

/// The whole exposition of `snap`.
pub fn encode(snap: &LiveSnapshot) -> String {
    let mut out = String::new();
    for (name, help, value) in IFACE_METRICS {
        let mut f = Family::new(&mut out, name, "counter", help);
        for r in &snap.interfaces {
            f.sample(&[("interface", &r.name)], value(r));
        }
    }
    if snap.interfaces.iter().any(|r| r.kernel.is_some()) {
        let mut f = Family::new(
            &mut out,
            "wirewatch_capture_kernel_drops_total",
            "counter",
            "Packets the kernel dropped before wirewatch read them.",
        );
        for r in &snap.interfaces {
            if let Some(k) = r.kernel {
                f.sample(&[("interface", &r.name)], k.1);
            }
        }
    }
    let mut f = Family::new(
        &mut out,
        "wirewatch_flows_active",
        "gauge",
        "Flows in the flow table.",
    );
    f.sample(&[], snap.flows_active);
    let mut f = Family::new(
        &mut out,
        "wirewatch_decode_errors_total",
        "counter",
        "Packets that could not be decoded, by reason.",
    );
    for &(reason, n) in &snap.decode_errors {
        f.sample(&[("reason", reason)], n);
    }
    let mut f = Family::new(
        &mut out,
        "wirewatch_alerts_total",
        "counter",
        "Alerts raised, by kind and severity.",
    );
    for (&(kind, severity), &n) in &snap.alerts {
        f.sample(&[("kind", kind), ("severity", severity)], n);
    }
    let mut f = Family::new(
        &mut out,
        "wirewatch_build_info",
        "gauge",
        "The running wirewatch's version (always 1).",
    );
    f.sample(&[("version", env!("CARGO_PKG_VERSION"))], 1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::IfaceRow;

    #[test]
    fn label_values_are_escaped_and_families_appear_once() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        let snap = LiveSnapshot {
            interfaces: vec![
                IfaceRow {
                    name: "eth\"0".into(),
                    rx: (2, 100),
                    ..IfaceRow::default()
                },
                IfaceRow {
                    name: "lo".into(),
                    tx: (1, 7),
                    kernel: Some((5, 3, "up")),
                    ..IfaceRow::default()
                },
            ],
            alerts: [(("scan", "high"), 2)].into_iter().collect(),
            ..LiveSnapshot::default()
        };
        let text = encode(&snap);
        assert!(
            text.contains("wirewatch_interface_receive_bytes_total{interface=\"eth\\\"0\"} 100\n")
        );
        assert!(text.contains("wirewatch_interface_transmit_bytes_total{interface=\"lo\"} 7\n"));
        assert!(text.contains("wirewatch_capture_kernel_drops_total{interface=\"lo\"} 3\n"));
        assert!(text.contains("wirewatch_alerts_total{kind=\"scan\",severity=\"high\"} 2\n"));
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!((types, helps), (9, 9), "{text}");
    }
}
