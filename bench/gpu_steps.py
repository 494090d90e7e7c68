r"""Step times of synthetic Llama-shaped models on the GPU that runs this (random BF16 weights, plain PyTorch).

Needs only ``torch`` and a CUDA GPU; imports nothing of fleetplan, so it runs on a bare GPU machine:

    python bench/gpu_steps.py --out steps.csv [--budget-s 240] [--run 2] [--parts]

The CSVs in bench/data (``h200-pytorch-steps.csv``: two runs of the whole steps, ``h200-pytorch-parts.csv``: one of
``--parts``, ``h200-pytorch-fp8.csv``: one of ``--fp8``) came from one H200 on 2026-12-04, about 400 s of GPU time
in all; ``python -m bench.gpu_check`` compares them with the performance model.

What one row measures (``phase``):

- ``decode``: one decode step of ``batch`` sequences, each with ``context`` tokens in its KV cache: every layer's
  RMSNorm, fused QKV GEMM, RoPE, the new token's K/V written into the cache, attention of the token over the
  cache (``scaled_dot_product_attention``; a GQA group's query heads are the query rows of one KV head, exact
  since one token attends without a mask), output GEMM, RMSNorm, fused gate/up GEMM, SiLU-and-multiply, down
  GEMM; then the final norm and the LM head for every sequence. Captured in a CUDA graph, as serving engines run
  decode, and replayed.
- ``prefill``: one forward pass over ``batch`` prompts of ``context`` tokens each (causal attention, GQA through
  ``enable_gqa``), logits for each prompt's last token only. Also a CUDA graph.
- with ``--parts``: ``decode_gemms`` / ``prefill_gemms`` (every layer's four GEMMs and the LM head, on all N
  tokens, nothing else) and ``decode_attention`` / ``prefill_attention`` (every layer's attention alone), so that
  each term of the roofline is checked on its own.
- with ``--fp8``: the same GEMMs with FP8 (e4m3) weights and activations (``run_fp8``).
- ``copy`` and ``gemm``: the machine's ceilings (a device-to-device copy of 8 GiB, counting bytes read and
  written; an 8192 x 8192 x 8192 BF16 matrix product), to read the step times against.

Each configuration is warmed up, captured, replayed 3 times untimed and then timed replay by replay with CUDA
events; the row keeps the median, the 10th and 90th percentiles and the number of timed replays (more for short
steps: about 1.5 s of replays, between 5 and 30). Weights and KV cache are random normal (zeros run faster on
this hardware). The model shapes are those of the fleetplan catalog's models (planner/catalog), written out here
so that the script stands alone; ``layers`` may be fewer than the model's (a 70B model's 80 layers do not fit
one GPU in BF16): the comparison (``bench/gpu_check.py``) predicts the same truncated shape.

What it is not: an engine. No paged KV cache, no fused norm/RoPE kernels, no continuous batching or scheduler,
no sampling: the per-layer kernel count is higher than a tuned engine's and the host work lower. The comparison
therefore checks the model's hardware terms (weights read at eta_bw x bandwidth, KV read, GEMM and attention
compute) against these steps, not its per-engine constants.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import sys
import time

import torch
import torch.nn.functional as F

# the catalog's shapes (planner/catalog/data, from the models' Hugging Face config.json)
MODELS = {
    "llama-3.1-8b": dict(layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128, ffn=14336, vocab=128256),
    "phi-4": dict(layers=40, hidden=5120, heads=40, kv_heads=10, head_dim=128, ffn=17920, vocab=100352),
    "llama-3.1-70b": dict(layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128, ffn=28672, vocab=128256),
}
# (model, layers run): the 70B shape at half its layers (70.6 GB of weights) leaves room for its KV cache
RUNS = (("llama-3.1-8b", 32), ("phi-4", 40), ("llama-3.1-70b", 40))
DECODE = [(b, c) for c in (1024, 4096) for b in (1, 4, 16, 32, 64, 128, 256)] + [(1, 16384), (8, 16384)]
PREFILL = [(1, 256), (1, 1024), (1, 4096), (1, 16384), (4, 4096)]
# ``--parts``: the step's GEMMs alone and its attention alone, to check the roofline's terms one by one
PART_DECODE = [(1, 1024), (16, 1024), (64, 1024), (256, 1024), (1, 16384), (8, 16384), (64, 4096)]
PART_PREFILL = [(1, 1024), (1, 4096), (1, 16384)]
KV_LIMIT_GIB = 60.0  # the largest KV cache a decode configuration allocates
FIELDS = ("source", "as_of", "device", "torch", "run", "model", "layers", "precision", "phase", "batch", "context",
          "tokens", "median_ms", "p10_ms", "p90_ms", "repeats", "note")


class Model:
    """Random BF16 weights of one shape; ``decode`` and ``prefill`` are the forward passes above."""

    def __init__(self, shape: dict, layers: int, dev: torch.device):
        g = torch.Generator(device=dev).manual_seed(0)
        h, hd, nh, nkv, ffn = shape["hidden"], shape["head_dim"], shape["heads"], shape["kv_heads"], shape["ffn"]
        self.h, self.hd, self.nh, self.nkv, self.L = h, hd, nh, nkv, layers

        def w(*size):
            return (torch.randn(*size, generator=g, device=dev, dtype=torch.bfloat16) * 0.02)

        self.layers = [dict(n1=torch.ones(h, device=dev, dtype=torch.bfloat16), qkv=w(h, (nh + 2 * nkv) * hd),
                            o=w(nh * hd, h), n2=torch.ones(h, device=dev, dtype=torch.bfloat16),
                            gu=w(h, 2 * ffn), down=w(ffn, h)) for _ in range(layers)]
        self.norm = torch.ones(h, device=dev, dtype=torch.bfloat16)
        self.lm = w(h, shape["vocab"])
        self.embed = w(shape["vocab"], h)  # read for the new tokens only (a gather)
        self.weight_bytes = sum(t.numel() * 2 for lay in self.layers for t in lay.values()) + self.lm.numel() * 2

    @staticmethod
    def _rms(x, wt):
        return F.rms_norm(x, (x.shape[-1],), wt, 1e-5)

    @staticmethod
    def _rope(x, cos, sin):
        x1, x2 = x.chunk(2, dim=-1)
        return x * cos + torch.cat((-x2, x1), dim=-1) * sin

    def _mlp(self, x, lay):
        gu = x @ lay["gu"]
        gate, up = gu.chunk(2, dim=-1)
        return (F.silu(gate) * up) @ lay["down"]

    def decode(self, tokens, caches, pos: int, cos, sin):
        """tokens [B]; caches: per layer (K, V) [B, nkv, C, hd]; the new token sits at ``pos`` (= C - 1)."""
        B = tokens.shape[0]
        G = self.nh // self.nkv
        x = self.embed[tokens]
        for lay, (kc, vc) in zip(self.layers, caches):
            y = self._rms(x, lay["n1"]) @ lay["qkv"]
            q, k, v = y.split([self.nh * self.hd, self.nkv * self.hd, self.nkv * self.hd], dim=-1)
            q = self._rope(q.view(B, self.nkv, G, self.hd), cos, sin)
            k = self._rope(k.view(B, self.nkv, 1, self.hd), cos, sin)
            kc[:, :, pos:pos + 1].copy_(k)
            vc[:, :, pos:pos + 1].copy_(v.view(B, self.nkv, 1, self.hd))
            a = F.scaled_dot_product_attention(q, kc, vc)  # [B, nkv, G, hd]: G query rows per KV head
            x = x + a.reshape(B, self.nh * self.hd) @ lay["o"]
            x = x + self._mlp(self._rms(x, lay["n2"]), lay)
        return self._rms(x, self.norm) @ self.lm

    def prefill(self, tokens, cos, sin):
        """tokens [B, T]: causal attention over each prompt; logits of each prompt's last token."""
        B, T = tokens.shape
        x = self.embed[tokens]
        for lay in self.layers:
            y = self._rms(x, lay["n1"]) @ lay["qkv"]
            q, k, v = y.split([self.nh * self.hd, self.nkv * self.hd, self.nkv * self.hd], dim=-1)
            q = self._rope(q.view(B, T, self.nh, self.hd).transpose(1, 2), cos, sin)
            k = self._rope(k.view(B, T, self.nkv, self.hd).transpose(1, 2), cos, sin)
            v = v.view(B, T, self.nkv, self.hd).transpose(1, 2)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            x = x + a.transpose(1, 2).reshape(B, T, self.nh * self.hd) @ lay["o"]
            x = x + self._mlp(self._rms(x, lay["n2"]), lay)
        return self._rms(x[:, -1], self.norm) @ self.lm


    def gemms(self, x, a, act):
        """The four GEMMs of every layer and the LM head, nothing else: x [N, h], a [N, nh hd], act [N, ffn]."""
        for lay in self.layers:
            x @ lay["qkv"]
            a @ lay["o"]
            x @ lay["gu"]
            act @ lay["down"]
        return x @ self.lm

    def attention(self, q, caches, causal: bool):
        """Every layer's attention alone: q [B, nkv, G, hd] against the cache (decode), or causal over caches'
        own keys with GQA (prefill: q [B, nh, T, hd])."""
        for kc, vc in caches:
            if causal:
                F.scaled_dot_product_attention(q, kc, vc, is_causal=True, enable_gqa=True)
            else:
                F.scaled_dot_product_attention(q, kc, vc)


def rope_tables(hd: int, positions: torch.Tensor):
    inv = 1.0 / (500000.0 ** (torch.arange(0, hd, 2, device=positions.device, dtype=torch.float32) / hd))
    ang = positions.float()[:, None] * inv[None, :]
    ang = torch.cat((ang, ang), dim=-1)
    return ang.cos().to(torch.bfloat16), ang.sin().to(torch.bfloat16)


def timed(fn, target_s: float = 1.5) -> tuple[float, float, float, int, str]:
    """(median, p10, p90 in ms, timed replays, how) of ``fn`` captured in a CUDA graph; run eagerly (``how``
    says so) where the capture fails."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    how = "cuda graph"
    try:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        replay = graph.replay
    except Exception as exc:  # noqa: BLE001
        torch.cuda.synchronize()
        graph, replay, how = None, fn, f"eager (graph capture failed: {type(exc).__name__})"
    for _ in range(3):
        replay()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    replay()
    torch.cuda.synchronize()
    one = time.perf_counter() - t0
    n = max(5, min(30, int(target_s / max(one, 1e-4))))
    times = []
    for _ in range(n):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        replay()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    graph = None
    times.sort()
    q = lambda f: times[min(len(times) - 1, int(f * (len(times) - 1) + 0.5))]  # noqa: E731
    return q(0.5), q(0.1), q(0.9), n, how


def _copy_row(dev) -> dict:
    x = torch.randn(8 * 2 ** 30 // 2, device=dev, dtype=torch.bfloat16)
    y = torch.empty_like(x)
    med, p10, p90, n, how = timed(lambda: y.copy_(x))
    gbps = 2 * x.numel() * 2 / (med * 1e-3) / 1e9
    return dict(phase="copy", tokens=x.numel() * 2, median_ms=med, p10_ms=p10, p90_ms=p90, repeats=n,
                note=f"{gbps:.0f} GB/s counting bytes read and written; {how}")


def _gemm_row(dev) -> dict:
    a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    c = torch.empty(8192, 8192, device=dev, dtype=torch.bfloat16)
    med, p10, p90, n, how = timed(lambda: torch.matmul(a, b, out=c))
    return dict(phase="gemm", tokens=8192, median_ms=med, p10_ms=p10, p90_ms=p90, repeats=n,
                note=f"{2 * 8192 ** 3 / (med * 1e-3) / 1e12:.0f} TFLOP/s bf16, random operands; {how}")


def ceilings(dev) -> list[dict]:
    """The copy and matrix-product rows (each helper's tensors are freed when it returns)."""
    rows = [_copy_row(dev)]
    torch.cuda.empty_cache()
    rows.append(_gemm_row(dev))
    torch.cuda.empty_cache()
    return rows


def run_model(name: str, layers: int, dev, deadline: float, write) -> None:
    shape = MODELS[name]
    m = Model(shape, layers, dev)
    base = dict(model=name, layers=layers, precision="bf16")
    kv_per_token = layers * 2 * m.nkv * m.hd * 2
    for B, C in DECODE:
        if time.perf_counter() > deadline:
            return
        if B * C * kv_per_token > KV_LIMIT_GIB * 2 ** 30:
            continue
        try:
            caches = [(torch.randn(B, m.nkv, C, m.hd, device=dev, dtype=torch.bfloat16),
                       torch.randn(B, m.nkv, C, m.hd, device=dev, dtype=torch.bfloat16)) for _ in range(layers)]
            tokens = torch.randint(0, shape["vocab"], (B,), device=dev)
            cos, sin = rope_tables(m.hd, torch.tensor([C - 1], device=dev))
            med, p10, p90, n, how = timed(lambda: m.decode(tokens, caches, C - 1, cos, sin))
            kv_gb = B * C * kv_per_token / 1e9
            write(dict(base, phase="decode", batch=B, context=C, tokens=B, median_ms=med, p10_ms=p10, p90_ms=p90,
                       repeats=n, note=f"weights {m.weight_bytes / 1e9:.2f} GB, KV {kv_gb:.2f} GB; {how}"))
        except Exception as exc:  # noqa: BLE001 -- one configuration's failure is a row, not the end of the run
            write(dict(base, phase="decode", batch=B, context=C, note=f"failed: {type(exc).__name__}: {exc}"[:300]))
        finally:
            caches = None
            torch.cuda.empty_cache()
    for B, T in PREFILL:
        if time.perf_counter() > deadline:
            return
        try:
            tokens = torch.randint(0, shape["vocab"], (B, T), device=dev)
            cos, sin = rope_tables(m.hd, torch.arange(T, device=dev))
            med, p10, p90, n, how = timed(lambda: m.prefill(tokens, cos, sin), target_s=1.0)
            write(dict(base, phase="prefill", batch=B, context=T, tokens=B * T, median_ms=med, p10_ms=p10,
                       p90_ms=p90, repeats=n, note=f"weights {m.weight_bytes / 1e9:.2f} GB; {how}"))
        except Exception as exc:  # noqa: BLE001
            write(dict(base, phase="prefill", batch=B, context=T, note=f"failed: {type(exc).__name__}: {exc}"[:300]))
        finally:
            torch.cuda.empty_cache()


def run_parts(name: str, layers: int, dev, deadline: float, write) -> None:
    """decode_gemms / decode_attention / prefill_gemms / prefill_attention rows of one model (``--parts``)."""
    shape = MODELS[name]
    m = Model(shape, layers, dev)
    base = dict(model=name, layers=layers, precision="bf16")
    G = m.nh // m.nkv

    def one(phase, B, C, tokens, fn, target_s=1.0):
        if time.perf_counter() > deadline:
            return
        try:
            med, p10, p90, n, how = timed(fn, target_s)
            write(dict(base, phase=phase, batch=B, context=C, tokens=tokens, median_ms=med, p10_ms=p10, p90_ms=p90,
                       repeats=n, note=how))
        except Exception as exc:  # noqa: BLE001
            write(dict(base, phase=phase, batch=B, context=C, note=f"failed: {type(exc).__name__}: {exc}"[:300]))
        finally:
            torch.cuda.empty_cache()

    for B, C in PART_DECODE:
        x = torch.randn(B, m.h, device=dev, dtype=torch.bfloat16)
        a = torch.randn(B, m.nh * m.hd, device=dev, dtype=torch.bfloat16)
        act = torch.randn(B, shape["ffn"], device=dev, dtype=torch.bfloat16)
        one("decode_gemms", B, C, B, lambda: m.gemms(x, a, act))
        q = torch.randn(B, m.nkv, G, m.hd, device=dev, dtype=torch.bfloat16)
        caches = [(torch.randn(B, m.nkv, C, m.hd, device=dev, dtype=torch.bfloat16),
                   torch.randn(B, m.nkv, C, m.hd, device=dev, dtype=torch.bfloat16)) for _ in range(layers)]
        one("decode_attention", B, C, B, lambda: m.attention(q, caches, causal=False))
        caches = None
    for B, T in PART_PREFILL:
        x = torch.randn(B * T, m.h, device=dev, dtype=torch.bfloat16)
        a = torch.randn(B * T, m.nh * m.hd, device=dev, dtype=torch.bfloat16)
        act = torch.randn(B * T, shape["ffn"], device=dev, dtype=torch.bfloat16)
        one("prefill_gemms", B, T, B * T, lambda: m.gemms(x, a, act))
        x = a = act = None
        q = torch.randn(B, m.nh, T, m.hd, device=dev, dtype=torch.bfloat16)
        caches = [(torch.randn(B, m.nkv, T, m.hd, device=dev, dtype=torch.bfloat16),
                   torch.randn(B, m.nkv, T, m.hd, device=dev, dtype=torch.bfloat16)) for _ in range(layers)]
        one("prefill_attention", B, T, B * T, lambda: m.attention(q, caches, causal=True))
        caches = None


FP8_DECODE = (1, 16, 64, 256)  # batch; rows are padded to 16 for the FP8 GEMM (``tokens`` holds what ran)
FP8_PREFILL = (1024, 4096, 16384)
FP8_RUNS = (("llama-3.1-8b", 32), ("phi-4", 40), ("llama-3.1-70b", 80))  # 70B whole: 70.6 GB in FP8


def run_fp8(name: str, layers: int, dev, deadline: float, write) -> None:
    """``--fp8``: the GEMMs of every layer and the LM head with FP8 (e4m3) weights and activations, per-tensor
    scales, BF16 output (``torch._scaled_mm``, cuBLASLt), as ``decode_gemms`` / ``prefill_gemms`` rows with
    precision fp8. The activations' quantisation is not timed (engines fuse it into the kernel before)."""
    shape = MODELS[name]
    h, hd, nh, nkv, ffn = shape["hidden"], shape["head_dim"], shape["heads"], shape["kv_heads"], shape["ffn"]
    f8 = torch.float8_e4m3fn
    one = torch.ones((), device=dev, dtype=torch.float32)

    def wt(n, k):  # [n, k] row-major, used as its transpose (column-major, as _scaled_mm wants)
        return (torch.randn(n, k, device=dev, dtype=torch.bfloat16) * 0.5).to(f8)

    mats = [(wt((nh + 2 * nkv) * hd, h), wt(h, nh * hd), wt(2 * ffn, h), wt(h, ffn)) for _ in range(layers)]
    lm = wt(shape["vocab"], h)
    base = dict(model=name, layers=layers, precision="fp8")

    def gemms(x, a, act):
        for qkv, o, gu, down in mats:
            torch._scaled_mm(x, qkv.t(), one, one, out_dtype=torch.bfloat16)
            torch._scaled_mm(a, o.t(), one, one, out_dtype=torch.bfloat16)
            torch._scaled_mm(x, gu.t(), one, one, out_dtype=torch.bfloat16)
            torch._scaled_mm(act, down.t(), one, one, out_dtype=torch.bfloat16)
        return torch._scaled_mm(x, lm.t(), one, one, out_dtype=torch.bfloat16)

    for phase, n_tokens, B, C in ([("decode_gemms", max(16, b), b, 1024) for b in FP8_DECODE]
                                  + [("prefill_gemms", n, 1, n) for n in FP8_PREFILL]):
        if time.perf_counter() > deadline:
            return
        try:
            x = torch.randn(n_tokens, h, device=dev, dtype=torch.bfloat16).to(f8)
            a = torch.randn(n_tokens, nh * hd, device=dev, dtype=torch.bfloat16).to(f8)
            act = torch.randn(n_tokens, ffn, device=dev, dtype=torch.bfloat16).to(f8)
            med, p10, p90, n, how = timed(lambda: gemms(x, a, act), 1.0)
            write(dict(base, phase=phase, batch=B, context=C, tokens=n_tokens, median_ms=med, p10_ms=p10,
                       p90_ms=p90, repeats=n, note=how))
        except Exception as exc:  # noqa: BLE001
            write(dict(base, phase=phase, batch=B, context=C, note=f"failed: {type(exc).__name__}: {exc}"[:300]))
        finally:
            torch.cuda.empty_cache()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="CSV to write (one row per configuration)")
    ap.add_argument("--budget-s", type=float, default=240.0, help="no configuration starts after this many seconds")
    ap.add_argument("--run", type=int, default=1, help="the run's number in the CSV (repeats of one configuration)")
    ap.add_argument("--parts", action="store_true", help="the steps' GEMMs and attention timed apart, not whole steps")
    ap.add_argument("--fp8", action="store_true", help="the steps' GEMMs with FP8 weights and activations")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to measure", file=sys.stderr)
        return 2
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    name = torch.cuda.get_device_name(dev)
    common = dict(source=f"fleetplan bench/gpu_steps.py, plain PyTorch {torch.__version__} (CUDA {torch.version.cuda}) "
                         f"with CUDA graphs, random BF16 weights, on {name}",
                  as_of=datetime.date.today().isoformat(), device=name, torch=torch.__version__, run=args.run)
    deadline = time.perf_counter() + args.budget_s
    with open(args.out, "w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=FIELDS)
        out.writeheader()

        def write(row):
            row = {**common, **row}
            for k in ("median_ms", "p10_ms", "p90_ms"):
                if isinstance(row.get(k), float):
                    row[k] = f"{row[k]:.4f}"
            out.writerow(row)
            fh.flush()
            print(",".join(str(row.get(k, "")) for k in ("model", "phase", "batch", "context", "median_ms", "note")),
                  flush=True)

        for row in ceilings(dev):
            write(dict(row, model="", layers="", precision="bf16", batch="", context=""))
        for name_, layers in (FP8_RUNS if args.fp8 else RUNS):
            (run_fp8 if args.fp8 else run_parts if args.parts else run_model)(name_, layers, dev, deadline, write)
            torch.cuda.empty_cache()  # the model's weights went with run_model's frame
    return 0 if time.perf_counter() <= deadline + 120 else 1


if __name__ == "__main__":
    sys.exit(main())
