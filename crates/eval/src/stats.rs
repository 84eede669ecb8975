//! Rank and linear correlation.

/// Kendall's τ-b (ties in either variable handled), O(n²).
pub fn kendall_tau(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    let (mut concordant, mut discordant, mut ties_x, mut ties_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let dx = (x[i] - x[j]).signum() * f64::from(x[i] != x[j]);
            let dy = (y[i] - y[j]).signum() * f64::from(y[i] != y[j]);
            match (dx == 0.0, dy == 0.0) {
                (true, true) => {}
                (true, false) => ties_x += 1,
                (false, true) => ties_y += 1,
                (false, false) => {
                    if dx == dy {
                        concordant += 1
                    } else {
                        discordant += 1
                    }
                }
            }
        }
    }
    let denom = (((concordant + discordant + ties_x) as f64)
        * ((concordant + discordant + ties_y) as f64))
        .sqrt();
    if denom == 0.0 { 0.0 } else { (concordant - discordant) as f64 / denom }
}

/// Ranks with ties averaged (1-based).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            r[order[k]] = avg;
        }
        i = j + 1;
    }
    r
}

/// Pearson's correlation.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// Spearman's ρ: Pearson's correlation of the (tie-averaged) ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
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
    }
}
