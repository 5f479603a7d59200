"""The component graph: order, cycles, and renderings (text, JSON, Graphviz DOT)."""

from __future__ import annotations

from typing import Any

from ppm.core.errors import GraphError
from ppm.core.manifest import Component


def topo_order(components: dict[str, Component]) -> list[str]:
    """Components in dependency order (needs first); a cycle is an error naming the cycle."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(name: str) -> None:
        s = state.get(name)
        if s == 2:
            return
        if s == 1:
            cycle = path[path.index(name):] + [name]
            raise GraphError(f"dependency cycle between components: {' -> '.join(cycle)}",
                             hint="remove one of these `needs` entries in ppm.toml")
        state[name] = 1
        path.append(name)
        for n in components[name].needs:
            visit(n)
        path.pop()
        state[name] = 2
        order.append(name)

    for name in sorted(components):
        visit(name)
    return order


def to_json(plan: Any) -> dict:
    """Components, edges and actions of a plan (see engine.Plan)."""
    comps = []
    for name in plan.order:
        c = plan.manifest.components[name]
        comps.append({"name": name, "builder": c.builder, "path": c.path, "needs": list(c.needs),
                      "optional": c.optional, "skipped": plan.skipped.get(name)})
    edges = [{"from": name, "to": n} for name in plan.order for n in plan.manifest.components[name].needs]
    actions = [{"id": pa.id, "target": pa.target.name, "component": pa.action.component, "name": pa.action.name,
                "needs": [d.id for d in pa.needs], "outputs": list(pa.action.outputs),
                "description": pa.action.label()} for pa in plan.actions]
    return {"project": plan.manifest.name, "components": comps, "edges": edges, "actions": actions}


def to_dot(plan: Any) -> str:
    def q(s: str) -> str:
        return '"' + s.replace('"', '\\"') + '"'

    lines = ["digraph ppm {", "  rankdir=LR;", "  node [fontname=Helvetica];"]
    for name in plan.order:
        c = plan.manifest.components[name]
        style = ", style=dashed" if name in plan.skipped else ""
        lines.append(f"  subgraph {q('cluster_' + name)} {{ label={q(name + ' (' + c.builder + ')')}{style};")
        for pa in plan.actions:
            if pa.action.component == name:
                lines.append(f"    {q(pa.id)} [shape=box, label={q(pa.action.name)}];")
        lines.append("  }")
    for pa in plan.actions:
        for d in pa.needs:
            lines.append(f"  {q(d.id)} -> {q(pa.id)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_text(plan: Any) -> str:
    out = []
    for name in plan.order:
        c = plan.manifest.components[name]
        needs = f" <- {', '.join(c.needs)}" if c.needs else ""
        skipped = f"  (skipped: {plan.skipped[name]})" if name in plan.skipped else ""
        out.append(f"{name} [{c.builder}]{needs}{skipped}")
        for pa in plan.actions:
            if pa.action.component == name:
                deps = f"  after {', '.join(d.id for d in pa.needs)}" if pa.needs else ""
                out.append(f"  {pa.id}{deps}")
    return "\n".join(out)
