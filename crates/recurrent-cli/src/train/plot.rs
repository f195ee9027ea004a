//! `loss.svg` and `loss.png`: training and validation loss (nats per character) against steps.

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        // Only fails for a malformed font, which the bundled one is not.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// Both pictures from `(step, loss)` series.
pub fn write(dir: &Path, train: &[(f64, f64)], val: &[(f64, f64)]) -> Result<()> {
    register_font();
    // Drawn in memory, then written as every file of a run is: a temporary file renamed into
    // place (never through a link, never half written).
    let mut svg = String::new();
    draw(SVGBackend::with_string(&mut svg, (900, 540)).into_drawing_area(), train, val)?;
    recurrent::checkpoint::write_atomic(&dir.join("loss.svg"), svg.as_bytes())?;
    let (w, h) = (900u32, 540u32);
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    draw(BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(), train, val)?;
    let img = image::RgbImage::from_raw(w, h, rgb).ok_or_else(|| anyhow!("cannot encode the loss curve"))?;
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).map_err(|e| anyhow!("cannot encode the loss curve: {e}"))?;
    recurrent::checkpoint::write_atomic(&dir.join("loss.png"), png.get_ref())?;
    Ok(())
}

/// The report page's colours (matplotlib's first two): train blue, validation red.
const TRAIN: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const VALIDATION: RGBColor = RGBColor(0xd6, 0x27, 0x28);

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    train: &[(f64, f64)],
    val: &[(f64, f64)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: &dyn std::fmt::Display| anyhow!("cannot draw the loss curve: {e}");
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let all = train.iter().chain(val);
    let xmax = all.clone().map(|p| p.0).fold(1.0, f64::max);
    let ymax = all.clone().map(|p| p.1).filter(|v| v.is_finite()).fold(0.5, f64::max) * 1.05;
    let ymin = all.map(|p| p.1).filter(|v| v.is_finite()).fold(ymax, f64::min).min(ymax * 0.9) * 0.95;
    let mut chart = ChartBuilder::on(&root)
        .caption("loss (nats per character)", ("sans-serif", 22))
        .margin(12)
        .margin_right(28)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..xmax, ymin..ymax)
        .map_err(|x| e(&x))?;
    // Steps are whole numbers; the loss to two decimals.
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("loss")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .draw()
        .map_err(|x| e(&x))?;
    chart
        .draw_series(LineSeries::new(train.iter().copied(), TRAIN.stroke_width(2)))
        .map_err(|x| e(&x))?
        .label("train (smoothed)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], TRAIN));
    if !val.is_empty() {
        chart
            .draw_series(LineSeries::new(val.iter().copied(), VALIDATION.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label("validation")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], VALIDATION));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}
