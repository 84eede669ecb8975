//! Parameter and MAC counts against published figures and hand derivations.

use sculpt_model::{load_model, profile};

fn check(model: &str, batch: usize, tokens: usize, params: u64, macs: Option<(u64, f64)>) {
    let m = load_model(model).unwrap();
    let p = profile(&m.graph, batch, tokens).unwrap();
    assert_eq!(p.total.params, params, "{model} parameters");
    if let Some((expected, tolerance)) = macs {
        let rel = (p.total.macs as f64 - expected as f64).abs() / expected as f64;
        assert!(
            rel <= tolerance,
            "{model}: {} MACs, expected {expected} ± {tolerance}",
            p.total.macs
        );
    }
}

#[test]
fn mobilenet_v2_matches_torchvision() {
    // torchvision's MobileNet_V2_Weights.IMAGENET1K_V1 documents 3,504,872 parameters and
    // 0.30 GFLOPS (multiply-adds); the paper's Table 4 gives 300M multiply-adds at 224×224.
    check("builtin:mobilenet_v2", 1, 0, 3_504_872, Some((300_000_000, 0.01)));
}

#[test]
fn minilm_matches_its_model_card() {
    // all-MiniLM-L6-v2: 22,713,216 parameters with the pooler (its safetensors file holds
    // 22.7 M F32 values). MACs by hand for 128 tokens: each layer has 4·384² + 2·384·1536
    // projection MACs per token plus 2·128·384 attention MACs per token, and the pooler 384²
    // for the [CLS] token.
    let per_token_layer = 4 * 384 * 384 + 2 * 384 * 1536 + 2 * 128 * 384;
    let macs = 6 * 128 * per_token_layer + 384 * 384;
    check("builtin:bert-minilm", 1, 128, 22_713_216, Some((macs, 0.0)));
}

#[test]
fn demo_cnn_by_hand() {
    // conv1 1·32·9, bn1 2·32, conv2 32·64·9, bn2 2·64, fc1 3136·128 + 128, classifier 128·10 + 10.
    let params = 288 + 64 + 18_432 + 128 + 401_536 + 1_290;
    // conv1 28²·32·9, conv2 14²·64·32·9, fc1 3136·128, classifier 128·10; batch 2 doubles all.
    let macs = 2 * (28 * 28 * 32 * 9 + 14 * 14 * 64 * 32 * 9 + 3136 * 128 + 1280);
    check("builtin:demo-cnn", 2, 0, params, Some((macs, 0.0)));
}

#[test]
fn demo_mlp_by_hand() {
    let params = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10;
    check("builtin:demo-mlp", 1, 0, params, Some(((784 * 256 + 256 * 128 + 1280) as u64, 0.0)));
}

#[test]
fn peak_activation_of_a_chain_by_hand() {
    // demo-mlp, batch 1: input 784, flatten 784, fc1 256, relu1 256, fc2 128, relu2 128, logits 10.
    // Each value lives until its reader finishes; the largest pair alive is input + flatten
    // (784 + 784 floats).
    let m = load_model("builtin:demo-mlp").unwrap();
    let p = profile(&m.graph, 1, 0).unwrap();
    assert_eq!(p.total.peak_activation_bytes, 4 * (784 + 784));
}
