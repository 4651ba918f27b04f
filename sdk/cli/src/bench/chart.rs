//! `chart.svg`: a report's timeline as two stacked panels over the seconds
//! of the measured window — throughput (committed and failed per second)
//! above, latency (p50 and p99 per second) below.
//!
//! Plotters' SVG backend writes text as `<text>` elements, so no font is
//! read or needed.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::report::{Report, Second};

/// The picture's size in pixels (width, height).
const SIZE_PX: (u32, u32) = (1000, 600);
/// Font size of the title, in pixels.
const TITLE_FONT_PX: u32 = 22;
/// Font size of the panel captions, in pixels.
const CAPTION_FONT_PX: u32 = 16;

/// One line of a panel: its legend, colour and (second, value) points.
struct Line {
    label: &'static str,
    color: RGBColor,
    points: Vec<(u64, f64)>,
}

/// Draws `report`'s timeline into an SVG file at `path`.
///
/// An empty timeline gives empty panels with axes from 0 to 1.
pub(crate) fn write_svg(report: &Report, path: &Path) -> anyhow::Result<()> {
    let series = |value: fn(&Second) -> f64| -> Vec<(u64, f64)> {
        report
            .timeline
            .iter()
            .map(|s| (s.second, value(s)))
            .collect()
    };
    let throughput = [
        Line {
            label: "committed/s",
            color: BLUE,
            points: series(|s| s.tps),
        },
        Line {
            label: "failed/s",
            color: RED,
            points: series(|s| s.failed as f64),
        },
    ];
    let latency = [
        Line {
            label: "p50",
            color: RGBColor(0, 140, 0),
            points: series(|s| s.p50_ms),
        },
        Line {
            label: "p99",
            color: MAGENTA,
            points: series(|s| s.p99_ms),
        },
    ];
    // Both panels end at the last second, so their x axes line up.
    let x_end = report.timeline.last().map_or(1, |s| s.second.max(1));

    let root = SVGBackend::new(path, SIZE_PX).into_drawing_area();
    root.fill(&WHITE)?;
    let body = root.titled(&title(report), ("sans-serif", TITLE_FONT_PX))?;
    let (top, bottom) = body.split_vertically(body.dim_in_pixel().1 / 2);
    panel(&top, "Throughput", "tx/s", x_end, &throughput)?;
    panel(&bottom, "Latency", "ms", x_end, &latency)?;
    root.present()?;
    Ok(())
}

/// `WORKLOAD, MODE: T tx/s committed`.
fn title(report: &Report) -> String {
    let (workload, mode) = (&report.workload, report.mode_text());
    format!(
        "{workload}, {mode}: {:.1} tx/s committed",
        report.throughput_tps
    )
}

/// One panel: a caption, axes from 0 and a line per [`Line`] with a legend.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    caption: &str,
    y_desc: &str,
    x_end: u64,
    lines: &[Line],
) -> anyhow::Result<()> {
    let y_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|&(_, y)| y))
        .fold(0.0_f64, f64::max);
    // Headroom above the highest point; a flat zero still gets a 0..1 axis.
    let y_end = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", CAPTION_FONT_PX))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0..x_end, 0.0..y_end)?;
    // Whole numbers once the axis is tall enough for them to differ.
    let y_label = |y: &f64| {
        if y_end >= 10.0 {
            format!("{y:.0}")
        } else {
            format!("{y:.1}")
        }
    };
    chart
        .configure_mesh()
        .x_desc("second of the measured window")
        .y_desc(y_desc)
        .y_label_formatter(&y_label)
        .draw()?;
    for line in lines {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(line.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Duration;

    use super::*;
    use crate::bench::report::{Mode, Outcome, ReportInput, Sample};

    fn report(duration_s: u64, samples: Vec<Sample>) -> Report {
        Report::build(ReportInput {
            workload: "asset-transfer".to_owned(),
            mode: Mode::Closed { clients: 4 },
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(duration_s),
            samples,
            unfinished: 0,
            nodes: Vec::new(),
            loadgen: None,
            network: "2 orgs".to_owned(),
        })
    }

    fn render(report: &Report) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("chart.svg");
        write_svg(report, &path).expect("renders");
        fs::read_to_string(&path).expect("reads chart.svg")
    }

    #[test]
    fn renders_title_axes_and_lines() {
        let samples = (0..30u64)
            .map(|i| Sample {
                op: "create",
                start: Duration::from_millis(i * 100),
                latency: Duration::from_millis(5 + i),
                outcome: if i % 7 == 0 {
                    Outcome::Failed {
                        stage: "validate".to_owned(),
                        code: "MVCC".to_owned(),
                    }
                } else {
                    Outcome::Ok
                },
            })
            .collect();
        let svg = render(&report(3, samples));
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(
            svg.contains("<polyline") || svg.contains("<path"),
            "no line data"
        );
        assert!(
            svg.contains("asset-transfer, closed loop, 4 clients"),
            "no title"
        );
        for text in [
            "Throughput",
            "Latency",
            "committed/s",
            "failed/s",
            "p99",
            "tx/s",
            "ms",
        ] {
            assert!(svg.contains(text), "no {text:?}");
        }
    }

    #[test]
    fn renders_an_empty_timeline() {
        let empty = report(0, Vec::new());
        assert!(empty.timeline.is_empty());
        assert!(render(&empty).starts_with("<svg"));
        // Seconds without any operation: all-zero lines.
        let idle = report(2, Vec::new());
        assert!(render(&idle).starts_with("<svg"));
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing").join("chart.svg");
        assert!(write_svg(&report(1, Vec::new()), &path).is_err());
    }
}
