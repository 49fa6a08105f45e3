//! The SVG backend: draws a [`Layout`] as an SVG 1.1 document.

use std::fmt::Write;

use crate::layout::{
    Anchor, Font, Layout, Rgb, SeriesShapes, Shape, BACKGROUND, LINE_WIDTH, MARKER_DASH,
    SERIES_DASH,
};

/// `text` with `&`, `<`, `>`, `"` and `'` escaped for XML.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// SVG font size and the offset from a line's centre to its baseline,
/// chosen so that sans-serif text is about as wide as the bitmap fonts.
fn font_metrics(font: Font) -> (u32, i32) {
    match font {
        Font::Normal => (12, 4),
        Font::Title => (15, 5),
    }
}

/// The ends of an SVG line covering the pixels of a horizontal or vertical
/// layout line, both ends included.
fn line_ends(x1: i32, y1: i32, x2: i32, y2: i32) -> (f64, f64, f64, f64) {
    let (xa, xb) = (x1.min(x2), x1.max(x2));
    let (ya, yb) = (y1.min(y2), y1.max(y2));
    if ya == yb {
        (
            f64::from(xa),
            f64::from(xb) + 1.0,
            f64::from(ya) + 0.5,
            f64::from(ya) + 0.5,
        )
    } else {
        (
            f64::from(xa) + 0.5,
            f64::from(xa) + 0.5,
            f64::from(ya),
            f64::from(yb) + 1.0,
        )
    }
}

/// `points` as an SVG `points` attribute, moved to pixel centres.
fn coords(points: &[(f64, f64)]) -> String {
    let mut coords = String::with_capacity(points.len() * 12);
    for (i, (x, y)) in points.iter().enumerate() {
        if i > 0 {
            coords.push(' ');
        }
        let _ = write!(coords, "{:.1},{:.1}", x + 0.5, y + 0.5);
    }
    coords
}

/// Writes one shape. Layout coordinates name pixels; SVG coordinates name
/// pixel edges, so centres are at +0.5.
fn shape(out: &mut String, shape: &Shape) {
    // Writing to a String cannot fail.
    let _ = match shape {
        Shape::Rect { x, y, w, h, colour } => writeln!(
            out,
            r#"<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{}"/>"#,
            hex(*colour)
        ),
        Shape::Line {
            x1,
            y1,
            x2,
            y2,
            colour,
        } => {
            // Cover whole pixels from the first to the last.
            let (sx, ex, sy, ey) = line_ends(*x1, *y1, *x2, *y2);
            writeln!(
                out,
                r#"<line x1="{sx}" y1="{sy}" x2="{ex}" y2="{ey}" stroke="{}"/>"#,
                hex(*colour)
            )
        }
        Shape::DashedLine {
            x1,
            y1,
            x2,
            y2,
            colour,
        } => {
            let (sx, ex, sy, ey) = line_ends(*x1, *y1, *x2, *y2);
            let (on, off) = MARKER_DASH;
            writeln!(
                out,
                r#"<line x1="{sx}" y1="{sy}" x2="{ex}" y2="{ey}" stroke="{}" stroke-dasharray="{on} {off}"/>"#,
                hex(*colour)
            )
        }
        Shape::Polyline {
            points,
            colour,
            dashed,
        } => {
            // Round caps would lengthen the dashes into the gaps.
            let style = if *dashed {
                let (on, off) = SERIES_DASH;
                format!(r#"stroke-linejoin="round" stroke-dasharray="{on} {off}""#)
            } else {
                r#"stroke-linejoin="round" stroke-linecap="round""#.to_owned()
            };
            writeln!(
                out,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{LINE_WIDTH}" {style}/>"#,
                coords(points),
                hex(*colour)
            )
        }
        Shape::Area {
            points,
            colour,
            opacity,
        } => writeln!(
            out,
            r#"<polygon points="{}" fill="{}" fill-opacity="{opacity}"/>"#,
            coords(points),
            hex(*colour)
        ),
        Shape::Dot {
            x,
            y,
            radius,
            colour,
        } => writeln!(
            out,
            r#"<circle cx="{:.1}" cy="{:.1}" r="{radius:.1}" fill="{}"/>"#,
            x + 0.5,
            y + 0.5,
            hex(*colour)
        ),
        Shape::Text {
            x,
            y,
            text,
            anchor,
            font,
            colour,
        } => {
            let (size, baseline) = font_metrics(*font);
            let anchor = match anchor {
                Anchor::Start => "start",
                Anchor::Middle => "middle",
                Anchor::End => "end",
            };
            let weight = if *font == Font::Title {
                r#" font-weight="bold""#
            } else {
                ""
            };
            writeln!(
                out,
                r#"<text x="{x}" y="{}" font-size="{size}"{weight} text-anchor="{anchor}" fill="{}">{}</text>"#,
                y + baseline,
                hex(*colour),
                escape(text)
            )
        }
    };
}

/// Writes each of `items` as a `<g id="{kind}-N">` with a `<title>`
/// holding its name.
fn group(out: &mut String, kind: &str, items: &[SeriesShapes]) {
    for (i, item) in items.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<g id="{kind}-{i}"><title>{}</title>"#,
            escape(&item.name)
        );
        for s in &item.shapes {
            shape(out, s);
        }
        out.push_str("</g>\n");
    }
}

/// Draws `layout` as an SVG document.
pub(crate) fn render(layout: &Layout) -> String {
    let (w, h) = (layout.width, layout.height);
    let points: usize = layout
        .series
        .iter()
        .chain(&layout.bands)
        .flat_map(|s| &s.shapes)
        .map(|s| match s {
            Shape::Polyline { points, .. } | Shape::Area { points, .. } => points.len(),
            _ => 1,
        })
        .sum();
    let mut out = String::with_capacity(4096 + points * 12);
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        out,
        r#"<rect x="0" y="0" width="{w}" height="{h}" fill="{}"/>"#,
        hex(BACKGROUND)
    );
    out.push_str("<g stroke-width=\"1\" shape-rendering=\"crispEdges\">\n");
    for s in &layout.background {
        shape(&mut out, s);
    }
    out.push_str("</g>\n");
    group(&mut out, "band", &layout.bands);
    if !layout.markers.is_empty() {
        out.push_str("<g stroke-width=\"1\" shape-rendering=\"crispEdges\">\n");
        for s in &layout.markers {
            shape(&mut out, s);
        }
        out.push_str("</g>\n");
    }
    group(&mut out, "series", &layout.series);
    out.push_str("<g>\n");
    for s in &layout.foreground {
        shape(&mut out, s);
    }
    out.push_str("</g>\n</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"a<b&"c">'d'"#),
            "a&lt;b&amp;&quot;c&quot;&gt;&apos;d&apos;"
        );
        assert_eq!(escape("plain µ…"), "plain µ…");
    }
}
