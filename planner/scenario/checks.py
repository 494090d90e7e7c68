"""Scenario checks that need the catalogs: ids resolve, MIG only where the GPU has it, overrides match.

Returns the catalog extended with the scenario's own ``gpus:`` and ``models:`` and a list of issues with
field paths (``workloads[1].model: unknown model 'lama-3.1-8b'; did you mean 'llama-3.1-8b'?``).
"""

from __future__ import annotations

from pathlib import Path

from planner.catalog import Catalog
from planner.errors import CatalogError, Issue, PlannerError
from planner.scenario.model import Scenario
from planner.suggest import did_you_mean


def _unique(items, label: str, field: str) -> list[Issue]:
    seen: dict[str, int] = {}
    out = []
    for i, item in enumerate(items):
        if item.id in seen:
            out.append(Issue(f"{field}[{i}].id", f"duplicate {label} id '{item.id}' (first at {field}[{seen[item.id]}])"))
        else:
            seen[item.id] = i
    return out


def _extend_catalog(s: Scenario, catalog: Catalog, base_dir: Path) -> tuple[Catalog, list[Issue], set[str]]:
    """The catalog plus the scenario's additions, the issues found, and the ids of model entries that failed."""
    from planner.catalog.hf_config import model_from_hf_config  # noqa: PLC0415

    issues: list[Issue] = []
    failed: set[str] = set()
    added_models = []
    for i, entry in enumerate(s.models):
        if entry.spec is not None:
            if entry.spec.id != entry.id:
                issues.append(Issue(f"models[{i}].spec.id", f"must equal the entry id '{entry.id}' (got '{entry.spec.id}')"))
                failed.add(entry.id)
                continue
            added_models.append(entry.spec)
            continue
        path = (base_dir / entry.hf_config).resolve()
        try:
            added_models.append(model_from_hf_config(path, id=entry.id))
        except PlannerError as exc:
            issues.append(Issue(f"models[{i}].hf_config", str(exc)))
            failed.add(entry.id)
    try:
        extended = catalog.extended(gpus=list(s.gpus), models=added_models)
    except CatalogError as exc:
        issues.append(Issue("models" if added_models else "gpus", str(exc)))
        extended = catalog
    return extended, issues, failed


def check_against_catalog(s: Scenario, catalog: Catalog, base_dir: Path) -> tuple[Catalog, list[Issue]]:
    """All catalog-dependent checks; never stops at the first problem."""
    issues = _unique(s.workloads, "workload", "workloads") + _unique(s.offers, "offer", "offers")
    issues += _unique(s.models, "model", "models")
    cat, more, failed_models = _extend_catalog(s, catalog, base_dir)
    issues += more

    for i, w in enumerate(s.workloads):
        if w.model in failed_models:
            continue  # already reported at models[...]; "unknown model" here would only add noise
        try:
            cat.model(w.model)
        except CatalogError as exc:
            issues.append(Issue(f"workloads[{i}].model", str(exc)))

    for i, o in enumerate(s.offers):
        try:
            gpu = cat.gpu(o.gpu)
        except CatalogError as exc:
            issues.append(Issue(f"offers[{i}].gpu", str(exc)))
            continue
        if o.mig and not gpu.mig_supported:
            issues.append(Issue(f"offers[{i}].mig", f"GPU '{gpu.id}' does not support MIG "
                                f"(MIG GPUs: {', '.join(sorted(g.id for g in cat.gpus.values() if g.mig_supported))})"))

    workload_ids = [w.id for w in s.workloads]
    seen_cases: dict[tuple, int] = {}
    for i, ov in enumerate(s.capacity_overrides):
        case = (ov.workload, ov.gpu.lower(), ov.precision, ov.tp, ov.mig_profile, ov.prompt_tokens, ov.output_tokens)
        if case in seen_cases:
            issues.append(Issue(f"capacity_overrides[{i}]",
                                f"duplicates capacity_overrides[{seen_cases[case]}] (same workload, GPU, precision, "
                                "TP, MIG profile and bucket); keep one"))
        seen_cases.setdefault(case, i)
        if ov.workload not in workload_ids:
            issues.append(Issue(f"capacity_overrides[{i}].workload",
                                f"unknown workload '{ov.workload}'{did_you_mean(ov.workload, workload_ids)}"
                                f" (workloads: {', '.join(workload_ids)})"))
            continue
        try:
            gpu = cat.gpu(ov.gpu)
        except CatalogError as exc:
            issues.append(Issue(f"capacity_overrides[{i}].gpu", str(exc)))
            gpu = None
        w = s.workload(ov.workload)
        if ov.prompt_tokens is not None:
            sizes = [(b.prompt_tokens, b.output_tokens) for b in w.buckets]
            if (ov.prompt_tokens, ov.output_tokens) not in sizes:
                listed = ", ".join(f"{p}/{o}" for p, o in sizes)
                issues.append(Issue(f"capacity_overrides[{i}].prompt_tokens",
                                    f"workload '{w.id}' has no bucket {ov.prompt_tokens}/{ov.output_tokens} "
                                    f"(prompt/output buckets: {listed})"))
        if ov.precision not in w.precisions:
            issues.append(Issue(f"capacity_overrides[{i}].precision",
                                f"workload '{w.id}' does not allow {ov.precision} (allowed: {', '.join(w.precisions)})"))
        if ov.mig_profile is not None and gpu is not None and ov.mig_profile not in gpu.mig_profiles:
            allowed = ", ".join(gpu.mig_profiles) or "none: this GPU has no MIG"
            issues.append(Issue(f"capacity_overrides[{i}].mig_profile",
                                f"'{ov.mig_profile}' is not a MIG profile of {gpu.id}"
                                f"{did_you_mean(ov.mig_profile, list(gpu.mig_profiles))} (profiles: {allowed})"))

    offer_ids = [o.id for o in s.offers]
    if s.forecast is not None:
        for wid in s.forecast.growth:
            if wid not in workload_ids:
                issues.append(Issue(f"forecast.growth.{wid}", f"unknown workload '{wid}'{did_you_mean(wid, workload_ids)}"
                                    f" (workloads: {', '.join(workload_ids)})"))
        for i, t in enumerate(s.forecast.price_trends):
            if t.offer is not None and t.offer not in offer_ids:
                issues.append(Issue(f"forecast.price_trends[{i}].offer", f"unknown offer '{t.offer}'"
                                    f"{did_you_mean(t.offer, offer_ids)} (offers: {', '.join(offer_ids)})"))
            if t.gpu is not None:
                try:
                    cat.gpu(t.gpu)
                except CatalogError as exc:
                    issues.append(Issue(f"forecast.price_trends[{i}].gpu", str(exc)))
        for i, r in enumerate(s.forecast.reserved_options or ()):
            if r.offer not in offer_ids:
                issues.append(Issue(f"forecast.reserved_options[{i}].offer", f"unknown offer '{r.offer}'"
                                    f"{did_you_mean(r.offer, offer_ids)} (offers: {', '.join(offer_ids)})"))
            elif s.offer(r.offer).market != "reserved":
                issues.append(Issue(f"forecast.reserved_options[{i}].offer",
                                    f"offer '{r.offer}' is {s.offer(r.offer).market}; reserved options must name a reserved offer"))
    return cat, issues
