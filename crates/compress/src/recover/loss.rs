//! The knowledge-distillation loss.

use candle_core::{D, Tensor};

/// `α·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 − α)·CE(student, labels)`, averaged
/// over the batch (Hinton et al., 2015; the T² keeps the gradient scale independent of T).
///
/// `student` and `teacher` are logits `[batch, classes]`; `labels` (u32 `[batch]`) are needed
/// only when `alpha < 1`. No gradient flows into the teacher.
pub fn distillation_loss(
    student: &Tensor,
    teacher: &Tensor,
    labels: Option<&Tensor>,
    temperature: f64,
    alpha: f64,
) -> candle_core::Result<Tensor> {
    let batch = student.dims().first().copied().unwrap_or(1).max(1) as f64;
    let log_student = candle_nn::ops::log_softmax(&(student / temperature)?, D::Minus1)?;
    let log_teacher = candle_nn::ops::log_softmax(&(teacher.detach() / temperature)?, D::Minus1)?;
    let kl = (log_teacher.exp()? * (&log_teacher - &log_student)?)?.sum_all()?;
    let mut loss = (kl * (alpha * temperature * temperature / batch))?;
    if alpha < 1.0 {
        let Some(labels) = labels else {
            candle_core::bail!("the distillation loss with alpha < 1 needs labels");
        };
        let ce = candle_nn::loss::cross_entropy(student, labels)?;
        loss = (loss + (ce * (1.0 - alpha))?)?;
    }
    Ok(loss)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn scalar(t: Tensor) -> f64 {
        t.to_scalar::<f32>().unwrap() as f64
    }

    #[test]
    fn matches_a_hand_computed_value() {
        // Teacher logits [2, 0] and student [0, 0] at T = 2, label 0, α = 0.5:
        // p_t = softmax([1, 0]) = [e/(e+1), 1/(e+1)] = [0.7310586, 0.2689414], p_s = [½, ½];
        // KL = 0.7310586·ln(1.4621172) + 0.2689414·ln(0.5378828) = 0.1109441;
        // T²·KL = 0.4437763; CE = ln 2 = 0.6931472;
        // loss = ½·0.4437763 + ½·0.6931472 = 0.5684617.
        let dev = Device::Cpu;
        let teacher = Tensor::new(&[[2f32, 0.0]], &dev).unwrap();
        let student = Tensor::new(&[[0f32, 0.0]], &dev).unwrap();
        let labels = Tensor::new(&[0u32], &dev).unwrap();
        let loss = distillation_loss(&student, &teacher, Some(&labels), 2.0, 0.5).unwrap();
        assert!((scalar(loss) - 0.5684617).abs() < 1e-5);
        // α = 1: the distillation term alone, no labels needed.
        let kd = distillation_loss(&student, &teacher, None, 2.0, 1.0).unwrap();
        assert!((scalar(kd) - 0.4437763).abs() < 1e-5);
    }

    #[test]
    fn averages_over_the_batch_and_vanishes_for_identical_logits() {
        // Two rows: the first as above (T²·KL = 0.4437763), the second identical logits (0):
        // the batch mean is 0.2218881.
        let dev = Device::Cpu;
        let teacher = Tensor::new(&[[2f32, 0.0], [0.3, -1.0]], &dev).unwrap();
        let student = Tensor::new(&[[0f32, 0.0], [0.3, -1.0]], &dev).unwrap();
        let kd = distillation_loss(&student, &teacher, None, 2.0, 1.0).unwrap();
        assert!((scalar(kd) - 0.2218881).abs() < 1e-5);
        // α = 0 is plain cross-entropy: −ln softmax([0.3, −1])[1] for label 1 = 1.5410085,
        // and ln 2 for the first row; mean 1.1170778.
        let labels = Tensor::new(&[0u32, 1], &dev).unwrap();
        let ce = distillation_loss(&student, &teacher, Some(&labels), 2.0, 0.0).unwrap();
        assert!((scalar(ce) - 1.1170778).abs() < 1e-5);
    }

    #[test]
    fn needs_labels_below_alpha_one() {
        let dev = Device::Cpu;
        let t = Tensor::new(&[[1f32, 0.0]], &dev).unwrap();
        assert!(distillation_loss(&t, &t, None, 4.0, 0.7).is_err());
    }
}
