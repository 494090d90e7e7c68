"""Checks ``gpus_fit_nodes``, ``mig_patterns_valid`` and ``mig_instances_cover_replicas``: replicas fit the GPUs
of the nodes bought, and MIG layouts are placeable and hold the MIG replicas."""

from __future__ import annotations

from collections import defaultdict

from planner.verify.base import Context, gpu_or_none
from planner.verify.geometry import mig_pattern_problem


def gpus_fit_nodes(ctx: Context) -> None:
    c = "gpus_fit_nodes"
    for per in ctx.periods:
        used: dict[str, int] = defaultdict(int)
        for r in per.replicas:
            if r.mig_profile is None:
                used[r.offer] += r.tp * r.count
        for k in per.mig_partitions:
            used[k.offer] += k.gpus
        nodes = ctx.nodes(per)
        for n in per.nodes:
            o = ctx.offers.get(n.offer)
            if o is not None and n.gpus != n.count * o.gpus_per_node:
                ctx.log.fail(c, f"period {per.name}: {n.offer} line says {n.gpus} GPUs for {n.count} nodes of "
                                 f"{o.gpus_per_node}")
        for oid, g in sorted(used.items()):
            o = ctx.offers.get(oid)
            have = nodes.get(oid, 0) * (o.gpus_per_node if o else 0)
            if g > have:
                ctx.log.fail(c, f"period {per.name}: {oid} needs {g} GPUs (whole-GPU replicas tp x count + "
                                 f"MIG-partitioned GPUs), has {nodes.get(oid, 0)} nodes = {have} GPUs")


def mig_patterns_valid(ctx: Context) -> None:
    c = "mig_patterns_valid"
    for per in ctx.periods:
        for k in per.mig_partitions:
            o = ctx.offers.get(k.offer)
            gpu = gpu_or_none(ctx.cat, o.gpu) if o else None
            where = f"period {per.name}: {k.offer} pattern {list(k.pattern)}"
            if o is None or gpu is None:
                ctx.log.fail(c, f"{where}: unknown offer or GPU")
                continue
            if not o.mig:
                ctx.log.fail(c, f"{where}: offer is not mig: true")
            why = mig_pattern_problem(gpu, k.pattern)
            if why:
                ctx.log.fail(c, f"{where}: {why}")


def mig_instances_cover_replicas(ctx: Context) -> None:
    for per in ctx.periods:
        have: dict[tuple[str, str], int] = defaultdict(int)
        need: dict[tuple[str, str], int] = defaultdict(int)
        for k in per.mig_partitions:
            for p in k.pattern:
                have[(k.offer, p)] += k.gpus
        for r in per.replicas:
            if r.mig_profile is not None:
                need[(r.offer, r.mig_profile)] += r.count
        for (oid, p), n in sorted(need.items()):
            if n > have[(oid, p)]:
                ctx.log.fail("mig_instances_cover_replicas", f"period {per.name}: {oid} runs {n} replicas on "
                                                              f"{p}, partitions provide {have[(oid, p)]} instances")
