#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/corpus/ (run from anywhere).

A handful of valid and invalid inputs per target, so each fuzz run starts from
the interesting structure instead of random bytes."""
import gzip
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- safetensors --------------------------------------------------------------
def st(tensors, meta=None, pad=True, raw_header=None):
    header, data = {}, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, (dtype, shape, payload) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    h = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    if pad and raw_header is None:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


f32 = lambda *v: struct.pack("<%df" % len(v), *v)
f64 = lambda *v: struct.pack("<%dd" % len(v), *v)
i64 = lambda *v: struct.pack("<%dq" % len(v), *v)
write("safetensors", "valid_f32_2x3", st({"w": ("F32", [2, 3], f32(1, 2, 3, 4, 5, 6))}))
write("safetensors", "valid_mixed_meta", st({
    "a": ("F64", [2], f64(0.5, -1)), "b": ("I64", [3], i64(1, -2, 3)), "c": ("F32", [], f32(7))},
    meta={"format": "pt", "step": "12"}))
write("safetensors", "valid_empty_tensor", st({"e": ("F32", [0, 4], b""), "s": ("F32", [1], f32(2))}))
write("safetensors", "valid_no_tensors", st({}, meta={"k": "v\u00e9\\n"}))
write("safetensors", "valid_escapes", st({"na\u00efve\"q\n": ("F32", [1], f32(1))}))
write("safetensors", "valid_unpadded_odd_size",  # odd size: also read through the file path
      st({"x": ("I64", [1], i64(5)), "y": ("F32", [1, 1], f32(3))}, meta={"a": "b"}, pad=False) + b"")
write("safetensors", "bad_truncated", st({"w": ("F32", [2, 3], f32(1, 2, 3, 4, 5, 6))})[:-5])
write("safetensors", "bad_overlap", st({}, raw_header=b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                        b'"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}') + f32(1))
write("safetensors", "bad_header_len", struct.pack("<Q", 1 << 62) + b"{}")
write("safetensors", "bad_dtype", st({}, raw_header=b'{"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}') + b"\0\0")
write("safetensors", "bad_huge_shape", st({}, raw_header=b'{"a":{"dtype":"F64","shape":[4294967296,4294967296,16],'
                                            b'"data_offsets":[0,0]}}'))
write("safetensors", "bad_json", struct.pack("<Q", 10) + b'{"a":[1,2,')

# ---- IDX ----------------------------------------------------------------------------
def idx(type_code, shape, payload):
    return bytes([0, 0, type_code, len(shape)]) + b"".join(struct.pack(">I", s) for s in shape) + payload


write("idx", "valid_labels_ubyte", idx(0x08, [5], bytes([1, 2, 3, 9, 0])))
write("idx", "valid_images_ubyte", idx(0x08, [2, 2, 3], bytes(range(12))))
write("idx", "valid_float", idx(0x0D, [2, 2], struct.pack(">4f", 1.5, -2, 3e38, 0)))
write("idx", "valid_double", idx(0x0E, [3], struct.pack(">3d", 1e300, -0.0, 2.5)))
write("idx", "valid_int_odd", idx(0x0C, [3, 1], struct.pack(">3i", -5, 2**31 - 1, 7)))
write("idx", "valid_short_sbyte", idx(0x0B, [2], struct.pack(">2h", -300, 300)) )
write("idx", "valid_sbyte_0d", idx(0x09, [], bytes([0x80])))
write("idx", "valid_gzip", gzip.compress(idx(0x08, [4, 4], bytes(range(16)))))
write("idx", "bad_gzip_truncated", gzip.compress(idx(0x08, [64], bytes(64)))[:-6])
write("idx", "bad_trailing", idx(0x08, [2], bytes([1, 2, 3])))
write("idx", "bad_short_data", idx(0x0E, [4], struct.pack(">d", 1)))
write("idx", "bad_type", idx(0x0A, [1], b"\0"))
write("idx", "bad_huge_dims", idx(0x08, [0xFFFFFFFF] * 8, b""))
write("idx", "bad_magic", b"\x01\x00\x08\x01\x00\x00\x00\x01\x05")

# ---- tensor_table programs (see tensor_table_fuzz.c for the byte codes) -------------
O, C = b"\x00", b"\x10"
write("tensor_table", "flat_ints", b"\x31\x33\x35\x37" + b"\x00")          # {1,3,5,7}, no dtype
write("tensor_table", "matrix_2x3_f64", O + b"\x31\x32\x34" + C + O + b"\x36\x38\x3a" + C + b"\x02")
write("tensor_table", "cube_2x2x2", O + O + b"\x31\x33" + C + O + b"\x35\x37" + C + C
      + O + O + b"\x39\x3b" + C + O + b"\x3d\x3f" + C + C + b"\x01")
write("tensor_table", "ragged", O + b"\x31\x33" + C + O + b"\x35" + C + b"\x02")
write("tensor_table", "specials_int64", b"\x22\x23\x24\x25\x26\x27\x28\x29" + b"\x03")
write("tensor_table", "string_leaf", b"\x31\x20\x33" + b"\x02")
write("tensor_table", "shared_rows", O + b"\x31\x2b\x40" + C + b"\x2a\x00\x2b\x20" + b"\x02")
write("tensor_table", "cycle", b"\x2c" + b"\x02")
write("tensor_table", "hole_and_field", b"\x31\x2e\x2d\x33" + b"\x01")
write("tensor_table", "tensor_leaf", b"\x2f\x31" + b"\x01")
write("tensor_table", "deep_9", O * 9 + b"\x31" + C * 9 + b"\x02")
write("tensor_table", "empty_rows", O + C + O + C + b"\x04")
