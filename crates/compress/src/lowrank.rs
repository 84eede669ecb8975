//! Low-rank factorisation by truncated SVD (nalgebra): a Linear `W ≈ U·V`; a k×k Conv as a k×1
//! Conv followed by a 1×k Conv (SVD of the kernel reshaped to `[(in, kh), (out, kw)]`); a 1×1
//! Conv as two 1×1 Convs.

use candle_core::{Device, Tensor};
use nalgebra::DMatrix;

use sculpt_model::{Conv2d, Linear, Op};

use crate::error::{Error, Result};
use crate::plan::Rank;

/// Singular values of the matrix the layer factorises (largest first).
pub fn singular_values(op: &Op) -> Result<Vec<f64>> {
    let m = layer_matrix(op)?;
    Ok(m.singular_values().iter().copied().collect())
}

/// The number of singular values of the matrix the layer factorises, from its shape alone
/// (what [`singular_values`]`(op).len()` is, without the SVD).
pub fn full_rank(op: &Op) -> Result<usize> {
    let (rows, cols) = matrix_shape(op)?;
    Ok(rows.min(cols))
}

/// `(rows, cols)` of the matrix [`layer_matrix`] builds.
fn matrix_shape(op: &Op) -> Result<(usize, usize)> {
    match op {
        Op::Linear(l) => Ok((l.out_features(), l.in_features())),
        Op::Conv2d(c) if c.groups == 1 => {
            let (o, i) = (c.out_channels(), c.weight.dims()[1]);
            let (kh, kw) = c.kernel();
            Ok(if kh == 1 && kw == 1 { (o, i) } else { (i * kh, o * kw) })
        }
        other => Err(Error::Unsupported {
            what: format!("low-rank factorisation of a {} layer", other.kind()),
        }),
    }
}

/// The rank an option asks for, given the singular values.
pub fn choose_rank(rank: &Rank, sv: &[f64]) -> usize {
    let full = sv.len();
    if let Some(k) = rank.rank {
        return k.min(full).max(1);
    }
    if let Some(r) = rank.ratio {
        return ((r * full as f64).round() as usize).clamp(1, full);
    }
    let e = rank.energy.unwrap_or(1.0);
    let total: f64 = sv.iter().map(|s| s * s).sum();
    let mut acc = 0.0;
    for (i, s) in sv.iter().enumerate() {
        acc += s * s;
        if acc >= e * total - 1e-12 * total {
            return i + 1;
        }
    }
    full
}

fn to_matrix(t: &Tensor, rows: usize, cols: usize) -> Result<DMatrix<f64>> {
    let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
    Ok(DMatrix::from_row_iterator(rows, cols, v.into_iter().map(f64::from)))
}

/// The matrix whose SVD factorises the layer.
fn layer_matrix(op: &Op) -> Result<DMatrix<f64>> {
    let (rows, cols) = matrix_shape(op)?;
    match op {
        Op::Conv2d(c) if c.kernel() != (1, 1) => {
            // M[(ci, y), (o, x)] = W[o, ci, y, x].
            let w = c.weight.permute((1, 2, 0, 3))?.contiguous()?;
            to_matrix(&w, rows, cols)
        }
        Op::Conv2d(c) => to_matrix(&c.weight, rows, cols),
        Op::Linear(l) => to_matrix(&l.weight, rows, cols),
        other => Err(Error::Unsupported {
            what: format!("low-rank factorisation of a {} layer", other.kind()),
        }),
    }
}

/// `M ≈ A·B` with `A = U_r √S_r` (rows × r) and `B = √S_r V_rᵀ` (r × cols).
fn factor(m: &DMatrix<f64>, r: usize) -> (DMatrix<f64>, DMatrix<f64>) {
    let svd = m.clone().svd(true, true);
    let (u, vt) = (svd.u.expect("u requested"), svd.v_t.expect("v_t requested"));
    // nalgebra does not promise sorted singular values; order them.
    let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
    order.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]));
    let mut a = DMatrix::zeros(m.nrows(), r);
    let mut b = DMatrix::zeros(r, m.ncols());
    for (k, &j) in order.iter().take(r).enumerate() {
        let s = svd.singular_values[j].sqrt();
        a.set_column(k, &(u.column(j) * s));
        b.set_row(k, &(vt.row(j) * s));
    }
    (a, b)
}

fn tensor(m: &DMatrix<f64>, shape: &[usize]) -> Result<Tensor> {
    let mut v = Vec::with_capacity(m.len());
    for r in 0..m.nrows() {
        for c in 0..m.ncols() {
            v.push(m[(r, c)] as f32);
        }
    }
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

/// The two layers replacing a factorised one: the first reads the original input, the second
/// produces the original output (and carries the bias).
pub fn factorise(op: &Op, rank: &Rank) -> Result<(Op, Op, usize)> {
    let m = layer_matrix(op)?;
    let sv: Vec<f64> = {
        let mut s: Vec<f64> = m.singular_values().iter().copied().collect();
        s.sort_by(|a, b| b.total_cmp(a));
        s
    };
    let r = choose_rank(rank, &sv);
    let (a, b) = factor(&m, r);
    match op {
        Op::Linear(l) => {
            // W (out × in) = A (out × r) · B (r × in): first x·Bᵀ, then ·Aᵀ.
            let first = Linear::new(tensor(&b, &[r, l.in_features()])?, None);
            let second = Linear::new(tensor(&a, &[l.out_features(), r])?, l.bias.clone());
            Ok((Op::Linear(first), Op::Linear(second), r))
        }
        Op::Conv2d(c) => {
            let (o, i) = (c.out_channels(), c.weight.dims()[1]);
            let (kh, kw) = c.kernel();
            if c.dilation != 1 {
                return Err(Error::Unsupported {
                    what: "low-rank factorisation of a dilated convolution".into(),
                });
            }
            if kh == 1 && kw == 1 {
                let first = Conv2d { weight: tensor(&b, &[r, i, 1, 1])?, bias: None, ..c.clone() };
                let second = Conv2d {
                    weight: tensor(&a, &[o, r, 1, 1])?,
                    bias: c.bias.clone(),
                    stride: (1, 1),
                    padding: (0, 0),
                    dilation: 1,
                    groups: 1,
                };
                return Ok((Op::Conv2d(first), Op::Conv2d(second), r));
            }
            // Vertical: V[r, ci, y, 0] = A[(ci, y), r]; horizontal: H[o, r, 0, x] = B[r, (o, x)].
            let vertical = tensor(&a.transpose(), &[r, i, kh, 1])?;
            let horizontal = tensor(&b, &[r, o, 1, kw])?.permute((1, 0, 2, 3))?.contiguous()?;
            let first = Conv2d {
                weight: vertical,
                bias: None,
                stride: (c.stride.0, 1),
                padding: (c.padding.0, 0),
                dilation: 1,
                groups: 1,
            };
            let second = Conv2d {
                weight: horizontal,
                bias: c.bias.clone(),
                stride: (1, c.stride.1),
                padding: (0, c.padding.1),
                dilation: 1,
                groups: 1,
            };
            Ok((Op::Conv2d(first), Op::Conv2d(second), r))
        }
        other => Err(Error::Unsupported {
            what: format!("low-rank factorisation of a {} layer", other.kind()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(op: &Op, x: &Tensor) -> Tensor {
        match op {
            Op::Linear(l) => x
                .matmul(&l.weight.t().unwrap())
                .unwrap()
                .broadcast_add(l.bias.as_ref().unwrap())
                .unwrap(),
            Op::Conv2d(c) => {
                let padded = x
                    .pad_with_zeros(2, c.padding.0, c.padding.0)
                    .unwrap()
                    .pad_with_zeros(3, c.padding.1, c.padding.1)
                    .unwrap();
                let y = padded.conv2d(&c.weight, 0, 1, 1, 1).unwrap();
                // Subsample for stride.
                let (_, _, h, w) = y.dims4().unwrap();
                let rows: Vec<u32> = (0..h as u32).step_by(c.stride.0).collect();
                let cols: Vec<u32> = (0..w as u32).step_by(c.stride.1).collect();
                let y = y
                    .index_select(&Tensor::new(rows.as_slice(), &Device::Cpu).unwrap(), 2)
                    .unwrap();
                let y = y
                    .index_select(&Tensor::new(cols.as_slice(), &Device::Cpu).unwrap(), 3)
                    .unwrap();
                match &c.bias {
                    Some(b) => {
                        y.broadcast_add(&b.reshape((1, b.dims1().unwrap(), 1, 1)).unwrap()).unwrap()
                    }
                    None => y,
                }
            }
            _ => unreachable!(),
        }
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
    }

    #[test]
    fn full_rank_linear_factorisation_is_exact_and_rank_one_is_by_hand() {
        let w = Tensor::new(&[[1f32, 2., 3.], [2., 4., 6.]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[0.5f32, -0.5], &Device::Cpu).unwrap();
        let op = Op::Linear(Linear::new(w, Some(b)));
        // The matrix has rank 1: one factor reproduces it exactly.
        let (first, second, r) =
            factorise(&op, &Rank { ratio: None, rank: Some(1), energy: None }).unwrap();
        assert_eq!(r, 1);
        let x = Tensor::new(&[[1f32, -1., 2.]], &Device::Cpu).unwrap();
        let Op::Linear(f) = &first else { panic!() };
        let Op::Linear(s) = &second else { panic!() };
        let y = x
            .matmul(&f.weight.t().unwrap())
            .unwrap()
            .matmul(&s.weight.t().unwrap())
            .unwrap()
            .broadcast_add(s.bias.as_ref().unwrap())
            .unwrap();
        // By hand: W x = [1 - 2 + 6, 2 - 4 + 12] = [5, 10], plus bias.
        assert!(max_diff(&y, &Tensor::new(&[[5.5f32, 9.5]], &Device::Cpu).unwrap()) < 1e-4);
        assert_eq!(singular_values(&op).unwrap().iter().filter(|s| **s > 1e-6).count(), 1);
    }

    #[test]
    fn spatial_conv_factorisation_at_full_rank_equals_the_convolution() {
        let w = Tensor::randn(0f32, 1., (4, 3, 3, 3), &Device::Cpu).unwrap();
        let b = Tensor::randn(0f32, 1., 4, &Device::Cpu).unwrap();
        let conv = Conv2d {
            weight: w,
            bias: Some(b),
            stride: (2, 2),
            padding: (1, 1),
            dilation: 1,
            groups: 1,
        };
        let op = Op::Conv2d(conv);
        // Full rank: min(3·3, 4·3) = 9.
        let (first, second, r) =
            factorise(&op, &Rank { ratio: Some(1.0), rank: None, energy: None }).unwrap();
        assert_eq!(r, 9);
        let x = Tensor::randn(0f32, 1., (2, 3, 7, 6), &Device::Cpu).unwrap();
        let expected = forward(&op, &x);
        let Op::Conv2d(c1) = first else { panic!() };
        let Op::Conv2d(c2) = second else { panic!() };
        assert_eq!(c1.kernel(), (3, 1));
        assert_eq!(c2.kernel(), (1, 3));
        let mid = forward(&Op::Conv2d(Conv2d { bias: None, ..c1.clone() }), &x);
        let got = forward(&Op::Conv2d(c2), &mid);
        assert_eq!(got.dims(), expected.dims());
        assert!(max_diff(&got, &expected) < 1e-3, "{}", max_diff(&got, &expected));
    }

    /// The shape rule against the SVD's own count, for a wide and a tall Linear, a 1×1 Conv
    /// and 3×3 Convs either way round.
    #[test]
    fn full_rank_from_the_shape_is_the_number_of_singular_values() {
        let dev = &Device::Cpu;
        let conv = |o: usize, i: usize, k: usize| {
            Op::Conv2d(Conv2d {
                weight: Tensor::randn(0f32, 1., (o, i, k, k), dev).unwrap(),
                bias: None,
                stride: (1, 1),
                padding: (k / 2, k / 2),
                dilation: 1,
                groups: 1,
            })
        };
        let linear = |o: usize, i: usize| {
            Op::Linear(Linear::new(Tensor::randn(0f32, 1., (o, i), dev).unwrap(), None))
        };
        for op in [linear(7, 3), linear(3, 7), conv(5, 2, 1), conv(4, 3, 3), conv(2, 9, 3)] {
            assert_eq!(full_rank(&op).unwrap(), singular_values(&op).unwrap().len());
        }
        // By hand: 4 outputs, 3 inputs, 3×3 → a 9 × 12 matrix, 9 singular values.
        assert_eq!(full_rank(&conv(4, 3, 3)).unwrap(), 9);
    }

    #[test]
    fn rank_choice_by_ratio_and_energy() {
        let sv = [4.0, 2.0, 1.0, 1.0];
        assert_eq!(choose_rank(&Rank { ratio: Some(0.5), rank: None, energy: None }, &sv), 2);
        // Energies 16, 4, 1, 1 of 22: 16/22 = 0.727, 20/22 = 0.909.
        assert_eq!(choose_rank(&Rank { ratio: None, rank: None, energy: Some(0.9) }, &sv), 2);
        assert_eq!(choose_rank(&Rank { ratio: None, rank: None, energy: Some(0.95) }, &sv), 3);
        assert_eq!(choose_rank(&Rank { ratio: None, rank: None, energy: Some(0.7) }, &sv), 1);
    }
}
