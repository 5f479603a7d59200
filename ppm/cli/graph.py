"""ppm graph"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def graph(
        json_out: bool = typer.Option(False, "--json", help="Components, edges and actions as JSON."),
        dot: bool = typer.Option(False, "--dot", help="Graphviz DOT (pipe to `dot -Tsvg`)."),
        target: list[str] | None = typer.Option(None, "--target", "-t", help="Target(s) to plan for."),
    ) -> None:
        """Show the components, their edges and the actions a build would run."""
        import json

        from ppm.build import graph as g
        from ppm.build.plan import make_plan
        from ppm.cli.common import project_root
        from ppm.core import manifest

        m = manifest.load(project_root())
        plan = make_plan(m, target, provision=False)
        if json_out:
            print(json.dumps(g.to_json(plan), indent=2))
        elif dot:
            print(g.to_dot(plan), end="")
        else:
            print(g.to_text(plan))
