//! Hypervolume: exact in 1, 2 and 3 objectives, Monte Carlo beyond; reference points and
//! normalisation so that hypervolumes of different runs are comparable.
//!
//! The hypervolume of a set of points (minimised) is the volume of the region dominated by the
//! set and bounded above by a reference point. Only points strictly better than the reference
//! in every objective contribute.
//!
//! **Reference point choice.** Hypervolumes are only comparable when they use the same
//! reference point and the same scaling. The recommended indicator is
//! [`HypervolumeIndicator::normalized`]: objectives are mapped to `[0, 1]` by fixed
//! [`ObjectiveBounds`] (the ideal and nadir of a known front, or the bounds of the whole space)
//! and the reference point is `1 + margin` in every objective (margin 0.1 by default), so that
//! the extreme points of the front still add volume.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SearchError};

/// Per-objective lower and upper bounds, used to normalise objective vectors to `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveBounds {
    lower: Vec<f64>,
    upper: Vec<f64>,
}

impl ObjectiveBounds {
    /// Builds bounds; both vectors must have the same length, be finite and `lower <= upper`.
    pub fn new(lower: Vec<f64>, upper: Vec<f64>) -> Result<Self> {
        if lower.len() != upper.len() {
            return Err(SearchError::DimensionMismatch {
                what: "upper bounds (against lower bounds)".to_owned(),
                expected: lower.len(),
                found: upper.len(),
            });
        }
        for (j, (&low, &high)) in lower.iter().zip(&upper).enumerate() {
            for value in [low, high] {
                if !value.is_finite() {
                    return Err(SearchError::NonFinite {
                        what: format!("bound of objective {j}"),
                        value,
                    });
                }
            }
            if low > high {
                return Err(SearchError::InvalidConfig {
                    parameter: "objective bounds",
                    reason: format!("objective {j} has lower bound {low} above upper bound {high}"),
                });
            }
        }
        Ok(ObjectiveBounds { lower, upper })
    }

    /// The ideal (per-objective minimum) and nadir (maximum) of a non-empty set of points.
    pub fn from_points<P: AsRef<[f64]>>(points: &[P]) -> Result<Self> {
        let first = points.first().ok_or(SearchError::InvalidConfig {
            parameter: "objective bounds",
            reason: "cannot be taken from an empty set of points".to_owned(),
        })?;
        let mut lower = first.as_ref().to_vec();
        let mut upper = lower.clone();
        for point in points {
            let point = point.as_ref();
            if point.len() != lower.len() {
                return Err(SearchError::DimensionMismatch {
                    what: "point".to_owned(),
                    expected: lower.len(),
                    found: point.len(),
                });
            }
            for j in 0..point.len() {
                lower[j] = lower[j].min(point[j]);
                upper[j] = upper[j].max(point[j]);
            }
        }
        ObjectiveBounds::new(lower, upper)
    }

    /// Lower bounds (the ideal point).
    pub fn lower(&self) -> &[f64] {
        &self.lower
    }

    /// Upper bounds (the nadir point).
    pub fn upper(&self) -> &[f64] {
        &self.upper
    }

    /// Maps `point` to `(value - lower) / (upper - lower)` per objective; an objective with zero
    /// range is only shifted.
    pub fn normalize(&self, point: &[f64]) -> Vec<f64> {
        let mut out = Vec::with_capacity(point.len());
        self.normalize_into(point, &mut out);
        out
    }

    fn normalize_into(&self, point: &[f64], out: &mut Vec<f64>) {
        out.extend(point.iter().zip(self.lower.iter().zip(&self.upper)).map(
            |(&value, (&low, &high))| {
                let range = high - low;
                if range > 0.0 { (value - low) / range } else { value - low }
            },
        ));
    }
}

/// The point that bounds the dominated region from above.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferencePoint(Vec<f64>);

impl ReferencePoint {
    /// An explicit reference point; every coordinate must be finite.
    pub fn new(coordinates: Vec<f64>) -> Result<Self> {
        if let Some((j, &value)) = coordinates.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SearchError::NonFinite {
                what: format!("reference point coordinate {j}"),
                value,
            });
        }
        Ok(ReferencePoint(coordinates))
    }

    /// The nadir (upper bounds) plus `margin` times the range of each objective.
    pub fn from_nadir(bounds: &ObjectiveBounds, margin: f64) -> Self {
        ReferencePoint(
            bounds.lower.iter().zip(&bounds.upper).map(|(&l, &u)| u + margin * (u - l)).collect(),
        )
    }

    /// The coordinates.
    pub fn coordinates(&self) -> &[f64] {
        &self.0
    }
}

/// A hypervolume value; `standard_error` is zero for exact computations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hypervolume {
    /// The (estimated) hypervolume.
    pub value: f64,
    /// Standard error of a Monte Carlo estimate, `0.0` when exact.
    pub standard_error: f64,
}

/// Number of Monte Carlo samples used by [`hypervolume`] beyond three objectives.
pub const MONTE_CARLO_SAMPLES: usize = 100_000;

/// Hypervolume of `points` against `reference`: exact for up to three objectives, otherwise a
/// Monte Carlo estimate with [`MONTE_CARLO_SAMPLES`] samples and a fixed seed (so it is
/// deterministic), whose standard error is returned.
pub fn hypervolume<P: AsRef<[f64]>>(
    points: &[P],
    reference: &ReferencePoint,
) -> Result<Hypervolume> {
    let reference = reference.coordinates();
    for point in points {
        if point.as_ref().len() != reference.len() {
            return Err(SearchError::DimensionMismatch {
                what: "point (against the reference point)".to_owned(),
                expected: reference.len(),
                found: point.as_ref().len(),
            });
        }
        if let Some(&value) = point.as_ref().iter().find(|v| !v.is_finite()) {
            return Err(SearchError::NonFinite { what: "hypervolume input".to_owned(), value });
        }
    }
    let exact = |value| Ok(Hypervolume { value, standard_error: 0.0 });
    match reference.len() {
        0 => exact(0.0),
        1 => exact(
            points.iter().map(|p| (reference[0] - p.as_ref()[0]).max(0.0)).fold(0.0, f64::max),
        ),
        2 => exact(hypervolume_2d(points, reference)),
        3 => exact(hypervolume_3d(points, reference)),
        _ => Ok(hypervolume_monte_carlo(points, reference, MONTE_CARLO_SAMPLES, 0x5eed)),
    }
}

/// The exact hypervolume of `points` (minimised) against `reference`, in any number of
/// objectives: the volume of the region dominated by at least one point and bounded by the
/// reference. Points that are not strictly better than the reference in every coordinate, or
/// whose length differs from the reference's, add nothing.
///
/// Dimension-sweep recursion (slices along the last objective): exponential in the number of
/// objectives, fine for report-sized fronts (hundreds of points in up to four objectives); use
/// [`hypervolume`] inside a search.
///
/// ```
/// // Two points in 2-D against (4, 4): 3×1 + 1×2 (the union of two boxes) = 5.
/// let hv = sculpt_search::hypervolume_exact(&[vec![1.0, 3.0], vec![2.0, 2.0]], &[4.0, 4.0]);
/// assert_eq!(hv, 5.0);
/// ```
pub fn hypervolume_exact<P: AsRef<[f64]>>(points: &[P], reference: &[f64]) -> f64 {
    let inside: Vec<&[f64]> = points
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| p.len() == reference.len() && p.iter().zip(reference).all(|(x, r)| x < r))
        .collect();
    sweep(&inside, reference)
}

fn sweep(points: &[&[f64]], reference: &[f64]) -> f64 {
    let d = reference.len();
    if points.is_empty() || d == 0 {
        return 0.0;
    }
    if d == 1 {
        let best = points.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min);
        return reference[0] - best;
    }
    if d == 2 {
        return hypervolume_2d(points, reference);
    }
    let last = d - 1;
    let mut sorted: Vec<&[f64]> = points.to_vec();
    sorted.sort_by(|a, b| a[last].total_cmp(&b[last]));
    let mut volume = 0.0;
    for (i, p) in sorted.iter().enumerate() {
        let top = sorted.get(i + 1).map_or(reference[last], |q| q[last]);
        let height = top - p[last];
        if height <= 0.0 {
            continue;
        }
        let slice: Vec<&[f64]> = sorted[..=i].iter().map(|q| &q[..last]).collect();
        volume += sweep(&slice, &reference[..last]) * height;
    }
    volume
}

/// Exact two-objective hypervolume by a sweep over the points sorted by the first objective.
///
/// Points must have two coordinates (checked by [`hypervolume`]).
pub fn hypervolume_2d<P: AsRef<[f64]>>(points: &[P], reference: &[f64]) -> f64 {
    let mut inside: Vec<[f64; 2]> = points
        .iter()
        .map(|p| [p.as_ref()[0], p.as_ref()[1]])
        .filter(|p| p[0] < reference[0] && p[1] < reference[1])
        .collect();
    inside.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let mut area = 0.0;
    let mut lowest_y = reference[1];
    for [x, y] in inside {
        if y < lowest_y {
            area += (reference[0] - x) * (lowest_y - y);
            lowest_y = y;
        }
    }
    area
}

/// Exact three-objective hypervolume by slicing along the third objective.
///
/// The points are swept in increasing third objective; a two-dimensional non-dominated
/// staircase of the points seen so far is kept, and each slab between consecutive third
/// coordinates adds (staircase area) × (slab height). `O(n^2)` time, fine for fronts of a few
/// thousand points.
pub fn hypervolume_3d<P: AsRef<[f64]>>(points: &[P], reference: &[f64]) -> f64 {
    let mut inside: Vec<[f64; 3]> = points
        .iter()
        .map(|p| [p.as_ref()[0], p.as_ref()[1], p.as_ref()[2]])
        .filter(|p| p[0] < reference[0] && p[1] < reference[1] && p[2] < reference[2])
        .collect();
    inside.sort_by(|a, b| a[2].total_cmp(&b[2]));
    // Staircase: x ascending, y strictly descending; no point dominates another.
    let mut staircase: Vec<[f64; 2]> = Vec::new();
    let mut volume = 0.0;
    for (i, point) in inside.iter().enumerate() {
        insert_into_staircase(&mut staircase, [point[0], point[1]]);
        let next_z = inside.get(i + 1).map_or(reference[2], |p| p[2]);
        let height = next_z - point[2];
        if height > 0.0 {
            volume += staircase_area(&staircase, reference) * height;
        }
    }
    volume
}

fn insert_into_staircase(staircase: &mut Vec<[f64; 2]>, point: [f64; 2]) {
    // First position whose x is greater than the new point's x.
    let position = staircase.partition_point(|p| p[0] <= point[0]);
    // The point just before has x <= new x and the smallest y among such points.
    if position > 0 && staircase[position - 1][1] <= point[1] {
        return;
    }
    // Points at or after the insertion position with y >= new y are dominated (x >= new x).
    // Also an equal-x point just before with larger y is dominated.
    let mut start = position;
    while start > 0 && staircase[start - 1][0] == point[0] {
        start -= 1;
    }
    let mut end = start;
    while end < staircase.len() && staircase[end][1] >= point[1] {
        end += 1;
    }
    staircase.splice(start..end, [point]);
}

fn staircase_area(staircase: &[[f64; 2]], reference: &[f64]) -> f64 {
    let mut area = 0.0;
    let mut lowest_y = reference[1];
    for &[x, y] in staircase {
        area += (reference[0] - x) * (lowest_y - y);
        lowest_y = y;
    }
    area
}

/// Monte Carlo hypervolume estimate in any number of objectives.
///
/// Samples uniformly in the box between the per-objective minimum of the points and the
/// reference; the standard error is `box_volume * sqrt(p (1 - p) / n_samples)` where `p` is the
/// fraction of dominated samples.
pub fn hypervolume_monte_carlo<P: AsRef<[f64]>>(
    points: &[P],
    reference: &[f64],
    n_samples: usize,
    seed: u64,
) -> Hypervolume {
    let inside: Vec<&[f64]> = points
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| p.iter().zip(reference).all(|(v, r)| v < r))
        .collect();
    if inside.is_empty() || n_samples == 0 {
        return Hypervolume { value: 0.0, standard_error: 0.0 };
    }
    let lower: Vec<f64> = (0..reference.len())
        .map(|j| inside.iter().map(|p| p[j]).fold(f64::INFINITY, f64::min))
        .collect();
    let box_volume: f64 = lower.iter().zip(reference).map(|(l, r)| r - l).product();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sample = vec![0.0; reference.len()];
    let mut hits = 0usize;
    for _ in 0..n_samples {
        for (s, (&l, &r)) in sample.iter_mut().zip(lower.iter().zip(reference)) {
            *s = l + (r - l) * rng.random::<f64>();
        }
        if inside.iter().any(|p| p.iter().zip(&sample).all(|(v, s)| v <= s)) {
            hits += 1;
        }
    }
    let fraction = hits as f64 / n_samples as f64;
    Hypervolume {
        value: box_volume * fraction,
        standard_error: box_volume * (fraction * (1.0 - fraction) / n_samples as f64).sqrt(),
    }
}

/// A fixed way to turn sets of objective vectors into comparable hypervolumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum HypervolumeIndicator {
    /// Raw objective values against an explicit reference point.
    Raw {
        /// The reference point, in objective units.
        reference: ReferencePoint,
    },
    /// Objectives normalised by `bounds` to `[0, 1]`, reference point `1 + margin` everywhere.
    Normalized {
        /// The bounds used for normalisation.
        bounds: ObjectiveBounds,
        /// How far beyond the upper bounds the reference point lies, as a fraction of the range.
        margin: f64,
    },
}

impl HypervolumeIndicator {
    /// The normalised indicator (see the module documentation); `margin` must be finite and
    /// non-negative, 0.1 is a good default.
    pub fn normalized(bounds: ObjectiveBounds, margin: f64) -> Result<Self> {
        if !(margin.is_finite() && margin >= 0.0) {
            return Err(SearchError::InvalidConfig {
                parameter: "hypervolume margin",
                reason: format!("must be finite and non-negative, got {margin}"),
            });
        }
        Ok(HypervolumeIndicator::Normalized { bounds, margin })
    }

    /// Number of objectives the indicator expects.
    pub fn n_objectives(&self) -> usize {
        match self {
            HypervolumeIndicator::Raw { reference } => reference.coordinates().len(),
            HypervolumeIndicator::Normalized { bounds, .. } => bounds.lower().len(),
        }
    }

    /// The hypervolume of `points` under this indicator.
    pub fn evaluate<P: AsRef<[f64]>>(&self, points: &[P]) -> Result<Hypervolume> {
        match self {
            HypervolumeIndicator::Raw { reference } => hypervolume(points, reference),
            HypervolumeIndicator::Normalized { bounds, margin } => {
                // One flat buffer rather than one vector per point: this runs after every step.
                let m = bounds.lower().len();
                let mut flat = Vec::with_capacity(points.len() * m);
                for point in points {
                    if point.as_ref().len() != m {
                        return Err(SearchError::DimensionMismatch {
                            what: "point (against the normalisation bounds)".to_owned(),
                            expected: m,
                            found: point.as_ref().len(),
                        });
                    }
                    bounds.normalize_into(point.as_ref(), &mut flat);
                }
                let normalized: Vec<&[f64]> = flat.chunks_exact(m.max(1)).collect();
                let reference = ReferencePoint(vec![1.0 + margin; bounds.lower().len()]);
                hypervolume(&normalized, &reference)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(points: &[&[f64]], reference: &[f64], expected: f64) {
        let reference = ReferencePoint::new(reference.to_vec()).unwrap();
        let got = hypervolume(points, &reference).unwrap();
        assert!(
            (got.value - expected).abs() < 1e-12,
            "{points:?}: got {}, want {expected}",
            got.value
        );
        assert_eq!(got.standard_error, 0.0);
    }

    #[test]
    fn hand_computed_values() {
        // 1D: the distance from the best point to the reference.
        check(&[&[3.0], &[1.0]], &[4.0], 3.0);
        // 2D staircase: 3*1 + 2*1 + 1*1.
        check(&[&[1.0, 3.0], &[2.0, 2.0], &[3.0, 1.0]], &[4.0, 4.0], 6.0);
        // 2D with a dominated point, a duplicate and a point outside the reference.
        check(&[&[1.0, 3.0], &[2.0, 3.5], &[1.0, 3.0], &[5.0, 0.0], &[3.0, 1.0]], &[4.0, 4.0], 5.0);
        // 2D point on the reference boundary adds nothing.
        check(&[&[4.0, 1.0]], &[4.0, 4.0], 0.0);
        // 3D single box.
        check(&[&[0.0, 0.0, 0.0]], &[1.0, 2.0, 3.0], 6.0);
        // 3D two boxes: 4 + 2 - overlap 1.
        check(&[&[0.0, 0.0, 1.0], &[1.0, 1.0, 0.0]], &[2.0, 2.0, 2.0], 5.0);
        // 3D three axis-aligned points in a unit-4 cube: union by inclusion–exclusion.
        // Boxes [1,4]x[3,4]x[3,4]... each point (1,3,3)-style permutation has volume 3*1*1 = 3;
        // pairwise overlaps are 1*1*1 = 1 each, triple overlap 1: 9 - 3 + 1 = 7.
        check(&[&[1.0, 3.0, 3.0], &[3.0, 1.0, 3.0], &[3.0, 3.0, 1.0]], &[4.0, 4.0, 4.0], 7.0);
        // 3D with a dominated point and equal third coordinates.
        check(&[&[0.0, 1.0, 1.0], &[1.0, 0.0, 1.0], &[1.0, 1.0, 1.0]], &[2.0, 2.0, 2.0], 3.0);
        // Empty set.
        check(&[], &[1.0, 1.0, 1.0], 0.0);
    }

    #[test]
    fn normalised_indicator_uses_reference_one_plus_margin() {
        let bounds = ObjectiveBounds::new(vec![0.0, 10.0], vec![2.0, 30.0]).unwrap();
        let indicator = HypervolumeIndicator::normalized(bounds, 0.1).unwrap();
        // (1, 20) normalises to (0.5, 0.5); volume (1.1 - 0.5)^2.
        let hv = indicator.evaluate(&[[1.0, 20.0]]).unwrap();
        assert!((hv.value - 0.36).abs() < 1e-12);
    }

    #[test]
    fn rejects_mismatched_dimensions_and_nan() {
        let reference = ReferencePoint::new(vec![1.0, 1.0]).unwrap();
        assert!(hypervolume(&[[0.0, 0.0, 0.0]], &reference).is_err());
        assert!(hypervolume(&[[f64::NAN, 0.0]], &reference).is_err());
        assert!(ReferencePoint::new(vec![f64::INFINITY]).is_err());
        assert!(ObjectiveBounds::new(vec![1.0], vec![0.0]).is_err());
    }

    #[test]
    fn monte_carlo_estimate_brackets_a_hand_value_in_four_objectives() {
        // Two 4D boxes: [0,2]^4 (16) and [1,3]^4 shifted point (1,1,1,1) with reference 3:
        // box of point (0,0,0,0) = 3^4 = 81 already contains the other; use two incomparable ones.
        // Points (0,1,1,1) and (1,0,1,1), reference 2: volumes 2*1*1*1 each, overlap 1 -> 3.
        let points = [[0.0, 1.0, 1.0, 1.0], [1.0, 0.0, 1.0, 1.0]];
        let estimate = hypervolume_monte_carlo(&points, &[2.0; 4], 200_000, 1);
        assert!(estimate.standard_error > 0.0);
        assert!((estimate.value - 3.0).abs() < 4.0 * estimate.standard_error, "{estimate:?}");
    }

    #[test]
    fn exact_sweep_agrees_with_the_exact_low_dimensional_algorithms() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) % 1000) as f64 / 1000.0
        };
        for d in 2..=3 {
            for n in [1, 5, 30] {
                let pts: Vec<Vec<f64>> = (0..n).map(|_| (0..d).map(|_| next()).collect()).collect();
                let reference = vec![1.1; d];
                let known = if d == 2 {
                    hypervolume_2d(&pts, &reference)
                } else {
                    hypervolume_3d(&pts, &reference)
                };
                let swept = hypervolume_exact(&pts, &reference);
                assert!((swept - known).abs() < 1e-12, "{d} objectives, {n} points");
            }
        }
        // Four objectives: one box, and two boxes overlapping in a hand-derived volume.
        let one = hypervolume_exact(&[vec![0.5; 4]], &[1.0; 4]);
        assert!((one - 0.0625).abs() < 1e-15);
        // Boxes [0.5,1]^3×[0,1] (0.125) and [0,1]×[0.5,1]^3 (0.125) overlap in [0.5,1]^4 (0.0625).
        let two =
            hypervolume_exact(&[vec![0.5, 0.5, 0.5, 0.0], vec![0.0, 0.5, 0.5, 0.5]], &[1.0; 4]);
        assert!((two - 0.1875).abs() < 1e-15, "{two}");
        // Points outside the reference add nothing.
        assert_eq!(hypervolume_exact(&[vec![2.0, 0.0]], &[1.0, 1.0]), 0.0);
    }

    /// Inclusion–exclusion over all subsets: the volume of a union of boxes
    /// [p, reference) is Σ over non-empty subsets S of (−1)^(|S|+1) · vol(∩ S), and the
    /// intersection of such boxes is the box from the component-wise max.
    fn brute_force_hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
        let n = points.len();
        let mut total = 0.0;
        for mask in 1u32..(1 << n) {
            let mut corner = vec![f64::NEG_INFINITY; reference.len()];
            for (i, p) in points.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    for j in 0..reference.len() {
                        corner[j] = corner[j].max(p[j]);
                    }
                }
            }
            let vol: f64 = corner.iter().zip(reference).map(|(c, r)| (r - c).max(0.0)).product();
            let sign = if mask.count_ones() % 2 == 1 { 1.0 } else { -1.0 };
            total += sign * vol;
        }
        total
    }

    #[test]
    fn hypervolume_hand_computed() {
        // 2-D staircase against (4, 4): boxes [1,4)×[3,4), [2,4)×[2,4), [3,4)×[1,4):
        // 3·1 + 2·1 + 1·1 (the columns above each step) = 3 + 2 + 1 = 6.
        let pts = vec![vec![1.0, 3.0], vec![2.0, 2.0], vec![3.0, 1.0]];
        assert_eq!(hypervolume_exact(&pts, &[4.0, 4.0]), 6.0);
        // A dominated point and a point outside the reference add nothing.
        let mut more = pts.clone();
        more.push(vec![3.0, 3.0]);
        more.push(vec![0.5, 5.0]);
        assert_eq!(hypervolume_exact(&more, &[4.0, 4.0]), 6.0);
        // 3-D: two unit-reference boxes [0,1)^2×[0.5,1) ∪ [0.5,1)×[0,1)×[0,1):
        // 0.5 + 0.5 − 0.25 = 0.75.
        let pts3 = vec![vec![0.0, 0.0, 0.5], vec![0.5, 0.0, 0.0]];
        assert!((hypervolume_exact(&pts3, &[1.0, 1.0, 1.0]) - 0.75).abs() < 1e-12);
        // 1-D: the best point's distance to the reference.
        assert_eq!(hypervolume_exact(&[vec![2.0], vec![1.0]], &[5.0]), 4.0);
    }

    #[test]
    fn hypervolume_matches_inclusion_exclusion() {
        // A fixed pseudo-random generator (xorshift) keeps the test deterministic.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for d in 2..=4 {
            for _ in 0..20 {
                let n = 1 + (next() * 9.0) as usize;
                let pts: Vec<Vec<f64>> = (0..n).map(|_| (0..d).map(|_| next()).collect()).collect();
                let reference = vec![1.0; d];
                let exact = brute_force_hypervolume(&pts, &reference);
                let got = hypervolume_exact(&pts, &reference);
                assert!((exact - got).abs() < 1e-12, "d={d} n={n}: {got} vs {exact}");
            }
        }
    }
}
