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

use crate::layout::{Anchor, Font, Layout, Rgb, Shape, BACKGROUND, LINE_WIDTH};
use crate::PlotError;

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
        let clamp = |v: i32, size: u32| i64::from(v).clamp(-1, i64::from(size));
        let (mut x, mut y) = (clamp(from.0, self.width), clamp(from.1, self.height));
        let (x1, y1) = (clamp(to.0, self.width), clamp(to.1, self.height));
        let width = i64::from(width.max(1));
        let start = -((width - 1) / 2);
        let dx = (x1 - x).abs();
        let dy = -(y1 - y).abs();
        let sx = if x < x1 { 1 } else { -1 };
        let sy = if y < y1 { 1 } else { -1 };
        let mut err = dx + dy;
        loop {
            for bx in start..start + width {
                for by in start..start + width {
                    self.put(x + bx, y + by, colour);
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
        Shape::Polyline { points, colour: c } => {
            let mut vertices: Vec<Point> = points.iter().map(|&(x, y)| point(x, y)).collect();
            vertices.dedup();
            match vertices.as_slice() {
                [] => {}
                [p] => canvas.line((p.x, p.y), (p.x, p.y), LINE_WIDTH, *c),
                _ => {
                    for pair in vertices.windows(2) {
                        let (a, b) = (pair[0], pair[1]);
                        canvas.line((a.x, a.y), (b.x, b.y), LINE_WIDTH, *c);
                    }
                }
            }
        }
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
    use crate::{render_png, Chart, Series, MAX_SIZE as MAX, PALETTE};

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
                })
                .collect(),
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
            }],
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
