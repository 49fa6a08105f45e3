//! The public API: SVG structure and labels, PNG size and determinism.

use wirewatch_plot::{render_png, render_svg, Chart, PlotError, Series};

/// 2026-11-16 00:00:00 UTC, a Monday.
const MON: i64 = 1_794_787_200;

fn chart(series: Vec<Series>, width: u32, height: u32) -> Chart {
    Chart {
        title: "test chart".into(),
        y_unit: "bit/s".into(),
        series,
        width,
        height,
    }
}

fn series(name: &str, points: Vec<(i64, f64)>) -> Series {
    Series {
        name: name.into(),
        points,
    }
}

/// Parses the SVG (so it must be well-formed XML) and returns it.
fn parse(svg: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("invalid SVG: {e}\n{svg}"))
}

/// The text of every `<text>` element.
fn texts(svg: &str) -> Vec<String> {
    parse(svg)
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").to_owned())
        .collect()
}

/// For each series group, the number of points of each polyline, and the
/// number of lone-point circles.
fn series_shapes(svg: &str) -> Vec<(Vec<usize>, usize)> {
    let doc = parse(svg);
    let mut out = Vec::new();
    for i in 0.. {
        let id = format!("series-{i}");
        let Some(group) = doc.descendants().find(|n| n.attribute("id") == Some(&id)) else {
            break;
        };
        let polylines = group
            .children()
            .filter(|n| n.has_tag_name("polyline"))
            .map(|n| n.attribute("points").unwrap().split_whitespace().count())
            .collect();
        let dots = group
            .children()
            .filter(|n| n.has_tag_name("circle"))
            .count();
        out.push((polylines, dots));
    }
    out
}

#[test]
fn svg_root_has_the_requested_size() {
    for (w, h) in [(200, 200), (1000, 500), (640, 8000)] {
        let svg = render_svg(&chart(
            vec![series("a", vec![(MON, 1.0), (MON + 60, 2.0)])],
            w,
            h,
        ));
        assert!(svg.starts_with("<svg"));
        let doc = parse(&svg);
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        assert_eq!(root.attribute("width"), Some(w.to_string().as_str()));
        assert_eq!(root.attribute("height"), Some(h.to_string().as_str()));
        assert_eq!(
            root.attribute("viewBox"),
            Some(format!("0 0 {w} {h}").as_str())
        );
        assert_eq!(root.attribute("font-family"), Some("sans-serif"));
    }
}

#[test]
fn svg_clamps_sizes_out_of_range() {
    let doc_of = |w, h| render_svg(&chart(vec![], w, h));
    let svg = doc_of(10, 9000);
    let doc = parse(&svg);
    assert_eq!(doc.root_element().attribute("width"), Some("200"));
    assert_eq!(doc.root_element().attribute("height"), Some("8000"));
}

#[test]
fn one_polyline_per_series_with_every_point() {
    let a = series("a", (0..50).map(|i| (MON + i * 60, i as f64)).collect());
    let b = series("b", (0..7).map(|i| (MON + i * 500, 100.0)).collect());
    let svg = render_svg(&chart(vec![a, b], 800, 400));
    assert_eq!(series_shapes(&svg), [(vec![50], 0), (vec![7], 0)]);
}

#[test]
fn gaps_split_lines_and_lone_points_are_dots() {
    let mut points: Vec<(i64, f64)> = (0..30).map(|i| (MON + i * 60, 5.0)).collect();
    points[10].1 = f64::NAN; // 10 | 19
    points[20].1 = f64::INFINITY; // … 9 | 9
    points[28].1 = f64::NAN; // … 7 | 1: a lone point
    let single = series("single", vec![(MON + 600, 3.0)]);
    let svg = render_svg(&chart(vec![series("gappy", points), single], 800, 400));
    assert_eq!(series_shapes(&svg), [(vec![10, 9, 7], 1), (vec![], 1)]);
}

#[test]
fn seven_days_have_day_labels() {
    let week = series("w", (0..=7 * 24).map(|h| (MON + h * 3600, 1e6)).collect());
    let labels = texts(&render_svg(&chart(vec![week], 1000, 500)));
    for day in 16..=23 {
        let label = format!("2026-11-{day}");
        assert!(labels.contains(&label), "{label} missing from {labels:?}");
    }
    assert!(labels.contains(&"time (UTC) 2026-11-16 00:00 – 2026-11-23 00:00".to_owned()));
    // y axis: SI labels, the unit as its title.
    for label in ["0", "200k", "400k", "600k", "800k", "1M", "bit/s"] {
        assert!(
            labels.contains(&label.to_owned()),
            "{label} missing from {labels:?}"
        );
    }
}

#[test]
fn two_hours_have_time_labels() {
    let start = MON + 14 * 3600 + 7 * 60;
    let s = series("s", (0..=120).map(|m| (start + m * 60, 2.5e9)).collect());
    let labels = texts(&render_svg(&chart(vec![s], 1000, 500)));
    for label in [
        "14:15", "14:30", "14:45", "15:00", "15:15", "15:30", "15:45", "16:00",
    ] {
        assert!(
            labels.contains(&label.to_owned()),
            "{label} missing from {labels:?}"
        );
    }
    assert!(!labels
        .iter()
        .any(|l| l.starts_with("2026-11-16 ") && l.len() < 17));
    assert!(labels.contains(&"2.5G".to_owned()));
}

#[test]
fn markup_in_names_is_escaped() {
    let name = r#"a<b&"c""#;
    let mut c = chart(
        vec![series(name, vec![(MON, 1.0), (MON + 1, 2.0)])],
        800,
        400,
    );
    c.title = "<script>&".into();
    c.y_unit = "\"B\"".into();
    let svg = render_svg(&c);
    assert!(svg.contains("a&lt;b&amp;&quot;c&quot;"));
    assert!(!svg.contains(name));
    assert!(svg.contains("&lt;script&gt;&amp;"));
    assert!(!svg.contains("<script>"));
    // And it parses back to the original text.
    let labels = texts(&svg);
    assert!(labels.contains(&name.to_owned()));
    assert!(labels.contains(&"<script>&".to_owned()));
    assert!(labels.contains(&"\"B\"".to_owned()));
}

#[test]
fn long_names_are_truncated_with_an_ellipsis() {
    let long = "x".repeat(100);
    let labels = texts(&render_svg(&chart(
        vec![series(&long, vec![(MON, 1.0)])],
        1000,
        500,
    )));
    let cut = labels.iter().find(|l| l.starts_with("xxx")).unwrap();
    assert!(cut.ends_with('…') && cut.chars().count() < 40, "{cut}");
}

#[test]
fn empty_charts_render_axes_and_a_note() {
    for c in [
        chart(vec![], 400, 300),
        chart(vec![series("nothing", vec![])], 400, 300),
        chart(vec![series("nan", vec![(MON, f64::NAN)])], 200, 200),
    ] {
        let svg = render_svg(&c);
        assert!(texts(&svg).contains(&"no data".to_owned()));
        // Axes: the grid group has lines.
        assert!(parse(&svg).descendants().any(|n| n.has_tag_name("line")));
        let png = render_png(&c).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}

#[test]
fn output_is_deterministic() {
    let make = || {
        chart(
            (0..12)
                .map(|i| {
                    series(
                        &format!("s{i}"),
                        (0..100).map(|t| (MON + t * 7, (t * i) as f64)).collect(),
                    )
                })
                .collect(),
            900,
            450,
        )
    };
    assert_eq!(render_svg(&make()), render_svg(&make()));
    assert_eq!(render_png(&make()).unwrap(), render_png(&make()).unwrap());
}

#[test]
fn png_has_the_requested_size() {
    for (w, h) in [(200, 200), (1000, 500), (333, 777)] {
        let png = render_png(&chart(
            vec![series("a", vec![(MON, 1.0), (MON + 9, 3.0)])],
            w,
            h,
        ))
        .unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (w, h));
    }
}

#[test]
fn png_refuses_sizes_out_of_range() {
    let err = render_png(&chart(vec![], 100, 500)).unwrap_err();
    assert!(matches!(
        err,
        PlotError::SizeOutOfRange {
            width: 100,
            height: 500
        }
    ));
}
