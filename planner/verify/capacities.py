"""Per-bucket capacity of a deployment recomputed for the verifier: a matching ``capacity_overrides`` entry
(matched by the verifier's own rule), else the performance model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.plan import ReplicaLine
from planner.scenario.model import SizeBucket, Workload

if TYPE_CHECKING:
    from planner.catalog.records import GpuSpec
    from planner.scenario.io import LoadedScenario


def _gpu(catalog: Any, name: str) -> "GpuSpec | None":
    try:
        return catalog.gpu(name)
    except Exception:  # noqa: BLE001 - an unknown id is reported by the caller
        return None


class Capacities:
    """Recompute per-bucket capacity of a deployment: a matching override, else the performance model."""

    def __init__(self, loaded: "LoadedScenario", calibration: Any) -> None:
        self.s, self.cat = loaded.scenario, loaded.catalog
        self.calibration, self._calib_loaded = calibration, calibration is not None
        self.base_dir = Path(loaded.base_dir)
        self._perf: dict[tuple, list[float] | str] = {}

    def override(self, w: Workload, gpu_id: str, precision: str, tp: int, mig: str | None,
                 bucket: SizeBucket) -> float | None:
        general = specific = None
        for ov in self.s.capacity_overrides:
            if (ov.workload, ov.precision, ov.tp, ov.mig_profile) != (w.id, precision, tp, mig):
                continue
            g = _gpu(self.cat, ov.gpu)
            if g is None or g.id != gpu_id:
                continue
            if ov.prompt_tokens is None:
                general = ov.requests_per_min if general is None else general
            elif (ov.prompt_tokens, ov.output_tokens) == (bucket.prompt_tokens, bucket.output_tokens):
                specific = ov.requests_per_min if specific is None else specific
        return specific if specific is not None else general  # a bucket's own override first; first listed wins

    def _calib(self) -> Any:
        if not self._calib_loaded:
            self._calib_loaded = True
            path = self.s.policy.calibration
            if path is not None:
                from planner.perf.calibration import load_calibration  # noqa: PLC0415 - perf-model input

                self.calibration = load_calibration(self.base_dir / path)
        return self.calibration

    @staticmethod
    def _rates(ests) -> list[float]:
        """Requests/min of each estimate, never below 0."""
        return [max(0.0, float(e.requests_per_min)) for e in ests]

    def model(self, w: Workload, gpu: "GpuSpec", precision: str, tp: int, mig: str | None) -> list[float] | str:
        """Per-bucket requests/min from ``planner.perf`` (no overrides), or why it could not be computed."""
        key = (w.id, gpu.id, precision, tp, mig)
        if key not in self._perf:
            try:
                from planner.perf.many import capacity_for_workload  # noqa: PLC0415 - heavy, load when needed

                ests = capacity_for_workload(self.cat.model(w.model), gpu, w, tp=tp, mig_profile=mig,
                                             precision=precision, calibration=self._calib(), overrides=())
                self._perf[key] = self._rates(ests)
            except Exception as exc:  # noqa: BLE001 - reported as a failed check, never raised
                self._perf[key] = f"performance model failed: {type(exc).__name__}: {exc}"
        return self._perf[key]

    def prefetch(self, wanted: list[tuple[Workload, "GpuSpec", str, int, str | None]]) -> None:
        """Compute the :meth:`model` capacities of ``wanted`` (workload, GPU, precision, TP, MIG profile) in one
        stacked pass (``planner.perf.many.capacities_for_workloads``: each case the answer it gets alone, to the
        bit) instead of one call each (an L plan's ~100 deployments: ~0.4 s -> ~0.1 s). Any failure leaves them to
        :meth:`model`, one by one, which reports what failed for which."""
        todo: dict[tuple, tuple] = {}
        for w, gpu, precision, tp, mig in wanted:
            key = (w.id, gpu.id, precision, tp, mig)
            if key not in self._perf and key not in todo:
                todo[key] = (w, gpu, precision, tp, mig)
        if len(todo) < 2:
            return
        try:
            from planner.perf.many import capacities_for_workloads  # noqa: PLC0415 - heavy, load when needed

            cases = [(self.cat.model(w.model), gpu, w, precision, tp, mig, 1, 1)
                     for w, gpu, precision, tp, mig in todo.values()]
            out = capacities_for_workloads(cases, self._calib(), ())
        except Exception:  # noqa: BLE001 - model() computes them one by one and reports the failure
            return
        for key, ests in zip(todo, out):
            self._perf[key] = self._rates(ests)

    def ep_dp(self, w: Workload, gpu: "GpuSpec", r: ReplicaLine) -> list[float] | str:
        """Per-bucket requests/min of an attention-DP × expert-parallel replica (``r.tp`` GPUs in
        ``r.attention_dp`` ranks), from ``planner.perf.estimate.estimate`` bucket by bucket (no overrides:
        they are keyed by TP and apply to plain TP replicas)."""
        key = (w.id, gpu.id, r.precision, r.tp, r.attention_dp, r.expert_parallel)
        if key not in self._perf:
            try:
                from planner.perf.estimate import estimate  # noqa: PLC0415 - heavy, load when needed

                if r.tp % r.attention_dp:
                    raise ValueError(f"tp {r.tp} is not a multiple of attention_dp {r.attention_dp}")
                self._perf[key] = self._rates(estimate(
                    self.cat.model(w.model), gpu, tp=r.tp // r.attention_dp, precision=r.precision,
                    kv_dtype=w.kv_cache_dtype, engine=w.engine, prompt_tokens=b.prompt_tokens,
                    output_tokens=b.output_tokens, context_tokens=w.context_tokens, ttft_slo_ms=w.ttft_slo_ms,
                    tpot_slo_ms=w.tpot_slo_ms, ttft_percentile=w.ttft_percentile, calibration=self._calib(),
                    attention_dp=r.attention_dp, expert_parallel=r.expert_parallel) for b in w.buckets)
            except Exception as exc:  # noqa: BLE001 - reported as a failed check, never raised
                self._perf[key] = f"performance model failed: {type(exc).__name__}: {exc}"
        return self._perf[key]

    def expected(self, w: Workload, gpu: "GpuSpec", r: ReplicaLine) -> list[float] | str:
        if r.attention_dp > 1 or r.expert_parallel > 1:
            return self.ep_dp(w, gpu, r)
        caps: list[float | None] = [self.override(w, gpu.id, r.precision, r.tp, r.mig_profile, b) for b in w.buckets]
        if any(c is None for c in caps):
            model = self.model(w, gpu, r.precision, r.tp, r.mig_profile)
            if isinstance(model, str):
                return model
            if len(model) != len(w.buckets):
                return f"performance model gave {len(model)} estimates for {len(w.buckets)} buckets"
            caps = [m if c is None else c for c, m in zip(caps, model)]
        return [float(c) for c in caps]
