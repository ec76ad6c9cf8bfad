//! The chart of activity per day: one bar per day (or per group of days for long periods).

use audit_core::query::GroupCount;
use chrono::{Duration, NaiveDate};

use super::canvas::{ACCENT, Align, Canvas, MUTED, RULE, Weight};

/// At most this many bars; longer periods group several days per bar.
const MAX_BARS: usize = 62;

/// One bar: the first day it covers, how many days, and the events in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bar {
    pub(crate) first: NaiveDate,
    pub(crate) days: i64,
    pub(crate) count: u64,
}

/// Bars over every day from the first to the last counted one (days without events count 0).
pub(crate) fn bars(by_day: &[GroupCount]) -> Vec<Bar> {
    let days: Vec<(NaiveDate, u64)> = by_day
        .iter()
        .filter_map(|g| {
            NaiveDate::parse_from_str(&g.key, "%Y-%m-%d")
                .ok()
                .map(|d| (d, g.count))
        })
        .collect();
    let (Some(first), Some(last)) = (days.first().map(|d| d.0), days.last().map(|d| d.0)) else {
        return Vec::new();
    };
    let span = (last - first).num_days() + 1;
    let per_bar = (span + MAX_BARS as i64 - 1) / MAX_BARS as i64;
    let n = ((span + per_bar - 1) / per_bar) as usize;
    let mut bars: Vec<Bar> = (0..n)
        .map(|i| Bar {
            first: first + Duration::days(i as i64 * per_bar),
            days: per_bar,
            count: 0,
        })
        .collect();
    for (day, count) in days {
        let index = ((day - first).num_days() / per_bar) as usize;
        if let Some(bar) = bars.get_mut(index) {
            bar.count += count;
        }
    }
    bars
}

/// Draws the chart in the box at (`x`, `y`, `width`, `height`).
pub(crate) fn draw(
    canvas: &mut Canvas,
    x: f32,
    y: f32,
    width: f32,
    height: f32,
    by_day: &[GroupCount],
) {
    let bars = bars(by_day);
    let label_h = 10.0;
    let plot_h = height - label_h - 12.0;
    let base = y + 12.0 + plot_h;
    canvas.line((x, base), (x + width, base), 0.6, RULE);
    let Some(max) = bars.iter().map(|b| b.count).max().filter(|m| *m > 0) else {
        canvas.text(
            x,
            y + height / 2.0,
            width,
            "no events",
            Weight::Regular,
            8.0,
            MUTED,
            Align::Left,
        );
        return;
    };
    canvas.text(
        x,
        y,
        width,
        &format!("max {max} events per bar"),
        Weight::Regular,
        6.5,
        MUTED,
        Align::Right,
    );
    let slot = width / bars.len() as f32;
    let gap = (slot * 0.2).min(3.0);
    for (i, bar) in bars.iter().enumerate() {
        let h = plot_h * bar.count as f32 / max as f32;
        let bx = x + i as f32 * slot;
        canvas.rect(bx + gap / 2.0, base - h, slot - gap, h, ACCENT);
    }
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
        return;
    };
    let end = last.first + Duration::days(last.days - 1);
    let per = if first.days == 1 {
        "one bar per day".to_owned()
    } else {
        format!("one bar per {} days", first.days)
    };
    canvas.text(
        x,
        base + 2.0,
        width / 3.0,
        &first.first.to_string(),
        Weight::Regular,
        6.5,
        MUTED,
        Align::Left,
    );
    canvas.text(
        x + width / 3.0,
        base + 2.0,
        width / 3.0,
        &per,
        Weight::Regular,
        6.5,
        MUTED,
        Align::Left,
    );
    canvas.text(
        x + 2.0 * width / 3.0,
        base + 2.0,
        width / 3.0,
        &end.to_string(),
        Weight::Regular,
        6.5,
        MUTED,
        Align::Right,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(key: &str, count: u64) -> GroupCount {
        GroupCount {
            key: key.into(),
            count,
        }
    }

    #[test]
    fn days_without_events_get_empty_bars() {
        let bars = bars(&[day("2026-01-01", 3), day("2026-01-04", 1)]);
        let counts: Vec<u64> = bars.iter().map(|b| b.count).collect();
        assert_eq!(counts, [3, 0, 0, 1]);
    }

    #[test]
    fn a_long_period_groups_days_into_at_most_the_bar_limit() {
        let year: Vec<GroupCount> = (0..365)
            .map(|i| {
                let d = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Duration::days(i);
                day(&d.to_string(), 1)
            })
            .collect();
        let bars = bars(&year);
        assert!(bars.len() <= MAX_BARS, "{}", bars.len());
        assert_eq!(bars.iter().map(|b| b.count).sum::<u64>(), 365);
    }
}
