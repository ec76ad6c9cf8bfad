//! The events-over-time chart as server-rendered SVG geometry: bars stacked by outcome.
//!
//! Only numbers and fixed class names come out of here; the template draws them, and the
//! stylesheet colours them (no inline style, so the CSP holds).

use chrono::Timelike;

use crate::stats::{Bar, Range};

/// The drawing's size in SVG units (it scales to the page width).
pub(crate) const WIDTH: f64 = 720.0;
pub(crate) const HEIGHT: f64 = 200.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 8.0;

/// One coloured part of a bar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    pub y: f64,
    pub height: f64,
    /// `success`, `failure` or `denied`.
    pub class: &'static str,
}

/// One bar: its place, its parts and its tooltip.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChartBar {
    pub x: f64,
    pub width: f64,
    pub segments: Vec<Segment>,
    pub title: String,
}

/// An axis label.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tick {
    pub x: f64,
    pub y: f64,
    pub text: String,
}

/// The whole chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chart {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub baseline: f64,
    pub bars: Vec<ChartBar>,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    pub description: String,
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

impl Chart {
    pub(crate) fn new(series: &[Bar], range: Range) -> Self {
        let max = series.iter().map(Bar::total).max().unwrap_or(0).max(1);
        let plot_h = HEIGHT - BOTTOM - TOP;
        let slot = (WIDTH - LEFT) / series.len().max(1) as f64;
        let baseline = HEIGHT - BOTTOM;
        let scale = |n: u64| n as f64 / max as f64 * plot_h;
        let bars = series
            .iter()
            .enumerate()
            .map(|(i, bar)| {
                let mut top = baseline;
                let mut segments = Vec::new();
                for (n, class) in [
                    (bar.success, "success"),
                    (bar.failure, "failure"),
                    (bar.denied, "denied"),
                ] {
                    if n == 0 {
                        continue;
                    }
                    let h = scale(n);
                    top -= h;
                    segments.push(Segment {
                        y: round(top),
                        height: round(h).max(0.5),
                        class,
                    });
                }
                ChartBar {
                    x: round(LEFT + i as f64 * slot + slot * 0.1),
                    width: round(slot * 0.8),
                    segments,
                    title: format!(
                        "{}: {} events ({} success, {} failure, {} denied)",
                        bar.start.format("%Y-%m-%d %H:%M UTC"),
                        bar.total(),
                        bar.success,
                        bar.failure,
                        bar.denied
                    ),
                }
            })
            .collect();
        let x_ticks = series
            .iter()
            .enumerate()
            .filter_map(|(i, bar)| {
                let text = match range {
                    Range::Day => (bar.start.hour() % 6 == 0).then(|| bar.start.format("%H:%M")),
                    Range::Week => (bar.start.hour() == 0).then(|| bar.start.format("%a %d")),
                    Range::Month => (i % 5 == 0).then(|| bar.start.format("%d %b")),
                }?;
                Some(Tick {
                    x: round(LEFT + i as f64 * slot),
                    y: HEIGHT - 5.0,
                    text: text.to_string(),
                })
            })
            .collect();
        let y_ticks = [0, max / 2, max]
            .into_iter()
            .map(|n| Tick {
                x: LEFT - 6.0,
                y: round(baseline - scale(n) + 4.0),
                text: n.to_string(),
            })
            .collect();
        let total: u64 = series.iter().map(Bar::total).sum();
        Self {
            width: WIDTH,
            height: HEIGHT,
            left: LEFT,
            baseline,
            bars,
            x_ticks,
            y_ticks,
            description: format!(
                "{total} events in {} bars, at most {max} in one",
                series.len()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn bar(hour: i64, success: u64, failure: u64, denied: u64) -> Bar {
        Bar {
            start: DateTime::<Utc>::from_timestamp(hour * 3600, 0).unwrap(),
            success,
            failure,
            denied,
        }
    }

    #[test]
    fn the_tallest_bar_fills_the_plot_and_segments_stack() {
        let chart = Chart::new(&[bar(0, 10, 0, 0), bar(1, 2, 1, 2)], Range::Day);
        let tall = &chart.bars[0];
        assert_eq!(tall.segments.len(), 1);
        assert_eq!(tall.segments[0].y, TOP);
        let mixed = &chart.bars[1];
        let classes: Vec<_> = mixed.segments.iter().map(|s| s.class).collect();
        assert_eq!(classes, ["success", "failure", "denied"]);
        // Stacked: each part sits on top of the one before.
        for pair in mixed.segments.windows(2) {
            assert!((pair[0].y - (pair[1].y + pair[1].height)).abs() < 0.2);
        }
    }

    #[test]
    fn an_empty_series_draws_no_segments() {
        let series: Vec<Bar> = (0..24).map(|h| bar(h, 0, 0, 0)).collect();
        let chart = Chart::new(&series, Range::Day);
        assert!(chart.bars.iter().all(|b| b.segments.is_empty()));
    }
}
