//! BERT embeddings against candle-transformers' own BERT on the same weights: an implementation
//! written by other people, so agreement checks our graph, attention masking and pooling.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

use sculpt_model::{Arch, Batch, ModelSpec, TokenBatch, build_model, load_model, named_tensors};

/// Masked mean pooling and L2 normalisation written out in plain loops.
fn reference_embeddings(hidden: &Tensor, mask: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let h: Vec<Vec<Vec<f32>>> = hidden.to_vec3().unwrap();
    h.iter()
        .zip(mask)
        .map(|(tokens, m)| {
            let dim = tokens[0].len();
            let mut sum = vec![0f32; dim];
            let count: f32 = m.iter().sum();
            for (t, &w) in tokens.iter().zip(m) {
                for (s, v) in sum.iter_mut().zip(t) {
                    *s += v * w;
                }
            }
            let mean: Vec<f32> = sum.iter().map(|v| v / count).collect();
            let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt();
            mean.iter().map(|v| v / norm).collect()
        })
        .collect()
}

fn candle_transformers_bert(tensors: Vec<(String, Tensor)>, config_json: &str) -> BertModel {
    let config: Config = serde_json::from_str(config_json).unwrap();
    let map: HashMap<String, Tensor> = tensors.into_iter().collect();
    let vb = VarBuilder::from_tensors(map, DType::F32, &Device::Cpu);
    BertModel::load(vb, &config).unwrap()
}

fn assert_close(ours: &Tensor, reference: &[Vec<f32>], tol: f32) {
    let ours: Vec<Vec<f32>> = ours.to_vec2().unwrap();
    assert_eq!(ours.len(), reference.len());
    for (a, b) in ours.iter().zip(reference) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < tol, "{x} vs {y}");
        }
    }
}

const SMALL_CONFIG: &str = r#"{
  "model_type": "bert", "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2,
  "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1, "max_position_embeddings": 64, "type_vocab_size": 2,
  "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0
}"#;

#[test]
fn random_small_bert_matches_candle_transformers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), SMALL_CONFIG).unwrap();
    let mut spec = ModelSpec::new(Arch::Bert);
    spec.config = Some("config.json".into());
    spec.seed = Some(7);
    let model = build_model(&spec, dir.path(), "small").unwrap();
    let reference = candle_transformers_bert(named_tensors(&model.graph), SMALL_CONFIG);

    // Two sentences, the second padded after 3 tokens; segment ids differ to exercise them.
    let ids = Tensor::new(&[[2u32, 17, 55, 81, 3], [2, 40, 3, 0, 0]], &Device::Cpu).unwrap();
    let types = Tensor::new(&[[0u32, 0, 1, 1, 1], [0, 0, 0, 0, 0]], &Device::Cpu).unwrap();
    let mask_rows = vec![vec![1f32; 5], vec![1., 1., 1., 0., 0.]];
    let mask = Tensor::new(&[[1f32, 1., 1., 1., 1.], [1., 1., 1., 0., 0.]], &Device::Cpu).unwrap();
    let hidden = reference.forward(&ids, &types, Some(&mask)).unwrap();
    let expected = reference_embeddings(&hidden, &mask_rows);
    let batch = TokenBatch { ids, type_ids: Some(types), mask };
    let ours = model.graph.forward(&Batch::Tokens(batch)).unwrap();
    assert_close(&ours, &expected, 1e-5);
}

/// The real all-MiniLM-L6-v2, fetched from PyPI by `scripts/fetch-fixtures.sh`.
fn minilm_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SCULPT_MINILM_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.fixtures/all-MiniLM-L6-v2")
    });
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("SCULPT_REQUIRE_FIXTURES").is_none(),
        "SCULPT_REQUIRE_FIXTURES is set but {} has no model.safetensors; run scripts/fetch-fixtures.sh",
        dir.display()
    );
    eprintln!(
        "skipped: all-MiniLM-L6-v2 not found at {} (run scripts/fetch-fixtures.sh)",
        dir.display()
    );
    None
}

#[test]
fn real_minilm_matches_candle_transformers_and_ranks_similar_sentences_first() {
    let Some(dir) = minilm_dir() else { return };
    let model = load_model(dir.to_str().unwrap()).unwrap();
    assert_eq!(sculpt_model::profile(&model.graph, 1, 8).unwrap().total.params, 22_713_216);
    let sentences: Vec<String> = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The new movie is awesome.",
        "A cheetah is running behind its prey on the grassland, far away.",
    ]
    .map(String::from)
    .to_vec();
    let tokens = model.tokenizer.as_ref().unwrap().encode(&sentences).unwrap();
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let reference = candle_transformers_bert(
        sculpt_model::SafetensorsFile::read(&dir.join("model.safetensors"))
            .unwrap()
            .tensors
            .into_iter()
            .collect(),
        &config,
    );
    let hidden = reference
        .forward(&tokens.ids, tokens.type_ids.as_ref().unwrap(), Some(&tokens.mask))
        .unwrap();
    let expected = reference_embeddings(&hidden, &tokens.mask.to_vec2::<f32>().unwrap());
    let ours = model.graph.forward(&Batch::Tokens(tokens)).unwrap();
    assert_close(&ours, &expected, 1e-4);
    // The two sentences about eating are closer to each other than to the movie review.
    let e: Vec<Vec<f32>> = ours.to_vec2().unwrap();
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(
        cos(&e[0], &e[1]) > cos(&e[0], &e[2]) + 0.3,
        "{} vs {}",
        cos(&e[0], &e[1]),
        cos(&e[0], &e[2])
    );
}
