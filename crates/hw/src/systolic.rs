//! The fold model: how many cycles a GEMM takes on a systolic array.
//!
//! A `groups`-times-repeated GEMM `C[M×N] = A[M×K]·B[K×N]` is cut into *folds*, each of which
//! occupies the whole `R×C` array (`R` rows, `C` columns) once. With `ceil` rounding up:
//!
//! | dataflow | held in the array | folds | cycles per fold |
//! |---|---|---|---|
//! | `ws` (weight stationary) | a `R×C` tile of `B` | `ceil(K/R)·ceil(N/C)` | `R + (R−1) + M + (C−1) = 2R + C + M − 2` |
//! | `os` (output stationary) | a `R×C` tile of `C` | `ceil(M/R)·ceil(N/C)` | `K + (R−1) + (C−1) = K + R + C − 2` |
//! | `is` (input stationary) | a `R×C` tile of `Aᵀ` | `ceil(K/R)·ceil(M/C)` | `2R + C + N − 2` |
//!
//! For `ws` the four terms are: loading the weight tile (`R` cycles, one row per cycle), the skew of
//! the first input row across the array's rows (`R − 1`), streaming the `M` input rows, and
//! draining the last partial sums across the columns (`C − 1`). `is` is the same with the roles of
//! `M` and `N` swapped; `os` has no preload, streams the `K` reduction steps, and drains. Folds run
//! back to back without overlap, and a partial tile costs as much as a full one, which is where the
//! array loses utilisation on small or odd shapes (a depthwise convolution's `K = 9, N = 1` uses 9
//! of 16,384 PEs of a 128×128 array).
//!
//! `total = groups · folds · cycles_per_fold`. This is the model SCALE-Sim 3.0 implements in its
//! demand matrices; SCALE-Sim reports one cycle less (it prints the index of the last cycle,
//! counting from zero). `benches/scalesim` compares the two on real shapes.

use serde::{Deserialize, Serialize};

use crate::workload::Gemm;

/// Which operand stays in the processing elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataflow {
    /// Weight stationary (TPUv1, Edge TPU).
    Ws,
    /// Output stationary.
    Os,
    /// Input stationary.
    Is,
}

/// A systolic array's geometry and clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SystolicArray {
    /// Processing-element rows (the reduction dimension `K` maps onto them for `ws` and `is`).
    pub rows: u32,
    /// Processing-element columns.
    pub cols: u32,
    /// The dataflow.
    pub dataflow: Dataflow,
    /// The clock in Hz.
    pub clock_hz: f64,
}

impl SystolicArray {
    /// The number of folds of `gemm` per group (see the module docs).
    pub fn folds(&self, gemm: &Gemm) -> u64 {
        let (r, c) = (u64::from(self.rows), u64::from(self.cols));
        match self.dataflow {
            Dataflow::Ws => gemm.k.div_ceil(r).saturating_mul(gemm.n.div_ceil(c)),
            Dataflow::Os => gemm.m.div_ceil(r).saturating_mul(gemm.n.div_ceil(c)),
            Dataflow::Is => gemm.k.div_ceil(r).saturating_mul(gemm.m.div_ceil(c)),
        }
    }

    /// The cycles one fold takes (see the module docs).
    pub fn cycles_per_fold(&self, gemm: &Gemm) -> u64 {
        let (r, c) = (u64::from(self.rows), u64::from(self.cols));
        match self.dataflow {
            Dataflow::Ws => (2 * r + c - 2).saturating_add(gemm.m),
            Dataflow::Os => (r + c - 2).saturating_add(gemm.k),
            Dataflow::Is => (2 * r + c - 2).saturating_add(gemm.n),
        }
    }

    /// The compute cycles of the whole (grouped) GEMM: `groups · folds · cycles_per_fold`.
    pub fn compute_cycles(&self, gemm: &Gemm) -> u64 {
        gemm.groups.saturating_mul(self.folds(gemm)).saturating_mul(self.cycles_per_fold(gemm))
    }

    /// The share of PE-cycles doing useful MACs: `groups·M·N·K / (R·C·cycles)`.
    pub fn utilisation(&self, gemm: &Gemm) -> f64 {
        let pe_cycles =
            f64::from(self.rows) * f64::from(self.cols) * self.compute_cycles(gemm) as f64;
        gemm.macs() as f64 / pe_cycles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(rows: u32, cols: u32, dataflow: Dataflow) -> SystolicArray {
        SystolicArray { rows, cols, dataflow, clock_hz: 1e9 }
    }

    /// Expected values are SCALE-Sim 3.0's "Total Cycles" plus one, read from its
    /// COMPUTE_REPORT.csv for an 8×8 array (run by hand on this machine).
    fn check(dataflow: Dataflow, (m, n, k): (u64, u64, u64), scalesim_total_cycles: u64) {
        let got = array(8, 8, dataflow).compute_cycles(&Gemm::new(m, n, k));
        assert_eq!(got, scalesim_total_cycles + 1, "{dataflow:?} m={m} n={n} k={k}");
    }

    #[test]
    fn matches_scalesim_on_an_8x8_array() {
        check(Dataflow::Ws, (16, 8, 8), 37);
        check(Dataflow::Ws, (20, 10, 12), 167);
        check(Dataflow::Ws, (5, 3, 3), 26);
        check(Dataflow::Ws, (100, 17, 30), 1463);
        check(Dataflow::Os, (16, 8, 8), 43);
        check(Dataflow::Os, (20, 10, 12), 155);
        check(Dataflow::Os, (5, 3, 3), 16);
        check(Dataflow::Os, (100, 17, 30), 1715);
        check(Dataflow::Is, (16, 8, 8), 59);
        check(Dataflow::Is, (20, 10, 12), 191);
        check(Dataflow::Is, (5, 3, 3), 24);
        check(Dataflow::Is, (100, 17, 30), 2027);
    }

    #[test]
    fn groups_multiply_and_utilisation_is_a_fraction() {
        let ws = array(4, 4, Dataflow::Ws);
        let one = Gemm::new(10, 4, 4);
        let three = Gemm { groups: 3, ..one };
        // One fold of 2·4 + 4 + 10 − 2 = 20 cycles, 160 MACs on 16 PEs.
        assert_eq!(ws.compute_cycles(&one), 20);
        assert_eq!(ws.compute_cycles(&three), 60);
        assert!((ws.utilisation(&one) - 160.0 / (16.0 * 20.0)).abs() < 1e-12);
    }
}
