//! Chart files shared by `history plot` and `forecast --plot`: the
//! file name and size checked before any work, rendering and writing,
//! and step lengths as people write them.

use std::path::Path;

use anyhow::{anyhow, bail, Context};

/// A step in seconds as people write it: `1d`, `6h`, `5m`.
pub fn humanize_step(s: i64) -> String {
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s => format!("{}m", s / 60),
    }
}

/// A chart file asked for with `flag`: whether it is SVG (else PNG), and
/// the size checked. Done before any work, so a bad name costs nothing.
pub fn chart_target(flag: &str, path: &Path, width: u32, height: u32) -> anyhow::Result<bool> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let svg = match ext.as_deref() {
        Some("svg") => true,
        Some("png") => false,
        _ => bail!(
            "{flag} {}: the chart is written as PNG or SVG: name the file .png or .svg",
            path.display()
        ),
    };
    let sizes = wirewatch_plot::MIN_SIZE..=wirewatch_plot::MAX_SIZE;
    if !sizes.contains(&width) || !sizes.contains(&height) {
        bail!(
            "--width and --height must be between {} and {} pixels, got {width}x{height}",
            sizes.start(),
            sizes.end(),
        );
    }
    Ok(svg)
}

/// Renders `chart` as SVG or PNG into `path` (`flag` names it in errors).
pub fn write_chart(
    flag: &str,
    path: &Path,
    svg: bool,
    chart: &wirewatch_plot::Chart,
) -> anyhow::Result<()> {
    let bytes = if svg {
        wirewatch_plot::render_svg(chart).into_bytes()
    } else {
        wirewatch_plot::render_png(chart).map_err(|e| anyhow!("{flag} {}: {e}", path.display()))?
    };
    std::fs::write(path, &bytes).with_context(|| format!("{flag} {}", path.display()))
}
