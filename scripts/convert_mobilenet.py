#!/usr/bin/env python3
"""Converts torchvision's MobileNetV2 ImageNet weights from the legacy (pre-zip) torch pickle
format to safetensors, with numpy alone (no torch needed).

    convert_mobilenet.py IN.pth OUT.safetensors

The legacy format is: a magic-number pickle, a protocol-version pickle, a sys-info pickle, the
state dict pickle (tensors refer to storages by persistent id), a pickle of the storage keys,
then each storage as a little-endian u64 element count followed by its raw data. Only the
classes a state dict uses are accepted (collections.OrderedDict, torch storages and
torch._utils._rebuild_tensor_v2); anything else in the pickle is refused, so an untrusted file
cannot run code.
"""
import collections
import json
import pickle
import struct
import sys

import numpy as np

DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "HalfStorage": np.float16}


class Storage:
    def __init__(self, key, dtype):
        self.key, self.dtype = key, dtype


def rebuild_tensor_v2(storage, offset, size, stride, *rest):
    return ("tensor", storage, offset, tuple(size), tuple(stride))


class StorageType:
    def __init__(self, name):
        self.name = name


class SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return rebuild_tensor_v2
        if module == "torch" and name in DTYPES:
            return StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        kind, storage_type, key = pid[0], pid[1], pid[2]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return Storage(key, DTYPES[storage_type.name])


def main(src, dst):
    with open(src, "rb") as f:
        for _ in range(3):  # magic number, protocol version, sys info
            pickle.load(f)
        state = SafeUnpickler(f).load()
        keys = pickle.load(f)
        f.read(0)
        raw = {}
        for key in keys:
            (numel,) = struct.unpack("<q", f.read(8))
            dtype = next(s.dtype for s in iter_storages(state) if s.key == key)
            raw[key] = np.frombuffer(f.read(numel * np.dtype(dtype).itemsize), dtype=dtype)
    header, blobs, offset = {}, [], 0
    for name, value in state.items():
        if name.endswith("num_batches_tracked"):
            continue
        _, storage, off, size, stride = value
        flat = raw[storage.key]
        arr = np.lib.stride_tricks.as_strided(
            flat[off:], shape=size, strides=[s * flat.itemsize for s in stride]
        )
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        data = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(size), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"source": "torchvision mobilenet_v2-b0353104.pth"}
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(dst + ".part", "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for b in blobs:
            out.write(b)
    import os

    os.replace(dst + ".part", dst)
    print(f"wrote {dst}: {len(header) - 1} tensors")


def iter_storages(state):
    for value in state.values():
        yield value[1]


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
