"""Lazy experiment plans: build (INI or Python), explain, execute."""

from nkl.plan.execute import RunResult, execute
from nkl.plan.experiment import Experiment
from nkl.plan.explain import explain, explain_text
from nkl.plan.plan import Plan, Step

__all__ = ["Experiment", "Plan", "RunResult", "Step", "execute", "explain", "explain_text"]
