//! Property test: any chart renders without panicking, to a PNG of the
//! requested size and a well-formed SVG.

use proptest::prelude::*;
use wirewatch_plot::{render_png, render_svg, Band, Chart, Series, MAX_SIZE, MIN_SIZE};

fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        // Realistic: around 2026, seconds to weeks apart.
        1_790_000_000i64..1_800_000_000,
        // A handful of identical or adjacent instants.
        1_795_392_000i64..1_795_392_003,
        // Anything, including the ends of the range.
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
    ]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        0.0..1e10,
        -1e6..1e6,
        Just(0.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::MAX),
        Just(-f64::MAX),
        Just(f64::MIN_POSITIVE),
        any::<f64>(),
    ]
}

fn series() -> impl Strategy<Value = Series> {
    (
        any::<String>(),
        prop::collection::vec((timestamp(), value()), 0..40),
        prop::option::of(any::<usize>()),
        any::<bool>(),
    )
        .prop_map(|(name, points, colour, dashed)| Series {
            name,
            points,
            colour,
            dashed,
        })
}

fn band() -> impl Strategy<Value = Band> {
    (
        any::<String>(),
        prop::collection::vec((timestamp(), value(), value()), 0..40),
        any::<usize>(),
        prop_oneof![0.0..=1.0, Just(f64::NAN), any::<f64>()],
    )
        .prop_map(|(name, points, colour, opacity)| Band {
            name,
            points,
            colour,
            opacity,
        })
}

fn size() -> impl Strategy<Value = u32> {
    // Mostly small: PNG encoding dominates the run time in debug builds.
    prop_oneof![10 => MIN_SIZE..400, 1 => Just(MIN_SIZE), 1 => Just(1000)]
}

fn chart() -> impl Strategy<Value = Chart> {
    (
        any::<String>(),
        any::<String>(),
        prop::collection::vec(series(), 0..14),
        prop::collection::vec(band(), 0..4),
        prop::collection::vec((timestamp(), any::<String>()), 0..4),
        size(),
        size(),
    )
        .prop_map(
            |(title, y_unit, series, bands, markers, width, height)| Chart {
                title,
                y_unit,
                series,
                bands,
                markers,
                width,
                height,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_chart_renders(chart in chart()) {
        let png = render_png(&chart).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        prop_assert_eq!((info.width, info.height), (chart.width, chart.height));

        let svg = render_svg(&chart);
        prop_assert!(svg.starts_with("<svg"));
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let root = doc.root_element();
        let (width, height) = (chart.width.to_string(), chart.height.to_string());
        prop_assert_eq!(root.attribute("width"), Some(width.as_str()));
        prop_assert_eq!(root.attribute("height"), Some(height.as_str()));
        // Every coordinate is a finite number.
        for node in doc.descendants() {
            for attr in ["x", "y", "x1", "y1", "x2", "y2", "cx", "cy"] {
                if let Some(v) = node.attribute(attr) {
                    prop_assert!(v.parse::<f64>().map(f64::is_finite).unwrap_or(false), "{}={}", attr, v);
                }
            }
            if let Some(v) = node.attribute("fill-opacity") {
                prop_assert!(v.parse::<f64>().map(|o| (0.0..=1.0).contains(&o)).unwrap_or(false), "fill-opacity={}", v);
            }
            if let Some(points) = node.attribute("points") {
                for pair in points.split_whitespace() {
                    let ok = pair.split(',').all(|v| v.parse::<f64>().map(f64::is_finite).unwrap_or(false));
                    prop_assert!(ok, "{}", pair);
                }
            }
        }
    }

    #[test]
    fn any_size_is_refused_or_rendered(
        width in prop_oneof![0u32..MIN_SIZE + 2, MAX_SIZE - 1..20_000, any::<u32>()],
        height in prop_oneof![0u32..MIN_SIZE + 2, MAX_SIZE - 1..20_000, any::<u32>()],
    ) {
        let chart = Chart {
            title: String::new(),
            y_unit: String::new(),
            series: vec![],
            bands: vec![],
            markers: vec![],
            width,
            height,
        };
        let in_range = |v: u32| (MIN_SIZE..=MAX_SIZE).contains(&v);
        // Sizes in range are rendered by the tests above; here only the
        // small ones, to keep the run short.
        if !in_range(width) || !in_range(height) || u64::from(width) * u64::from(height) < 500_000 {
            prop_assert_eq!(render_png(&chart).is_ok(), in_range(width) && in_range(height));
        }
        // SVG never fails: the size is clamped.
        let svg = render_svg(&chart);
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let clamped = width.clamp(MIN_SIZE, MAX_SIZE).to_string();
        prop_assert_eq!(doc.root_element().attribute("width"), Some(clamped.as_str()));
    }
}
