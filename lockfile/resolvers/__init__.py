"""Per-ecosystem resolution rules, one module each; see lockfile/resolve.py for the glue."""

from collections.abc import Iterable, Mapping


def reaching(starts: Iterable[tuple[str, Iterable[str]]], edges: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """node -> the components that reach it: `starts` pairs a component with the nodes its
    roots resolved to; the walk follows `edges` and ignores nodes that have no entry there."""
    reach: dict[str, set[str]] = {}
    for component, nodes in starts:
        stack, seen = list(nodes), set()
        while stack:
            n = stack.pop()
            if n in seen or n not in edges:
                continue
            seen.add(n)
            reach.setdefault(n, set()).add(component)
            stack.extend(edges[n])
    return reach
