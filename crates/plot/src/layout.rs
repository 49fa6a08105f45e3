//! Everything about where things go, worked out once for both backends:
//! the plot rectangle, the scales, the ticks and their labels, the legend,
//! and every line, dot and label as a display list of [`Shape`]s in pixel
//! coordinates. The SVG and PNG backends only draw the list.

use crate::si::si;
use crate::ticks::value_ticks;
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
    /// A series segment: [`LINE_WIDTH`]-wide line through two or more points.
    Polyline {
        points: Vec<(f64, f64)>,
        colour: Rgb,
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

/// The shapes of one series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesShapes {
    /// The series name as given (sanitised, not truncated).
    pub name: String,
    pub colour: Rgb,
    /// One polyline per gap-free run of two or more points, one dot per
    /// lone point.
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
    /// The data, drawn over the grid.
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

/// One legend row: a colour (none for the "+N more" row) and its text.
struct LegendEntry {
    colour: Option<Rgb>,
    text: String,
}

/// Legend rows for `names`, at most `slots` of them: if they do not all
/// fit, the last slot says how many were left out.
fn legend_entries(names: &[String], max_chars: usize, slots: usize) -> Vec<LegendEntry> {
    let slots = slots.max(1);
    let shown = if names.len() <= slots {
        names.len()
    } else {
        slots - 1
    };
    let mut entries: Vec<LegendEntry> = names
        .iter()
        .take(shown)
        .enumerate()
        .map(|(i, name)| LegendEntry {
            colour: Some(PALETTE[i % PALETTE.len()]),
            text: truncate(name, max_chars),
        })
        .collect();
    if shown < names.len() {
        entries.push(LegendEntry {
            colour: None,
            text: truncate(&format!("+{} more", names.len() - shown), max_chars.max(1)),
        });
    }
    entries
}

impl Layout {
    /// Lays `chart` out. The size is clamped into `MIN_SIZE..=MAX_SIZE`.
    pub(crate) fn new(chart: &Chart) -> Layout {
        let width = chart.width.clamp(MIN_SIZE, MAX_SIZE);
        let height = chart.height.clamp(MIN_SIZE, MAX_SIZE);
        // Both at most 8000, so every pixel coordinate fits an i32.
        let (w, h) = (width as i32, height as i32);
        let normal = Font::Normal;
        let small_h = normal.height();

        // The data: each series sorted by time (stably, so equal times keep
        // their order), the time range of all points, the value range of
        // the finite ones.
        let sorted: Vec<Vec<(i64, f64)>> = chart
            .series
            .iter()
            .map(|s| {
                let mut points = s.points.clone();
                points.sort_by_key(|p| p.0);
                points
            })
            .collect();
        let times = sorted.iter().flatten().map(|p| p.0);
        let time_range = times
            .clone()
            .min()
            .zip(times.max())
            .map(|(a, b)| (i128::from(a), i128::from(b)));
        let values = sorted
            .iter()
            .flatten()
            .map(|p| p.1)
            .filter(|v| v.is_finite());
        let value_range = values.clone().reduce(f64::min).zip(values.reduce(f64::max));

        let title = sanitize(&chart.title);
        let unit = sanitize(&chart.y_unit);
        let names: Vec<String> = chart.series.iter().map(|s| sanitize(&s.name)).collect();

        let mut foreground = Vec::new();

        // Top: title, then the y-axis title (the unit) above the labels.
        let mut top = MARGIN;
        if !title.trim().is_empty() {
            let font = Font::Title;
            let max = chars_in(w - 2 * MARGIN, font);
            foreground.push(text(
                w / 2,
                top + font.height() / 2,
                truncate(&title, max),
                Anchor::Middle,
                font,
                TEXT,
            ));
            top += font.height() + 6;
        }
        let unit_y = top + small_h / 2;
        top += small_h + 8;
        let plot_top = top;

        // Bottom, upwards: margin, legend (if below), x-axis title, tick
        // labels, tick marks.
        let axis_block = TICK_LEN + 2 + small_h + 4 + small_h;
        let right_legend = !names.is_empty() && width >= RIGHT_LEGEND_MIN_WIDTH;
        let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        let mut legend_entries_below = Vec::new();
        let mut legend_cols = 1;
        let mut legend_col_w = 0;
        let mut legend_h = 0;
        if !names.is_empty() && !right_legend {
            let name_chars = longest
                .min(MAX_NAME_CHARS)
                .min(chars_in(w - 2 * MARGIN - SWATCH_TEXT, normal))
                .max(1);
            legend_col_w = SWATCH_TEXT + name_chars as i32 * normal.char_width() + 14;
            legend_cols = usize::try_from((w - 2 * MARGIN) / legend_col_w)
                .unwrap_or(1)
                .max(1);
            let room = h - plot_top - MIN_PLOT_H - axis_block - 6 - MARGIN;
            let max_rows = usize::try_from(room / ROW_H).unwrap_or(0).max(1);
            let rows_needed = names.len().div_ceil(legend_cols);
            let rows = rows_needed.min(max_rows);
            legend_entries_below = legend_entries(&names, name_chars, rows * legend_cols);
            let rows = legend_entries_below.len().div_ceil(legend_cols);
            legend_h = rows as i32 * ROW_H + 6;
        }
        let plot_bottom = (h - MARGIN - legend_h - axis_block).max(plot_top + 20);
        let plot_h = plot_bottom - plot_top;

        // The value axis.
        let max_intervals = usize::try_from(plot_h / 50).unwrap_or(0).clamp(2, 6);
        let vt = match value_range {
            Some((lo, hi)) => value_ticks(lo, hi, max_intervals),
            None => value_ticks(0.0, 0.0, max_intervals),
        };
        let y_labels: Vec<String> = vt.ticks.iter().map(|&v| si(v)).collect();
        let y_label_w = y_labels.iter().map(|l| normal.width(l)).max().unwrap_or(0);
        let plot_left = MARGIN + y_label_w.max(32) + TICK_LEN + 4;

        // The legend on the right, if there is room for it.
        let mut legend = None;
        let plot_right = if right_legend {
            let name_chars = longest
                .min(MAX_NAME_CHARS)
                .min(chars_in(w * 28 / 100 - SWATCH_TEXT, normal))
                .max(1);
            let legend_w = SWATCH_TEXT + name_chars as i32 * normal.char_width();
            let legend_x = w - MARGIN - legend_w;
            let slots = usize::try_from((plot_h + ROW_H / 2) / ROW_H)
                .unwrap_or(0)
                .max(1);
            let entries = legend_entries(&names, name_chars, slots);
            let rows = entries.len() as i32;
            for (row, entry) in entries.into_iter().enumerate() {
                let y = plot_top + row as i32 * ROW_H + ROW_H / 2;
                push_legend_entry(&mut foreground, entry, legend_x, y);
            }
            legend = Some(Bounds {
                left: legend_x,
                top: plot_top,
                right: w - MARGIN,
                bottom: plot_top + rows * ROW_H,
            });
            legend_x - 24
        } else {
            w - MARGIN - 30
        }
        .max(plot_left + 20)
        .min(w - 1);
        let plot_w = plot_right - plot_left;

        if !legend_entries_below.is_empty() {
            let legend_top = h - MARGIN - legend_h + 6;
            let rows = legend_entries_below.len().div_ceil(legend_cols) as i32;
            for (i, entry) in legend_entries_below.into_iter().enumerate() {
                let col = (i % legend_cols) as i32;
                let row = (i / legend_cols) as i32;
                let x = MARGIN + col * legend_col_w;
                let y = legend_top + row * ROW_H + ROW_H / 2;
                push_legend_entry(&mut foreground, entry, x, y);
            }
            legend = Some(Bounds {
                left: MARGIN,
                top: legend_top,
                right: w - MARGIN,
                bottom: legend_top + rows * ROW_H,
            });
        }

        let plot = Bounds {
            left: plot_left,
            top: plot_top,
            right: plot_right,
            bottom: plot_bottom,
        };
        let y_of = |v: f64| f64::from(plot_bottom) - vt.fraction(v) * f64::from(plot_h);

        // Grid, axes and ticks; y first.
        let mut background = Vec::new();
        for (&v, label) in vt.ticks.iter().zip(y_labels) {
            let y = y_of(v).round() as i32;
            background.push(Shape::Line {
                x1: plot_left + 1,
                y1: y,
                x2: plot_right,
                y2: y,
                colour: GRID,
            });
            background.push(Shape::Line {
                x1: plot_left - TICK_LEN,
                y1: y,
                x2: plot_left - 1,
                y2: y,
                colour: AXIS,
            });
            foreground.push(text(
                plot_left - TICK_LEN - 3,
                y,
                label,
                Anchor::End,
                normal,
                TEXT,
            ));
        }
        if vt.lo < 0.0 {
            let y = y_of(0.0).round() as i32;
            background.push(Shape::Line {
                x1: plot_left + 1,
                y1: y,
                x2: plot_right,
                y2: y,
                colour: ZERO_LINE,
            });
        }
        if !unit.trim().is_empty() {
            let max = chars_in(w - 2 * MARGIN, normal);
            foreground.push(text(
                MARGIN,
                unit_y,
                truncate(&unit, max),
                Anchor::Start,
                normal,
                TEXT,
            ));
        }

        // The time axis. A single instant is shown in the middle of an hour.
        let tick_label_y = plot_bottom + TICK_LEN + 2 + small_h / 2;
        let x_title_y = tick_label_y + small_h / 2 + 4 + small_h / 2 + 1;
        let time_axis = time_range.map(|(t0, t1)| {
            if t0 == t1 {
                (t0 - 1800, t1 + 1800)
            } else {
                (t0, t1)
            }
        });
        let x_of = |t: i128, (t0, t1): (i128, i128)| {
            // Differences of two i64 values are exact in i128; the ratio is
            // in 0..=1.
            let f = (t - t0) as f64 / (t1 - t0) as f64;
            f64::from(plot_left) + f * f64::from(plot_w)
        };
        let mut x_title = "time (UTC)".to_owned();
        if let Some(axis) = time_axis {
            let tt = time_ticks(
                axis.0,
                axis.1,
                f64::from(plot_w),
                f64::from(normal.char_width()),
                LABEL_GAP,
            );
            for (t, label) in tt.ticks {
                let x = x_of(t, axis).round() as i32;
                background.push(Shape::Line {
                    x1: x,
                    y1: plot_top,
                    x2: x,
                    y2: plot_bottom - 1,
                    colour: GRID,
                });
                background.push(Shape::Line {
                    x1: x,
                    y1: plot_bottom + 1,
                    x2: x,
                    y2: plot_bottom + TICK_LEN,
                    colour: AXIS,
                });
                let x = keep_inside(x, normal.width(&label), w);
                foreground.push(text(x, tick_label_y, label, Anchor::Middle, normal, TEXT));
            }
            x_title = format!("{x_title} {}", range_text(axis.0, axis.1, tt.kind));
        }
        let x_title = truncate(&x_title, chars_in(w - 2 * MARGIN, normal));
        let x = keep_inside((plot_left + plot_right) / 2, normal.width(&x_title), w);
        foreground.push(text(x, x_title_y, x_title, Anchor::Middle, normal, TEXT));

        // The axes themselves, over the grid.
        background.push(Shape::Line {
            x1: plot_left,
            y1: plot_top,
            x2: plot_left,
            y2: plot_bottom,
            colour: AXIS,
        });
        background.push(Shape::Line {
            x1: plot_left,
            y1: plot_bottom,
            x2: plot_right,
            y2: plot_bottom,
            colour: AXIS,
        });

        // The data: one polyline per run of finite values, a dot for a
        // point with no finite neighbour.
        let series = sorted
            .iter()
            .zip(&names)
            .enumerate()
            .map(|(i, (points, name))| {
                let colour = PALETTE[i % PALETTE.len()];
                let mut shapes = Vec::new();
                if let Some(axis) = time_axis {
                    let mut run: Vec<(f64, f64)> = Vec::new();
                    for &(t, v) in points.iter().chain([&(0, f64::NAN)]) {
                        if v.is_finite() {
                            run.push((x_of(i128::from(t), axis), y_of(v)));
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
                            });
                        }
                    }
                }
                SeriesShapes {
                    name: name.clone(),
                    colour,
                    shapes,
                }
            })
            .collect();

        if value_range.is_none() {
            foreground.push(text(
                (plot_left + plot_right) / 2,
                (plot_top + plot_bottom) / 2,
                "no data".to_owned(),
                Anchor::Middle,
                normal,
                MUTED,
            ));
        }

        Layout {
            width,
            height,
            plot,
            background,
            series,
            foreground,
            legend,
        }
    }
}

/// Adds a legend row at (`x`, centre `y`): swatch and name, or just the
/// "+N more" text.
fn push_legend_entry(out: &mut Vec<Shape>, entry: LegendEntry, x: i32, y: i32) {
    match entry.colour {
        Some(colour) => {
            out.push(Shape::Rect {
                x,
                y: y - SWATCH_H / 2,
                w: SWATCH_W,
                h: SWATCH_H,
                colour,
            });
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
    use crate::Series;

    fn chart(series: Vec<Series>, width: u32, height: u32) -> Chart {
        Chart {
            title: "t".into(),
            y_unit: "B".into(),
            series,
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
        }];
        let l = Layout::new(&chart(nan_only, 400, 300));
        assert!(texts(&l).contains(&"no data"));
    }

    #[test]
    fn control_characters_become_spaces() {
        let s = vec![Series {
            name: "a\nb\u{0}c".into(),
            points: vec![],
        }];
        let l = Layout::new(&chart(s, 600, 300));
        assert!(texts(&l).contains(&"a b c"));
    }
}
