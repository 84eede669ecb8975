//! The chart of a progressive compression run (`sculpt apply --progressive`).

use std::path::{Path, PathBuf};

use crate::charts::{StepsChart, render};
use crate::error::Result;

/// Draws the metric per progressive step, before and after recovery, as `dir/NAME.svg` and
/// `dir/NAME.png`; returns the files written.
///
/// `points` are `(step, before recovery, after recovery)` with the metric as a fraction;
/// `baseline` is the uncompressed model's value.
pub fn write_steps_chart(
    dir: &Path,
    name: &str,
    metric: &str,
    baseline: Option<f64>,
    points: &[(usize, f64, f64)],
) -> Result<Vec<PathBuf>> {
    let chart = StepsChart {
        metric: metric.to_string(),
        baseline: baseline.map(|b| 100.0 * b),
        points: points.iter().map(|&(s, b, a)| (s as f64, 100.0 * b, 100.0 * a)).collect(),
    };
    let caption = format!("{metric} per progressive step, before and after recovery");
    Ok(render(&chart, name, &caption, dir)?.files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_with_every_step_and_a_decodable_png() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_steps_chart(
            dir.path(),
            "steps",
            "accuracy",
            Some(0.928),
            &[(1, 0.91, 0.925), (2, 0.86, 0.92), (3, 0.70, 0.915)],
        )
        .unwrap();
        assert_eq!(files.len(), 2);
        let svg = std::fs::read_to_string(dir.path().join("steps.svg")).unwrap();
        assert!(svg.contains("after recovery") && svg.contains("uncompressed"));
        // Three markers per series: one <circle> per point and series.
        assert_eq!(svg.matches("<circle").count(), 6, "{svg}");
        let png = std::fs::File::open(dir.path().join("steps.png")).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(png));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (960, 420));
    }
}
