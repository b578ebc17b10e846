"""Peak dense FLOP/s of one device, keyed on ``jax.Device.device_kind``, for model-FLOPs utilisation.

Sources (vendor datasheets, dense, without 2:4 sparsity): NVIDIA H100 Tensor Core GPU datasheet (H100 SXM:
bf16 989.4 TFLOP/s, TF32 494.7); the H200 datasheet gives the H100 SXM's rates; NVIDIA A100 datasheet (bf16 312,
TF32 156); Google Cloud TPU docs, "TPU v4" and "TPU v5e" system architecture pages (bf16 275 and 197 per chip).
float32 on these GPUs is the TF32 tensor-core rate: XLA's default matmul/conv precision uses TF32 there. TPUs
run float32 convs as bf16 passes at default precision, so their float32 peak is left unknown.
"""

from __future__ import annotations

TERA = 1e12
PEAK_FLOPS = {  # device_kind -> {compute dtype: FLOP/s}
    "NVIDIA H100 80GB HBM3": {"bfloat16": 989.4 * TERA, "float16": 989.4 * TERA, "float32": 494.7 * TERA},
    "NVIDIA H200": {"bfloat16": 989.4 * TERA, "float16": 989.4 * TERA, "float32": 494.7 * TERA},
    "NVIDIA A100-SXM4-80GB": {"bfloat16": 312 * TERA, "float16": 312 * TERA, "float32": 156 * TERA},
    "NVIDIA A100-SXM4-40GB": {"bfloat16": 312 * TERA, "float16": 312 * TERA, "float32": 156 * TERA},
    "TPU v4": {"bfloat16": 275 * TERA},
    "TPU v5 lite": {"bfloat16": 197 * TERA},  # v5e
}


def peak_flops(device_kind: str, dtype: str) -> float | None:
    """Peak FLOP/s of one device of this kind computing in ``dtype``; None where the table has no entry."""
    return PEAK_FLOPS.get(device_kind, {}).get(dtype)
