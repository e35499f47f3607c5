"""``explain``: the plan's stages and, for each, what the catalog already holds. Writes nothing."""

from __future__ import annotations

import logging

from nkl.context import RunContext
from nkl.plan.plan import Plan
from nkl.plan.stages import RunState, Stage


def explain(plan: Plan, ctx: RunContext) -> list[tuple[Stage, str]]:
    """Each stage with its cache status: what a run would reuse and what it would compute."""
    quiet = RunContext(ctx.workspace, logging.getLogger("nkl.explain"))
    quiet.log.disabled = True
    state = RunState()
    return [(stage, stage.inspect(quiet, state)) for stage in plan.stages]


def explain_text(plan: Plan, ctx: RunContext) -> str:
    """The explanation as plain text lines."""
    lines = [f"plan of experiment '{plan.name}' (config {plan.config.hash}, workspace {ctx.workspace.root})"]
    for n, (stage, state) in enumerate(explain(plan, ctx), 1):
        lines.append(f"{n:>2}. {stage.kind:<9} {stage.detail}")
        if state:
            lines.append(f"    {'':<9} -> {state}")
    return "\n".join(lines)


__all__ = ["explain", "explain_text"]
