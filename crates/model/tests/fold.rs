//! Folding BatchNorm into the layer before it changes no output (beyond rounding).

use candle_core::{Device, Tensor};

use sculpt_model::{Batch, LayerKind, load_model};

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
}

#[test]
fn folded_models_compute_the_same_outputs_without_batch_norms() {
    for (name, shape) in
        [("builtin:demo-cnn", (4, 1, 28, 28)), ("builtin:mobilenet_v2", (1, 3, 224, 224))]
    {
        let m = load_model(name).unwrap();
        // Random BatchNorm statistics would make folding trivial to get wrong; the demo's are trained.
        let folded = m.graph.fold_batch_norms().unwrap();
        let bn = |g: &sculpt_model::Graph| {
            g.nodes().iter().filter(|n| n.op.kind() == LayerKind::BatchNorm2d).count()
        };
        assert!(bn(&m.graph) > 0);
        assert_eq!(bn(&folded), 0, "{name}");
        assert_eq!(folded.nodes().len(), m.graph.nodes().len() - bn(&m.graph));
        let x = Tensor::rand(0f32, 1., shape, &Device::Cpu).unwrap();
        let a = m.graph.forward(&Batch::Dense(x.clone())).unwrap();
        let b = folded.forward(&Batch::Dense(x)).unwrap();
        let scale: f32 =
            a.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap();
        assert!(max_diff(&a, &b) <= 1e-4 * scale.max(1.0), "{name}: {}", max_diff(&a, &b));
    }
}
