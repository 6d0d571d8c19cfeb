//! Plots of a results folder, drawn with `plotters` as SVG text, and PNG
//! copies rendered from that SVG with `resvg`.
//!
//! Three plots, each a pure function from plain data to SVG text:
//! - [`saturation_svg`]: throughput (top) and p50/p99 latency (bottom)
//!   against the load of a sweep on a log axis, the model dashed, the knee
//!   marked;
//! - [`percentiles_svg`]: the latency percentile spectrum of every case, on
//!   the usual log axis 1/(1−q) up to 99.999%;
//! - [`timeline_svg`]: successful requests and p99 latency per second.
//!
//! Legends sit in a column right of the charts, so they never cover a
//! curve; tick labels are thinned so they never overlap.
//!
//! # PNG and fonts
//!
//! SVG text is left to the viewer's fonts, so the SVG needs none. A PNG
//! needs real glyphs: [`PngRenderer::from_system`] looks for fonts in the
//! usual system folders and fails with [`PlotError::NoFont`] when there is
//! none, so a caller can still keep the SVG and skip the PNG. The PNG has
//! the SVG's size in pixels (see [`SATURATION_SIZE`] and friends).

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use resvg::usvg;

use crate::knee::format_load;

/// Size of `saturation.svg` in pixels (width, height).
pub const SATURATION_SIZE: (u32, u32) = (1100, 820);
/// Size of `latency-percentiles.svg` in pixels.
pub const PERCENTILES_SIZE: (u32, u32) = (1100, 650);
/// Size of `timeline.svg` in pixels.
pub const TIMELINE_SIZE: (u32, u32) = (1100, 820);

/// Width of the legend column right of the charts.
const LEGEND_WIDTH: u32 = 270;
/// The highest percentile drawn: 99.999%, i.e. 1/(1−q) = 100 000.
const MAX_PERCENTILE_X: f64 = 1e5;
const FONT: &str = "sans-serif";

/// Why a plot could not be drawn or rendered.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// `plotters` refused to draw.
    #[error("cannot draw the plot: {0}")]
    Draw(String),
    /// No usable font was found for the PNG.
    #[error("no font found in the system font folders (e.g. /usr/share/fonts); install one (e.g. fonts-dejavu-core) to get PNG copies of the plots")]
    NoFont,
    /// The SVG could not be read back for rendering.
    #[error("cannot read the SVG back: {0}")]
    Svg(String),
    /// The PNG could not be made.
    #[error("cannot render the PNG: {0}")]
    Png(String),
}

fn draw_err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// One measured point of a sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeasuredPoint {
    /// The load (concurrency or target rate).
    pub x: f64,
    /// Successful requests per second.
    pub throughput: f64,
    /// Median latency, ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<f64>,
}

/// One point of the model's curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPoint {
    /// The load.
    pub x: f64,
    /// Expected throughput, req/s.
    pub throughput: f64,
    /// Expected mean latency, ms; `None` where the model has no finite value.
    pub latency_ms: Option<f64>,
}

/// The knee, as marked on the saturation plot.
#[derive(Debug, Clone, PartialEq)]
pub struct KneeMark {
    /// The load at the knee.
    pub x: f64,
    /// The plateau throughput, req/s.
    pub plateau: f64,
    /// The label beside the knee line, e.g. `knee: 100 tasks`.
    pub label: String,
}

/// Everything the saturation plot shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SaturationData {
    /// The title.
    pub title: String,
    /// What the x axis is, with its unit, e.g. `concurrency (tasks in flight)`.
    pub x_label: String,
    /// Measured points, in any order.
    pub measured: Vec<MeasuredPoint>,
    /// The model's curve (empty when there is no model).
    pub model: Vec<ModelPoint>,
    /// Legend texts of the model's throughput and latency curves.
    pub model_labels: (String, String),
    /// The knee, if one was found.
    pub knee: Option<KneeMark>,
}

/// The percentile spectrum of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct PercentileCurve {
    /// The case name.
    pub label: String,
    /// (latency in ms, percentile as a fraction 0..=1), as in a `.hgrm` file.
    pub points: Vec<(f64, f64)>,
}

/// One second of a case's timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimelinePoint {
    /// Middle of the second, seconds since the case started.
    pub t: f64,
    /// Successful requests per second.
    pub rate: f64,
    /// 99th percentile latency of that second, ms.
    pub p99_ms: Option<f64>,
}

/// The timeline of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineCurve {
    /// The case name.
    pub label: String,
    /// Seconds in order.
    pub points: Vec<TimelinePoint>,
    /// Open loop: the target rate, drawn dashed.
    pub target_rate: Option<f64>,
    /// The server's phase changes: seconds since the case started, and a
    /// label; drawn as vertical lines.
    pub marks: Vec<(f64, String)>,
}

/// A legend entry: a colour, a line kind and a text.
struct LegendEntry {
    color: RGBColor,
    dashed: bool,
    marker: bool,
    text: String,
}

/// `n` distinguishable colours in a dark-blue → green → orange → red order,
/// so cases of a sweep read in load order.
pub fn palette(n: usize) -> Vec<RGBColor> {
    const ANCHORS: [(f64, f64, f64); 6] = [
        (31.0, 59.0, 153.0),
        (31.0, 143.0, 180.0),
        (44.0, 162.0, 95.0),
        (224.0, 142.0, 11.0),
        (192.0, 40.0, 45.0),
        (106.0, 27.0, 77.0),
    ];
    let last = (ANCHORS.len() - 1) as f64;
    (0..n)
        .map(|i| {
            let t = if n <= 1 {
                0.0
            } else {
                i as f64 / (n - 1) as f64 * last
            };
            let lo = (t.floor() as usize).min(ANCHORS.len() - 2);
            let f = t - lo as f64;
            let (a, b) = (ANCHORS[lo], ANCHORS[lo + 1]);
            let mix = |x: f64, y: f64| (x + (y - x) * f).round().clamp(0.0, 255.0) as u8;
            RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
        })
        .collect()
}

const THROUGHPUT_COLOR: RGBColor = RGBColor(31, 90, 180);
const P50_COLOR: RGBColor = RGBColor(44, 140, 80);
const P99_COLOR: RGBColor = RGBColor(210, 90, 20);
const MODEL_COLOR: RGBColor = RGBColor(90, 90, 90);
const KNEE_COLOR: RGBColor = RGBColor(180, 30, 40);

/// Draws the saturation plot of one sweep.
pub fn saturation_svg(data: &SaturationData) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SATURATION_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = root
            .titled(&fit_title(&data.title), (FONT, 24))
            .map_err(draw_err)?;
        let (charts, legend) = root.split_horizontally(SATURATION_SIZE.0 - LEGEND_WIDTH);
        let (top, bottom) = charts.split_vertically(charts.dim_in_pixel().1 / 2);
        let measured = positive_x(&data.measured, |p| p.x);
        let model = positive_x(&data.model, |p| p.x);
        let xs: Vec<f64> = measured
            .iter()
            .map(|p| p.x)
            .chain(model.iter().map(|p| p.x))
            .collect();
        let ticks: Vec<f64> = measured.iter().map(|p| p.x).collect();
        let axis = LogAxis::new(&xs, &ticks, &data.x_label);
        throughput_panel(&top, &axis, data, &measured, &model)?;
        latency_panel(&bottom, &axis, data, &measured, &model)?;
        draw_legend(&legend, &saturation_legend(data, !model.is_empty()))?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

fn positive_x<T: Copy>(points: &[T], x: impl Fn(&T) -> f64) -> Vec<T> {
    let mut kept: Vec<T> = points
        .iter()
        .copied()
        .filter(|p| x(p).is_finite() && x(p) > 0.0)
        .collect();
    kept.sort_by(|a, b| x(a).total_cmp(&x(b)));
    kept
}

/// A log x axis over the loads of a sweep, ticked at the sweep's own loads.
struct LogAxis {
    range: (f64, f64),
    ticks: Vec<f64>,
    label: String,
}

impl LogAxis {
    fn new(xs: &[f64], ticks: &[f64], label: &str) -> LogAxis {
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(0.0, f64::max);
        let (lo, hi) = if lo.is_finite() && hi > 0.0 {
            (lo, hi)
        } else {
            (1.0, 10.0)
        };
        let range = (lo / 1.4, hi.max(lo * 2.0) * 1.4);
        LogAxis {
            range,
            ticks: thin_log_ticks(ticks, range),
            label: format!("{label}, log scale"),
        }
    }

    fn coord(&self) -> impl AsRangedCoord<Value = f64, CoordDescType: ValueFormatter<f64>> + use<> {
        (self.range.0..self.range.1)
            .log_scale()
            .with_key_points(self.ticks.clone())
    }
}

/// Keeps ticks at least 1/14 of the axis apart, so their labels never meet.
fn thin_log_ticks(ticks: &[f64], range: (f64, f64)) -> Vec<f64> {
    let span = (range.1 / range.0).log10();
    let mut sorted: Vec<f64> = ticks
        .iter()
        .copied()
        .filter(|t| *t > 0.0 && t.is_finite())
        .collect();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    let mut kept: Vec<f64> = Vec::new();
    for t in sorted {
        if kept.last().is_none_or(|&k| (t / k).log10() >= span / 14.0) {
            kept.push(t);
        }
    }
    kept
}

/// A y range from 0 to a little above the largest value.
fn y_top(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.filter(|v| v.is_finite()).fold(0.0, f64::max);
    if max > 0.0 {
        max * 1.15
    } else {
        1.0
    }
}

/// A number for a tick label: two significant decimals at most, no
/// trailing zeros (`4652`, `2.5`, `5`, `0.25`).
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    let decimals = if a >= 10.0 {
        0
    } else if a >= 1.0 {
        1
    } else {
        2
    };
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

type Chart<'a, 'b, X> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>;

fn panel<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    axis: &LogAxis,
    caption: &str,
    y_max: f64,
    y_desc: &str,
) -> Result<Chart<'a, 'b, impl Ranged<ValueType = f64> + ValueFormatter<f64>>, PlotError> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 18))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(axis.coord(), 0f64..y_max)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc(axis.label.as_str())
        .y_desc(y_desc)
        .x_label_formatter(&|v| format_load(*v))
        .y_label_formatter(&|v| short_number(*v))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .light_line_style(WHITE)
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(draw_err)?;
    Ok(chart)
}

fn throughput_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    axis: &LogAxis,
    data: &SaturationData,
    measured: &[MeasuredPoint],
    model: &[ModelPoint],
) -> Result<(), PlotError> {
    let y_max = y_top(
        measured
            .iter()
            .map(|p| p.throughput)
            .chain(model.iter().map(|p| p.throughput)),
    );
    let mut chart = panel(
        area,
        axis,
        "Throughput",
        y_max,
        "successful requests per second",
    )?;
    let model_line: Vec<(f64, f64)> = model
        .iter()
        .filter(|p| p.throughput.is_finite())
        .map(|p| (p.x, p.throughput))
        .collect();
    dashed(&mut chart, &model_line, MODEL_COLOR)?;
    let line: Vec<(f64, f64)> = measured.iter().map(|p| (p.x, p.throughput)).collect();
    solid(&mut chart, &line, THROUGHPUT_COLOR)?;
    if let Some(knee) = &data.knee {
        knee_line(&mut chart, knee.x, y_max)?;
        let plateau = vec![(knee.x, knee.plateau), (axis.range.1, knee.plateau)];
        chart
            .draw_series(DashedLineSeries::new(
                plateau,
                4,
                4,
                KNEE_COLOR.mix(0.7).stroke_width(1),
            ))
            .map_err(draw_err)?;
        knee_labels(&mut chart, axis, knee, y_max)?;
    }
    Ok(())
}

/// The knee and plateau values, stacked low beside the knee line: right of
/// it (where the curve is already on its plateau, high up) unless the knee
/// is far right, then left of it (where the curve is low only far away).
fn knee_labels<X: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<
        '_,
        SVGBackend<'_>,
        Cartesian2d<X, plotters::coord::types::RangedCoordf64>,
    >,
    axis: &LogAxis,
    knee: &KneeMark,
    y_max: f64,
) -> Result<(), PlotError> {
    let (lo, hi) = axis.range;
    let far_right = (knee.x / lo).ln() / (hi / lo).ln() > 0.6;
    let (x, h) = if far_right {
        (knee.x / 1.06, HPos::Right)
    } else {
        (knee.x * 1.06, HPos::Left)
    };
    let plateau = format!("plateau {:.0} req/s", knee.plateau);
    label(
        chart,
        &knee.label,
        (x, y_max * 0.13),
        Pos::new(h, VPos::Bottom),
    )?;
    label(
        chart,
        &plateau,
        (x, y_max * 0.04),
        Pos::new(h, VPos::Bottom),
    )
}

fn latency_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    axis: &LogAxis,
    data: &SaturationData,
    measured: &[MeasuredPoint],
    model: &[ModelPoint],
) -> Result<(), PlotError> {
    let values = measured
        .iter()
        .flat_map(|p| [p.p50_ms, p.p99_ms])
        .chain(model.iter().map(|p| p.latency_ms))
        .flatten();
    let y_max = y_top(values);
    let mut chart = panel(area, axis, "Latency", y_max, "latency (ms)")?;
    for run in model_latency_runs(model) {
        dashed(&mut chart, &run, MODEL_COLOR)?;
    }
    let p50: Vec<(f64, f64)> = measured
        .iter()
        .filter_map(|p| Some((p.x, p.p50_ms?)))
        .collect();
    let p99: Vec<(f64, f64)> = measured
        .iter()
        .filter_map(|p| Some((p.x, p.p99_ms?)))
        .collect();
    solid(&mut chart, &p99, P99_COLOR)?;
    solid(&mut chart, &p50, P50_COLOR)?;
    if let Some(knee) = &data.knee {
        knee_line(&mut chart, knee.x, y_max)?;
    }
    Ok(())
}

/// The model's latency as runs of consecutive finite points.
fn model_latency_runs(model: &[ModelPoint]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![Vec::new()];
    for p in model {
        match p.latency_ms.filter(|l| l.is_finite()) {
            Some(l) => runs.last_mut().map_or((), |r| r.push((p.x, l))),
            None => runs.push(Vec::new()),
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

fn solid<X: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<
        '_,
        SVGBackend<'_>,
        Cartesian2d<X, plotters::coord::types::RangedCoordf64>,
    >,
    points: &[(f64, f64)],
    color: RGBColor,
) -> Result<(), PlotError> {
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(2),
        ))
        .map_err(draw_err)?;
    chart
        .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
        .map_err(draw_err)?;
    Ok(())
}

fn dashed<X: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<
        '_,
        SVGBackend<'_>,
        Cartesian2d<X, plotters::coord::types::RangedCoordf64>,
    >,
    points: &[(f64, f64)],
    color: RGBColor,
) -> Result<(), PlotError> {
    chart
        .draw_series(DashedLineSeries::new(
            points.iter().copied(),
            9,
            6,
            color.stroke_width(2),
        ))
        .map_err(draw_err)?;
    Ok(())
}

fn knee_line<X: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<
        '_,
        SVGBackend<'_>,
        Cartesian2d<X, plotters::coord::types::RangedCoordf64>,
    >,
    x: f64,
    y_max: f64,
) -> Result<(), PlotError> {
    chart
        .draw_series(DashedLineSeries::new(
            vec![(x, 0.0), (x, y_max)],
            4,
            4,
            KNEE_COLOR.stroke_width(2),
        ))
        .map_err(draw_err)?;
    Ok(())
}

fn label<X: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<
        '_,
        SVGBackend<'_>,
        Cartesian2d<X, plotters::coord::types::RangedCoordf64>,
    >,
    text: &str,
    at: (f64, f64),
    pos: Pos,
) -> Result<(), PlotError> {
    let style = TextStyle::from((FONT, 15).into_font())
        .color(&KNEE_COLOR)
        .pos(pos);
    chart
        .draw_series(std::iter::once(Text::new(text.to_string(), at, style)))
        .map_err(draw_err)?;
    Ok(())
}

fn saturation_legend(data: &SaturationData, with_model: bool) -> Vec<(String, Vec<LegendEntry>)> {
    let entry = |color, dashed, marker, text: &str| LegendEntry {
        color,
        dashed,
        marker,
        text: text.to_string(),
    };
    let mut throughput = vec![entry(THROUGHPUT_COLOR, false, true, "measured")];
    let mut latency = vec![
        entry(P50_COLOR, false, true, "p50 measured"),
        entry(P99_COLOR, false, true, "p99 measured"),
    ];
    if with_model {
        throughput.push(entry(MODEL_COLOR, true, false, &data.model_labels.0));
        latency.push(entry(MODEL_COLOR, true, false, &data.model_labels.1));
    }
    let mut groups = vec![
        ("Throughput".to_string(), throughput),
        ("Latency".to_string(), latency),
    ];
    if data.knee.is_some() {
        groups.push((
            "Knee".to_string(),
            vec![entry(KNEE_COLOR, true, false, "knee and plateau")],
        ));
    }
    groups
}

/// A title cut with `…` to fit the width of a plot (80 characters).
fn fit_title(title: &str) -> String {
    const MAX: usize = 80;
    if title.chars().count() > MAX {
        format!("{}…", title.chars().take(MAX - 1).collect::<String>())
    } else {
        title.to_string()
    }
}

/// Longest legend text; longer ones are cut with `…` to fit the column.
const LEGEND_CHARS: usize = 28;

fn legend_text(s: &str, at: (i32, i32), size: u32) -> Text<'static, (i32, i32), String> {
    let style = TextStyle::from((FONT, size).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let s = if s.chars().count() > LEGEND_CHARS {
        format!("{}…", s.chars().take(LEGEND_CHARS - 1).collect::<String>())
    } else {
        s.to_string()
    };
    Text::new(s, at, style)
}

/// Draws legend groups top-down in the legend column; entries that do not
/// fit are summed up as `… and N more`.
fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    groups: &[(String, Vec<LegendEntry>)],
) -> Result<(), PlotError> {
    let bottom = area.dim_in_pixel().1 as i32 - 30;
    let total: usize = groups.iter().map(|(_, e)| e.len()).sum();
    let mut drawn = 0;
    let mut y = 60;
    for (title, entries) in groups {
        if !title.is_empty() {
            area.draw(&legend_text(title, (8, y), 16))
                .map_err(draw_err)?;
            y += 24;
        }
        for e in entries {
            if y > bottom {
                let more = format!("… and {} more", total - drawn);
                return area
                    .draw(&legend_text(&more, (12, y), 14))
                    .map_err(draw_err);
            }
            legend_entry(area, e, y)?;
            drawn += 1;
            y += 22;
        }
        y += 12;
    }
    Ok(())
}

fn legend_entry(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    e: &LegendEntry,
    y: i32,
) -> Result<(), PlotError> {
    let line = [(12, y), (44, y)];
    if e.dashed {
        area.draw(&DashedPathElement::new(line, 7, 4, e.color.stroke_width(2)))
            .map_err(draw_err)?;
    } else {
        area.draw(&PathElement::new(line, e.color.stroke_width(2)))
            .map_err(draw_err)?;
    }
    if e.marker {
        area.draw(&Circle::new((28, y), 3, e.color.filled()))
            .map_err(draw_err)?;
    }
    area.draw(&legend_text(&e.text, (52, y), 14))
        .map_err(draw_err)
}

/// Draws the percentile spectrum of every case: x is 1/(1−q) on a log axis
/// labelled in percent, y the latency in ms on a log axis.
pub fn percentiles_svg(title: &str, curves: &[PercentileCurve]) -> Result<String, PlotError> {
    let lines: Vec<Vec<(f64, f64)>> = curves.iter().map(|c| spectrum(&c.points)).collect();
    let colors = palette(curves.len());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, PERCENTILES_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = root
            .titled(&fit_title(title), (FONT, 24))
            .map_err(draw_err)?;
        let (chart_area, legend) = root.split_horizontally(PERCENTILES_SIZE.0 - LEGEND_WIDTH);
        let y_range = latency_range(lines.iter().flatten().map(|p| p.1));
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(78)
            .build_cartesian_2d(
                (1.0..MAX_PERCENTILE_X * 1.3)
                    .log_scale()
                    .with_key_points(vec![1.0, 2.0, 10.0, 100.0, 1e3, 1e4, 1e5]),
                (y_range.0..y_range.1)
                    .log_scale()
                    .with_key_points(log_ticks(y_range)),
            )
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("percentile (log scale of 1/(1 - percentile))")
            .y_desc("latency (ms, log scale)")
            .x_label_formatter(&|v| percent_label(*v))
            .y_label_formatter(&|v| short_number(*v))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .light_line_style(WHITE)
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(draw_err)?;
        for (line, color) in lines.iter().zip(&colors) {
            chart
                .draw_series(LineSeries::new(line.iter().copied(), color.stroke_width(2)))
                .map_err(draw_err)?;
        }
        draw_legend(
            &legend,
            &[(
                "Cases".to_string(),
                case_entries(curves.iter().map(|c| &c.label), &colors, false),
            )],
        )?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// A log y range a little wider than the latencies (0.1..1 ms when none).
fn latency_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        (lo, hi)
    } else {
        (0.1, 1.0)
    };
    (lo / 1.25, hi.max(lo * 1.5) * 1.25)
}

/// One solid legend entry per case, in the cases' colours.
fn case_entries<'a>(
    labels: impl Iterator<Item = &'a String>,
    colors: &[RGBColor],
    marker: bool,
) -> Vec<LegendEntry> {
    labels
        .zip(colors)
        .map(|(label, &color)| LegendEntry {
            color,
            dashed: false,
            marker,
            text: label.clone(),
        })
        .collect()
}

/// `.hgrm` rows as (1/(1−q), latency ms), the last percentiles clipped to
/// 99.999%, non-positive latencies dropped.
fn spectrum(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points
        .iter()
        .filter(|(v, q)| v.is_finite() && *v > 0.0 && q.is_finite() && (0.0..=1.0).contains(q))
        .map(|&(v, q)| ((1.0 / (1.0 - q)).min(MAX_PERCENTILE_X), v))
        .collect()
}

/// `1/(1−q)` as a percentile label: 1 → `0%`, 2 → `50%`, 1000 → `99.9%`.
fn percent_label(x: f64) -> String {
    let q = (1.0 - 1.0 / x) * 100.0;
    let text = format!("{q:.3}");
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

/// Ticks for a log axis: 1-2-5 steps, or finer steps on a narrow range.
fn log_ticks(range: (f64, f64)) -> Vec<f64> {
    let coarse = ticks_with(range, &[1.0, 2.0, 5.0]);
    if coarse.len() >= 4 {
        return coarse;
    }
    let fine = ticks_with(range, &[1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0]);
    if fine.len() >= 3 {
        fine
    } else {
        ticks_with(
            range,
            &[
                1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0,
            ],
        )
    }
}

fn ticks_with(range: (f64, f64), mantissas: &[f64]) -> Vec<f64> {
    if !(range.0 > 0.0 && range.1 > range.0 && range.1.is_finite()) {
        return Vec::new();
    }
    let first = range.0.log10().floor() as i32;
    let last = range.1.log10().ceil() as i32;
    (first..=last)
        .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
        .filter(|t| *t >= range.0 && *t <= range.1)
        .collect()
}

/// Draws successful requests per second (top) and p99 latency per second
/// (bottom) for each case.
pub fn timeline_svg(title: &str, curves: &[TimelineCurve]) -> Result<String, PlotError> {
    let colors = palette(curves.len());
    let t_max = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.t))
        .fold(1.0, f64::max)
        + 0.5;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, TIMELINE_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = root
            .titled(&fit_title(title), (FONT, 24))
            .map_err(draw_err)?;
        let (charts, legend) = root.split_horizontally(TIMELINE_SIZE.0 - LEGEND_WIDTH);
        let (top, bottom) = charts.split_vertically(charts.dim_in_pixel().1 / 2);
        let rates = curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.rate).chain(c.target_rate));
        let mut chart = time_panel(
            &top,
            t_max,
            y_top(rates),
            "Successful requests per second",
            "requests per second",
        )?;
        let rate_top = y_top(
            curves
                .iter()
                .flat_map(|c| c.points.iter().map(|p| p.rate).chain(c.target_rate)),
        );
        phase_marks(&mut chart, curves, rate_top, true)?;
        for (c, &color) in curves.iter().zip(&colors) {
            if let Some(target) = c.target_rate {
                dashed_time(&mut chart, &[(0.0, target), (t_max, target)], color)?;
            }
            solid_time(
                &mut chart,
                c.points.iter().map(|p| (p.t, p.rate)).collect(),
                color,
            )?;
        }
        let p99s = curves
            .iter()
            .flat_map(|c| c.points.iter().filter_map(|p| p.p99_ms));
        let p99_top = y_top(p99s);
        let mut chart = time_panel(
            &bottom,
            t_max,
            p99_top,
            "p99 latency per second",
            "p99 latency (ms)",
        )?;
        phase_marks(&mut chart, curves, p99_top, false)?;
        for (c, &color) in curves.iter().zip(&colors) {
            solid_time(
                &mut chart,
                c.points
                    .iter()
                    .filter_map(|p| Some((p.t, p.p99_ms?)))
                    .collect(),
                color,
            )?;
        }
        draw_legend(&legend, &timeline_legend(curves, &colors))?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

type TimeChart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn time_panel<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    t_max: f64,
    y_max: f64,
    caption: &str,
    y_desc: &str,
) -> Result<TimeChart<'a, 'b>, PlotError> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 18))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(0f64..t_max, 0f64..y_max)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("time since the case started (s)")
        .y_desc(y_desc)
        .x_label_formatter(&|v| short_number(*v))
        .y_label_formatter(&|v| short_number(*v))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .light_line_style(WHITE)
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(draw_err)?;
    Ok(chart)
}

/// The colour of the server's phase-change lines.
const PHASE_COLOR: RGBColor = RGBColor(120, 120, 120);

/// A vertical line at each phase change (once per time, whichever case
/// has it), labelled in the top panel.
fn phase_marks(
    chart: &mut TimeChart<'_, '_>,
    curves: &[TimelineCurve],
    y_max: f64,
    labelled: bool,
) -> Result<(), PlotError> {
    let mut seen: Vec<f64> = Vec::new();
    for (t, label) in curves.iter().flat_map(|c| &c.marks) {
        if seen.iter().any(|s| (s - t).abs() < 1e-3) {
            continue;
        }
        seen.push(*t);
        chart
            .draw_series(DashedLineSeries::new(
                [(*t, 0.0), (*t, y_max)],
                4,
                4,
                PHASE_COLOR.stroke_width(2),
            ))
            .map_err(draw_err)?;
        if labelled {
            let text = Text::new(
                format!(" {label}"),
                (*t, y_max * 0.97),
                (FONT, 14).into_font().color(&PHASE_COLOR),
            );
            chart.draw_series(std::iter::once(text)).map_err(draw_err)?;
        }
    }
    Ok(())
}

fn solid_time(
    chart: &mut TimeChart<'_, '_>,
    points: Vec<(f64, f64)>,
    color: RGBColor,
) -> Result<(), PlotError> {
    chart
        .draw_series(points.iter().map(|&p| Circle::new(p, 2, color.filled())))
        .map_err(draw_err)?;
    chart
        .draw_series(LineSeries::new(points, color.stroke_width(2)))
        .map_err(draw_err)?;
    Ok(())
}

fn dashed_time(
    chart: &mut TimeChart<'_, '_>,
    points: &[(f64, f64)],
    color: RGBColor,
) -> Result<(), PlotError> {
    chart
        .draw_series(DashedLineSeries::new(
            points.iter().copied(),
            6,
            5,
            color.mix(0.8).stroke_width(1),
        ))
        .map_err(draw_err)?;
    Ok(())
}

fn timeline_legend(
    curves: &[TimelineCurve],
    colors: &[RGBColor],
) -> Vec<(String, Vec<LegendEntry>)> {
    let cases = case_entries(curves.iter().map(|c| &c.label), colors, true);
    let mut groups = vec![("Cases".to_string(), cases)];
    if curves.iter().any(|c| !c.marks.is_empty()) {
        let phase = LegendEntry {
            color: PHASE_COLOR,
            dashed: true,
            marker: false,
            text: "server phase change".to_string(),
        };
        groups.push((String::new(), vec![phase]));
    }
    if curves.iter().any(|c| c.target_rate.is_some()) {
        let target = LegendEntry {
            color: MODEL_COLOR,
            dashed: true,
            marker: false,
            text: "target rate (case colour)".to_string(),
        };
        groups.push((String::new(), vec![target]));
    }
    groups
}

/// Renders SVG text to PNG with fonts found on the system.
pub struct PngRenderer {
    options: usvg::Options<'static>,
}

impl std::fmt::Debug for PngRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PngRenderer")
            .field("fonts", &self.options.fontdb.len())
            .finish()
    }
}

/// Sans-serif families to prefer, in order, when several are installed.
const PREFERRED_FAMILIES: [&str; 8] = [
    "DejaVu Sans",
    "Liberation Sans",
    "Arial",
    "Helvetica",
    "Noto Sans",
    "FreeSans",
    "Open Sans",
    "Roboto",
];

impl PngRenderer {
    /// Loads the system's fonts; [`PlotError::NoFont`] when there are none.
    pub fn from_system() -> Result<PngRenderer, PlotError> {
        let mut db = usvg::fontdb::Database::new();
        db.load_system_fonts();
        PngRenderer::with_fonts(db)
    }

    /// Uses the given fonts, sans-serif text in a preferred family (see
    /// `PREFERRED_FAMILIES`) or else any; [`PlotError::NoFont`] when empty.
    pub fn with_fonts(mut db: usvg::fontdb::Database) -> Result<PngRenderer, PlotError> {
        let family = pick_family(&db).ok_or(PlotError::NoFont)?;
        db.set_sans_serif_family(family.clone());
        db.set_serif_family(family);
        let options = usvg::Options {
            fontdb: std::sync::Arc::new(db),
            ..usvg::Options::default()
        };
        Ok(PngRenderer { options })
    }

    /// Renders an SVG at its own size to PNG bytes.
    pub fn render(&self, svg: &str) -> Result<Vec<u8>, PlotError> {
        let tree =
            usvg::Tree::from_str(svg, &self.options).map_err(|e| PlotError::Svg(e.to_string()))?;
        let size = tree.size().to_int_size();
        let mut pixmap =
            resvg::tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| {
                PlotError::Png(format!(
                    "cannot allocate {}x{} pixels",
                    size.width(),
                    size.height()
                ))
            })?;
        resvg::render(
            &tree,
            resvg::tiny_skia::Transform::default(),
            &mut pixmap.as_mut(),
        );
        pixmap
            .encode_png()
            .map_err(|e| PlotError::Png(e.to_string()))
    }
}

/// A preferred sans-serif family if installed, else any family.
fn pick_family(db: &usvg::fontdb::Database) -> Option<String> {
    let families: Vec<&str> = db
        .faces()
        .flat_map(|f| f.families.iter().map(|(name, _)| name.as_str()))
        .collect();
    PREFERRED_FAMILIES
        .iter()
        .find(|p| families.contains(p))
        .map(|p| p.to_string())
        .or_else(|| {
            families
                .iter()
                .find(|f| !f.contains("Mono"))
                .map(|f| f.to_string())
        })
        .or_else(|| families.first().map(|f| f.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_thinned_so_labels_do_not_meet() {
        let ticks = [
            1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0,
        ];
        assert_eq!(thin_log_ticks(&ticks, (0.7, 2800.0)), ticks.to_vec());
        let dense: Vec<f64> = (100..=200).step_by(10).map(f64::from).collect();
        let kept = thin_log_ticks(&dense, (70.0, 280.0));
        assert!(kept.len() < dense.len() && kept.len() >= 3, "{kept:?}");
        assert!(thin_log_ticks(&[f64::NAN, -1.0, 0.0], (1.0, 10.0)).is_empty());
    }

    #[test]
    fn percent_labels_and_log_ticks() {
        let labels: Vec<String> = [1.0, 2.0, 10.0, 100.0, 1e3, 1e4, 1e5]
            .iter()
            .map(|&x| percent_label(x))
            .collect();
        assert_eq!(
            labels,
            ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        );
        assert_eq!(
            log_ticks((15.0, 600.0)),
            vec![20.0, 50.0, 100.0, 200.0, 500.0]
        );
        assert_eq!(log_ticks((16.0, 34.0)), vec![16.0, 18.0, 20.0, 25.0, 30.0]);
        assert!(log_ticks((0.0, 1.0)).is_empty());
        assert_eq!(short_number(4652.4), "4652");
        assert_eq!(short_number(2.25), "2.2");
        assert_eq!(short_number(5.0), "5");
        assert_eq!(short_number(0.5), "0.5");
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(-0.001), "0");
    }

    #[test]
    fn palette_runs_from_blue_to_red_and_handles_any_count() {
        assert!(palette(0).is_empty());
        assert_eq!(palette(1), vec![RGBColor(31, 59, 153)]);
        let many = palette(40);
        assert_eq!(many.len(), 40);
        assert_eq!(many[39], RGBColor(106, 27, 77));
    }

    #[test]
    fn without_fonts_there_is_no_png_renderer() {
        let none = PngRenderer::with_fonts(usvg::fontdb::Database::new());
        assert!(matches!(none, Err(PlotError::NoFont)));
    }

    #[test]
    fn a_crowded_legend_is_cut_short() {
        let curves: Vec<PercentileCurve> = (0..60)
            .map(|i| PercentileCurve {
                label: format!("case-{i}-with-a-rather-long-name-indeed"),
                points: vec![(1.0 + f64::from(i), 0.0), (2.0 + f64::from(i), 1.0)],
            })
            .collect();
        let svg = percentiles_svg("many", &curves).unwrap();
        assert!(svg.contains("… and "), "no overflow note");
        assert!(svg.contains("case-0-with-a-rather-long-n…"));
    }

    #[test]
    fn plots_of_empty_data_still_draw() {
        let empty = SaturationData {
            title: "t".into(),
            x_label: "x".into(),
            measured: vec![],
            model: vec![],
            model_labels: (String::new(), String::new()),
            knee: None,
        };
        assert!(saturation_svg(&empty).unwrap().starts_with("<svg"));
        assert!(percentiles_svg("t", &[]).unwrap().starts_with("<svg"));
        assert!(timeline_svg("t", &[]).unwrap().starts_with("<svg"));
    }
}
