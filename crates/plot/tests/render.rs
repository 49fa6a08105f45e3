//! The public API: SVG structure and labels, PNG size and determinism.

use wirewatch_plot::{render_png, render_svg, Band, Chart, PlotError, Series, PALETTE};

/// 2026-11-16 00:00:00 UTC, a Monday.
const MON: i64 = 1_794_787_200;

fn chart(series: Vec<Series>, width: u32, height: u32) -> Chart {
    Chart {
        title: "test chart".into(),
        y_unit: "bit/s".into(),
        series,
        bands: vec![],
        markers: vec![],
        width,
        height,
    }
}

fn series(name: &str, points: Vec<(i64, f64)>) -> Series {
    Series {
        name: name.into(),
        points,
        ..Default::default()
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

/// History to `now`, a dashed forecast in vermillion after it, its 95 %
/// and 80 % bands, and a "now" marker.
fn forecast_chart() -> Chart {
    let now = MON + 3600;
    let mut c = chart(
        vec![
            series("history", (0..=60).map(|m| (MON + m * 60, 10.0)).collect()),
            Series {
                name: "forecast".into(),
                points: (0..=30).map(|m| (now + m * 60, 12.0)).collect(),
                colour: Some(3),
                dashed: true,
            },
        ],
        800,
        400,
    );
    let band = |name: &str, spread: f64, opacity: f64| Band {
        name: name.into(),
        points: (0..=30)
            .map(|m| (now + m * 60, 12.0 - spread, 12.0 + spread))
            .collect(),
        colour: 3,
        opacity,
    };
    c.bands = vec![band("95 % <range>", 6.0, 0.15), band("80 %", 4.0, 0.3)];
    c.markers = vec![(now, "now".into())];
    c
}

#[test]
fn bands_are_translucent_polygons_under_the_series() {
    let c = forecast_chart();
    let svg = render_svg(&c);
    let doc = parse(&svg);
    let group = |id: &str| {
        doc.descendants()
            .find(|n| n.attribute("id") == Some(id))
            .unwrap_or_else(|| panic!("no {id} in {svg}"))
    };
    for (i, (name, opacity)) in [("95 % <range>", "0.15"), ("80 %", "0.3")]
        .into_iter()
        .enumerate()
    {
        let g = group(&format!("band-{i}"));
        let title = g.children().find(|n| n.has_tag_name("title")).unwrap();
        assert_eq!(title.text(), Some(name));
        let polygons: Vec<_> = g.children().filter(|n| n.has_tag_name("polygon")).collect();
        assert_eq!(polygons.len(), 1);
        let p = polygons[0];
        assert_eq!(p.attribute("fill-opacity"), Some(opacity));
        assert_eq!(p.attribute("fill"), Some("#d55e00"));
        // The upper edge and the lower edge, 31 points each.
        assert_eq!(
            p.attribute("points").unwrap().split_whitespace().count(),
            62
        );
    }
    // Drawn in order, all under the series.
    let at = |id: &str| group(id).range().start;
    assert!(at("band-0") < at("band-1") && at("band-1") < at("series-0"));
    // The forecast: dashed, in its band's colour; the history solid.
    let line = |id: &str| {
        group(id)
            .children()
            .find(|n| n.has_tag_name("polyline"))
            .unwrap()
    };
    assert!(line("series-1").attribute("stroke-dasharray").is_some());
    assert_eq!(line("series-1").attribute("stroke"), Some("#d55e00"));
    assert_eq!(line("series-0").attribute("stroke-dasharray"), None);
    assert_eq!(line("series-0").attribute("stroke"), Some("#0072b2"));
    // The legend lists the bands after the series, the marker its label.
    let labels = texts(&svg);
    let pos = |l: &str| labels.iter().position(|t| t == l).unwrap();
    assert!(pos("history") < pos("forecast"));
    assert!(pos("forecast") < pos("95 % <range>") && pos("95 % <range>") < pos("80 %"));
    assert!(labels.contains(&"now".to_owned()));
    // The marker line is dashed.
    assert!(doc
        .descendants()
        .any(|n| n.has_tag_name("line") && n.attribute("stroke-dasharray").is_some()));
    // Deterministic, both ways.
    assert_eq!(svg, render_svg(&forecast_chart()));
    assert_eq!(
        render_png(&c).unwrap(),
        render_png(&forecast_chart()).unwrap()
    );
    assert_eq!(PALETTE[3], [0xd5, 0x5e, 0x00]);
}

#[test]
fn the_y_axis_covers_the_bands() {
    // The lines reach 12, the 95 % band 18: the axis goes past 18.
    let c = forecast_chart();
    let labels = texts(&render_svg(&c));
    assert!(labels.contains(&"20".to_owned()), "{labels:?}");
    let without = Chart {
        bands: vec![],
        ..forecast_chart()
    };
    let labels = texts(&render_svg(&without));
    assert!(!labels.contains(&"20".to_owned()), "{labels:?}");
    assert!(labels.contains(&"12".to_owned()), "{labels:?}");
}

#[test]
fn non_finite_bounds_split_a_band_into_polygons() {
    let mut c = forecast_chart();
    c.bands[1].points[10].1 = f64::NAN;
    c.bands[1].points[20].2 = f64::INFINITY;
    let svg = render_svg(&c);
    let doc = parse(&svg);
    let g = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("band-1"))
        .unwrap();
    let sizes: Vec<usize> = g
        .children()
        .filter(|n| n.has_tag_name("polygon"))
        .map(|n| n.attribute("points").unwrap().split_whitespace().count())
        .collect();
    // Points 0..=9, 11..=19 and 21..=30, each edge both ways.
    assert_eq!(sizes, [20, 18, 20]);
}
