//! Bad ONNX input gets one clear error that names the file and what is wrong, never a panic.
//! The models are written here with sculpt's own protobuf types, so these tests need no
//! fixtures.

use std::path::{Path, PathBuf};

use sculpt_model::load_model;
use sculpt_onnx::proto::{
    AttributeProto, DimensionProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto,
    ValueInfoProto, data_type,
};

fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Some(v) => DimensionProto { dim_value: Some(*v), ..Default::default() },
            None => DimensionProto { dim_param: Some("N".into()), ..Default::default() },
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: Some(data_type::FLOAT),
                shape: Some(TensorShapeProto { dim }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn weight(name: &str, dims: &[i64]) -> TensorProto {
    let n: i64 = dims.iter().product();
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(data_type::FLOAT),
        float_data: (0..n).map(|i| (i % 7) as f32 * 0.1).collect(),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: Some(name.into()), i: Some(v), r#type: Some(2), ..Default::default() }
}

fn string_attr(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        s: Some(v.as_bytes().to_vec()),
        r#type: Some(3),
        ..Default::default()
    }
}

/// A small valid classifier: Flatten, Gemm (fc) and Relu on a [N, 2, 2, 2] image.
fn classifier() -> GraphProto {
    let mut gemm = node("Gemm", "fc", &["flat", "fc.weight", "fc.bias"], &["logits_pre"]);
    gemm.attribute.push(int_attr("transB", 1));
    GraphProto {
        name: Some("g".into()),
        node: vec![
            node("Flatten", "flatten", &["image"], &["flat"]),
            gemm,
            node("Relu", "relu", &["logits_pre"], &["logits"]),
        ],
        initializer: vec![weight("fc.weight", &[3, 8]), weight("fc.bias", &[3])],
        input: vec![value("image", &[None, Some(2), Some(2), Some(2)])],
        output: vec![value("logits", &[None, Some(3)])],
        ..Default::default()
    }
}

fn model(graph: GraphProto, opset: i64) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(graph),
        ..Default::default()
    }
}

fn write(dir: &Path, name: &str, m: &ModelProto) -> PathBuf {
    let path = dir.join(name);
    sculpt_onnx::write_model(&path, m).unwrap();
    path
}

/// The error of loading `path`, which must name the file.
fn error_of(path: &Path) -> String {
    let e = match load_model(path.to_str().unwrap()) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    };
    assert!(e.contains(&path.display().to_string()), "the error does not name the file: {e}");
    assert!(!e.contains('\n'), "not one line: {e}");
    e
}

#[test]
fn the_valid_classifier_loads() {
    // The baseline every other case breaks in one place.
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ok.onnx", &model(classifier(), 17));
    let m = load_model(path.to_str().unwrap()).unwrap();
    assert_eq!(m.graph.node("fc").unwrap().op.n_params(), 27);
}

#[test]
fn truncated_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ok.onnx", &model(classifier(), 17));
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = error_of(&cut);
    assert!(e.contains("not an ONNX model"), "{e}");
    let text = dir.path().join("text.onnx");
    std::fs::write(&text, "arch: cnn\nclasses: 10\n").unwrap();
    let e = error_of(&text);
    assert!(e.contains("not an ONNX model"), "{e}");
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    error_of(&empty);
}

#[test]
fn opsets_outside_the_supported_range() {
    let dir = tempfile::tempdir().unwrap();
    for opset in [10, 22] {
        let path = write(dir.path(), &format!("op{opset}.onnx"), &model(classifier(), opset));
        let e = error_of(&path);
        assert!(e.contains(&format!("opset {opset} is not supported")), "{e}");
        assert!(e.contains("11 to 21"), "{e}");
    }
}

#[test]
fn a_cycle_and_a_missing_initializer() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = classifier();
    // relu feeds flatten: flatten -> fc -> relu -> flatten.
    g.node[0].input[0] = "logits".into();
    let e = error_of(&write(dir.path(), "cycle.onnx", &model(g, 17)));
    assert!(e.contains("cycle"), "{e}");
    assert!(e.contains("`flatten`"), "{e}");

    let mut g = classifier();
    g.initializer.retain(|t| t.name.as_deref() != Some("fc.weight"));
    let e = error_of(&write(dir.path(), "missing.onnx", &model(g, 17)));
    assert!(e.contains("`fc.weight`"), "{e}");
    assert!(e.contains("no graph input, initializer or earlier node"), "{e}");
}

#[test]
fn initializer_shapes_that_do_not_fit_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = classifier();
    g.initializer[0] = weight("fc.weight", &[3, 5]);
    let e = error_of(&write(dir.path(), "shape.onnx", &model(g, 17)));
    assert!(e.contains("fc"), "{e}");
    // A tensor whose data does not fill its shape.
    let mut g = classifier();
    g.initializer[1].float_data.pop();
    let e = error_of(&write(dir.path(), "short.onnx", &model(g, 17)));
    assert!(e.contains("fc.bias"), "{e}");
}

fn external(tensor: &mut TensorProto, location: &str, length: Option<u64>) {
    tensor.float_data.clear();
    tensor.data_location = Some(1);
    tensor.external_data.push(StringStringEntryProto {
        key: Some("location".into()),
        value: Some(location.into()),
    });
    if let Some(n) = length {
        tensor.external_data.push(StringStringEntryProto {
            key: Some("length".into()),
            value: Some(n.to_string()),
        });
    }
}

#[test]
fn external_data_missing_escaping_or_too_large() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("model");
    std::fs::create_dir(&dir).unwrap();
    // A weights file outside the model's folder that must never be read.
    std::fs::write(root.path().join("secret.bin"), vec![0u8; 96]).unwrap();
    for (file, location, expect) in [
        ("missing.onnx", "weights.bin", "weights.bin"),
        ("escape.onnx", "../secret.bin", "not a path inside the model's folder"),
        ("absolute.onnx", "/etc/passwd", "not a path inside the model's folder"),
    ] {
        let mut g = classifier();
        external(&mut g.initializer[0], location, None);
        let e = error_of(&write(&dir, file, &model(g, 17)));
        assert!(e.contains(expect), "{file}: {e}");
    }
    // A link inside the folder that points outside it.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(root.path().join("secret.bin"), dir.join("link.bin")).unwrap();
        let mut g = classifier();
        external(&mut g.initializer[0], "link.bin", None);
        let e = error_of(&write(&dir, "link.onnx", &model(g, 17)));
        assert!(e.contains("outside the model's folder"), "{e}");
    }
    // A declared length far beyond memory is refused before anything is read.
    let mut g = classifier();
    external(&mut g.initializer[0], "weights.bin", Some(1 << 50));
    let e = error_of(&write(&dir, "huge.onnx", &model(g, 17)));
    assert!(e.contains("memory available"), "{e}");
}

#[test]
fn every_unsupported_operator_is_listed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = classifier();
    g.node.insert(1, node("Mystery", "first_unknown", &["flat"], &["m1"]));
    g.node.insert(2, node("Enigma", "", &["m1"], &["m2"]));
    let mut resize = node("Resize", "cubic_up", &["image", "", "scales"], &["up"]);
    resize.attribute.push(string_attr("mode", "cubic"));
    g.node.push(resize);
    g.initializer.push(TensorProto {
        name: Some("scales".into()),
        dims: vec![4],
        data_type: Some(data_type::FLOAT),
        float_data: vec![1.0, 1.0, 2.0, 2.0],
        ..Default::default()
    });
    let e = error_of(&write(dir.path(), "ops.onnx", &model(g, 17)));
    assert!(e.contains("3 nodes cannot be imported (opset 17)"), "{e}");
    assert!(e.contains("`first_unknown` (#1, Mystery)"), "{e}");
    // A node without a name is named by its index.
    assert!(e.contains("#2, Enigma"), "{e}");
    assert!(e.contains("cubic"), "{e}");
}

#[test]
fn open_dimensions_and_unknown_outputs_say_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = classifier();
    g.input[0] = value("image", &[None, Some(2), None, Some(2)]);
    let path = write(dir.path(), "open.onnx", &model(g, 17));
    let e = error_of(&path);
    assert!(e.contains("input_shape"), "{e}");
    // The sidecar closes the dimension, and the model then runs.
    let sidecar = dir.path().join("open.yaml");
    std::fs::write(&sidecar, "arch: onnx\nfile: open.onnx\ninput_shape: [2, 2, 2]\n").unwrap();
    let m = load_model(sidecar.to_str().unwrap()).unwrap();
    assert_eq!(m.graph.input_shapes(5, 0), vec![vec![5, 2, 2, 2]]);

    let sidecar = dir.path().join("outputs.yaml");
    std::fs::write(
        &sidecar,
        "arch: onnx\nfile: open.onnx\ninput_shape: [2, 2, 2]\noutputs: [nope]\n",
    )
    .unwrap();
    let e = load_model(sidecar.to_str().unwrap()).unwrap_err().to_string();
    assert!(e.contains("output `nope` does not exist"), "{e}");
    assert!(e.contains("logits"), "{e}");
}
