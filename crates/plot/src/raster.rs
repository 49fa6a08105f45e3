//! The PNG backend: draws a [`Layout`] into an RGB pixel buffer and encodes
//! it with `png`. Text, rectangles and dots are drawn with
//! `embedded-graphics` (bitmap fonts built in, no system fonts); lines with
//! our own Bresenham, because `embedded-graphics`' thick polylines overflow
//! `i32` arithmetic on long segments (a panic in debug builds).

use std::convert::Infallible;

use embedded_graphics::mono_font::iso_8859_1::{FONT_7X13, FONT_9X15_BOLD};
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Circle, PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Baseline, Text};

use crate::layout::{
    blend, Anchor, Font, Layout, Rgb, Shape, BACKGROUND, LINE_WIDTH, MARKER_DASH, SERIES_DASH,
};
use crate::PlotError;

/// A polygon edge, for [`Canvas::fill_polygon`].
#[derive(Debug, Clone, Copy)]
struct Edge {
    /// The first and last rows whose pixel centres it crosses.
    first: i64,
    last: i64,
    /// Its upper and lower end.
    top: (f64, f64),
    bottom: (f64, f64),
    /// +1 going down, -1 going up.
    winding: i32,
}

impl Edge {
    /// Where the edge crosses the horizontal line at `y`.
    fn x_at(&self, y: f64) -> f64 {
        let ((x0, y0), (x1, y1)) = (self.top, self.bottom);
        let x = x0 + (y - y0) / (y1 - y0) * (x1 - x0);
        x.clamp(x0.min(x1), x0.max(x1))
    }
}

/// An RGB image, 3 bytes per pixel, rows top to bottom.
pub(crate) struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A canvas filled with `colour`.
    pub(crate) fn new(width: u32, height: u32, colour: Rgb) -> Canvas {
        let count = width as usize * height as usize;
        let pixels = if colour[0] == colour[1] && colour[1] == colour[2] {
            vec![colour[0]; count * 3]
        } else {
            colour.repeat(count)
        };
        Canvas {
            width,
            height,
            pixels,
        }
    }

    /// The colour of pixel (`x`, `y`), if it is on the canvas.
    #[cfg(test)]
    pub(crate) fn get(&self, x: i32, y: i32) -> Option<Rgb> {
        let i = self.index(x, y)?;
        Some([self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]])
    }

    fn put(&mut self, x: i64, y: i64, colour: Rgb) {
        let (Ok(x), Ok(y)) = (i32::try_from(x), i32::try_from(y)) else {
            return;
        };
        if let Some(i) = self.index(x, y) {
            self.pixels[i..i + 3].copy_from_slice(&colour);
        }
    }

    /// Draws a line `width` pixels thick from one pixel to another, both
    /// included: Bresenham's line stamped with a `width` × `width` brush.
    /// Endpoints are clamped to just outside the canvas, so the loop runs at
    /// most a few thousand steps whatever it is given.
    fn line(&mut self, from: (i32, i32), to: (i32, i32), width: u32, colour: Rgb) {
        self.dashed_line(from, to, width, colour, None, &mut 0);
    }

    /// [`Canvas::line`], dashed if `dash` is `Some((on, off))`: dashes
    /// `on` pixels long with `off` pixels between them (along a horizontal
    /// or vertical line; the brush, `width` pixels across, is stamped on
    /// `on - width + 1` steps and left off for the rest, as it adds
    /// `width - 1` pixels to each dash). `phase` counts the steps taken, so
    /// that the pattern runs on from one segment of a polyline to the next.
    fn dashed_line(
        &mut self,
        from: (i32, i32),
        to: (i32, i32),
        width: u32,
        colour: Rgb,
        dash: Option<(u32, u32)>,
        phase: &mut u64,
    ) {
        let clamp = |v: i32, size: u32| i64::from(v).clamp(-1, i64::from(size));
        let (mut x, mut y) = (clamp(from.0, self.width), clamp(from.1, self.height));
        let (x1, y1) = (clamp(to.0, self.width), clamp(to.1, self.height));
        let width = width.max(1);
        let dash = dash.map(|(on, off)| {
            let stamped = on.saturating_sub(width - 1).max(1);
            (u64::from(stamped), u64::from(on) + u64::from(off))
        });
        let width = i64::from(width);
        let start = -((width - 1) / 2);
        let dx = (x1 - x).abs();
        let dy = -(y1 - y).abs();
        let sx = if x < x1 { 1 } else { -1 };
        let sy = if y < y1 { 1 } else { -1 };
        let mut err = dx + dy;
        loop {
            let ink = match dash {
                Some((stamped, period)) => *phase % period.max(1) < stamped,
                None => true,
            };
            *phase += 1;
            if ink {
                for bx in start..start + width {
                    for by in start..start + width {
                        self.put(x + bx, y + by, colour);
                    }
                }
            }
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Fills the polygon through `points` (a closed outline, in pixel
    /// coordinates) with `colour` at `opacity` over what is there. A pixel
    /// is covered when its centre is inside by the non-zero rule; on an
    /// edge, when the inside is right of or below it. Each covered pixel is
    /// blended once. Rows are swept with a list of the edges crossing
    /// them, so the work is the number of edges plus the pixels covered.
    fn fill_polygon(&mut self, points: &[(f64, f64)], colour: Rgb, opacity: f64) {
        if points.len() < 3 || opacity <= 0.0 {
            return;
        }
        let height = i64::from(self.height);
        // Each edge that crosses a row of pixel centres on the canvas.
        let mut edges: Vec<Edge> = Vec::new();
        for (i, &(xa, ya)) in points.iter().enumerate() {
            let (xb, yb) = points[(i + 1) % points.len()];
            if !(xa.is_finite() && ya.is_finite() && xb.is_finite() && yb.is_finite()) {
                return;
            }
            if ya == yb {
                continue;
            }
            let (winding, (x0, y0), (x1, y1)) = if ya < yb {
                (1, (xa, ya), (xb, yb))
            } else {
                (-1, (xb, yb), (xa, ya))
            };
            // Rows whose centre y satisfies y0 <= y < y1.
            let first = (y0.ceil() as i64).max(0);
            let last = (y1.ceil() as i64 - 1).min(height - 1);
            if first > last {
                continue;
            }
            edges.push(Edge {
                first,
                last,
                top: (x0, y0),
                bottom: (x1, y1),
                winding,
            });
        }
        edges.sort_by_key(|e| e.first);
        let width = i64::from(self.width);
        let mut next = 0;
        let mut active: Vec<Edge> = Vec::new();
        let mut crossings: Vec<(f64, i32)> = Vec::new();
        let mut row = 0;
        while row < height && (next < edges.len() || !active.is_empty()) {
            if active.is_empty() {
                row = row.max(edges[next].first);
            }
            while next < edges.len() && edges[next].first <= row {
                active.push(edges[next]);
                next += 1;
            }
            active.retain(|e| e.last >= row);
            crossings.clear();
            crossings.extend(active.iter().map(|e| (e.x_at(row as f64), e.winding)));
            crossings.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut inside = 0;
            for pair in crossings.windows(2) {
                inside += pair[0].1;
                if inside == 0 {
                    continue;
                }
                // Columns whose centre x satisfies left <= x < right.
                let from = (pair[0].0.ceil() as i64).max(0);
                let to = (pair[1].0.ceil() as i64 - 1).min(width - 1);
                for x in from..=to {
                    self.blend(x, row, colour, opacity);
                }
            }
            row += 1;
        }
    }

    /// Draws `colour` at `opacity` over pixel (`x`, `y`).
    fn blend(&mut self, x: i64, y: i64, colour: Rgb, opacity: f64) {
        let (Ok(x), Ok(y)) = (i32::try_from(x), i32::try_from(y)) else {
            return;
        };
        if let Some(i) = self.index(x, y) {
            let under = [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]];
            self.pixels[i..i + 3].copy_from_slice(&blend(under, colour, opacity));
        }
    }

    fn index(&self, x: i32, y: i32) -> Option<usize> {
        let x = u32::try_from(x).ok().filter(|&x| x < self.width)?;
        let y = u32::try_from(y).ok().filter(|&y| y < self.height)?;
        Some((y as usize * self.width as usize + x as usize) * 3)
    }

    /// The raw RGB bytes.
    pub(crate) fn into_pixels(self) -> Vec<u8> {
        self.pixels
    }
}

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Infallible>
    where
        I: IntoIterator<Item = Pixel<Rgb888>>,
    {
        for Pixel(p, c) in pixels {
            if let Some(i) = self.index(p.x, p.y) {
                self.pixels[i..i + 3].copy_from_slice(&[c.r(), c.g(), c.b()]);
            }
        }
        Ok(())
    }
}

fn colour(c: Rgb) -> Rgb888 {
    Rgb888::new(c[0], c[1], c[2])
}

/// Unwraps a drawing result that cannot be an error.
fn drawn<T>(result: Result<T, Infallible>) -> T {
    match result {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

fn point(x: f64, y: f64) -> Point {
    // Layout coordinates are on or near the canvas; `as` saturates anyway.
    Point::new(x.round() as i32, y.round() as i32)
}

fn mono_font(font: Font) -> &'static MonoFont<'static> {
    match font {
        Font::Normal => &FONT_7X13,
        Font::Title => &FONT_9X15_BOLD,
    }
}

/// Draws one line of text with its top-left corner at (`left`, `top`). The
/// fonts cover ISO 8859-1; `…` and `–`, which it lacks but the layout uses,
/// are drawn by hand, and anything else shows as the font's `?`.
fn draw_text(canvas: &mut Canvas, text: &str, left: i32, top: i32, font: Font, c: Rgb) {
    let style = MonoTextStyle::new(mono_font(font), colour(c));
    let (cw, ch) = (font.char_width(), font.height());
    let baseline = top + i32::try_from(mono_font(font).baseline).unwrap_or(ch);
    let mut buf = [0u8; 4];
    for (i, glyph) in text.chars().enumerate() {
        let x = left.saturating_add((i as i32).saturating_mul(cw));
        match glyph {
            '…' => {
                // Three dots, one pixel apart, sitting on the baseline.
                let size = if font == Font::Title { 2 } else { 1 };
                for dot in 0..3 {
                    let dx = x + dot * (cw / 3) + (cw % 3) / 2 + (cw / 3 - size) / 2;
                    drawn(
                        Rectangle::new(
                            Point::new(dx, baseline - size),
                            Size::new(size as u32, size as u32 + 1),
                        )
                        .into_styled(PrimitiveStyle::with_fill(colour(c)))
                        .draw(canvas),
                    );
                }
            }
            '–' => canvas.line((x, top + ch / 2), (x + cw - 1, top + ch / 2), 1, c),
            ' ' => {}
            _ => {
                let s = glyph.encode_utf8(&mut buf);
                drawn(
                    Text::with_baseline(s, Point::new(x, top), style, Baseline::Top).draw(canvas),
                );
            }
        }
    }
}

fn draw_shape(canvas: &mut Canvas, shape: &Shape) {
    match shape {
        Shape::Rect {
            x,
            y,
            w,
            h,
            colour: c,
        } => drawn(
            Rectangle::new(
                Point::new(*x, *y),
                Size::new(
                    u32::try_from(*w).unwrap_or(0),
                    u32::try_from(*h).unwrap_or(0),
                ),
            )
            .into_styled(PrimitiveStyle::with_fill(colour(*c)))
            .draw(canvas),
        ),
        Shape::Line {
            x1,
            y1,
            x2,
            y2,
            colour: c,
        } => canvas.line((*x1, *y1), (*x2, *y2), 1, *c),
        Shape::DashedLine {
            x1,
            y1,
            x2,
            y2,
            colour: c,
        } => canvas.dashed_line((*x1, *y1), (*x2, *y2), 1, *c, Some(MARKER_DASH), &mut 0),
        Shape::Polyline {
            points,
            colour: c,
            dashed,
        } => {
            let mut vertices: Vec<Point> = points.iter().map(|&(x, y)| point(x, y)).collect();
            vertices.dedup();
            let dash = dashed.then_some(SERIES_DASH);
            let mut phase = 0;
            match vertices.as_slice() {
                [] => {}
                [p] => canvas.line((p.x, p.y), (p.x, p.y), LINE_WIDTH, *c),
                _ => {
                    for (i, pair) in vertices.windows(2).enumerate() {
                        let (a, b) = (pair[0], pair[1]);
                        if dash.is_some() && i > 0 {
                            // The joint was the last step of the segment
                            // before: count it once, so the dashes run on.
                            phase -= 1;
                        }
                        canvas.dashed_line(
                            (a.x, a.y),
                            (b.x, b.y),
                            LINE_WIDTH,
                            *c,
                            dash,
                            &mut phase,
                        );
                    }
                }
            }
        }
        Shape::Area {
            points,
            colour: c,
            opacity,
        } => canvas.fill_polygon(points, *c, *opacity),
        Shape::Dot {
            x,
            y,
            radius,
            colour: c,
        } => {
            let diameter = (radius * 2.0).round().max(1.0) as u32 + 1;
            drawn(
                Circle::with_center(point(*x, *y), diameter)
                    .into_styled(PrimitiveStyle::with_fill(colour(*c)))
                    .draw(canvas),
            );
        }
        Shape::Text {
            x,
            y,
            text,
            anchor,
            font,
            colour: c,
        } => {
            let width = font.width(text);
            let left = match anchor {
                Anchor::Start => *x,
                Anchor::Middle => x - width / 2,
                Anchor::End => x - width,
            };
            let top = y - font.height() / 2;
            draw_text(canvas, text, left, top, *font, *c);
        }
    }
}

/// Draws `layout` into a new canvas.
pub(crate) fn draw(layout: &Layout) -> Canvas {
    let mut canvas = Canvas::new(layout.width, layout.height, BACKGROUND);
    for s in &layout.background {
        draw_shape(&mut canvas, s);
    }
    for band in &layout.bands {
        for s in &band.shapes {
            draw_shape(&mut canvas, s);
        }
    }
    for s in &layout.markers {
        draw_shape(&mut canvas, s);
    }
    for series in &layout.series {
        for s in &series.shapes {
            draw_shape(&mut canvas, s);
        }
    }
    for s in &layout.foreground {
        draw_shape(&mut canvas, s);
    }
    canvas
}

/// Encodes an RGB canvas as PNG.
pub(crate) fn encode(canvas: Canvas) -> Result<Vec<u8>, PlotError> {
    let (width, height) = (canvas.width, canvas.height);
    let pixels = canvas.into_pixels();
    let mut out = Vec::new();
    let err = |e: png::EncodingError| PlotError::Encode(e.to_string());
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(&pixels).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::TEXT;
    use crate::{render_png, Band, Chart, Series, MAX_SIZE as MAX, PALETTE};

    /// 2026-11-23 00:00:00 UTC.
    const T0: i64 = 1_795_392_000;

    fn five_series(width: u32, height: u32) -> Chart {
        Chart {
            title: "five".into(),
            y_unit: "bit/s".into(),
            series: (0..5)
                .map(|i| Series {
                    name: format!("series {i}"),
                    points: (0..=48)
                        .map(|h| (T0 + h * 3600, 1e6 * f64::from(i + 1) + 1e5 * (h % 5) as f64))
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            bands: vec![],
            markers: vec![],
            width,
            height,
        }
    }

    /// Decodes PNG bytes to (width, height, RGB pixels).
    fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn count(pixels: &[u8], width: u32, area: crate::layout::Bounds, colour: Rgb) -> usize {
        let mut n = 0;
        for y in area.top..=area.bottom {
            for x in area.left..=area.right {
                let i = (y as usize * width as usize + x as usize) * 3;
                if pixels[i..i + 3] == colour {
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn png_has_the_requested_size_background_series_and_legend() {
        for (w, h) in [(1000, 500), (300, 420)] {
            let chart = five_series(w, h);
            let layout = Layout::new(&chart);
            let (dw, dh, pixels) = decode(&render_png(&chart).unwrap());
            assert_eq!((dw, dh), (w, h));
            // Background in the corners.
            for (x, y) in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)] {
                let i = (y as usize * w as usize + x as usize) * 3;
                assert_eq!(pixels[i..i + 3], BACKGROUND, "{w}x{h} corner {x},{y}");
            }
            // Every series' colour inside the plot, lines 2 px wide: a
            // 49-point line across the plot covers far more than its length.
            for colour in &PALETTE[..5] {
                let n = count(&pixels, w, layout.plot, *colour);
                let plot_w = (layout.plot.right - layout.plot.left) as usize;
                assert!(n >= plot_w * 2, "{w}x{h} {colour:?}: {n} pixels");
            }
            // The sixth colour is not used.
            assert_eq!(count(&pixels, w, layout.plot, PALETTE[5]), 0);
            // The legend: each series' swatch, and ink where each name is.
            let legend = layout.legend.unwrap();
            for colour in &PALETTE[..5] {
                assert!(count(&pixels, w, legend, *colour) >= 16 * 4, "{w}x{h}");
            }
            let mut names = 0;
            for shape in &layout.foreground {
                if let Shape::Text { x, y, text, .. } = shape {
                    if text.starts_with("series ") {
                        let area = crate::layout::Bounds {
                            left: *x,
                            top: y - 6,
                            right: x + Font::Normal.width(text) - 1,
                            bottom: y + 6,
                        };
                        assert!(count(&pixels, w, area, TEXT) > 20, "{w}x{h} {text}");
                        names += 1;
                    }
                }
            }
            assert_eq!(names, 5);
        }
    }

    #[test]
    fn gaps_leave_no_ink_and_lone_points_are_dots() {
        let chart = Chart {
            title: String::new(),
            y_unit: String::new(),
            series: vec![Series {
                name: "gappy".into(),
                // 0..=40 drawn, 50 missing, 60..=100 drawn; 200 alone.
                points: (0..=10)
                    .map(|i| (T0 + i * 10, if i == 5 { f64::NAN } else { 5.0 }))
                    .chain([(T0 + 150, f64::NAN), (T0 + 200, 8.0)])
                    .collect(),
                ..Default::default()
            }],
            bands: vec![],
            markers: vec![],
            width: 600,
            height: 300,
        };
        let layout = Layout::new(&chart);
        let canvas = draw(&layout);
        // Pixel column of the time `dt` seconds after T0.
        let x_of = |dt: i64| {
            let span = f64::from(layout.plot.right - layout.plot.left);
            (f64::from(layout.plot.left) + dt as f64 / 200.0 * span).round() as i32
        };
        let ink_in_columns = |from: i32, to: i32| {
            (from..=to).any(|x| {
                (layout.plot.top..=layout.plot.bottom).any(|y| canvas.get(x, y) == Some(PALETTE[0]))
            })
        };
        assert!(ink_in_columns(x_of(0), x_of(40)));
        assert!(ink_in_columns(x_of(60), x_of(100)));
        // Nothing between 40 and 60, nor between 100 and the dot at 200.
        assert!(!ink_in_columns(x_of(40) + 3, x_of(60) - 3));
        assert!(!ink_in_columns(x_of(100) + 3, x_of(200) - 5));
        // The dot: a filled disc about 7 px across at the right edge.
        let dot_x = x_of(200);
        let dot_pixels = (dot_x - 4..=dot_x + 4)
            .flat_map(|x| (layout.plot.top - 5..=layout.plot.bottom).map(move |y| (x, y)))
            .filter(|&(x, y)| canvas.get(x, y) == Some(PALETTE[0]))
            .count();
        assert!((25..=60).contains(&dot_pixels), "{dot_pixels}");
    }

    /// A 600 × 300 chart over T0..=T0+1000 s: a flat line at 100 along
    /// the top (so the axis is 0..100 whatever the bands), the bands, and
    /// the markers.
    fn band_chart(bands: Vec<Band>, markers: Vec<(i64, String)>) -> Chart {
        Chart {
            title: String::new(),
            y_unit: String::new(),
            series: vec![Series {
                name: "level".into(),
                points: vec![(T0, 100.0), (T0 + 1000, 100.0)],
                ..Default::default()
            }],
            bands,
            markers,
            width: 600,
            height: 300,
        }
    }

    /// A band of constant bounds over all of T0..=T0+1000, one point every
    /// 100 s.
    fn flat_band(lower: f64, upper: f64, colour: usize, opacity: f64) -> Band {
        Band {
            name: "band".into(),
            points: (0..=10).map(|i| (T0 + i * 100, lower, upper)).collect(),
            colour,
            opacity,
        }
    }

    /// The y range (top, bottom) of the first polygon of band `i`.
    fn band_rows(layout: &Layout, i: usize) -> (f64, f64) {
        let Shape::Area { points, .. } = &layout.bands[i].shapes[0] else {
            panic!("no area");
        };
        let ys = points.iter().map(|p| p.1);
        (
            ys.clone().fold(f64::INFINITY, f64::min),
            ys.fold(f64::NEG_INFINITY, f64::max),
        )
    }

    #[test]
    fn a_band_is_blended_over_background_and_grid_between_its_bounds() {
        let plain = band_chart(vec![], vec![]);
        let banded = band_chart(vec![flat_band(35.0, 65.0, 2, 0.3)], vec![]);
        let (lp, lb) = (Layout::new(&plain), Layout::new(&banded));
        assert_eq!(lp.plot, lb.plot);
        let (before, after) = (draw(&lp), draw(&lb));
        let (top, bottom) = band_rows(&lb, 0);
        // Bluish green [00, 9e, 73] at 30 % over white.
        let on_white = [179, 226, 213];
        let (mut white_inside, mut grid_inside) = (0, 0);
        let mid = (lb.plot.left + lb.plot.right) / 2;
        for x in mid - 20..=mid + 20 {
            for y in lb.plot.top + 1..lb.plot.bottom {
                let (was, is) = (before.get(x, y).unwrap(), after.get(x, y).unwrap());
                let yf = f64::from(y);
                if yf > top + 1.0 && yf < bottom - 1.0 {
                    assert_eq!(is, blend(was, PALETTE[2], 0.3), "{x},{y}");
                    if was == BACKGROUND {
                        assert_eq!(is, on_white, "{x},{y}");
                        white_inside += 1;
                    } else {
                        grid_inside += 1;
                    }
                } else if yf < top - 1.0 || yf > bottom + 1.0 {
                    assert_eq!(is, was, "{x},{y} outside the band");
                }
            }
        }
        assert!(white_inside > 41 * 20, "{white_inside}");
        // A gridline inside the band, 41 pixels of it, shows through.
        assert!(grid_inside >= 41, "{grid_inside}");
        // Strictly between the colour and white, channel by channel.
        for (c, v) in on_white.into_iter().enumerate() {
            assert!(PALETTE[2][c] < v && v < 255, "{on_white:?}");
        }
    }

    #[test]
    fn nested_bands_are_darker_inside() {
        let chart = band_chart(
            vec![
                flat_band(10.0, 90.0, 0, 0.15),
                flat_band(40.0, 60.0, 0, 0.3),
            ],
            vec![],
        );
        let layout = Layout::new(&chart);
        let before = draw(&Layout::new(&band_chart(vec![], vec![])));
        let canvas = draw(&layout);
        let (outer, inner) = (band_rows(&layout, 0), band_rows(&layout, 1));
        let mid = (layout.plot.left + layout.plot.right) / 2;
        // A row of `range` (top, bottom) clear of gridlines.
        let white_row = |from: f64, to: f64| {
            (from.ceil() as i32 + 1..to.floor() as i32 - 1)
                .find(|&y| before.get(mid, y) == Some(BACKGROUND))
                .unwrap()
        };
        let outside = canvas.get(mid, white_row(f64::from(layout.plot.top) + 2.0, outer.0));
        let outer_only = canvas.get(mid, white_row(inner.1, outer.1));
        let both = canvas.get(mid, white_row(inner.0, inner.1));
        assert_eq!(outside, Some(BACKGROUND));
        // Blue [00, 72, b2] at 15 %, then at 30 % over that.
        assert_eq!(outer_only, Some([217, 234, 243]));
        assert_eq!(both, Some([152, 198, 224]));
    }

    #[test]
    fn non_finite_bounds_leave_the_band_open() {
        let mut band = flat_band(20.0, 80.0, 1, 0.4);
        band.points[5].1 = f64::NAN; // T0 + 500
        band.points[8].2 = f64::NEG_INFINITY; // T0 + 800
        band.points[10].1 = f64::INFINITY; // T0 + 1000
        let layout = Layout::new(&band_chart(vec![band], vec![]));
        let before = draw(&Layout::new(&band_chart(vec![], vec![])));
        let canvas = draw(&layout);
        let x_of = |dt: i64| {
            let span = f64::from(layout.plot.right - layout.plot.left);
            (f64::from(layout.plot.left) + dt as f64 / 1000.0 * span).round() as i32
        };
        let filled = |x: i32| {
            (layout.plot.top + 1..layout.plot.bottom)
                .filter(|&y| canvas.get(x, y) != before.get(x, y))
                .count()
        };
        // Filled from 0 to 400 and 600 to 700; 900 alone, a narrow bar.
        for dt in [0, 200, 390, 610, 690, 900] {
            assert!(filled(x_of(dt)) > 50, "{dt}: {}", filled(x_of(dt)));
        }
        // Open between 400 and 600 and between 700 and 900, but for the
        // bar's few pixels.
        for x in (x_of(400) + 1..x_of(600)).chain(x_of(700) + 1..x_of(900) - 4) {
            assert_eq!(filled(x), 0, "{x}");
        }
    }

    #[test]
    fn a_dashed_series_leaves_gaps_along_its_line() {
        // Half-way up the 0..100 axis.
        let line = |dashed| {
            let mut chart = band_chart(vec![], vec![]);
            chart.series.push(Series {
                name: "flat".into(),
                points: (0..=10).map(|i| (T0 + i * 100, 50.0)).collect(),
                colour: Some(3),
                dashed,
            });
            chart
        };
        // The columns where the line has ink, anywhere near its row.
        let inked = |chart: &Chart| -> Vec<bool> {
            let layout = Layout::new(chart);
            let canvas = draw(&layout);
            let y = (f64::from(layout.plot.top + layout.plot.bottom) / 2.0).round() as i32;
            (layout.plot.left + 1..layout.plot.right)
                .map(|x| (y - 3..=y + 3).any(|y| canvas.get(x, y) == Some(PALETTE[3])))
                .collect()
        };
        let solid = inked(&line(false));
        assert!(solid.iter().all(|&ink| ink));
        let dashed = inked(&line(true));
        let ink = dashed.iter().filter(|&&ink| ink).count();
        // 6 on, 4 off: six tenths of the length, in many dashes.
        let share = ink as f64 / dashed.len() as f64;
        assert!((0.55..=0.65).contains(&share), "{share}");
        let gaps = dashed.windows(2).filter(|w| w[0] && !w[1]).count();
        assert!(gaps >= dashed.len() / 10 - 2, "{gaps} gaps");
        // Every gap is 4 columns, every dash 6 (but at the ends).
        let mut runs: Vec<(bool, usize)> = Vec::new();
        for &ink in &dashed {
            match runs.last_mut() {
                Some((was, n)) if *was == ink => *n += 1,
                _ => runs.push((ink, 1)),
            }
        }
        for &(ink, n) in &runs[1..runs.len() - 1] {
            assert_eq!(n, if ink { 6 } else { 4 }, "{runs:?}");
        }
    }

    #[test]
    fn a_marker_is_a_dashed_line_with_its_label_on_top() {
        let chart = band_chart(vec![], vec![(T0 + 500, "now".into())]);
        let layout = Layout::new(&chart);
        let canvas = draw(&layout);
        let Some(Shape::DashedLine { x1: x, .. }) = layout.markers.first() else {
            panic!("no marker line");
        };
        let column: Vec<bool> = (layout.plot.top + 2..layout.plot.bottom - 1)
            .map(|y| canvas.get(*x, y) == Some(crate::layout::MARKER))
            .collect();
        let share = column.iter().filter(|&&ink| ink).count() as f64 / column.len() as f64;
        // 4 on, 3 off (less a few pixels where gridlines cross).
        assert!((0.45..=0.6).contains(&share), "{share}");
        // The label, centred on the line above the plot, in ink.
        let Some(Shape::Text { x: lx, y: ly, .. }) = layout
            .foreground
            .iter()
            .find(|s| matches!(s, Shape::Text { text, .. } if text == "now"))
        else {
            panic!("no label");
        };
        assert_eq!(lx, x);
        assert!(*ly < layout.plot.top);
        let area = crate::layout::Bounds {
            left: x - 11,
            top: ly - 6,
            right: x + 11,
            bottom: ly + 6,
        };
        let (w, _, pixels) = decode(&render_png(&chart).unwrap());
        assert!(count(&pixels, w, area, TEXT) > 15);
    }

    #[test]
    fn sizes_out_of_range_are_refused() {
        for (w, h) in [(199, 500), (500, 199), (8001, 500), (500, 8001), (0, 0)] {
            let err = render_png(&five_series(w, h)).unwrap_err();
            assert!(
                matches!(err, PlotError::SizeOutOfRange { width, height } if (width, height) == (w, h))
            );
            assert!(err.to_string().contains("200..=8000"));
        }
    }

    #[test]
    fn sizes_at_the_bounds() {
        for (w, h) in [(200, 200), (8000, 200), (200, 8000)] {
            let (dw, dh, pixels) = decode(&render_png(&five_series(w, h)).unwrap());
            assert_eq!((dw, dh), (w, h));
            assert_eq!(pixels.len(), w as usize * h as usize * 3);
        }
    }

    /// The largest chart; only the header is decoded (a full decode of
    /// 192 MB of pixels is slow in debug builds).
    #[test]
    fn largest_size() {
        let png = render_png(&five_series(MAX, MAX)).unwrap();
        let reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        assert_eq!((reader.info().width, reader.info().height), (MAX, MAX));
    }
}
