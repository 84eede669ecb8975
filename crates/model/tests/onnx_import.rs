//! ONNX graphs built by scripts/onnx/make_test_models.py (Python `onnx.helper` with numpy and the
//! real fixture weights) import into sculpt's IR and compute what onnxruntime computes. Each
//! model comes with `NAME.ref.onnx`: a fixed input batch (`in:<input>`, or `raw:image` before
//! the sidecar's normalisation) and onnxruntime's outputs for it (`out:<output>`).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use sculpt_model::{Batch, LayerKind, Model, TokenBatch, load_model};
use sculpt_onnx::HostTensor;

/// The generated models (scripts/fetch-fixtures.sh writes them to .fixtures/onnx).
fn models_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.fixtures/onnx");
    if dir.join("demo-cnn.ref.onnx").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("SCULPT_REQUIRE_FIXTURES").is_none(),
        "{} has no ONNX test models; run scripts/fetch-fixtures.sh",
        dir.display()
    );
    eprintln!("skipped: {} missing (run scripts/fetch-fixtures.sh)", dir.display());
    None
}

/// The reference tensors of one model, by name.
fn reference(dir: &Path, name: &str) -> Vec<HostTensor> {
    let path = dir.join(format!("{name}.ref.onnx"));
    let onnx = sculpt_onnx::read_model(&path).unwrap();
    onnx.graph().initializer.iter().map(|t| onnx.tensor(t).unwrap()).collect()
}

fn find<'a>(refs: &'a [HostTensor], name: &str) -> Option<&'a HostTensor> {
    refs.iter().find(|t| t.name == name)
}

fn to_tensor(t: &HostTensor, dtype: DType) -> Tensor {
    let x = Tensor::from_vec(t.values.to_f32(), t.dims.as_slice(), &Device::Cpu).unwrap();
    x.to_dtype(dtype).unwrap()
}

/// The model's input batch from its reference file.
fn batch(refs: &[HostTensor]) -> Batch {
    if let Some(raw) = find(refs, "raw:image") {
        return Batch::Dense(to_tensor(raw, DType::F32));
    }
    if let Some(ids) = find(refs, "in:input_ids") {
        let mask = find(refs, "in:attention_mask").unwrap();
        return Batch::Tokens(TokenBatch {
            ids: to_tensor(ids, DType::U32),
            type_ids: find(refs, "in:token_type_ids").map(|t| to_tensor(t, DType::U32)),
            mask: to_tensor(mask, DType::F32),
        });
    }
    let inputs: Vec<&HostTensor> = refs.iter().filter(|t| t.name.starts_with("in:")).collect();
    assert_eq!(inputs.len(), 1, "one dense input expected");
    Batch::Dense(to_tensor(inputs[0], DType::F32))
}

/// Largest absolute difference relative to the reference's largest magnitude.
fn relative_error(got: &Tensor, want: &HostTensor) -> f32 {
    assert_eq!(got.dims(), want.dims.as_slice(), "output shape");
    let got: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
    let want = want.values.to_f32();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
}

fn load(dir: &Path, name: &str) -> Model {
    let sidecar = dir.join(format!("{name}.yaml"));
    let path = if sidecar.is_file() { sidecar } else { dir.join(format!("{name}.onnx")) };
    load_model(path.to_str().unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Imports a model and checks its primary output against onnxruntime's.
fn agrees_with_onnxruntime(name: &str) -> Option<Model> {
    let dir = models_dir()?;
    let model = load(&dir, name);
    let refs = reference(&dir, name);
    let out = refs.iter().find(|t| t.name.starts_with("out:")).unwrap();
    let got = model.graph.forward(&batch(&refs)).unwrap();
    let err = relative_error(&got, out);
    assert!(err < 1e-4, "{name}: relative error {err} against onnxruntime");
    Some(model)
}

fn count(model: &Model, kind: LayerKind) -> usize {
    model.graph.nodes().iter().filter(|n| n.op.kind() == kind).count()
}

#[test]
fn demo_cnn_matches_onnxruntime() {
    let Some(m) = agrees_with_onnxruntime("demo-cnn") else { return };
    assert_eq!(count(&m, LayerKind::Conv2d), 2);
    assert_eq!(count(&m, LayerKind::Linear), 2);
}

#[test]
fn resnet_with_external_data_matches_onnxruntime() {
    let Some(m) = agrees_with_onnxruntime("resnet") else { return };
    // Stem, two convolutions per block, and the projection shortcuts.
    assert!(count(&m, LayerKind::Conv2d) >= 7);
    assert!(count(&m, LayerKind::Add) >= 3);
}

#[test]
fn operator_zoo_matches_onnxruntime() {
    agrees_with_onnxruntime("zoo");
}

#[test]
fn vit_with_decomposed_attention_matches_onnxruntime() {
    let Some(m) = agrees_with_onnxruntime("vit") else { return };
    // The shape sub-graphs fold away: no Shape or Gather of shapes survive as layers.
    assert!(m.graph.nodes().iter().all(|n| !n.name.ends_with("/Shape")));
}

#[test]
fn mobilenet_v2_matches_onnxruntime_and_the_published_size() {
    let Some(m) = agrees_with_onnxruntime("mobilenet_v2") else { return };
    let profile = sculpt_model::profile(&m.graph, 1, 0).unwrap();
    assert_eq!(profile.total.params, 3_504_872);
    // torchvision publishes 300.8 M multiply-accumulates (0.30 GFLOPS) for MobileNetV2.
    let macs = profile.total.macs as f64 / 1e6;
    assert!((macs - 300.8).abs() < 0.5, "{macs} M MACs");
}

#[test]
fn minilm_matches_onnxruntime() {
    agrees_with_onnxruntime("minilm");
}

fn argmax_rows(logits: &Tensor) -> Vec<u32> {
    logits.argmax(1).unwrap().to_vec1().unwrap()
}

#[test]
fn demo_cnn_classifies_every_bundled_image_like_the_builtin_and_onnxruntime() {
    let Some(dir) = models_dir() else { return };
    let onnx = load(&dir, "demo-cnn");
    let builtin = load_model("builtin:demo-cnn").unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let file =
        sculpt_model::SafetensorsFile::read(&root.join("models/fashion-mnist-eval.safetensors"))
            .unwrap();
    let images = (file.tensors["inputs"].to_dtype(DType::F32).unwrap() / 255.0).unwrap();
    assert_eq!(images.dims()[0], 2000);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for start in (0..2000).step_by(250) {
        let x = Batch::Dense(images.narrow(0, start, 250).unwrap());
        a.extend(argmax_rows(&onnx.graph.forward(&x).unwrap()));
        b.extend(argmax_rows(&builtin.graph.forward(&x).unwrap()));
    }
    let differ: Vec<usize> = (0..2000).filter(|&i| a[i] != b[i]).collect();
    assert!(differ.is_empty(), "predictions differ from the builtin on samples {differ:?}");
    // And from onnxruntime's, computed by the generating script on the same images.
    let ort = find(&reference(&dir, "demo-cnn"), "top1:eval").unwrap().values.to_i64();
    let differ: Vec<usize> = (0..2000).filter(|&i| a[i] as i64 != ort[i]).collect();
    assert!(differ.is_empty(), "predictions differ from onnxruntime on samples {differ:?}");
}

#[test]
fn mobilenet_v2_top1_equals_the_builtin_path() {
    let Some(dir) = models_dir() else { return };
    let spec = dir.join("../mobilenet_v2/mobilenet_v2.yaml");
    let onnx = load(&dir, "mobilenet_v2");
    let builtin = load_model(spec.to_str().unwrap()).unwrap();
    // Smooth random images (a coarse grid upsampled), so the logits are not all near-ties.
    let coarse = Tensor::rand(0f32, 1., (16, 3, 7, 7), &Device::Cpu).unwrap();
    let x = coarse.upsample_nearest2d(224, 224).unwrap();
    let a = onnx.graph.forward(&Batch::Dense(x.clone())).unwrap();
    let b = builtin.graph.forward(&Batch::Dense(x)).unwrap();
    assert_eq!(argmax_rows(&a), argmax_rows(&b));
    let diff: f32 = (&a - &b).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    let scale: f32 = b.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    assert!(diff / scale < 1e-4, "{diff} of {scale}");
}

#[test]
fn minilm_embeddings_equal_the_builtin_bert_path() {
    let Some(dir) = models_dir() else { return };
    let onnx = load(&dir, "minilm");
    let builtin = load_model(dir.join("../all-MiniLM-L6-v2").to_str().unwrap()).unwrap();
    let refs = reference(&dir, "minilm");
    let x = batch(&refs);
    let a = onnx.graph.forward(&x).unwrap();
    let b = builtin.graph.forward(&x).unwrap();
    assert_eq!(a.dims(), b.dims());
    let dot = (&a * &b).unwrap().sum(1).unwrap();
    let na = a.sqr().unwrap().sum(1).unwrap().sqrt().unwrap();
    let nb = b.sqr().unwrap().sum(1).unwrap().sqrt().unwrap();
    let cos: Vec<f32> = (dot / (na * nb).unwrap()).unwrap().to_vec1().unwrap();
    assert!(cos.iter().all(|&c| c >= 0.9999), "cosines {cos:?}");
}

#[test]
fn operator_list_at_opset_20_matches_onnxruntime() {
    let Some(m) = agrees_with_onnxruntime("ops") else { return };
    // The Constant-node weight, the float16 weight and the ConvTranspose are compressible layers
    // under their ONNX node names.
    for (name, kind) in [
        ("stem", LayerKind::Conv2d),
        ("mix", LayerKind::Conv2d),
        ("up", LayerKind::ConvTranspose2d),
        ("fc", LayerKind::Linear),
    ] {
        let node = m.graph.node(name).unwrap_or_else(|| panic!("no layer `{name}`"));
        assert_eq!(node.op.kind(), kind, "{name}");
    }
}

#[test]
fn every_imported_model_round_trips_through_sculpts_format() {
    let Some(dir) = models_dir() else { return };
    for name in ["demo-cnn", "resnet", "zoo", "ops", "vit", "minilm"] {
        let model = load(&dir, name);
        let json = sculpt_model::graph_to_json(&model.graph);
        let tensors: std::collections::HashMap<String, Tensor> =
            sculpt_model::named_tensors(&model.graph).into_iter().collect();
        let back = sculpt_model::graph_from_json(&json, &tensors, Path::new(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(sculpt_model::graph_to_json(&back), json, "{name}");
        assert_eq!(back.token_length(), model.graph.token_length(), "{name}");
        let x = batch(&reference(&dir, name));
        let a: Vec<f32> =
            model.graph.forward(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = back.forward(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn a_fixed_length_text_model_pads_shorter_batches() {
    let Some(dir) = models_dir() else { return };
    let model = load(&dir, "minilm");
    assert_eq!(model.graph.token_length(), Some(128));
    assert_eq!(model.graph.input_shapes(2, 8)[0], vec![2, 128]);
    let Batch::Tokens(all) = batch(&reference(&dir, "minilm")) else { panic!() };
    // The reference holds sentences of 128, 40 and 9 tokens: keep the two short ones, cut the
    // padding off, and the model pads it back.
    let rows = |t: &Tensor| t.narrow(0, 1, 2).unwrap();
    let full = TokenBatch {
        ids: rows(&all.ids),
        type_ids: all.type_ids.as_ref().map(rows),
        mask: rows(&all.mask),
    };
    let real: f32 = full.mask.sum(1).unwrap().max(0).unwrap().to_scalar().unwrap();
    let n = real as usize;
    assert!(n < 64, "the reference sentences should be short, got {n} tokens");
    let short = TokenBatch {
        ids: full.ids.narrow(1, 0, n).unwrap(),
        type_ids: full.type_ids.as_ref().map(|t| t.narrow(1, 0, n).unwrap()),
        mask: full.mask.narrow(1, 0, n).unwrap(),
    };
    let a = model.graph.forward(&Batch::Tokens(full)).unwrap();
    let b = model.graph.forward(&Batch::Tokens(short)).unwrap();
    let d: f32 = (&a - &b).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    assert!(d < 1e-6, "{d}");
}
