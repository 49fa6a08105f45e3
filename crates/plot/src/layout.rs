//! Everything about where things go, worked out once for both backends:
//! the plot rectangle, the scales, the ticks and their labels, the legend,
//! and every line, dot and label as a display list of [`Shape`]s in pixel
//! coordinates. The SVG and PNG backends only draw the list.

use wirewatch_units::si_axis;

use crate::ticks::{value_ticks, ValueTicks};
use crate::time::{range_text, time_ticks};
use crate::{Chart, MAX_SIZE, MIN_SIZE, PALETTE};

/// An sRGB colour.
pub(crate) type Rgb = [u8; 3];

pub(crate) const BACKGROUND: Rgb = [0xff, 0xff, 0xff];
pub(crate) const TEXT: Rgb = [0x22, 0x22, 0x22];
const MUTED: Rgb = [0x77, 0x77, 0x77];
const AXIS: Rgb = [0x44, 0x44, 0x44];
const GRID: Rgb = [0xe3, 0xe3, 0xe3];
const ZERO_LINE: Rgb = [0x99, 0x99, 0x99];
pub(crate) const MARKER: Rgb = [0x55, 0x55, 0x55];

/// Blank space around the whole chart.
const MARGIN: i32 = 10;
/// Height of one legend row.
const ROW_H: i32 = 18;
/// Legend swatch: a short thick bar.
const SWATCH_W: i32 = 16;
const SWATCH_H: i32 = 4;
/// From the swatch's left edge to its name.
const SWATCH_TEXT: i32 = 22;
/// Least horizontal space between two x-axis labels.
const LABEL_GAP: f64 = 16.0;
/// Length of the tick marks outside the plot.
const TICK_LEN: i32 = 4;
/// The plot is never squeezed below this height by the legend.
const MIN_PLOT_H: i32 = 50;
/// Charts at least this wide have their legend right of the plot.
const RIGHT_LEGEND_MIN_WIDTH: u32 = 480;
/// Legend names are cut (with `…`) past this many characters.
const MAX_NAME_CHARS: usize = 28;
/// Stroke width of the series lines, and the radius of lone points.
pub(crate) const LINE_WIDTH: u32 = 2;
const DOT_RADIUS: f64 = 3.0;
/// Dash and gap lengths of a dashed series, in pixels along the line.
pub(crate) const SERIES_DASH: (u32, u32) = (6, 4);
/// Dash and gap lengths of a marker line.
pub(crate) const MARKER_DASH: (u32, u32) = (4, 3);
/// Marker labels are cut (with `…`) past this many characters.
const MAX_MARKER_CHARS: usize = 16;
/// Least horizontal space between a marker label and other text in its row.
const MARKER_LABEL_GAP: i32 = 6;
/// Legend swatch of a band: a filled box.
const BAND_SWATCH_H: i32 = 10;

/// The two text styles. Widths and heights are those of the PNG backend's
/// bitmap fonts; the SVG backend picks font sizes whose text is no wider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Font {
    /// Tick labels, axis titles, legend: 7 × 13 px cells.
    Normal,
    /// The chart title: 9 × 15 px bold cells.
    Title,
}

impl Font {
    /// Advance of one character, in pixels.
    pub(crate) fn char_width(self) -> i32 {
        match self {
            Font::Normal => 7,
            Font::Title => 9,
        }
    }

    /// Height of a line, in pixels.
    pub(crate) fn height(self) -> i32 {
        match self {
            Font::Normal => 13,
            Font::Title => 15,
        }
    }

    /// Width of `text` in pixels.
    pub(crate) fn width(self, text: &str) -> i32 {
        let chars = i32::try_from(text.chars().count()).unwrap_or(i32::MAX / 16);
        chars.saturating_mul(self.char_width())
    }
}

/// Which point of a text its `x` coordinate gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

/// One thing to draw. Coordinates are pixel indices: pixel (0, 0) is the
/// top-left one, and a point at (x, y) is the centre of pixel (x, y).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    /// A filled rectangle covering pixels `x..x+w` × `y..y+h`.
    Rect {
        x: i32,
        y: i32,
        w: i32,
        h: i32,
        colour: Rgb,
    },
    /// A 1-pixel horizontal or vertical line from one pixel to another,
    /// both included.
    Line {
        x1: i32,
        y1: i32,
        x2: i32,
        y2: i32,
        colour: Rgb,
    },
    /// A 1-pixel dashed line (of [`MARKER_DASH`]) from one pixel to
    /// another, both included.
    DashedLine {
        x1: i32,
        y1: i32,
        x2: i32,
        y2: i32,
        colour: Rgb,
    },
    /// A series segment: [`LINE_WIDTH`]-wide line through two or more
    /// points, solid or dashed (of [`SERIES_DASH`]).
    Polyline {
        points: Vec<(f64, f64)>,
        colour: Rgb,
        dashed: bool,
    },
    /// A band segment: a simple polygon filled with `colour` at `opacity`
    /// (0..=1) over whatever is under it. A pixel is covered when its
    /// centre is inside.
    Area {
        points: Vec<(f64, f64)>,
        colour: Rgb,
        opacity: f64,
    },
    /// A lone point of a series.
    Dot {
        x: f64,
        y: f64,
        radius: f64,
        colour: Rgb,
    },
    /// A single line of text, vertically centred on `y`.
    Text {
        x: i32,
        y: i32,
        text: String,
        anchor: Anchor,
        font: Font,
        colour: Rgb,
    },
}

/// The shapes of one series or band.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesShapes {
    /// The series or band name as given (sanitised, not truncated).
    pub name: String,
    pub colour: Rgb,
    /// Series: one polyline per gap-free run of two or more points, one dot
    /// per lone point. Bands: one area per gap-free run (a lone point gets
    /// a bar as wide as a dot).
    pub shapes: Vec<Shape>,
}

/// A rectangle of pixels, edges included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
}

/// The finished layout.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    pub width: u32,
    pub height: u32,
    /// The plot area; its left and bottom edges are the axes.
    pub plot: Bounds,
    /// Grid, axes and tick marks, drawn first.
    pub background: Vec<Shape>,
    /// The bands, drawn over the grid in order.
    pub bands: Vec<SeriesShapes>,
    /// The marker lines, over the bands.
    pub markers: Vec<Shape>,
    /// The data lines, drawn over the bands and markers.
    pub series: Vec<SeriesShapes>,
    /// Labels, titles, the legend and any "no data" note, drawn last.
    pub foreground: Vec<Shape>,
    /// Where the legend is, if there is one.
    pub legend: Option<Bounds>,
}

/// Replaces characters that cannot appear in a one-line label (or in XML)
/// with spaces.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// `text` cut to at most `max` characters, the last one then being `…`.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// How many characters of `font` fit in `pixels`.
fn chars_in(pixels: i32, font: Font) -> usize {
    usize::try_from(pixels / font.char_width()).unwrap_or(0)
}

/// `over` drawn at `alpha` (0..=1) over `under`, rounded to the nearest
/// sRGB byte (blended in sRGB values, as SVG viewers do by default).
pub(crate) fn blend(under: Rgb, over: Rgb, alpha: f64) -> Rgb {
    let mix = |u: u8, o: u8| {
        let (u, o) = (f64::from(u), f64::from(o));
        (u + (o - u) * alpha).round().clamp(0.0, 255.0) as u8
    };
    [
        mix(under[0], over[0]),
        mix(under[1], over[1]),
        mix(under[2], over[2]),
    ]
}

/// A band's opacity made usable: NaN is 0, the rest clamped to 0..=1.
fn opacity(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, 1.0)
    }
}

/// The colour of palette entry `index`, wrapping around.
fn palette(index: usize) -> Rgb {
    PALETTE[index % PALETTE.len()]
}

/// A text shape.
fn text(x: i32, y: i32, text: String, anchor: Anchor, font: Font, colour: Rgb) -> Shape {
    Shape::Text {
        x,
        y,
        text,
        anchor,
        font,
        colour,
    }
}

/// The x of a middle-anchored text of `width` pixels centred as near `x` as
/// the canvas allows.
fn keep_inside(x: i32, width: i32, canvas: i32) -> i32 {
    let half = width / 2 + 1;
    if 2 * half >= canvas {
        canvas / 2
    } else {
        x.clamp(half, canvas - half)
    }
}

/// How a legend row shows what it names.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Swatch {
    /// A short thick bar: a solid series.
    Line,
    /// Two short bars: a dashed series.
    Dashed,
    /// A box filled at the band's opacity: a band.
    Fill { opacity: f64 },
}

/// A series or band as the legend lists it.
struct LegendItem {
    name: String,
    colour: Rgb,
    swatch: Swatch,
}

/// One legend row: a swatch (none for the "+N more" row) and its text.
struct LegendEntry {
    key: Option<(Rgb, Swatch)>,
    text: String,
}

/// Legend rows for `items`, at most `slots` of them: if they do not all
/// fit, the last slot says how many were left out.
fn legend_entries(items: &[LegendItem], max_chars: usize, slots: usize) -> Vec<LegendEntry> {
    let slots = slots.max(1);
    let shown = if items.len() <= slots {
        items.len()
    } else {
        slots - 1
    };
    let mut entries: Vec<LegendEntry> = items
        .iter()
        .take(shown)
        .map(|item| LegendEntry {
            key: Some((item.colour, item.swatch)),
            text: truncate(&item.name, max_chars),
        })
        .collect();
    if shown < items.len() {
        entries.push(LegendEntry {
            key: None,
            text: truncate(&format!("+{} more", items.len() - shown), max_chars.max(1)),
        });
    }
    entries
}

/// A horizontal span of pixels, edges included.
type Span = (i32, i32);

fn overlaps(a: Span, b: Span, gap: i32) -> bool {
    a.0 <= b.1 + gap && b.0 <= a.1 + gap
}

/// Step 1, check and measure: the chart with its size clamped into
/// `MIN_SIZE..=MAX_SIZE`, each series and band sorted by time (stably, so
/// equal times keep their order), the time range of all their points and
/// of the markers, the value range of the finite values and of the band
/// points with both bounds finite (the others are not drawn), its texts
/// made printable and the legend's items.
struct Measured<'a> {
    chart: &'a Chart,
    width: u32,
    height: u32,
    series: Vec<Vec<(i64, f64)>>,
    bands: Vec<Vec<(i64, f64, f64)>>,
    time_range: Option<(i128, i128)>,
    value_range: Option<(f64, f64)>,
    title: String,
    unit: String,
    series_colours: Vec<Rgb>,
    legend_items: Vec<LegendItem>,
}

impl<'a> Measured<'a> {
    fn new(chart: &'a Chart) -> Self {
        let series: Vec<Vec<(i64, f64)>> = chart
            .series
            .iter()
            .map(|s| {
                let mut points = s.points.clone();
                points.sort_by_key(|p| p.0);
                points
            })
            .collect();
        let bands: Vec<Vec<(i64, f64, f64)>> = chart
            .bands
            .iter()
            .map(|b| {
                let mut points = b.points.clone();
                points.sort_by_key(|p| p.0);
                points
            })
            .collect();
        let times = series
            .iter()
            .flatten()
            .map(|p| p.0)
            .chain(bands.iter().flatten().map(|p| p.0))
            .chain(chart.markers.iter().map(|m| m.0));
        let time_range = times
            .clone()
            .min()
            .zip(times.max())
            .map(|(a, b)| (i128::from(a), i128::from(b)));
        let values = series
            .iter()
            .flatten()
            .map(|p| p.1)
            .filter(|v| v.is_finite())
            .chain(
                bands
                    .iter()
                    .flatten()
                    .filter(|p| p.1.is_finite() && p.2.is_finite())
                    .flat_map(|p| [p.1, p.2]),
            );
        let value_range = values.clone().reduce(f64::min).zip(values.reduce(f64::max));

        let series_colours: Vec<Rgb> = chart
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| palette(s.colour.unwrap_or(i)))
            .collect();
        let legend_items: Vec<LegendItem> = chart
            .series
            .iter()
            .zip(&series_colours)
            .map(|(s, &colour)| LegendItem {
                name: sanitize(&s.name),
                colour,
                swatch: if s.dashed {
                    Swatch::Dashed
                } else {
                    Swatch::Line
                },
            })
            .chain(chart.bands.iter().map(|b| LegendItem {
                name: sanitize(&b.name),
                colour: palette(b.colour),
                swatch: Swatch::Fill {
                    opacity: opacity(b.opacity),
                },
            }))
            .collect();
        Measured {
            chart,
            width: chart.width.clamp(MIN_SIZE, MAX_SIZE),
            height: chart.height.clamp(MIN_SIZE, MAX_SIZE),
            series,
            bands,
            time_range,
            value_range,
            title: sanitize(&chart.title),
            unit: sanitize(&chart.y_unit),
            series_colours,
            legend_items,
        }
    }

    /// The longest legend name, in characters.
    fn longest_name(&self) -> usize {
        self.legend_items
            .iter()
            .map(|item| item.name.chars().count())
            .max()
            .unwrap_or(0)
    }
}

/// Where the legend goes, with the rows it shows.
enum LegendPlan {
    /// Nothing to list.
    None,
    /// Right of the plot from `x`, one entry per row from the plot's top.
    Right { x: i32, entries: Vec<LegendEntry> },
    /// Under the x-axis title: `cols` columns `col_w` wide, `h` tall in all
    /// (with the space above it).
    Below {
        entries: Vec<LegendEntry>,
        cols: usize,
        col_w: i32,
        h: i32,
    },
}

impl LegendPlan {
    /// The legend under the plot, in as many columns as fit the width `w`
    /// and at most as many rows as fit `room` pixels (at least one); with
    /// its height.
    fn below(m: &Measured, w: i32, room: i32) -> (LegendPlan, i32) {
        let normal = Font::Normal;
        let name_chars = m
            .longest_name()
            .min(MAX_NAME_CHARS)
            .min(chars_in(w - 2 * MARGIN - SWATCH_TEXT, normal))
            .max(1);
        let col_w = SWATCH_TEXT + name_chars as i32 * normal.char_width() + 14;
        let cols = usize::try_from((w - 2 * MARGIN) / col_w)
            .unwrap_or(1)
            .max(1);
        let max_rows = usize::try_from(room / ROW_H).unwrap_or(0).max(1);
        let rows_needed = m.legend_items.len().div_ceil(cols);
        let rows = rows_needed.min(max_rows);
        let entries = legend_entries(&m.legend_items, name_chars, rows * cols);
        let rows = entries.len().div_ceil(cols);
        let h = rows as i32 * ROW_H + 6;
        (
            LegendPlan::Below {
                entries,
                cols,
                col_w,
                h,
            },
            h,
        )
    }

    /// The legend right of a plot `plot_h` high on a canvas `w` wide: at
    /// most 28 % of the width, one row per [`ROW_H`] of the plot; with its
    /// left edge.
    fn right(m: &Measured, w: i32, plot_h: i32) -> (LegendPlan, i32) {
        let normal = Font::Normal;
        let name_chars = m
            .longest_name()
            .min(MAX_NAME_CHARS)
            .min(chars_in(w * 28 / 100 - SWATCH_TEXT, normal))
            .max(1);
        let legend_w = SWATCH_TEXT + name_chars as i32 * normal.char_width();
        let slots = usize::try_from((plot_h + ROW_H / 2) / ROW_H)
            .unwrap_or(0)
            .max(1);
        let x = w - MARGIN - legend_w;
        let entries = legend_entries(&m.legend_items, name_chars, slots);
        (LegendPlan::Right { x, entries }, x)
    }
}

/// Step 2, compute: where the title, the unit, the plot and the legend go,
/// and the value axis's ticks and labels.
struct Frame {
    /// Canvas size; both at most 8000, so every pixel coordinate fits an i32.
    w: i32,
    h: i32,
    /// The title as shown (cut to the width), when there is one.
    title: Option<String>,
    /// Centre line of the unit's row (which the marker labels share).
    unit_y: i32,
    plot: Bounds,
    value_ticks: ValueTicks,
    y_labels: Vec<String>,
    legend: LegendPlan,
    /// The time axis; a single instant is shown in the middle of an hour.
    time_axis: Option<(i128, i128)>,
}

impl Frame {
    fn new(m: &Measured) -> Frame {
        let (w, h) = (m.width as i32, m.height as i32);
        let normal = Font::Normal;
        let small_h = normal.height();

        // Top: title, then the y-axis title (the unit) above the labels.
        let mut top = MARGIN;
        let title = (!m.title.trim().is_empty()).then(|| {
            let font = Font::Title;
            top += font.height() + 6;
            truncate(&m.title, chars_in(w - 2 * MARGIN, font))
        });
        let unit_y = top + small_h / 2;
        top += small_h + 8;
        let plot_top = top;

        // Bottom, upwards: margin, legend (if below), x-axis title, tick
        // labels, tick marks.
        let axis_block = TICK_LEN + 2 + small_h + 4 + small_h;
        let right_legend = !m.legend_items.is_empty() && m.width >= RIGHT_LEGEND_MIN_WIDTH;
        let (mut legend, legend_h) = if !m.legend_items.is_empty() && !right_legend {
            LegendPlan::below(m, w, h - plot_top - MIN_PLOT_H - axis_block - 6 - MARGIN)
        } else {
            (LegendPlan::None, 0)
        };
        let plot_bottom = (h - MARGIN - legend_h - axis_block).max(plot_top + 20);
        let plot_h = plot_bottom - plot_top;

        // The value axis.
        let max_intervals = usize::try_from(plot_h / 50).unwrap_or(0).clamp(2, 6);
        let value_ticks = match m.value_range {
            Some((lo, hi)) => value_ticks(lo, hi, max_intervals),
            None => value_ticks(0.0, 0.0, max_intervals),
        };
        let y_labels: Vec<String> = value_ticks.ticks.iter().map(|&v| si_axis(v)).collect();
        let y_label_w = y_labels.iter().map(|l| normal.width(l)).max().unwrap_or(0);
        let plot_left = MARGIN + y_label_w.max(32) + TICK_LEN + 4;

        // The legend on the right, if there is room for it.
        let plot_right = if right_legend {
            let (plan, x) = LegendPlan::right(m, w, plot_h);
            legend = plan;
            x - 24
        } else {
            w - MARGIN - 30
        }
        .max(plot_left + 20)
        .min(w - 1);

        let time_axis = m.time_range.map(|(t0, t1)| {
            if t0 == t1 {
                (t0 - 1800, t1 + 1800)
            } else {
                (t0, t1)
            }
        });
        Frame {
            w,
            h,
            title,
            unit_y,
            plot: Bounds {
                left: plot_left,
                top: plot_top,
                right: plot_right,
                bottom: plot_bottom,
            },
            value_ticks,
            y_labels,
            legend,
            time_axis,
        }
    }

    /// The y pixel of value `v`.
    fn y_of(&self, v: f64) -> f64 {
        let plot_h = self.plot.bottom - self.plot.top;
        f64::from(self.plot.bottom) - self.value_ticks.fraction(v) * f64::from(plot_h)
    }

    /// The x pixel of time `t` on the time axis `(t0, t1)`.
    fn x_of(&self, t: i128, (t0, t1): (i128, i128)) -> f64 {
        // Differences of two i64 values are exact in i128; the ratio is in
        // 0..=1.
        let f = (t - t0) as f64 / (t1 - t0) as f64;
        f64::from(self.plot.left) + f * f64::from(self.plot.right - self.plot.left)
    }

    /// The title, centred at the top.
    fn draw_title(&self, foreground: &mut Vec<Shape>) {
        if let Some(title) = &self.title {
            let font = Font::Title;
            foreground.push(text(
                self.w / 2,
                MARGIN + font.height() / 2,
                title.clone(),
                Anchor::Middle,
                font,
                TEXT,
            ));
        }
    }

    /// The legend's rows; returns where they are.
    fn draw_legend(&mut self, foreground: &mut Vec<Shape>) -> Option<Bounds> {
        let (w, h) = (self.w, self.h);
        match std::mem::replace(&mut self.legend, LegendPlan::None) {
            LegendPlan::None => None,
            LegendPlan::Right { x, entries } => {
                let top = self.plot.top;
                let rows = entries.len() as i32;
                for (row, entry) in entries.into_iter().enumerate() {
                    let y = top + row as i32 * ROW_H + ROW_H / 2;
                    push_legend_entry(foreground, entry, x, y);
                }
                Some(Bounds {
                    left: x,
                    top,
                    right: w - MARGIN,
                    bottom: top + rows * ROW_H,
                })
            }
            LegendPlan::Below {
                entries,
                cols,
                col_w,
                h: legend_h,
            } => {
                if entries.is_empty() {
                    return None;
                }
                let top = h - MARGIN - legend_h + 6;
                let rows = entries.len().div_ceil(cols) as i32;
                for (i, entry) in entries.into_iter().enumerate() {
                    let col = (i % cols) as i32;
                    let row = (i / cols) as i32;
                    let x = MARGIN + col * col_w;
                    let y = top + row * ROW_H + ROW_H / 2;
                    push_legend_entry(foreground, entry, x, y);
                }
                Some(Bounds {
                    left: MARGIN,
                    top,
                    right: w - MARGIN,
                    bottom: top + rows * ROW_H,
                })
            }
        }
    }

    /// The value axis: grid lines, tick marks and labels, and the zero line
    /// when the axis goes below zero.
    fn draw_value_axis(&mut self, background: &mut Vec<Shape>, foreground: &mut Vec<Shape>) {
        let Bounds { left, right, .. } = self.plot;
        let labels = std::mem::take(&mut self.y_labels);
        for (&v, label) in self.value_ticks.ticks.iter().zip(labels) {
            let y = self.y_of(v).round() as i32;
            background.push(Shape::Line {
                x1: left + 1,
                y1: y,
                x2: right,
                y2: y,
                colour: GRID,
            });
            background.push(Shape::Line {
                x1: left - TICK_LEN,
                y1: y,
                x2: left - 1,
                y2: y,
                colour: AXIS,
            });
            foreground.push(text(
                left - TICK_LEN - 3,
                y,
                label,
                Anchor::End,
                Font::Normal,
                TEXT,
            ));
        }
        if self.value_ticks.lo < 0.0 {
            let y = self.y_of(0.0).round() as i32;
            background.push(Shape::Line {
                x1: left + 1,
                y1: y,
                x2: right,
                y2: y,
                colour: ZERO_LINE,
            });
        }
    }

    /// The unit above the value axis; returns the text spans of its row,
    /// which marker labels must not hit.
    fn draw_unit(&self, unit: &str, foreground: &mut Vec<Shape>) -> Vec<Span> {
        let normal = Font::Normal;
        let mut unit_row: Vec<Span> = Vec::new();
        if !unit.trim().is_empty() {
            let max = chars_in(self.w - 2 * MARGIN, normal);
            let unit = truncate(unit, max);
            unit_row.push((MARGIN, MARGIN + normal.width(&unit) - 1));
            foreground.push(text(MARGIN, self.unit_y, unit, Anchor::Start, normal, TEXT));
        }
        unit_row
    }

    /// The time axis: grid lines, tick marks and labels, and its title
    /// with the range shown.
    fn draw_time_axis(&self, background: &mut Vec<Shape>, foreground: &mut Vec<Shape>) {
        let normal = Font::Normal;
        let small_h = normal.height();
        let Bounds {
            left,
            top,
            right,
            bottom,
        } = self.plot;
        let tick_label_y = bottom + TICK_LEN + 2 + small_h / 2;
        let x_title_y = tick_label_y + small_h / 2 + 4 + small_h / 2 + 1;
        let mut x_title = "time (UTC)".to_owned();
        if let Some(axis) = self.time_axis {
            let tt = time_ticks(
                axis.0,
                axis.1,
                f64::from(right - left),
                f64::from(normal.char_width()),
                LABEL_GAP,
            );
            for (t, label) in tt.ticks {
                let x = self.x_of(t, axis).round() as i32;
                background.push(Shape::Line {
                    x1: x,
                    y1: top,
                    x2: x,
                    y2: bottom - 1,
                    colour: GRID,
                });
                background.push(Shape::Line {
                    x1: x,
                    y1: bottom + 1,
                    x2: x,
                    y2: bottom + TICK_LEN,
                    colour: AXIS,
                });
                let x = keep_inside(x, normal.width(&label), self.w);
                foreground.push(text(x, tick_label_y, label, Anchor::Middle, normal, TEXT));
            }
            x_title = format!("{x_title} {}", range_text(axis.0, axis.1, tt.kind));
        }
        let x_title = truncate(&x_title, chars_in(self.w - 2 * MARGIN, normal));
        let x = keep_inside((left + right) / 2, normal.width(&x_title), self.w);
        foreground.push(text(x, x_title_y, x_title, Anchor::Middle, normal, TEXT));
    }

    /// The axes themselves, over the grid.
    fn draw_axes(&self, background: &mut Vec<Shape>) {
        let Bounds {
            left,
            top,
            right,
            bottom,
        } = self.plot;
        background.push(Shape::Line {
            x1: left,
            y1: top,
            x2: left,
            y2: bottom,
            colour: AXIS,
        });
        background.push(Shape::Line {
            x1: left,
            y1: bottom,
            x2: right,
            y2: bottom,
            colour: AXIS,
        });
    }

    /// The bands: one polygon per run of points with finite bounds, its
    /// upper edge left to right then its lower edge back; a point with no
    /// such neighbour gets a bar as wide as a dot.
    fn bands(&self, m: &Measured) -> Vec<SeriesShapes> {
        m.bands
            .iter()
            .zip(&m.chart.bands)
            .map(|(points, band)| {
                let colour = palette(band.colour);
                let opacity = opacity(band.opacity);
                let mut shapes = Vec::new();
                if let Some(axis) = self.time_axis {
                    // (x, y of the upper bound, y of the lower bound)
                    let mut run: Vec<(f64, f64, f64)> = Vec::new();
                    for &(t, a, b) in points.iter().chain([&(0, f64::NAN, f64::NAN)]) {
                        if a.is_finite() && b.is_finite() {
                            let x = self.x_of(i128::from(t), axis);
                            run.push((x, self.y_of(a.max(b)), self.y_of(a.min(b))));
                            continue;
                        }
                        let polygon: Vec<(f64, f64)> = match run.as_slice() {
                            [] => continue,
                            &[(x, top, bottom)] => vec![
                                (x - DOT_RADIUS, top),
                                (x + DOT_RADIUS, top),
                                (x + DOT_RADIUS, bottom),
                                (x - DOT_RADIUS, bottom),
                            ],
                            run => run
                                .iter()
                                .map(|&(x, top, _)| (x, top))
                                .chain(run.iter().rev().map(|&(x, _, bottom)| (x, bottom)))
                                .collect(),
                        };
                        run.clear();
                        shapes.push(Shape::Area {
                            points: polygon,
                            colour,
                            opacity,
                        });
                    }
                }
                SeriesShapes {
                    name: sanitize(&band.name),
                    colour,
                    shapes,
                }
            })
            .collect()
    }

    /// The markers: a dashed line across the plot, the label above it in
    /// the unit's row, centred on the line or else beside it, left out if
    /// it fits nowhere (`unit_row`: the spans taken in that row so far).
    fn markers(
        &self,
        m: &Measured,
        unit_row: &mut Vec<Span>,
        foreground: &mut Vec<Shape>,
    ) -> Vec<Shape> {
        let normal = Font::Normal;
        let w = self.w;
        let mut markers = Vec::new();
        let Some(axis) = self.time_axis else {
            return markers;
        };
        for (t, label) in &m.chart.markers {
            let x = self.x_of(i128::from(*t), axis).round() as i32;
            markers.push(Shape::DashedLine {
                x1: x,
                y1: self.plot.top,
                x2: x,
                y2: self.plot.bottom - 1,
                colour: MARKER,
            });
            let label = truncate(&sanitize(label), MAX_MARKER_CHARS);
            if label.trim().is_empty() {
                continue;
            }
            let tw = normal.width(&label);
            let centre = keep_inside(x, tw, w);
            let candidates = [
                (
                    centre,
                    Anchor::Middle,
                    (centre - tw / 2, centre - tw / 2 + tw - 1),
                ),
                (x + 3, Anchor::Start, (x + 3, x + 2 + tw)),
                (x - 3, Anchor::End, (x - 3 - tw, x - 4)),
            ];
            let free = candidates.into_iter().find(|&(_, _, span)| {
                span.0 >= 0
                    && span.1 < w
                    && !unit_row
                        .iter()
                        .any(|&other| overlaps(span, other, MARKER_LABEL_GAP))
            });
            if let Some((lx, anchor, span)) = free {
                unit_row.push(span);
                foreground.push(text(lx, self.unit_y, label, anchor, normal, TEXT));
            }
        }
        markers
    }

    /// The data: one polyline per run of finite values, a dot for a point
    /// with no finite neighbour.
    fn series(&self, m: &Measured) -> Vec<SeriesShapes> {
        m.series
            .iter()
            .zip(&m.chart.series)
            .zip(&m.series_colours)
            .map(|((points, s), &colour)| {
                let mut shapes = Vec::new();
                if let Some(axis) = self.time_axis {
                    let mut run: Vec<(f64, f64)> = Vec::new();
                    for &(t, v) in points.iter().chain([&(0, f64::NAN)]) {
                        if v.is_finite() {
                            run.push((self.x_of(i128::from(t), axis), self.y_of(v)));
                        } else if run.len() == 1 {
                            let (x, y) = run[0];
                            shapes.push(Shape::Dot {
                                x,
                                y,
                                radius: DOT_RADIUS,
                                colour,
                            });
                            run.clear();
                        } else if run.len() > 1 {
                            shapes.push(Shape::Polyline {
                                points: std::mem::take(&mut run),
                                colour,
                                dashed: s.dashed,
                            });
                        }
                    }
                }
                SeriesShapes {
                    name: sanitize(&s.name),
                    colour,
                    shapes,
                }
            })
            .collect()
    }

    /// "no data" in the middle of an empty plot.
    fn draw_no_data(&self, foreground: &mut Vec<Shape>) {
        let Bounds {
            left,
            top,
            right,
            bottom,
        } = self.plot;
        foreground.push(text(
            (left + right) / 2,
            (top + bottom) / 2,
            "no data".to_owned(),
            Anchor::Middle,
            Font::Normal,
            MUTED,
        ));
    }
}

impl Layout {
    /// Lays `chart` out. The size is clamped into `MIN_SIZE..=MAX_SIZE`.
    ///
    /// Three steps: measure the data ([`Measured`]), place the frame
    /// ([`Frame`]: title, unit, plot, legend, value ticks), then draw into
    /// the display lists in their drawing order.
    pub(crate) fn new(chart: &Chart) -> Layout {
        let m = Measured::new(chart);
        let mut frame = Frame::new(&m);

        let mut background = Vec::new();
        let mut foreground = Vec::new();
        frame.draw_title(&mut foreground);
        let legend = frame.draw_legend(&mut foreground);
        frame.draw_value_axis(&mut background, &mut foreground);
        let mut unit_row = frame.draw_unit(&m.unit, &mut foreground);
        frame.draw_time_axis(&mut background, &mut foreground);
        frame.draw_axes(&mut background);
        let bands = frame.bands(&m);
        let markers = frame.markers(&m, &mut unit_row, &mut foreground);
        let series = frame.series(&m);
        if m.value_range.is_none() {
            frame.draw_no_data(&mut foreground);
        }

        Layout {
            width: m.width,
            height: m.height,
            plot: frame.plot,
            background,
            bands,
            markers,
            series,
            foreground,
            legend,
        }
    }
}

/// Adds a legend row at (`x`, centre `y`): swatch and name, or just the
/// "+N more" text.
fn push_legend_entry(out: &mut Vec<Shape>, entry: LegendEntry, x: i32, y: i32) {
    match entry.key {
        Some((colour, swatch)) => {
            let bar = |x, w| Shape::Rect {
                x,
                y: y - SWATCH_H / 2,
                w,
                h: SWATCH_H,
                colour,
            };
            match swatch {
                Swatch::Line => out.push(bar(x, SWATCH_W)),
                Swatch::Dashed => {
                    // Dash, gap, dash, as the line is drawn.
                    let (dash, gap) = (SERIES_DASH.0 as i32, SERIES_DASH.1 as i32);
                    out.push(bar(x, dash));
                    out.push(bar(x + dash + gap, SWATCH_W - dash - gap));
                }
                Swatch::Fill { opacity } => {
                    // A box in the band's colour, filled as the band is
                    // (the legend is on the background).
                    let top = y - BAND_SWATCH_H / 2;
                    out.push(Shape::Rect {
                        x,
                        y: top,
                        w: SWATCH_W,
                        h: BAND_SWATCH_H,
                        colour,
                    });
                    out.push(Shape::Rect {
                        x: x + 1,
                        y: top + 1,
                        w: SWATCH_W - 2,
                        h: BAND_SWATCH_H - 2,
                        colour: blend(BACKGROUND, colour, opacity),
                    });
                }
            }
            out.push(text(
                x + SWATCH_TEXT,
                y,
                entry.text,
                Anchor::Start,
                Font::Normal,
                TEXT,
            ));
        }
        None => out.push(text(
            x + SWATCH_TEXT,
            y,
            entry.text,
            Anchor::Start,
            Font::Normal,
            MUTED,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Band, Series};

    fn chart(series: Vec<Series>, width: u32, height: u32) -> Chart {
        Chart {
            title: "t".into(),
            y_unit: "B".into(),
            series,
            bands: vec![],
            markers: vec![],
            width,
            height,
        }
    }

    fn texts(layout: &Layout) -> Vec<&str> {
        layout
            .foreground
            .iter()
            .filter_map(|s| match s {
                Shape::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("äöüßéè", 3), "äö…");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn everything_inside_the_canvas() {
        let series: Vec<Series> = (0..25)
            .map(|i| Series {
                name: format!("a rather long series name number {i}"),
                points: vec![(0, 1.0), (100_000, 2.0 * f64::from(i))],
                ..Default::default()
            })
            .collect();
        for (w, h) in [(200, 200), (479, 300), (480, 300), (1000, 500), (8000, 200)] {
            let l = Layout::new(&chart(series.clone(), w, h));
            let (w, h) = (w as i32, h as i32);
            assert!(l.plot.left < l.plot.right && l.plot.top < l.plot.bottom);
            assert!(l.plot.right < w && l.plot.bottom < h);
            for shape in &l.foreground {
                if let Shape::Text {
                    x,
                    y,
                    text,
                    anchor,
                    font,
                    ..
                } = shape
                {
                    let tw = font.width(text);
                    let left = match anchor {
                        Anchor::Start => *x,
                        Anchor::Middle => x - tw / 2,
                        Anchor::End => x - tw,
                    };
                    assert!(left >= 0 && left + tw <= w, "{w}x{h}: {text:?} at {x}");
                    assert!(*y >= 0 && *y < h, "{w}x{h}: {text:?} at {y}");
                }
            }
            // The legend says how many series it could not show.
            assert!(texts(&l).iter().any(|t| t.ends_with(" more")), "{w}x{h}");
        }
    }

    #[test]
    fn legend_right_when_wide_below_when_narrow() {
        let s = vec![Series {
            name: "x".into(),
            points: vec![(0, 1.0), (10, 2.0)],
            ..Default::default()
        }];
        let wide = Layout::new(&chart(s.clone(), 600, 300));
        let legend = wide.legend.unwrap();
        assert!(legend.left > wide.plot.right);
        let narrow = Layout::new(&chart(s, 300, 300));
        let legend = narrow.legend.unwrap();
        assert!(legend.top > narrow.plot.bottom);
    }

    #[test]
    fn gaps_split_runs_and_lone_points_are_dots() {
        let s = vec![Series {
            name: "x".into(),
            // Unsorted on purpose: sorted, the NaN at 30 splits 10,20 from
            // 40, which stands alone.
            points: vec![(40, 4.0), (10, 1.0), (30, f64::NAN), (20, 2.0)],
            ..Default::default()
        }];
        let l = Layout::new(&chart(s, 600, 300));
        let shapes = &l.series[0].shapes;
        assert_eq!(shapes.len(), 2);
        assert!(matches!(&shapes[0], Shape::Polyline { points, .. } if points.len() == 2));
        assert!(matches!(&shapes[1], Shape::Dot { .. }));
        // Time 10 is at the left axis, 40 at the right edge.
        if let Shape::Polyline { points, .. } = &shapes[0] {
            assert_eq!(points[0].0, f64::from(l.plot.left));
        }
        if let Shape::Dot { x, .. } = &shapes[1] {
            assert_eq!(*x, f64::from(l.plot.right));
        }
    }

    #[test]
    fn empty_chart_says_no_data() {
        let l = Layout::new(&chart(vec![], 400, 300));
        assert!(texts(&l).contains(&"no data"));
        assert!(texts(&l).contains(&"time (UTC)"));
        assert!(l.legend.is_none());
        let nan_only = vec![Series {
            name: "x".into(),
            points: vec![(0, f64::NAN)],
            ..Default::default()
        }];
        let l = Layout::new(&chart(nan_only, 400, 300));
        assert!(texts(&l).contains(&"no data"));
    }

    /// The polygons of band `i`.
    fn areas(layout: &Layout, i: usize) -> Vec<&[(f64, f64)]> {
        layout.bands[i]
            .shapes
            .iter()
            .map(|s| match s {
                Shape::Area { points, .. } => points.as_slice(),
                other => panic!("not an area: {other:?}"),
            })
            .collect()
    }

    fn band(points: Vec<(i64, f64, f64)>) -> Band {
        Band {
            name: "band".into(),
            points,
            colour: 1,
            opacity: 0.3,
        }
    }

    #[test]
    fn band_bounds_stretch_the_value_axis() {
        let s = vec![Series {
            name: "x".into(),
            points: vec![(0, 2.0), (100, 10.0)],
            ..Default::default()
        }];
        // The series alone: 0..10.
        let plain = Layout::new(&chart(s.clone(), 600, 400));
        assert!(texts(&plain).contains(&"10"));
        assert!(!texts(&plain).contains(&"40"));
        // A band up to 37: 0..40, and its top edge at 37/40 of the height.
        let mut c = chart(s, 600, 400);
        c.bands = vec![band(vec![(0, 5.0, 37.0), (100, 5.0, 37.0)])];
        let l = Layout::new(&c);
        assert!(texts(&l).contains(&"40"), "{:?}", texts(&l));
        let polygon = areas(&l, 0)[0];
        let top = polygon.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let plot_h = f64::from(l.plot.bottom - l.plot.top);
        let expected = f64::from(l.plot.bottom) - 37.0 / 40.0 * plot_h;
        assert!((top - expected).abs() < 1e-9, "{top} {expected}");
        // A lower bound below zero takes the axis below zero.
        c.bands = vec![band(vec![(0, -7.0, 3.0), (100, -7.0, 3.0)])];
        let l = Layout::new(&c);
        assert!(
            texts(&l).iter().any(|t| t.starts_with('-')),
            "{:?}",
            texts(&l)
        );
    }

    #[test]
    fn non_finite_bounds_break_a_band() {
        // Unsorted on purpose. Sorted: 0..=40 drawn, a NaN lower bound at
        // 50, 60 and 70 drawn, an infinite upper bound at 80, 90 alone,
        // NaN at 100.
        let mut points: Vec<(i64, f64, f64)> = (0..=10).rev().map(|i| (i * 10, 1.0, 2.0)).collect();
        points[10 - 5].1 = f64::NAN;
        points[10 - 8].2 = f64::INFINITY;
        points[0].1 = f64::NAN;
        let mut c = chart(vec![], 600, 300);
        c.bands = vec![band(points)];
        let l = Layout::new(&c);
        let polygons = areas(&l, 0);
        assert_eq!(polygons.len(), 3);
        let x_of =
            |t: f64| f64::from(l.plot.left) + t / 100.0 * f64::from(l.plot.right - l.plot.left);
        let xs = |p: &[(f64, f64)]| p.iter().map(|q| q.0).collect::<Vec<_>>();
        // Upper edge left to right, then the lower edge back.
        let first: Vec<f64> = [0.0, 10.0, 20.0, 30.0, 40.0, 40.0, 30.0, 20.0, 10.0, 0.0]
            .map(x_of)
            .to_vec();
        assert_eq!(xs(polygons[0]), first);
        assert_eq!(xs(polygons[1]), [60.0, 70.0, 70.0, 60.0].map(x_of));
        // The lone point: a bar as wide as a dot.
        let (x, r) = (x_of(90.0), DOT_RADIUS);
        assert_eq!(xs(polygons[2]), [x - r, x + r, x + r, x - r]);
        // Upper above lower (smaller y), whichever way round they came.
        assert!(polygons[0][0].1 < polygons[0][9].1);
        let mut swapped = c.clone();
        for p in &mut swapped.bands[0].points {
            *p = (p.0, p.2, p.1);
        }
        assert_eq!(Layout::new(&swapped).bands, l.bands);
    }

    #[test]
    fn markers_draw_a_dashed_line_and_a_label_above_the_plot() {
        let s = vec![Series {
            name: "x".into(),
            points: vec![(0, 1.0), (100, 2.0)],
            ..Default::default()
        }];
        let mut c = chart(s, 600, 300);
        // Mid-way; the same time again (its label would overlap); past the
        // data (the time axis stretches to it); at the very start, where a
        // centred label would run into the unit.
        c.y_unit = "bit/s".into();
        c.markers = vec![
            (100, "now".into()),
            (100, "again".into()),
            (200, "later".into()),
            (0, "start".into()),
        ];
        let l = Layout::new(&c);
        let row = |l: &Layout| -> Vec<(String, i32, i32)> {
            l.foreground
                .iter()
                .filter_map(|s| match s {
                    Shape::Text {
                        x,
                        y,
                        text,
                        anchor,
                        font,
                        ..
                    } if *y < l.plot.top - 6 && *font == Font::Normal => {
                        let w = font.width(text);
                        let left = match anchor {
                            Anchor::Start => *x,
                            Anchor::Middle => x - w / 2,
                            Anchor::End => x - w,
                        };
                        Some((text.clone(), left, left + w - 1))
                    }
                    _ => None,
                })
                .collect()
        };
        let no_overlaps = |row: &[(String, i32, i32)]| {
            for (i, a) in row.iter().enumerate() {
                assert!(a.1 >= 0 && a.2 < 600, "{a:?}");
                for b in &row[i + 1..] {
                    assert!(a.2 < b.1 || b.2 < a.1, "{a:?} overlaps {b:?}");
                }
            }
        };
        let lines: Vec<(i32, i32, i32, i32)> = l
            .markers
            .iter()
            .map(|m| match m {
                Shape::DashedLine { x1, y1, x2, y2, .. } => (*x1, *y1, *x2, *y2),
                other => panic!("not a dashed line: {other:?}"),
            })
            .collect();
        let mid = (f64::from(l.plot.left + l.plot.right) / 2.0).round() as i32;
        let (top, bottom) = (l.plot.top, l.plot.bottom - 1);
        assert_eq!(
            lines,
            [
                (mid, top, mid, bottom),
                (mid, top, mid, bottom),
                (l.plot.right, top, l.plot.right, bottom),
                (l.plot.left, top, l.plot.left, bottom)
            ]
        );
        // Labels above the plot, none overlapping another text there:
        // "again" is left out, "start" goes right of its line.
        let texts = row(&l);
        let names: Vec<&str> = texts.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(names, ["bit/s", "now", "later", "start"]);
        no_overlaps(&texts);
        // "now" is centred on its line, "start" beside it.
        let now = &texts[1];
        assert!(((now.1 + now.2) / 2 - mid).abs() <= 1, "{now:?} {mid}");
        assert!(texts[3].1 > l.plot.left, "{texts:?}");
        // A unit too long to leave room: "start" is left out, not drawn
        // over it.
        c.y_unit = "a much longer unit".into();
        let texts = row(&Layout::new(&c));
        let names: Vec<&str> = texts.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(names, ["a much longer unit", "now", "later"]);
        no_overlaps(&texts);
    }

    #[test]
    fn series_colours_dashes_and_band_legend() {
        let line = |name: &str, colour, dashed| Series {
            name: name.into(),
            points: vec![(0, 1.0), (100, 2.0)],
            colour,
            dashed,
        };
        let mut c = chart(
            vec![
                line("a", None, false),
                line("b", Some(13), true),
                line("c", None, false),
            ],
            600,
            300,
        );
        c.bands = vec![Band {
            name: "b band".into(),
            points: vec![(0, 0.5, 3.0), (100, 0.5, 3.0)],
            colour: 3,
            opacity: 0.25,
        }];
        let l = Layout::new(&c);
        let colours: Vec<Rgb> = l.series.iter().map(|s| s.colour).collect();
        assert_eq!(colours, [PALETTE[0], PALETTE[3], PALETTE[2]]);
        let dashed: Vec<bool> = l
            .series
            .iter()
            .map(|s| matches!(s.shapes[0], Shape::Polyline { dashed: true, .. }))
            .collect();
        assert_eq!(dashed, [false, true, false]);
        assert_eq!(l.bands[0].colour, PALETTE[3]);
        assert!(matches!(l.bands[0].shapes[0], Shape::Area { opacity, .. } if opacity == 0.25));
        // The legend lists the band after the series.
        let legend: Vec<&str> = texts(&l).into_iter().filter(|t| t.len() <= 6).collect();
        let at = |name: &str| legend.iter().position(|t| *t == name).unwrap();
        assert!(at("a") < at("b") && at("b") < at("c") && at("c") < at("b band"));
        // Swatches: a bar, a dashed bar (two pieces), a bar, and a box
        // outlined in the band's colour and filled as the band is.
        let rects: Vec<(i32, i32, Rgb)> = l
            .foreground
            .iter()
            .filter_map(|s| match s {
                Shape::Rect { w, h, colour, .. } => Some((*w, *h, *colour)),
                _ => None,
            })
            .collect();
        let fill = blend(BACKGROUND, PALETTE[3], 0.25);
        assert_eq!(
            rects,
            [
                (16, 4, PALETTE[0]),
                (6, 4, PALETTE[3]),
                (6, 4, PALETTE[3]),
                (16, 4, PALETTE[2]),
                (16, 10, PALETTE[3]),
                (14, 8, fill),
            ]
        );
        // A quarter of the way from white to vermillion [d5, 5e, 00].
        assert_eq!(fill, [0xf5, 0xd7, 0xbf]);
    }

    #[test]
    fn control_characters_become_spaces() {
        let s = vec![Series {
            name: "a\nb\u{0}c".into(),
            ..Default::default()
        }];
        let l = Layout::new(&chart(s, 600, 300));
        assert!(texts(&l).contains(&"a b c"));
    }
}
