//! Time-series line charts for wirewatch, rendered to SVG or PNG in pure
//! Rust: no system fonts, no C libraries.
//!
//! A [`Chart`] holds any number of [`Series`] of `(unix seconds, value)`
//! points. The x axis is time in UTC with ticks at round intervals
//! (seconds up to years) chosen for the span and the width; the y axis
//! starts at 0 and is labelled with SI prefixes
//! ([`wirewatch_units::si_axis`]). Each series gets
//! a colour from a colour-blind-friendly [`PALETTE`] and an entry in a
//! legend placed beside the plot (or under it on narrow charts). A point
//! whose value is NaN or infinite breaks its line; a point with no finite
//! neighbour is drawn as a dot.
//!
//! For forecasts a chart can also hold [`Band`]s, shaded ranges between a
//! lower and an upper value (prediction intervals) drawn translucent under
//! the lines, so that nested bands show darker where they overlap; dashed
//! series (the forecast itself, in its band's colour); and markers, dashed
//! vertical lines with a short label such as "now".
//!
//! Both renderers draw one shared layout, so the SVG and the PNG of a chart
//! look alike. Output is deterministic: the same chart gives the same bytes.
//!
//! ```
//! use wirewatch_plot::{render_png, render_svg, Band, Chart, Series};
//!
//! let start = 1_795_392_000; // 2026-11-23 00:00:00 UTC
//! let now = start + 60 * 90;
//! let chart = Chart {
//!     title: "eth0".into(),
//!     y_unit: "bit/s".into(),
//!     series: vec![
//!         Series {
//!             name: "received".into(),
//!             points: (0..=90).map(|m| (start + 60 * m, 1.0e6 + 5.0e5 * (m % 7) as f64)).collect(),
//!             ..Default::default()
//!         },
//!         Series {
//!             name: "forecast".into(),
//!             points: vec![(now, 1.5e6), (now + 1800, 1.5e6)],
//!             colour: Some(3),
//!             dashed: true,
//!         },
//!     ],
//!     bands: vec![Band {
//!         name: "80 % interval".into(),
//!         points: vec![(now, 1.2e6, 1.8e6), (now + 1800, 0.9e6, 2.1e6)],
//!         colour: 3,
//!         opacity: 0.3,
//!     }],
//!     markers: vec![(now, "now".into())],
//!     width: 800,
//!     height: 400,
//! };
//! let svg = render_svg(&chart);
//! assert!(svg.starts_with("<svg"));
//! assert!(svg.contains(">01:00<")); // an hh:mm tick label
//! assert!(svg.contains(r#"<g id="band-0"><title>80 % interval</title>"#));
//! let png = render_png(&chart)?;
//! assert_eq!(&png[1..4], b"PNG");
//! # Ok::<(), wirewatch_plot::PlotError>(())
//! ```
#![forbid(unsafe_code)]

mod layout;
mod raster;
mod svg;
mod ticks;
mod time;

/// Smallest width and height accepted, in pixels.
pub const MIN_SIZE: u32 = 200;
/// Largest width and height accepted, in pixels.
pub const MAX_SIZE: u32 = 8000;

/// The series colours as sRGB bytes, in the order series are given them;
/// the 11th series starts over with the first colour. These are Okabe and
/// Ito's colour-blind-safe colours without the yellow (too pale on white),
/// with indigo, olive and wine from Paul Tol's "muted" scheme added, and
/// black last.
pub const PALETTE: [[u8; 3]; 10] = [
    [0x00, 0x72, 0xb2], // blue
    [0xe6, 0x9f, 0x00], // orange
    [0x00, 0x9e, 0x73], // bluish green
    [0xd5, 0x5e, 0x00], // vermillion
    [0xcc, 0x79, 0xa7], // reddish purple
    [0x56, 0xb4, 0xe9], // sky blue
    [0x33, 0x22, 0x88], // indigo
    [0x99, 0x99, 0x33], // olive
    [0x88, 0x22, 0x55], // wine
    [0x00, 0x00, 0x00], // black
];

/// One line on the chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Shown in the legend (cut with `…` when long).
    pub name: String,
    /// `(unix seconds UTC, value)` pairs, in any order (they are drawn in
    /// time order). A NaN or infinite value breaks the line.
    pub points: Vec<(i64, f64)>,
    /// Index into [`PALETTE`] of its colour (mod `PALETTE.len()`), e.g. to
    /// give a forecast its band's colour; `None`: the colour of its place
    /// in [`Chart::series`] (the first series the first colour, and so on).
    pub colour: Option<usize>,
    /// Drawn as a dashed line (and with a dashed legend swatch), e.g. for a
    /// forecast.
    pub dashed: bool,
}

/// A shaded range between a lower and an upper value, drawn under the lines.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Band {
    /// Shown in the legend with a filled swatch.
    pub name: String,
    /// `(unix seconds UTC, lower, upper)`, any order (drawn in time order); a non-finite bound breaks the band.
    pub points: Vec<(i64, f64, f64)>,
    /// Index into PALETTE of its colour (mod PALETTE.len()).
    pub colour: usize,
    /// Fill opacity 0–1 (e.g. 0.15 for a 95 % band, 0.3 for 80 %): overlapping bands must visibly nest.
    pub opacity: f64,
}

/// A chart: a title, a unit for the y axis, and the series, bands and
/// markers to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Shown at the top (cut with `…` when too long); may be empty.
    pub title: String,
    /// The unit of the values, e.g. `"bit/s"` or `"B"`, shown as the
    /// y-axis title; tick labels carry SI prefixes (`250k`, `1.5M`).
    pub y_unit: String,
    /// The lines to draw, in legend order.
    pub series: Vec<Series>,
    /// Shaded ranges, drawn under the series in the order given (so a
    /// narrower band given after a wider one shows darker inside it), and
    /// listed in the legend after the series. The y axis covers their
    /// bounds.
    pub bands: Vec<Band>,
    /// `(unix seconds UTC, label)`: a dashed vertical line across the plot
    /// at that time, under the series, with its label (cut with `…` past
    /// 16 characters) above the plot, e.g. `"now"` between history and
    /// forecast. The time axis covers the markers. A label is centred on
    /// its line, or else put beside it; one that would overlap the unit or
    /// an earlier marker's label either way is left out (the line stays).
    pub markers: Vec<(i64, String)>,
    /// Width in pixels (PNG) or user units (SVG), [`MIN_SIZE`]..=[`MAX_SIZE`].
    pub width: u32,
    /// Height in pixels (PNG) or user units (SVG), [`MIN_SIZE`]..=[`MAX_SIZE`].
    pub height: u32,
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Width or height outside [`MIN_SIZE`]..=[`MAX_SIZE`].
    #[error("chart size {width}x{height} out of range: width and height must be {MIN_SIZE}..={MAX_SIZE}")]
    SizeOutOfRange {
        /// The requested width.
        width: u32,
        /// The requested height.
        height: u32,
    },
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Encode(String),
}

/// Renders `chart` as an SVG 1.1 document (`<svg …>…</svg>`, UTF-8 text).
///
/// This cannot fail: a width or height outside [`MIN_SIZE`]..=[`MAX_SIZE`]
/// is clamped into that range. Each series is a `<g id="series-N">` with a
/// `<title>` holding its name and one `<polyline>` per gap-free run of
/// points (a `<circle>` for a lone point; a dashed series' polylines have a
/// `stroke-dasharray`). Each band is a `<g id="band-N">`, before the
/// series, with a `<title>` holding its name and one `<polygon>` with a
/// `fill-opacity` per gap-free run of points.
pub fn render_svg(chart: &Chart) -> String {
    svg::render(&layout::Layout::new(chart))
}

/// Renders `chart` as an 8-bit RGB PNG image, `width` × `height` pixels,
/// and returns the encoded file.
///
/// Text is drawn with built-in ISO 8859-1 bitmap fonts (7×13, title 9×15
/// bold), so characters outside Latin-1 other than `…` and `–` show as `?`
/// in the PNG; the SVG keeps them.
///
/// # Errors
///
/// [`PlotError::SizeOutOfRange`] if the width or height is outside
/// [`MIN_SIZE`]..=[`MAX_SIZE`]; [`PlotError::Encode`] if encoding fails.
pub fn render_png(chart: &Chart) -> Result<Vec<u8>, PlotError> {
    let range = MIN_SIZE..=MAX_SIZE;
    if !range.contains(&chart.width) || !range.contains(&chart.height) {
        return Err(PlotError::SizeOutOfRange {
            width: chart.width,
            height: chart.height,
        });
    }
    raster::encode(raster::draw(&layout::Layout::new(chart)))
}
