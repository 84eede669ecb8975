//! Weight quantization to 2–8-bit integers (symmetric or asymmetric; per tensor, per output
//! channel or per group of inputs; optional MSE clipping), float casts, bit packing, and
//! activation range calibration.

use half::{bf16, f16};

use crate::plan::{ActCalibration, Clip, FloatFormat, Granularity};

/// How a weight matrix is quantized.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantParams {
    /// 2 to 8.
    pub bits: u8,
    /// Symmetric (no zero point) or asymmetric.
    pub symmetric: bool,
    /// Scale sharing.
    pub granularity: Granularity,
    /// Values per scale for per_group.
    pub group_size: usize,
    /// Weight clipping.
    pub clip: Clip,
}

/// A quantized weight matrix viewed as `rows × cols` (rows are output channels; a Conv's
/// `in·kh·kw` values form a row). Codes are unsigned: symmetric codes store `q + 2^(b−1)`.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedWeight {
    /// Rows (output channels).
    pub rows: usize,
    /// Columns (inputs per row).
    pub cols: usize,
    /// Bit width.
    pub bits: u8,
    /// Symmetric or asymmetric.
    pub symmetric: bool,
    /// Values per scale group along a row (`cols` for per-channel; per-tensor uses one group for
    /// the whole matrix and `group_cols == cols`, `per_tensor == true`).
    pub group_cols: usize,
    /// One scale for the whole matrix.
    pub per_tensor: bool,
    /// Codes, row-major, each < 2^bits.
    pub codes: Vec<u8>,
    /// Scales (exactly representable in f16, as they are stored).
    pub scales: Vec<f32>,
    /// Zero points (asymmetric only).
    pub zeros: Vec<u8>,
}

impl QuantizedWeight {
    /// Scale groups per row.
    pub fn groups_per_row(&self) -> usize {
        self.cols.div_ceil(self.group_cols)
    }

    fn group_of(&self, r: usize, c: usize) -> usize {
        if self.per_tensor { 0 } else { r * self.groups_per_row() + c / self.group_cols }
    }

    /// The dequantized values, row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        let offset = if self.symmetric { 1i32 << (self.bits - 1) } else { 0 };
        let mut out = Vec::with_capacity(self.codes.len());
        for r in 0..self.rows {
            for c in 0..self.cols {
                let g = self.group_of(r, c);
                let code = self.codes[r * self.cols + c] as i32;
                let zero = if self.symmetric { offset } else { self.zeros[g] as i32 };
                out.push((code - zero) as f32 * self.scales[g]);
            }
        }
        out
    }

    /// Stored bytes: packed codes, f16 scales, u8 zero points.
    pub fn stored_bytes(&self) -> u64 {
        packed_len(self.codes.len(), self.bits) as u64
            + 2 * self.scales.len() as u64
            + self.zeros.len() as u64
    }
}

/// Rounds a scale to the nearest f16 (they are stored as f16), never to zero.
fn f16_scale(s: f32) -> f32 {
    let r = f16::from_f32(s).to_f32();
    if r.is_infinite() {
        f16::MAX.to_f32()
    } else if r > 0.0 {
        r
    } else if s > 0.0 {
        f16::MIN_POSITIVE_SUBNORMAL.to_f32()
    } else {
        1.0
    }
}

fn quantize_group(values: &[f32], bits: u8, symmetric: bool, alpha: f32) -> (f32, u8, Vec<u8>) {
    if symmetric {
        let qmax = ((1i32 << (bits - 1)) - 1) as f32;
        let absmax = values.iter().fold(0f32, |m, v| m.max(v.abs())) * alpha;
        let scale = if absmax > 0.0 { f16_scale(absmax / qmax) } else { 1.0 };
        let offset = (1i32 << (bits - 1)) as f32;
        let codes = values
            .iter()
            .map(|v| ((v / scale).round().clamp(-qmax, qmax) + offset) as u8)
            .collect();
        (scale, 0, codes)
    } else {
        let qmax = ((1u32 << bits) - 1) as f32;
        let lo = values.iter().fold(0f32, |m, v| m.min(*v)) * alpha;
        let hi = values.iter().fold(0f32, |m, v| m.max(*v)) * alpha;
        let scale = if hi > lo { f16_scale((hi - lo) / qmax) } else { 1.0 };
        let zero = (-lo / scale).round().clamp(0.0, qmax);
        let codes =
            values.iter().map(|v| ((v / scale).round() + zero).clamp(0.0, qmax) as u8).collect();
        (scale, zero as u8, codes)
    }
}

fn group_error(
    values: &[f32],
    scale: f32,
    zero: u8,
    codes: &[u8],
    bits: u8,
    symmetric: bool,
) -> f64 {
    let z = if symmetric { (1i32 << (bits - 1)) as f32 } else { zero as f32 };
    values.iter().zip(codes).map(|(v, c)| ((*c as f32 - z) * scale - v) as f64).map(|e| e * e).sum()
}

/// Quantizes a row-major `rows × cols` matrix.
pub fn quantize_weight(
    values: &[f32],
    rows: usize,
    cols: usize,
    params: &QuantParams,
) -> QuantizedWeight {
    let (per_tensor, group_cols) = match params.granularity {
        Granularity::PerTensor => (true, cols),
        Granularity::PerChannel => (false, cols),
        Granularity::PerGroup => (false, params.group_size.min(cols).max(1)),
    };
    let alphas: Vec<f32> = match params.clip {
        Clip::None => vec![1.0],
        Clip::Mse => (0..11).map(|i| 1.0 - 0.05 * i as f32).collect(),
    };
    let best = |vals: &[f32]| -> (f32, u8, Vec<u8>) {
        type Candidate = ((f32, u8, Vec<u8>), f64);
        let mut best: Option<Candidate> = None;
        for &a in &alphas {
            let q = quantize_group(vals, params.bits, params.symmetric, a);
            let err = if alphas.len() > 1 {
                group_error(vals, q.0, q.1, &q.2, params.bits, params.symmetric)
            } else {
                0.0
            };
            if best.as_ref().is_none_or(|(_, e)| err < *e) {
                best = Some((q, err));
            }
        }
        best.map(|(q, _)| q).expect("at least one clipping ratio")
    };
    let mut codes = vec![0u8; rows * cols];
    let mut scales = Vec::new();
    let mut zeros = Vec::new();
    if per_tensor {
        let (s, z, c) = best(values);
        codes = c;
        scales.push(s);
        zeros.push(z);
    } else {
        for r in 0..rows {
            for start in (0..cols).step_by(group_cols) {
                let end = (start + group_cols).min(cols);
                let (s, z, c) = best(&values[r * cols + start..r * cols + end]);
                codes[r * cols + start..r * cols + end].copy_from_slice(&c);
                scales.push(s);
                zeros.push(z);
            }
        }
    }
    if params.symmetric {
        zeros.clear();
    }
    QuantizedWeight {
        rows,
        cols,
        bits: params.bits,
        symmetric: params.symmetric,
        group_cols,
        per_tensor,
        codes,
        scales,
        zeros,
    }
}

/// Rounds values to a 16-bit float format and back.
pub fn float_cast(values: &[f32], format: FloatFormat) -> Vec<f32> {
    match format {
        FloatFormat::Fp16 => values.iter().map(|v| f16::from_f32(*v).to_f32()).collect(),
        FloatFormat::Bf16 => values.iter().map(|v| bf16::from_f32(*v).to_f32()).collect(),
    }
}

/// Bytes needed for `n` values of `bits` bits packed.
pub fn packed_len(n: usize, bits: u8) -> usize {
    (n * bits as usize).div_ceil(8)
}

/// Packs values of `bits` bits each into a continuous little-endian bit stream (a value may
/// straddle two bytes).
pub fn pack_bits(values: &[u8], bits: u8) -> Vec<u8> {
    let mut out = vec![0u8; packed_len(values.len(), bits)];
    let mut bit = 0usize;
    for &v in values {
        for b in 0..bits as usize {
            if (v >> b) & 1 == 1 {
                out[(bit + b) / 8] |= 1 << ((bit + b) % 8);
            }
        }
        bit += bits as usize;
    }
    out
}

/// Unpacks `n` values of `bits` bits from a stream written by [`pack_bits`].
pub fn unpack_bits(bytes: &[u8], bits: u8, n: usize) -> Option<Vec<u8>> {
    if bytes.len() < packed_len(n, bits) {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    let mut bit = 0usize;
    for _ in 0..n {
        let mut v = 0u8;
        for b in 0..bits as usize {
            if (bytes[(bit + b) / 8] >> ((bit + b) % 8)) & 1 == 1 {
                v |= 1 << b;
            }
        }
        out.push(v);
        bit += bits as usize;
    }
    Some(out)
}

/// An activation quantizer: unsigned `bits`-bit grid with a scale and zero point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActRange {
    /// Step.
    pub scale: f32,
    /// Integer representing 0.0.
    pub zero_point: f32,
    /// Largest code.
    pub q_max: f32,
}

/// Calibrates an activation quantizer from sample values.
pub fn calibrate_activation(samples: &[f32], bits: u8, method: ActCalibration) -> ActRange {
    let q_max = ((1u32 << bits) - 1) as f32;
    let range = |lo: f32, hi: f32| -> ActRange {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let scale = if hi > lo { (hi - lo) / q_max } else { 1.0 };
        ActRange { scale, zero_point: (-lo / scale).round().clamp(0.0, q_max), q_max }
    };
    if samples.is_empty() {
        return range(0.0, 0.0);
    }
    let (lo, hi) = samples.iter().fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    match method {
        ActCalibration::MinMax => range(lo, hi),
        ActCalibration::Percentile => {
            let mut s = samples.to_vec();
            s.sort_by(|a, b| a.total_cmp(b));
            let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
            range(at(0.0001), at(0.9999))
        }
        ActCalibration::Mse => {
            let mut best = (f64::MAX, range(lo, hi));
            for i in 0..20 {
                let a = 1.0 - 0.04 * i as f32;
                let r = range(lo * a, hi * a);
                let err: f64 = samples
                    .iter()
                    .map(|v| {
                        let q = ((v / r.scale).round() + r.zero_point).clamp(0.0, r.q_max);
                        let d = (q - r.zero_point) * r.scale - v;
                        (d * d) as f64
                    })
                    .sum();
                if err < best.0 {
                    best = (err, r);
                }
            }
            best.1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(
        bits: u8,
        symmetric: bool,
        granularity: Granularity,
        group_size: usize,
    ) -> QuantParams {
        QuantParams { bits, symmetric, granularity, group_size, clip: Clip::None }
    }

    #[test]
    fn symmetric_int8_per_channel_by_hand() {
        // Row 0 absmax 1.27 → scale 0.01 (f16-rounded: 0.01000213623046875); row 1 absmax 2.54.
        let w = [1.27, -0.5, 0.004, 2.54, 0.0, -2.54];
        let q = quantize_weight(&w, 2, 3, &params(8, true, Granularity::PerChannel, 0));
        assert_eq!(q.scales.len(), 2);
        assert_eq!(q.scales[0], f16::from_f32(0.01).to_f32());
        // Codes are q + 128: round(1.27/s)=127, round(-0.5/s)=-50, round(0.004/s)=0.
        assert_eq!(&q.codes[..3], &[255, 78, 128]);
        assert_eq!(&q.codes[3..], &[255, 128, 1]);
        let d = q.dequantize();
        for (a, b) in d.iter().zip(&w) {
            assert!((a - b).abs() <= q.scales[0].max(q.scales[1]) / 2.0 + 1e-6);
        }
    }

    #[test]
    fn asymmetric_int4_per_group_by_hand() {
        // One group [0, 1.5]: lo 0, hi 1.5, scale 0.1, zero 0; codes = round(v / 0.1).
        let w = [0.0, 0.5, 1.0, 1.5];
        let q = quantize_weight(&w, 1, 4, &params(4, false, Granularity::PerGroup, 32));
        let s = f16::from_f32(0.1).to_f32();
        assert_eq!(q.scales, vec![s]);
        assert_eq!(q.zeros, vec![0]);
        assert_eq!(q.codes, vec![0, (0.5 / s).round() as u8, (1.0 / s).round() as u8, 15]);
        // Two groups of 2 on a 1×4 row.
        let q = quantize_weight(
            &[-1.0, 1.0, 0.0, 3.0],
            1,
            4,
            &params(4, false, Granularity::PerGroup, 2),
        );
        assert_eq!(q.scales.len(), 2);
        assert_eq!(q.groups_per_row(), 2);
    }

    #[test]
    fn quantization_error_shrinks_with_bits_and_is_bounded_by_half_a_step() {
        let w: Vec<f32> = (0..256).map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 0.3).collect();
        let mut last = f64::MAX;
        for bits in [2u8, 3, 4, 6, 8] {
            let q = quantize_weight(&w, 4, 64, &params(bits, true, Granularity::PerGroup, 32));
            let d = q.dequantize();
            let mse: f64 =
                w.iter().zip(&d).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / 256.0;
            assert!(mse < last, "{bits} bits: {mse} ≥ {last}");
            last = mse;
            let max_scale = q.scales.iter().cloned().fold(0f32, f32::max);
            assert!(w.iter().zip(&d).all(|(a, b)| (a - b).abs() <= max_scale / 2.0 + 1e-6));
        }
    }

    #[test]
    fn mse_clipping_never_loses_to_round_to_nearest() {
        // Rows of 64 values spread over [-1, 1] with one moderate outlier (1.6): at 3 bits,
        // clipping the outlier shrinks the step for the other 63 values, which pays.
        let mut w: Vec<f32> = (0..128).map(|i| (i * 37 % 64) as f32 / 31.5 - 1.0).collect();
        w[5] = 1.6;
        w[70] = -1.6;
        let err = |w: &[f32], clip| {
            let p = QuantParams { clip, ..params(3, true, Granularity::PerChannel, 0) };
            let d = quantize_weight(w, 2, 64, &p).dequantize();
            w.iter().zip(&d).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>()
        };
        assert!(err(&w, Clip::Mse) < 0.9 * err(&w, Clip::None));
        // With one huge outlier, clipping it would cost more than it saves: the search keeps
        // the full range (ratio 1.0 is among the candidates), so it never does worse.
        let mut w2: Vec<f32> = (0..128).map(|i| ((i * 13 % 29) as f32 - 14.0) / 100.0).collect();
        w2[5] = 3.0;
        assert!(err(&w2, Clip::Mse) <= err(&w2, Clip::None));
    }

    #[test]
    fn bit_packing_round_trips_every_width() {
        for bits in 1..=8u8 {
            let values: Vec<u8> = (0..37).map(|i| ((i * 7 + 3) % (1u32 << bits)) as u8).collect();
            let packed = pack_bits(&values, bits);
            assert_eq!(packed.len(), (37 * bits as usize).div_ceil(8));
            assert_eq!(unpack_bits(&packed, bits, 37).unwrap(), values);
        }
        // 4-bit: two per byte, low nibble first.
        assert_eq!(pack_bits(&[0x3, 0xA], 4), vec![0xA3]);
        assert!(unpack_bits(&[0], 4, 3).is_none());
    }

    #[test]
    fn activation_calibration_methods() {
        let samples: Vec<f32> = (0..10_000).map(|i| i as f32 / 10_000.0).chain([100.0]).collect();
        let mm = calibrate_activation(&samples, 8, ActCalibration::MinMax);
        assert!((mm.scale - 100.0 / 255.0).abs() < 1e-6);
        assert_eq!(mm.zero_point, 0.0);
        let pc = calibrate_activation(&samples, 8, ActCalibration::Percentile);
        assert!(pc.scale < 1.01 / 255.0, "{pc:?}");
        let mse = calibrate_activation(&samples, 8, ActCalibration::Mse);
        assert!(mse.scale <= mm.scale);
        // Negative values get a zero point.
        let r = calibrate_activation(&[-1.0, 3.0], 8, ActCalibration::MinMax);
        assert!((r.scale - 4.0 / 255.0).abs() < 1e-6);
        assert_eq!(r.zero_point, (1.0f32 / (4.0 / 255.0)).round());
    }

    #[test]
    fn float_casts_round() {
        assert_eq!(float_cast(&[1.0 + 1.0 / 4096.0], FloatFormat::Fp16), vec![1.0]);
        assert_eq!(float_cast(&[1.0 + 1.0 / 256.0], FloatFormat::Bf16), vec![1.0]);
        assert_eq!(float_cast(&[1.5], FloatFormat::Bf16), vec![1.5]);
    }
}
