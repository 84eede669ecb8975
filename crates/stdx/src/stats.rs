//! Rank and linear correlation, and the order statistics of timed passes.
//!
//! A correlation of fewer than two pairs, or of a constant variable, is undefined and returned as
//! NaN, never as a number that could be mistaken for a measurement.

/// Kendall's τ-b (ties in either variable handled), O(n²). Pairs beyond the shorter slice are
/// ignored.
pub fn kendall_tau(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    let (mut concordant, mut discordant, mut ties_x, mut ties_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[i].partial_cmp(&x[j]);
            let dy = y[i].partial_cmp(&y[j]);
            use std::cmp::Ordering::Equal;
            match (dx == Some(Equal), dy == Some(Equal)) {
                (true, true) => {}
                (true, false) => ties_x += 1,
                (false, true) => ties_y += 1,
                (false, false) if dx == dy => concordant += 1,
                (false, false) => discordant += 1,
            }
        }
    }
    let denom = (((concordant + discordant + ties_x) as f64)
        * ((concordant + discordant + ties_y) as f64))
        .sqrt();
    if denom == 0.0 { f64::NAN } else { (concordant - discordant) as f64 / denom }
}

/// 1-based ranks, ties sharing their average rank.
pub fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        // Positions start..=end (0-based) share the average 1-based rank.
        let rank = (start + end) as f64 / 2.0 + 1.0;
        for &idx in &order[start..=end] {
            ranks[idx] = rank;
        }
        start = end + 1;
    }
    ranks
}

/// Pearson's correlation of the first `min(x.len(), y.len())` pairs.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n < 2 {
        return f64::NAN;
    }
    let (x, y) = (&x[..n], &y[..n]);
    let (mx, my) = (x.iter().sum::<f64>() / n as f64, y.iter().sum::<f64>() / n as f64);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 { f64::NAN } else { sxy / (sxx * syy).sqrt() }
}

/// Spearman's ρ: Pearson's correlation of the (tie-averaged) ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    pearson(&ranks(&x[..n]), &ranks(&y[..n]))
}

/// How a set of timed passes is summarised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimingStat {
    /// The fastest pass: noise on a shared machine (preemption, a sleeping sibling thread woken
    /// late) only ever adds time, so the minimum is the least disturbed estimate.
    Min,
    /// The 10th percentile: nearly as robust to added noise as the minimum, less to one lucky pass.
    P10,
    /// The median pass (the upper median for an even count).
    Median,
    /// The mean of all passes.
    Mean,
    /// The interquartile mean: the mean of the middle half of the passes, stable where passes
    /// fall into a fast and a slow group of similar size (where the median jumps between them).
    Iqm,
}

impl TimingStat {
    /// The statistic of `samples` (sorted in place); 0 for none.
    pub fn of(self, samples: &mut [f64]) -> f64 {
        if samples.is_empty() {
            return 0.0;
        }
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        match self {
            TimingStat::Min => samples[0],
            TimingStat::P10 => samples[(n - 1) / 10],
            TimingStat::Median => samples[n / 2],
            TimingStat::Mean => mean(samples),
            TimingStat::Iqm => {
                let cut = n / 4;
                mean(&samples[cut..n - cut])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlations_by_hand() {
        // Perfect agreement, perfect reversal.
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(kendall_tau(&x, &[10.0, 20.0, 30.0, 40.0]), 1.0);
        assert_eq!(kendall_tau(&x, &[4.0, 3.0, 2.0, 1.0]), -1.0);
        // One swapped pair of six: (5 − 1) / 6.
        assert!((kendall_tau(&x, &[1.0, 3.0, 2.0, 4.0]) - 4.0 / 6.0).abs() < 1e-12);
        // Spearman of [1,3,2,4]: d² = 0+1+1+0 = 2, ρ = 1 − 6·2/(4·15) = 0.8.
        assert!((spearman(&x, &[1.0, 3.0, 2.0, 4.0]) - 0.8).abs() < 1e-12);
        // τ-b with a tie in y: pairs (1,2) tie in y; C = 5, D = 0, ties_y = 1:
        // τ_b = 5 / sqrt(6 · 5).
        assert!((kendall_tau(&x, &[1.0, 1.0, 2.0, 3.0]) - 5.0 / 30f64.sqrt()).abs() < 1e-12);
        // Ranks (1,2,3,4,5) vs (2,1,4,3,5): d² = 1+1+1+1+0 = 4, ρ = 1 − 6·4/(5·24) = 0.8.
        let rho = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]);
        assert!((rho - 0.8).abs() < 1e-12);
        // Pearson of a line with a slope of −2 is −1.
        assert!((pearson(&x, &[1.0, -1.0, -3.0, -5.0]) + 1.0).abs() < 1e-12);
    }

    #[test]
    fn ties_share_the_average_rank() {
        assert_eq!(ranks(&[10.0, 20.0, 20.0, 5.0]), vec![2.0, 3.5, 3.5, 1.0]);
        // Ranks [1, 2.5, 2.5, 4] against [1, 2, 3, 4]: the Pearson correlation of the ranks,
        // worked by hand: cov = 4.5, var = 5 and 4.5 → 4.5 / sqrt(22.5).
        let rho = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]);
        assert!((rho - 4.5 / 22.5f64.sqrt()).abs() < 1e-12, "{rho}");
        // Ranks of (1,1,2) are (1.5,1.5,3); against (1,2,3): 1.5 / sqrt(1.5 · 2).
        let rho = spearman(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]);
        assert!((rho - 1.5 / 3f64.sqrt()).abs() < 1e-12, "{rho}");
    }

    #[test]
    fn undefined_correlations_are_nan() {
        assert!(spearman(&[1.0], &[2.0]).is_nan());
        assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
        assert!(kendall_tau(&[1.0, 1.0], &[1.0, 1.0]).is_nan());
        assert!(spearman(&[], &[]).is_nan());
    }

    #[test]
    fn timing_statistics_of_known_samples() {
        let mut s = [5.0, 1.0, 4.0, 2.0, 3.0, 100.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(TimingStat::Min.of(&mut s), 1.0);
        // Eleven sorted samples: index (11 − 1) / 10 = 1 → 2; the median is index 5 → 6.
        assert_eq!(TimingStat::P10.of(&mut s), 2.0);
        assert_eq!(TimingStat::Median.of(&mut s), 6.0);
        assert_eq!(TimingStat::Mean.of(&mut s), 155.0 / 11.0);
        // Cut 2 at each end: mean of 3..=9 = 6.
        assert_eq!(TimingStat::Iqm.of(&mut s), 6.0);
        assert_eq!(TimingStat::Median.of(&mut []), 0.0);
    }
}
