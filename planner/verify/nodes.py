"""Check ``node_caps``: node counts within max_nodes, owned reserved nodes kept, reserved levels fixed within an
epoch, and forecast commitments within their options."""

from __future__ import annotations

from collections import defaultdict

from planner.verify.base import Context, gpu_or_none


def node_caps(ctx: Context) -> None:
    c = "node_caps"
    reserved_counts: dict[tuple[str, int], set[int]] = defaultdict(set)
    for per in ctx.periods:
        seen = set()
        for n in per.nodes:
            o = ctx.offers.get(n.offer)
            where = f"period {per.name}: {n.offer}"
            if n.offer in seen:
                ctx.log.fail(c, f"{where}: listed twice")
            seen.add(n.offer)
            if o is None:
                ctx.log.fail(c, f"{where}: unknown offer")
                continue
            gpu = gpu_or_none(ctx.cat, o.gpu)
            if gpu is not None and n.gpu != gpu.id:
                ctx.log.fail(c, f"{where}: gpu '{n.gpu}' but the offer's GPU is '{gpu.id}'")
            if n.market != o.market:
                ctx.log.fail(c, f"{where}: market {n.market} but the offer is {o.market}")
            if o.max_nodes is not None and n.count > o.max_nodes:
                ctx.log.fail(c, f"{where}: {n.count} nodes > max_nodes {o.max_nodes}")
            owned = o.owned_nodes if o.market == "reserved" else 0
            if n.owned != owned:
                ctx.log.fail(c, f"{where}: owned {n.owned} stated, the scenario owns {owned}")
        nodes = ctx.nodes(per)
        for o in ctx.s.offers:
            if o.market == "reserved":
                reserved_counts[(o.id, per.epoch)].add(nodes.get(o.id, 0))
                if nodes.get(o.id, 0) < o.owned_nodes:
                    ctx.log.fail(c, f"period {per.name}: {o.id} has {nodes.get(o.id, 0)} nodes < owned "
                                     f"{o.owned_nodes}")
                if ctx.plan.commitments is not None:
                    held = o.owned_nodes + sum(k.nodes for k in ctx.active(o.id, per.epoch))
                    if nodes.get(o.id, 0) != held:
                        ctx.log.fail(c, f"period {per.name}: {o.id} has {nodes.get(o.id, 0)} nodes; owned + "
                                         f"active commitments = {held}")
    for (oid, epoch), counts in sorted(reserved_counts.items()):
        if len(counts) > 1:
            ctx.log.fail(c, f"reserved {oid} changes between periods of epoch {epoch} ({sorted(counts)} nodes); "
                             "a commitment is the same in every period")
    _commitment_caps(ctx)


def _commitment_caps(ctx: Context) -> None:
    c, months = "node_caps", ctx.months()
    signed: dict[int | None, int] = defaultdict(int)
    for k in ctx.plan.commitments or ():
        terms = ctx.commit_terms(k)
        where = f"commitment {k.nodes} x {k.offer} from {k.start_month}"
        if isinstance(terms, str):
            ctx.log.fail(c, f"{where}: {terms}")
            continue
        if not 0 <= k.start_epoch < len(months) or months[k.start_epoch] != k.start_month:
            ctx.log.fail(c, f"{where}: start epoch {k.start_epoch} is not that month of the horizon")
        signed[k.option] += k.nodes
        cap = terms[2]
        if cap is not None and signed[k.option] > cap:
            ctx.log.fail(c, f"option {k.option}: {signed[k.option]} nodes signed > max_nodes {cap}")
