//! Figures: medians and ranges over repetitions, the table and the JSON lines.

use crate::raw;

/// Which way a figure is better, and the target ratio (winpipe / raw) if there is one.
#[derive(Clone, Copy)]
pub enum Goal {
    /// Higher is better; the ratio must be at least this.
    AtLeast(f64),
    /// Lower is better; the ratio must be at most this.
    AtMost(f64),
    /// No ratio target (the row has its own check, or none).
    Info,
}

/// One row of the table: the same figure for winpipe and for raw, one value per
/// repetition, and a check of its own (e.g. zero errors) if the row has one.
pub struct Row {
    pub name: &'static str,
    pub unit: &'static str,
    pub winpipe: Vec<f64>,
    pub raw: Vec<f64>,
    pub goal: Goal,
    /// A target that is not a ratio: its description and whether it was met.
    pub check: Option<(String, bool)>,
}

impl Row {
    pub fn new(name: &'static str, unit: &'static str, goal: Goal) -> Row {
        Row {
            name,
            unit,
            winpipe: Vec::new(),
            raw: Vec::new(),
            goal,
            check: None,
        }
    }

    /// Median over repetitions of winpipe / raw within the same repetition.
    pub fn ratio(&self) -> Option<f64> {
        let ratios: Vec<f64> = (self.winpipe.iter().zip(&self.raw))
            .filter(|(_, &r)| r != 0.0)
            .map(|(w, r)| w / r)
            .collect();
        (!ratios.is_empty()).then(|| median(&ratios))
    }

    /// Whether the row meets its targets; `None` when it has none.
    pub fn met(&self) -> Option<bool> {
        let ratio_ok = match (self.goal, self.ratio()) {
            (Goal::AtLeast(t), Some(r)) => Some(r >= t),
            (Goal::AtMost(t), Some(r)) => Some(r <= t),
            (Goal::Info, _) | (_, None) => None,
        };
        match (ratio_ok, &self.check) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(true) && b.as_ref().is_none_or(|c| c.1)),
        }
    }
}

pub fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

/// The value below which `p` of the values lie (nearest rank), 0 for none.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn min_max(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

fn num(x: f64) -> String {
    if x == 0.0 || x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn summary(values: &[f64]) -> String {
    let (min, max) = min_max(values);
    format!("{} ({}–{})", num(median(values)), num(min), num(max))
}

fn target(row: &Row) -> String {
    let mut parts = Vec::new();
    match row.goal {
        Goal::AtLeast(t) => parts.push(format!("≥ {t:.2}×")),
        Goal::AtMost(t) => parts.push(format!("≤ {t:.2}×")),
        Goal::Info => {}
    }
    if let Some((what, _)) = &row.check {
        parts.push(what.clone());
    }
    parts.join(", ")
}

/// The table, as Markdown so it can go into docs/performance.md as printed.
pub fn table(rows: &[Row], reps: usize) {
    println!();
    let host = match raw::wine_version() {
        Some(version) => format!("under Wine {version}"),
        None => "on Windows".to_string(),
    };
    println!(
        "winpipe vs raw Kernel32 (synchronous handles), {host}, {reps} interleaved repetitions:"
    );
    println!("median (min–max); ratio = median of winpipe/raw per repetition");
    println!();
    println!("| figure | unit | winpipe | raw | ratio | target | met |");
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        let ratio = row.ratio().map_or("–".into(), |r| format!("{r:.3}"));
        let met = match row.met() {
            Some(true) => "yes",
            Some(false) => "**NO**",
            None => "–",
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            row.unit,
            summary(&row.winpipe),
            summary(&row.raw),
            ratio,
            target(row),
            met
        );
    }
}

/// One JSON line per figure and implementation, and one per ratio.
pub fn json(rows: &[Row]) {
    for row in rows {
        for (imp, values) in [("winpipe", &row.winpipe), ("raw", &row.raw)] {
            let (min, max) = min_max(values);
            let all: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
            println!(
                "{{\"figure\":\"{}\",\"impl\":\"{imp}\",\"unit\":\"{}\",\"median\":{},\"min\":{min},\"max\":{max},\"values\":[{}]}}",
                row.name,
                row.unit,
                median(values),
                all.join(",")
            );
        }
        let ratio = row.ratio().map_or("null".into(), |r| r.to_string());
        let met = row.met().map_or("null".into(), |m| m.to_string());
        println!(
            "{{\"figure\":\"{}\",\"ratio\":{ratio},\"target\":\"{}\",\"met\":{met}}}",
            row.name,
            target(row)
        );
    }
}
