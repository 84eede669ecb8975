#!/usr/bin/env python3
"""A sculpt runner for onnxruntime on this machine's CPU.

The runner protocol (docs/runners.md): sculpt calls

    RUNNER --model MODEL.onnx --inputs DIR --warmup W --repeat N [--outputs DIR]

where DIR holds one `<input name>.npy` per model input. The runner prints JSON lines on stdout:
first one line describing itself ({"runtime": ..., "version": ...}), then one
{"latency_ms": x} per timed run. With --outputs it also writes each model output as
`<output name>.npy` (from the last run). Errors go to stderr with a non-zero exit status.

Options of this runner: --threads T (intra-op threads, default 1).
"""
import argparse
import json
import os
import sys
import time

# This file is named like the package it runs: drop its own folder from the import path, or
# `import onnxruntime` would import this script.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--inputs", required=True)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--outputs")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    feeds = {}
    for i in sess.get_inputs():
        path = os.path.join(a.inputs, i.name + ".npy")
        if not os.path.exists(path):
            sys.exit(f"onnxruntime runner: no input file {path} for model input `{i.name}`")
        feeds[i.name] = np.load(path)
    print(json.dumps({"runtime": "onnxruntime", "version": ort.__version__,
                      "threads": a.threads}), flush=True)
    outs = None
    for _ in range(a.warmup):
        outs = sess.run(None, feeds)
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        outs = sess.run(None, feeds)
        ms = (time.perf_counter() - t0) * 1e3
        print(json.dumps({"latency_ms": ms}), flush=True)
    if a.outputs:
        if outs is None:
            outs = sess.run(None, feeds)
        os.makedirs(a.outputs, exist_ok=True)
        for o, v in zip(sess.get_outputs(), outs):
            np.save(os.path.join(a.outputs, o.name + ".npy"), v)


if __name__ == "__main__":
    main()
