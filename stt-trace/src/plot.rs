//! The SVG picture of one session (`stt trace plot`, `stt-sim --plot`): three panels on
//! one time axis — stream offset sent, resent and acknowledged (a time-sequence
//! diagram), congestion window and bytes in flight, and RTT (smoothed, minimum,
//! latest) — with window cuts marked and probe timeouts and path changes drawn as
//! vertical lines across all three. Drawing only; the numbers come from [`crate::model`].

use std::collections::BTreeMap;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::model::{DataKind, SessionKey, SessionTrace, Trace};

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The trace has no session with metrics (or not the one asked for).
    #[error("no session with transport metrics{}", .0.as_ref().map(|s| format!(" named {s}")).unwrap_or_default())]
    NoSession(Option<String>),
    /// Drawing or writing the SVG failed.
    #[error("cannot draw the plot: {0}")]
    Draw(String),
}

/// At most this many points per line: more add bytes, not information, at this size.
const MAX_POINTS: usize = 2_000;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 960;

/// Keeps at most [`MAX_POINTS`] evenly spread points, always the last one.
fn thin<T: Copy>(points: &[T]) -> Vec<T> {
    if points.len() <= MAX_POINTS {
        return points.to_vec();
    }
    let step = points.len().div_ceil(MAX_POINTS);
    let mut out: Vec<T> = points.iter().step_by(step).copied().collect();
    if let Some(last) = points.last() {
        out.push(*last);
    }
    out
}

/// The session a plot shows: the one named, or the one that acknowledged most data.
pub fn pick<'a>(
    trace: &'a Trace,
    name: Option<&str>,
) -> Result<(&'a SessionKey, &'a SessionTrace), PlotError> {
    let mut measured = trace.measured();
    let found = match name {
        Some(n) => measured.find(|(k, _)| k.to_string() == n),
        None => measured.max_by_key(|(_, s)| {
            s.data
                .iter()
                .filter(|d| d.kind == DataKind::Acked)
                .map(|d| d.len)
                .sum::<u64>()
        }),
    };
    found.ok_or_else(|| PlotError::NoSession(name.map(str::to_owned)))
}

fn draw_err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Writes the SVG of `session` to `out`.
pub fn plot_session(key: &SessionKey, s: &SessionTrace, out: &Path) -> Result<(), PlotError> {
    let root = SVGBackend::new(out, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let (start, end) = s.span.unwrap_or((0, 1));
    let secs = |t: u64| t.saturating_sub(start) as f64 / 1e6;
    let x_end = secs(end).max(1e-3);
    let title = format!(
        "STT session {key}: {} losses, {} window cuts, {} PTOs, {} path changes",
        s.losses.len(),
        s.congestion_events.len(),
        s.ptos.len(),
        s.path_changes.len()
    );
    let root = root.titled(&title, ("sans-serif", 22)).map_err(draw_err)?;
    let panels = root.split_evenly((3, 1));
    let marks = Marks {
        ptos: thin(&s.ptos.iter().map(|(t, _)| secs(*t)).collect::<Vec<_>>()),
        paths: s.path_changes.iter().map(|t| secs(*t)).collect(),
    };
    sequence_panel(&panels[0], s, &secs, x_end, &marks)?;
    window_panel(&panels[1], s, &secs, x_end, &marks)?;
    rtt_panel(&panels[2], s, &secs, x_end, &marks)?;
    root.present().map_err(draw_err)
}

/// Reads `trace`, picks a session (see [`pick`]) and writes its SVG to `out`.
pub fn plot(trace: &Trace, session: Option<&str>, out: &Path) -> Result<(), PlotError> {
    let (key, s) = pick(trace, session)?;
    plot_session(key, s, out)
}

/// Instants drawn as vertical lines on every panel, seconds.
struct Marks {
    ptos: Vec<f64>,
    paths: Vec<f64>,
}

type Chart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn chart<'a>(
    area: &DrawingArea<SVGBackend<'a>, Shift>,
    caption: &str,
    x_end: f64,
    y_end: f64,
    y_desc: &str,
) -> Result<Chart<'a>, PlotError> {
    let mut c = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_end, 0f64..y_end.max(1e-9) * 1.05)
        .map_err(draw_err)?;
    c.configure_mesh()
        .x_desc("time (s)")
        .y_desc(y_desc)
        .draw()
        .map_err(draw_err)?;
    Ok(c)
}

fn draw_marks(c: &mut Chart<'_>, marks: &Marks, y_end: f64) -> Result<(), PlotError> {
    let y = y_end * 1.05;
    let orange = RGBColor(230, 140, 0);
    let purple = RGBColor(130, 60, 170);
    for (i, t) in marks.ptos.iter().enumerate() {
        let s = c
            .draw_series(LineSeries::new(
                vec![(*t, 0.0), (*t, y)],
                orange.stroke_width(1),
            ))
            .map_err(draw_err)?;
        if i == 0 {
            s.label("probe timeout")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], orange));
        }
    }
    for (i, t) in marks.paths.iter().enumerate() {
        let s = c
            .draw_series(LineSeries::new(
                vec![(*t, 0.0), (*t, y)],
                purple.stroke_width(2),
            ))
            .map_err(draw_err)?;
        if i == 0 {
            s.label("path change")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], purple));
        }
    }
    Ok(())
}

fn legend(c: &mut Chart<'_>) -> Result<(), PlotError> {
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)
}

fn line(
    c: &mut Chart<'_>,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    label: &str,
) -> Result<(), PlotError> {
    c.draw_series(LineSeries::new(thin(&points), color.stroke_width(2)))
        .map_err(draw_err)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    Ok(())
}

fn sequence_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    s: &SessionTrace,
    secs: &dyn Fn(u64) -> f64,
    x_end: f64,
    marks: &Marks,
) -> Result<(), PlotError> {
    // The stream that carried the most data.
    let mut per_stream: BTreeMap<u64, u64> = BTreeMap::new();
    for d in &s.data {
        *per_stream.entry(d.stream).or_default() += d.len;
    }
    let stream = per_stream.iter().max_by_key(|(_, b)| **b).map(|(s, _)| *s);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let (mut sent, mut acked, mut resent) = (Vec::new(), Vec::new(), Vec::new());
    let (mut top_sent, mut top_acked) = (0u64, 0u64);
    for d in s.data.iter().filter(|d| Some(d.stream) == stream) {
        let end = d.offset + d.len;
        match d.kind {
            DataKind::Sent => {
                top_sent = top_sent.max(end);
                sent.push((secs(d.time), mib(top_sent)));
            }
            DataKind::Acked => {
                top_acked = top_acked.max(end);
                acked.push((secs(d.time), mib(top_acked)));
            }
            DataKind::Resent => resent.push((secs(d.time), mib(end))),
        }
    }
    let y_end = mib(top_sent.max(1));
    let caption = match stream {
        Some(id) => format!("time-sequence, stream {id}"),
        None => "time-sequence (no stream data)".to_owned(),
    };
    let mut c = chart(area, &caption, x_end, y_end, "stream offset (MiB)")?;
    line(&mut c, sent, RGBColor(40, 90, 200), "highest offset sent")?;
    line(&mut c, acked, RGBColor(30, 150, 60), "highest offset acked")?;
    let red = RGBColor(210, 30, 30);
    c.draw_series(
        thin(&resent)
            .into_iter()
            .map(|p| Circle::new(p, 2, red.filled())),
    )
    .map_err(draw_err)?
    .label("resent")
    .legend(move |(x, y)| Circle::new((x + 9, y), 3, red.filled()));
    draw_marks(&mut c, marks, y_end)?;
    legend(&mut c)
}

fn window_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    s: &SessionTrace,
    secs: &dyn Fn(u64) -> f64,
    x_end: f64,
    marks: &Marks,
) -> Result<(), PlotError> {
    let kib = |b: u64| b as f64 / 1024.0;
    let cwnd: Vec<_> = s
        .recovery
        .iter()
        .map(|r| (secs(r.time), kib(r.cwnd)))
        .collect();
    let flight: Vec<_> = s
        .recovery
        .iter()
        .map(|r| (secs(r.time), kib(r.bytes_in_flight)))
        .collect();
    let y_end = cwnd.iter().chain(&flight).map(|p| p.1).fold(1.0, f64::max);
    let mut c = chart(area, "congestion window", x_end, y_end, "KiB")?;
    line(&mut c, cwnd, RGBColor(40, 90, 200), "congestion window")?;
    line(&mut c, flight, RGBColor(120, 120, 120), "bytes in flight")?;
    let red = RGBColor(210, 30, 30);
    let cuts: Vec<_> = s
        .congestion_events
        .iter()
        .map(|(t, w, _)| (secs(*t), kib(*w)))
        .collect();
    c.draw_series(
        thin(&cuts)
            .into_iter()
            .map(|p| TriangleMarker::new(p, 5, red.filled())),
    )
    .map_err(draw_err)?
    .label("window cut (loss)")
    .legend(move |(x, y)| TriangleMarker::new((x + 9, y), 5, red.filled()));
    draw_marks(&mut c, marks, y_end)?;
    legend(&mut c)
}

fn rtt_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    s: &SessionTrace,
    secs: &dyn Fn(u64) -> f64,
    x_end: f64,
    marks: &Marks,
) -> Result<(), PlotError> {
    let ms = |us: u64| us as f64 / 1e3;
    let series = |f: fn(&crate::model::RecoveryPoint) -> u64| -> Vec<(f64, f64)> {
        s.recovery
            .iter()
            .map(|r| (secs(r.time), ms(f(r))))
            .collect()
    };
    let latest = series(|r| r.latest_rtt);
    let smoothed = series(|r| r.smoothed_rtt);
    let min = series(|r| r.min_rtt);
    let y_end = latest
        .iter()
        .chain(&smoothed)
        .map(|p| p.1)
        .fold(1.0, f64::max);
    let mut c = chart(area, "round-trip time", x_end, y_end, "RTT (ms)")?;
    line(&mut c, latest, RGBColor(170, 170, 170), "latest RTT")?;
    line(&mut c, smoothed, RGBColor(40, 90, 200), "smoothed RTT")?;
    line(&mut c, min, RGBColor(30, 150, 60), "min RTT")?;
    draw_marks(&mut c, marks, y_end)?;
    legend(&mut c)
}
