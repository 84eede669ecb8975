#!/usr/bin/env python3
"""Writes the ONNX test models of sculpt's import tests, and onnxruntime's outputs for them.

    make_test_models.py REPO_ROOT OUT_DIR

Every graph is built node by node with onnx.helper from numpy weights (no torch): the bundled
demo CNN, torchvision's MobileNetV2 and all-MiniLM-L6-v2 from the fixtures' real weights, and
three small networks with random weights (a ResNet-style network with projection shortcuts,
stored with external data; an operator zoo with squeeze-excitation, concatenation, splitting,
resizing and padding; a ViT-style encoder whose attention and LayerNorm are decomposed into
primitive ops, with shape sub-graphs as PyTorch exports them).

For each model NAME it writes NAME.onnx (and NAME.yaml when the model needs a sidecar), and
NAME.ref.onnx: a graph without nodes whose initializers are a fixed input batch (`in:<input>`)
and onnxruntime's outputs for it (`out:<output>`), which the Rust tests read with sculpt's own
ONNX reader.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper as oh, numpy_helper as nh

RNG = np.random.default_rng(7)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = {"F32": np.float32, "I64": np.int64, "F16": np.float16, "U8": np.uint8}[info["dtype"]]
        out[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(info["shape"]).copy()
    return out


class G:
    """A graph under construction."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def init(self, name, arr):
        self.inits.append(nh.from_array(np.asarray(arr), name))
        return name

    def const(self, arr, dtype=np.int64):
        self.n += 1
        return self.init(f"const_{self.n}", np.asarray(arr, dtype=dtype))

    def op(self, op_type, inputs, name=None, outputs=1, **attrs):
        self.n += 1
        name = name or f"{op_type.lower()}_{self.n}"
        outs = [f"{name}:out{k}" if outputs > 1 else name for k in range(outputs)]
        self.nodes.append(oh.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs if outputs > 1 else outs[0]

    def model(self, inputs, outputs, opset=17):
        graph = oh.make_graph(self.nodes, "g", inputs, outputs, self.inits)
        m = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def tensor_in(name, shape, elem=TensorProto.FLOAT):
    return oh.make_tensor_value_info(name, elem, shape)


def conv(g, x, w, name, stride=1, pad=None, groups=1, bias=None):
    k = w.shape[2]
    pad = k // 2 if pad is None else pad
    inputs = [x, g.init(f"{name}.weight", w)] + ([g.init(f"{name}.bias", bias)] if bias is not None else [])
    return g.op("Conv", inputs, name, strides=[stride, stride], pads=[pad] * 4, group=groups)


def bn(g, x, p, name):
    ins = [x] + [g.init(f"{name}.{r}", p[f"{name}.{r}"]) for r in ("weight", "bias", "running_mean", "running_var")]
    return g.op("BatchNormalization", ins, name, epsilon=1e-5)


def write(out, name, model, feeds, sidecar=None, external=False, extra=None):
    path = os.path.join(out, f"{name}.onnx")
    if external:
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=f"{name}.weights", size_threshold=0)
    else:
        onnx.save_model(model, path)
    if sidecar:
        with open(os.path.join(out, f"{name}.yaml"), "w") as f:
            f.write(sidecar)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    results = sess.run(None, feeds)
    inits = [nh.from_array(v, f"in:{k}") for k, v in feeds.items()]
    inits += [nh.from_array(r, f"out:{o.name}") for o, r in zip(sess.get_outputs(), results)]
    inits += [nh.from_array(v, k) for k, v in (extra or {}).items()]
    ref = oh.make_model(oh.make_graph([], "ref", [], [], inits), opset_imports=[oh.make_opsetid("", 17)])
    ref.ir_version = 8
    onnx.save_model(ref, os.path.join(out, f"{name}.ref.onnx"))
    print(f"wrote {path} ({', '.join(f'{o.name} {r.shape}' for o, r in zip(sess.get_outputs(), results))})")


def save_safetensors(path, tensors):
    """A safetensors file of numpy arrays (the format is a JSON header and raw little-endian data)."""
    names = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64", np.dtype(np.uint8): "U8"}
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        data = arr.tobytes()
        header[name] = {"dtype": names[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_eval(out, name, inputs, feed):
    """NAME.eval.safetensors: `inputs` as sculpt reads them, labelled with onnxruntime's top-1
    class for `feed` (the same images as the graph reads them), so accuracy on it is agreement
    with onnxruntime."""
    sess = ort.InferenceSession(os.path.join(out, f"{name}.onnx"), providers=["CPUExecutionProvider"])
    labels = sess.run(None, feed)[0].argmax(1).astype(np.int64)
    save_safetensors(os.path.join(out, f"{name}.eval.safetensors"), {"inputs": inputs, "labels": labels})


def demo_cnn(root, out):
    p = load_safetensors(os.path.join(root, "models/demo-cnn.safetensors"))
    g = G()
    x = "image"
    for i, c in ((1, 32), (2, 64)):
        x = conv(g, x, p[f"conv{i}.weight"], f"conv{i}")
        x = bn(g, x, p, f"bn{i}")
        x = g.op("Relu", [x], f"relu{i}")
        x = g.op("MaxPool", [x], f"pool{i}", kernel_shape=[2, 2], strides=[2, 2])
    x = g.op("Flatten", [x], "flatten", axis=1)
    x = g.op("Gemm", [x, g.init("fc1.weight", p["fc1.weight"]), g.init("fc1.bias", p["fc1.bias"])], "fc1", transB=1)
    x = g.op("Relu", [x], "fc_relu1")
    x = g.op("Gemm", [x, g.init("classifier.weight", p["classifier.weight"]), g.init("classifier.bias", p["classifier.bias"])], "classifier", transB=1)
    g.nodes[-1].output[0] = "logits"
    m = g.model([tensor_in("image", ["batch", 1, 28, 28])], [tensor_in("logits", ["batch", 10])])
    images = RNG.random((4, 1, 28, 28), dtype=np.float32)
    feeds = {"image": ((images - 0.2860) / 0.3530).astype(np.float32)}
    sidecar = "arch: onnx\nfile: demo-cnn.onnx\ninput: {mean: [0.2860], std: [0.3530]}\ntask: classification\n"
    # onnxruntime's class for every bundled evaluation image, which sculpt must reproduce.
    evals = load_safetensors(os.path.join(root, "models/fashion-mnist-eval.safetensors"))["inputs"]
    evals = (evals.astype(np.float32) / 255.0 - 0.2860) / 0.3530
    onnx.save_model(m, os.path.join(out, "demo-cnn.onnx"))
    sess = ort.InferenceSession(os.path.join(out, "demo-cnn.onnx"), providers=["CPUExecutionProvider"])
    top1 = sess.run(None, {"image": evals.astype(np.float32)})[0].argmax(1).astype(np.int64)
    write(out, "demo-cnn", m, feeds, sidecar, extra={"raw:image": images, "top1:eval": top1})


MOBILENET = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet(root, out):
    p = load_safetensors(os.path.join(root, ".fixtures/mobilenet_v2/mobilenet_v2.safetensors"))
    g = G()
    relu6 = lambda x, name: g.op("Clip", [x, g.const(0.0, np.float32), g.const(6.0, np.float32)], name)
    x = conv(g, "image", p["features.0.0.weight"], "features.0.0", stride=2)
    x = relu6(bn(g, x, p, "features.0.1"), "features.0.2")
    c_in, idx = 32, 1
    for t, c, n, s in MOBILENET:
        for i in range(n):
            stride = s if i == 0 else 1
            f = f"features.{idx}.conv"
            block_in, hidden = x, c_in * t
            if t != 1:
                x = conv(g, x, p[f"{f}.0.0.weight"], f"{f}.0.0")
                x = relu6(bn(g, x, p, f"{f}.0.1"), f"{f}.0.2")
                dw, pw, pbn = f"{f}.1", f"{f}.2", f"{f}.3"
                x = conv(g, x, p[f"{dw}.0.weight"], f"{dw}.0", stride=stride, groups=hidden)
                x = relu6(bn(g, x, p, f"{dw}.1"), f"{dw}.2")
            else:
                dw, pw, pbn = f"{f}.0", f"{f}.1", f"{f}.2"
                x = conv(g, x, p[f"{dw}.0.weight"], f"{dw}.0", stride=stride, groups=hidden)
                x = relu6(bn(g, x, p, f"{dw}.1"), f"{dw}.2")
            x = conv(g, x, p[f"{pw}.weight"], pw)
            x = bn(g, x, p, pbn)
            if stride == 1 and c_in == c:
                x = g.op("Add", [block_in, x], f"features.{idx}.add")
            c_in, idx = c, idx + 1
    x = conv(g, x, p["features.18.0.weight"], "features.18.0")
    x = relu6(bn(g, x, p, "features.18.1"), "features.18.2")
    x = g.op("GlobalAveragePool", [x], "pool")
    x = g.op("Flatten", [x], "flatten", axis=1)
    x = g.op("Dropout", [x], "classifier.0")
    x = g.op("Gemm", [x, g.init("classifier.1.weight", p["classifier.1.weight"]), g.init("classifier.1.bias", p["classifier.1.bias"])], "classifier.1", transB=1)
    g.nodes[-1].output[0] = "logits"
    m = g.model([tensor_in("image", ["batch", 3, 224, 224])], [tensor_in("logits", ["batch", 1000])], opset=13)
    images = RNG.random((2, 3, 224, 224), dtype=np.float32)
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    sidecar = "arch: onnx\nfile: mobilenet_v2.onnx\ninput: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}\n"
    write(out, "mobilenet_v2", m, {"image": ((images - mean) / std).astype(np.float32)}, sidecar, extra={"raw:image": images})
    pixels = smooth_images(48, 3, 224).round().astype(np.uint8)
    write_eval(out, "mobilenet_v2", pixels, {"image": ((pixels / 255.0 - mean) / std).astype(np.float32)})


def smooth_images(n, c, size):
    """Images in [0, 255] made of coarse random blocks, so that classifiers do not see noise."""
    coarse = RNG.random((n, c, 7, 7)) * 255
    k = -(-size // 7)
    return np.repeat(np.repeat(coarse, k, axis=2), k, axis=3)[:, :, :size, :size]


def rand_conv(c_out, c_in, k, groups=1):
    fan = c_in // groups * k * k
    return (RNG.standard_normal((c_out, c_in // groups, k, k)) * np.sqrt(2.0 / fan)).astype(np.float32)


def rand_bn(g, x, c, name):
    p = {
        f"{name}.weight": (1 + 0.1 * RNG.standard_normal(c)).astype(np.float32),
        f"{name}.bias": (0.1 * RNG.standard_normal(c)).astype(np.float32),
        f"{name}.running_mean": (0.1 * RNG.standard_normal(c)).astype(np.float32),
        f"{name}.running_var": (1 + 0.1 * RNG.random(c)).astype(np.float32),
    }
    return bn(g, x, p, name)


def resnet(out):
    g = G()
    x = conv(g, "image", rand_conv(16, 3, 3), "stem.conv")
    x = g.op("Relu", [rand_bn(g, x, 16, "stem.bn")], "stem.relu")
    c = 16
    for b, (c_out, stride) in enumerate([(32, 2), (32, 1), (64, 2)]):
        n = f"layer{b}"
        y = conv(g, x, rand_conv(c_out, c, 3), f"{n}.conv1", stride=stride)
        y = g.op("Relu", [rand_bn(g, y, c_out, f"{n}.bn1")], f"{n}.relu1")
        y = conv(g, y, rand_conv(c_out, c_out, 3), f"{n}.conv2")
        y = rand_bn(g, y, c_out, f"{n}.bn2")
        short = x
        if stride != 1 or c != c_out:
            short = conv(g, x, rand_conv(c_out, c, 1), f"{n}.downsample.0", stride=stride, pad=0)
            short = rand_bn(g, short, c_out, f"{n}.downsample.1")
        x = g.op("Relu", [g.op("Add", [y, short], f"{n}.add")], f"{n}.relu2")
        c = c_out
    x = g.op("GlobalAveragePool", [x], "avgpool")
    x = g.op("Flatten", [x], "flatten", axis=1)
    w = (RNG.standard_normal((10, c)) * 0.1).astype(np.float32)
    x = g.op("Gemm", [x, g.init("fc.weight", w), g.init("fc.bias", np.zeros(10, np.float32))], "fc", transB=1)
    g.nodes[-1].output[0] = "logits"
    m = g.model([tensor_in("image", ["N", 3, 32, 32])], [tensor_in("logits", ["N", 10])])
    images = RNG.standard_normal((3, 3, 32, 32)).astype(np.float32)
    write(out, "resnet", m, {"image": images}, external=True)
    evals = RNG.standard_normal((256, 3, 32, 32)).astype(np.float32)
    write_eval(out, "resnet", evals, {"image": evals})


def zoo(out):
    """Squeeze-excitation (a channel-wise Mul), Concat, Split, Resize, Pad and friends."""
    g = G()
    x = conv(g, "image", rand_conv(16, 3, 3), "stem")
    x = g.op("LeakyRelu", [x], "stem.act", alpha=0.1)
    # Squeeze-excitation.
    s = g.op("GlobalAveragePool", [x], "se.pool")
    s = conv(g, s, rand_conv(4, 16, 1), "se.fc1", pad=0, bias=np.zeros(4, np.float32))
    s = g.op("Relu", [s], "se.relu")
    s = conv(g, s, rand_conv(16, 4, 1), "se.fc2", pad=0, bias=np.full(16, 0.5, np.float32))
    s = g.op("Sigmoid", [s], "se.gate")
    x = g.op("Mul", [x, s], "se.scale")
    # Two branches joined on channels, then split again.
    a = conv(g, x, rand_conv(8, 16, 1), "branch_a", pad=0)
    b = conv(g, x, rand_conv(8, 16, 3, groups=8), "branch_b", groups=8)
    b = g.op("HardSwish", [b], "branch_b.act")
    x = g.op("Concat", [a, b], "cat", axis=1)
    p1, p2 = g.op("Split", [x, g.const([4, 12])], "split", outputs=2, axis=1)
    p1 = g.op("Resize", [p1, "", g.const([1, 1, 2, 2], np.float32)], "up", mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    p1 = g.op("AveragePool", [p1], "down", kernel_shape=[2, 2], strides=[2, 2])
    p2 = g.op("Resize", [p2, "", g.const([1, 1, 2, 2], np.float32)], "up_linear", mode="linear", coordinate_transformation_mode="half_pixel")
    p2 = g.op("MaxPool", [p2], "down_max", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1])
    x = g.op("Concat", [p1, p2], "cat2", axis=1)
    x = g.op("Pad", [x, g.const([0, 0, 1, 1, 0, 0, 1, 1]), g.const(0.25, np.float32)], "pad")
    x = conv(g, x, rand_conv(16, 16, 3), "head", pad=0)
    x = g.op("Clip", [x, g.const(-1.0, np.float32), g.const(2.0, np.float32)], "clip")
    x = g.op("ReduceMean", [x], "gap", axes=[2, 3], keepdims=0)
    w = (RNG.standard_normal((16, 10)) * 0.3).astype(np.float32)
    x = g.op("MatMul", [x, g.init("fc.weight", w)], "fc")
    x = g.op("Add", [x, g.init("fc.bias", np.linspace(-1, 1, 10).astype(np.float32))], "fc.add")
    x = g.op("LogSoftmax", [x], "logprobs", axis=-1)
    g.nodes[-1].output[0] = "logits"
    m = g.model([tensor_in("image", ["batch", 3, 12, 12])], [tensor_in("logits", ["batch", 10])], opset=14)
    images = RNG.standard_normal((3, 3, 12, 12)).astype(np.float32)
    write(out, "zoo", m, {"image": images})
    evals = RNG.standard_normal((256, 3, 12, 12)).astype(np.float32)
    write_eval(out, "zoo", evals, {"image": evals})


def ops(out):
    """The rest of the operator list at opset 20: dilated and SAME_UPPER Conv, weights as Constant
    nodes and as float16/bfloat16 initializers, ConvTranspose, InstanceNormalization, Gelu
    (exact and tanh), Equal/Where, ConstantOfShape, Slice with steps, Gemm with transA, alpha
    and beta, and a batched MatMul with a broadcast constant."""
    g = G()
    w = rand_conv(8, 4, 3)
    wc = g.op("Constant", [], "stem.weight", value=nh.from_array(w, "stem.weight"))
    x = g.op("Conv", ["image", wc], "stem", dilations=[2, 2], pads=[2, 2, 2, 2])
    x = g.op("Identity", [x], "stem.identity")
    x = g.op("InstanceNormalization", [x, g.init("inorm.scale", (1 + 0.1 * RNG.standard_normal(8)).astype(np.float32)),
                                       g.init("inorm.bias", (0.1 * RNG.standard_normal(8)).astype(np.float32))], "inorm", epsilon=1e-5)
    x = g.op("Gelu", [x], "gelu")
    # A float16 weight, cast up by the exporter.
    # A float16 2x2 weight, cast up by the exporter, padded SAME_UPPER (one extra row and column
    # at the end).
    w16 = g.init("mix.weight_fp16", rand_conv(8, 8, 2).astype(np.float16))
    x = g.op("Conv", [x, g.op("Cast", [w16], "mix.cast", to=TensorProto.FLOAT)], "mix", auto_pad="SAME_UPPER")
    x = g.op("Tanh", [x], "tanh")
    x = g.op("Add", [g.op("Exp", [g.op("Neg", [x], "neg")], "exp"), x], "exp_add")
    # ConvTranspose upsamples 8x8 to 16x16 (stride 2, output padding 1).
    wt = (RNG.standard_normal((8, 6, 3, 3)) * 0.2).astype(np.float32)
    x = g.op("ConvTranspose", [x, g.init("up.weight", wt), g.init("up.bias", np.linspace(-0.2, 0.2, 6).astype(np.float32))],
             "up", strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])
    x = g.op("HardSigmoid", [x], "hsig", alpha=0.3, beta=0.4)
    x = g.op("Slice", [x, g.const([1, 15]), g.const([15, 1]), g.const([2, 3]), g.const([2, -2])], "slice")
    r = g.op("Relu", [g.op("Sub", [x, g.const(0.5, np.float32)], "centre")], "relu")
    # Where a ReLU clipped (exactly zero), a constant; elsewhere the value.
    zero = g.op("Equal", [r, g.const(0.0, np.float32)], "is_zero")
    x = g.op("Where", [zero, g.const(-0.5, np.float32), r], "where")
    # A fill the size of the activation, whose shape follows the batch.
    fill = g.op("ConstantOfShape", [g.op("Shape", [x], "shape")], "fill", value=nh.from_array(np.array([0.125], np.float32)))
    x = g.op("Add", [x, fill], "fill_add")
    # [N, 6, 7, 7] -> [N, 6, 49] @ [49, 8] (a broadcast constant per channel) -> [N, 6, 8].
    x = g.op("Reshape", [x, g.const([0, 6, 49])], "to_rows")
    wm = g.init("rows.weight_bf16", (RNG.standard_normal((3, 49, 8)) * 0.2).astype(np.float32))
    x = g.op("Reshape", [x, g.const([0, 3, 2, 49])], "to_groups")
    x = g.op("MatMul", [x, wm], "rows")
    x = g.op("Gelu", [x], "gelu_tanh", approximate="tanh")
    x = g.op("Flatten", [x], "flatten", axis=1)
    x = g.op("Transpose", [x], "to_columns", perm=[1, 0])
    wg = (RNG.standard_normal((10, 48)) * 0.2).astype(np.float32)
    x = g.op("Gemm", [x, g.init("fc.weight", wg), g.init("fc.bias", np.linspace(-1, 1, 10).astype(np.float32))], "fc",
             transA=1, transB=1, alpha=0.5, beta=2.0)
    g.nodes[-1].output[0] = "logits"
    m = g.model([tensor_in("image", ["batch", 4, 8, 8])], [tensor_in("logits", ["batch", 10])], opset=20)
    # The batched weight stored as bfloat16 (as mixed-precision exports do), cast up in the graph.
    for t in m.graph.initializer:
        if t.name == "rows.weight_bf16":
            arr = nh.to_array(t).astype(np.float32)
            bf = (arr.view(np.uint32) >> 16).astype(np.uint16)
            t.CopyFrom(oh.make_tensor("rows.weight_bf16", TensorProto.BFLOAT16, arr.shape, bf.tobytes(), raw=True))
    for n in m.graph.node:
        if n.name == "rows":
            n.input[1] = "rows.weight"
    m.graph.node.insert(len(m.graph.node) - 5, oh.make_node("Cast", ["rows.weight_bf16"], ["rows.weight"], name="rows.cast", to=TensorProto.FLOAT))
    onnx.checker.check_model(m)
    m = onnx.shape_inference.infer_shapes(m)
    images = RNG.standard_normal((3, 4, 8, 8)).astype(np.float32)
    write(out, "ops", m, {"image": images})
    evals = RNG.standard_normal((256, 4, 8, 8)).astype(np.float32)
    write_eval(out, "ops", evals, {"image": evals})


def shape_dims(g, x, axes):
    """The named axes of x's shape as a 1-D int64 tensor, the way PyTorch exports `x.shape[i]`."""
    shape = g.op("Shape", [x])
    parts = [g.op("Unsqueeze", [g.op("Gather", [shape, g.const(a)], axis=0), g.const([0])]) for a in axes]
    return parts


def layer_norm_decomposed(g, x, dim, name):
    mean = g.op("ReduceMean", [x], f"{name}.mean", axes=[-1], keepdims=1)
    d = g.op("Sub", [x, mean], f"{name}.sub")
    var = g.op("ReduceMean", [g.op("Pow", [d, g.const(2.0, np.float32)], f"{name}.pow")], f"{name}.var", axes=[-1], keepdims=1)
    std = g.op("Sqrt", [g.op("Add", [var, g.const(1e-6, np.float32)], f"{name}.eps")], f"{name}.sqrt")
    y = g.op("Div", [d, std], f"{name}.div")
    w = g.init(f"{name}.weight", (1 + 0.1 * RNG.standard_normal(dim)).astype(np.float32))
    b = g.init(f"{name}.bias", (0.1 * RNG.standard_normal(dim)).astype(np.float32))
    return g.op("Add", [g.op("Mul", [y, w], f"{name}.mul"), b], name)


def linear(g, x, d_in, d_out, name):
    w = g.init(f"{name}.weight", (RNG.standard_normal((d_in, d_out)) / np.sqrt(d_in)).astype(np.float32))
    b = g.init(f"{name}.bias", (0.02 * RNG.standard_normal(d_out)).astype(np.float32))
    return g.op("Add", [g.op("MatMul", [x, w], name), b], f"{name}.add")


def vit(out):
    d, heads, tokens = 32, 4, 17
    hd = d // heads
    g = G()
    x = conv(g, "image", rand_conv(d, 3, 8), "patch_embed.proj", stride=8, pad=0, bias=np.zeros(d, np.float32))
    (batch,) = shape_dims(g, x, [0])
    x = g.op("Reshape", [x, g.op("Concat", [batch, g.const([d, -1])], axis=0)], "patch_embed.flatten")
    x = g.op("Transpose", [x], "patch_embed.transpose", perm=[0, 2, 1])
    cls = g.init("cls_token", (0.02 * RNG.standard_normal((1, 1, d))).astype(np.float32))
    cls = g.op("Expand", [cls, g.op("Concat", [batch, g.const([1, d])], axis=0)], "cls_expand")
    x = g.op("Concat", [cls, x], "cat_cls", axis=1)
    x = g.op("Add", [x, g.init("pos_embed", (0.02 * RNG.standard_normal((1, tokens, d))).astype(np.float32))], "pos_add")
    for b in range(2):
        n = f"blocks.{b}"
        h = layer_norm_decomposed(g, x, d, f"{n}.norm1")
        (bt,) = shape_dims(g, h, [0])
        split = g.op("Concat", [bt, g.const([tokens, heads, hd])], axis=0)
        q, k, v = (g.op("Transpose", [g.op("Reshape", [linear(g, h, d, d, f"{n}.attn.{w}"), split])], perm=[0, 2, 1, 3]) for w in ("q", "k", "v"))
        scores = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])], f"{n}.attn.scores")
        scores = g.op("Div", [scores, g.const(np.sqrt(hd), np.float32)], f"{n}.attn.scale")
        probs = g.op("Softmax", [scores], f"{n}.attn.softmax", axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, v], f"{n}.attn.context")], perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, g.op("Concat", [bt, g.const([tokens, d])], axis=0)], f"{n}.attn.merge")
        x = g.op("Add", [x, linear(g, ctx, d, d, f"{n}.attn.proj")], f"{n}.add1")
        h = layer_norm_decomposed(g, x, d, f"{n}.norm2")
        h = linear(g, h, d, 2 * d, f"{n}.mlp.fc1")
        erf = g.op("Erf", [g.op("Div", [h, g.const(np.sqrt(2.0), np.float32)])])
        h = g.op("Mul", [g.op("Mul", [h, g.op("Add", [erf, g.const(1.0, np.float32)])]), g.const(0.5, np.float32)], f"{n}.mlp.gelu")
        x = g.op("Add", [x, linear(g, h, 2 * d, d, f"{n}.mlp.fc2")], f"{n}.add2")
    x = layer_norm_decomposed(g, x, d, "norm")
    x = g.op("Gather", [x, g.const(0)], "cls_pick", axis=1)
    w = (RNG.standard_normal((10, d)) * 0.2).astype(np.float32)
    x = g.op("Gemm", [x, g.init("head.weight", w), g.init("head.bias", np.zeros(10, np.float32))], "head", transB=1)
    g.nodes[-1].output[0] = "logits"
    m = g.model([tensor_in("image", ["batch", 3, 32, 32])], [tensor_in("logits", ["batch", 10])], opset=13)
    images = RNG.standard_normal((3, 3, 32, 32)).astype(np.float32)
    write(out, "vit", m, {"image": images})
    evals = RNG.standard_normal((256, 3, 32, 32)).astype(np.float32)
    write_eval(out, "vit", evals, {"image": evals})


def minilm(root, out):
    src = os.path.join(root, ".fixtures/all-MiniLM-L6-v2")
    p = load_safetensors(os.path.join(src, "model.safetensors"))
    cfg = json.load(open(os.path.join(src, "config.json")))
    d, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    hd = d // heads
    g = G()
    w = lambda name: g.init(name, p[name])
    ids, types, mask = "input_ids", "token_type_ids", "attention_mask"
    (seq,) = shape_dims(g, ids, [1])
    positions = g.op("Unsqueeze", [g.op("Range", [g.const(0), g.op("Squeeze", [seq, g.const([0])]), g.const(1)]), g.const([0])], "position_ids")
    e = g.op("Add", [g.op("Gather", [w("embeddings.word_embeddings.weight"), ids], "embeddings.word_embeddings"),
                     g.op("Gather", [w("embeddings.token_type_embeddings.weight"), types], "embeddings.token_type_embeddings")])
    e = g.op("Add", [e, g.op("Gather", [w("embeddings.position_embeddings.weight"), positions], "embeddings.position_embeddings")])
    x = g.op("LayerNormalization", [e, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias")], "embeddings.LayerNorm", epsilon=eps, axis=-1)
    m = g.op("Cast", [g.op("Unsqueeze", [mask, g.const([1, 2])])], to=TensorProto.FLOAT)
    bias = g.op("Mul", [g.op("Sub", [g.const(1.0, np.float32), m]), g.const(-10000.0, np.float32)], "extended_attention_mask")

    def dense(x, name):
        wt = g.init(f"{name}.weight", np.ascontiguousarray(p[f"{name}.weight"].T))
        return g.op("Add", [g.op("MatMul", [x, wt], name), w(f"{name}.bias")], f"{name}.add")

    for l in range(cfg["num_hidden_layers"]):
        n = f"encoder.layer.{l}"
        bt, st = shape_dims(g, x, [0, 1])
        split = g.op("Concat", [bt, st, g.const([heads, hd])], axis=0)
        q, k, v = (g.op("Transpose", [g.op("Reshape", [dense(x, f"{n}.attention.self.{s}"), split])], perm=[0, 2, 1, 3]) for s in ("query", "key", "value"))
        scores = g.op("Div", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]), g.const(np.sqrt(hd), np.float32)])
        probs = g.op("Softmax", [g.op("Add", [scores, bias])], f"{n}.attention.self.softmax", axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, g.op("Concat", [bt, st, g.const([d])], axis=0)])
        a = g.op("Add", [dense(ctx, f"{n}.attention.output.dense"), x], f"{n}.attention.output.add")
        a = g.op("LayerNormalization", [a, w(f"{n}.attention.output.LayerNorm.weight"), w(f"{n}.attention.output.LayerNorm.bias")], f"{n}.attention.output.LayerNorm", epsilon=eps)
        h = dense(a, f"{n}.intermediate.dense")
        erf = g.op("Erf", [g.op("Div", [h, g.const(np.sqrt(2.0), np.float32)])])
        h = g.op("Mul", [g.op("Mul", [h, g.op("Add", [erf, g.const(1.0, np.float32)])]), g.const(0.5, np.float32)], f"{n}.intermediate.gelu")
        o = g.op("Add", [dense(h, f"{n}.output.dense"), a], f"{n}.output.add")
        x = g.op("LayerNormalization", [o, w(f"{n}.output.LayerNorm.weight"), w(f"{n}.output.LayerNorm.bias")], f"{n}.output.LayerNorm", epsilon=eps)
    mf = g.op("Unsqueeze", [g.op("Cast", [mask], to=TensorProto.FLOAT), g.const([-1])])
    summed = g.op("ReduceSum", [g.op("Mul", [x, mf]), g.const([1])], "pool.sum", keepdims=0)
    counts = g.op("Clip", [g.op("ReduceSum", [mf, g.const([1])], keepdims=0), g.const(1e-9, np.float32)])
    pooled = g.op("Div", [summed, counts], "pool.mean")
    norm = g.op("Sqrt", [g.op("ReduceSum", [g.op("Mul", [pooled, pooled]), g.const([-1])], keepdims=1)])
    y = g.op("Div", [pooled, g.op("Clip", [norm, g.const(1e-12, np.float32)])], "normalize")
    g.nodes[-1].output[0] = "sentence_embedding"
    ins = [tensor_in(n, ["batch", "sequence"], TensorProto.INT64) for n in (ids, types, mask)]
    model = g.model(ins, [tensor_in("sentence_embedding", ["batch", d])], opset=17)
    shutil.copy(os.path.join(src, "tokenizer.json"), os.path.join(out, "minilm.tokenizer.json"))
    sidecar = "arch: onnx\nfile: minilm.onnx\ntask: embedding\ntokens: 128\ntokenizer: minilm.tokenizer.json\n"
    n, t = 3, 128
    id_batch = RNG.integers(1000, 20000, (n, t), dtype=np.int64)
    id_batch[:, 0] = 101
    lengths = [128, 40, 9]
    mask_batch = np.zeros((n, t), np.int64)
    for r, length in enumerate(lengths):
        mask_batch[r, :length] = 1
        id_batch[r, length - 1] = 102
        id_batch[r, length:] = 0
    feeds = {ids: id_batch, types: np.zeros((n, t), np.int64), mask: mask_batch}
    write(out, "minilm", model, feeds, sidecar)


def main():
    root, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    demo_cnn(root, out)
    resnet(out)
    zoo(out)
    ops(out)
    vit(out)
    mobilenet(root, out)
    minilm(root, out)


if __name__ == "__main__":
    main()
