"""The cross-database matrix: one experiment per (train database, test database), a ``crossdb`` table and a heatmap.

The diagonal trains and tests on one database with its own (speaker-independent) split. Off the diagonal a cell trains
on database i and tests on database j: on the whole databases, or with ``[EXP] use_splits`` on i's train split and j's
test split. ``[CROSSDB] train_extra`` databases join every cell's training data. Each cell is an ordinary experiment
(``<name>_<i>-<j>``): its features and fit are cached, so a rerun extracts and trains nothing.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import polars as pl

from nkl.config.config import Config
from nkl.config.sections import CrossdbSection, DatabaseSection
from nkl.context import RunContext
from nkl.errors import ConfigError
from nkl.plan import Plan, execute

CROSSDB = pl.Schema({"experiment": pl.String, "train": pl.String, "test": pl.String, "cell": pl.String, "metric": pl.String,
                     "value": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "n_test": pl.Int64, "cached": pl.Boolean})


@dataclass
class Cell:
    train: str
    test: str
    config: Config


def _declared(config: Config) -> dict[str, DatabaseSection]:
    return dict([*config.other_databases, *config.test_databases, *config.databases])


def cells(config: Config) -> list[Cell]:
    """The N×N experiments of a multidb config, validated (names declared, at least two databases)."""
    names = [str(n) for n in config.exp.databases]
    declared = _declared(config)
    if len(names) < 2:
        raise ConfigError("nkl multidb needs [EXP] databases with at least two databases, e.g. databases = ['emodb', 'other'], "
                          "each declared in [DATA] with `<name> = path`")
    extra = [str(n) for n in config.crossdb.train_extra]
    for name in [*names, *extra]:
        if name not in declared:
            raise ConfigError(f"[EXP] databases / [CROSSDB] train_extra name '{name}', which [DATA] does not declare; "
                              f"add `{name} = path/to/{name}.csv` to [DATA]")
    if not config.data.target:
        raise ConfigError("[DATA] target is missing; name the column to predict, e.g. `target = emotion`")
    out = []
    for i in names:
        for j in names:
            if i == j:
                dbs = [(i, declared[i])]
            elif config.exp.use_splits:
                dbs = [(i, dataclasses.replace(declared[i], as_train=True)), (j, dataclasses.replace(declared[j], as_test=True))]
            else:
                dbs = [(i, dataclasses.replace(declared[i], split_strategy="train")),
                       (j, dataclasses.replace(declared[j], split_strategy="test"))]
            dbs += [(e, dataclasses.replace(declared[e], split_strategy="train")) for e in extra if e not in (i, j)]
            name = f"{config.exp.name}_{i}-{j}"
            cell = dataclasses.replace(
                config, source="", report=None, test_databases=(), other_databases=(), crossdb=CrossdbSection(),
                databases=tuple(dbs),
                data=dataclasses.replace(config.data, databases=[d for d, _ in dbs], tests=[]),
                exp=dataclasses.replace(config.exp, name=name, databases=[], use_splits=False))
            cell.validate()
            out.append(Cell(i, j, cell))
    return out


def run_multidb(ctx: RunContext, config: Config, *, workers: int | None = None) -> pl.DataFrame:
    """Run (or read from the cache) every cell; store and return the ``crossdb`` rows of this matrix."""
    plans = [(cell, Plan(cell.config)) for cell in cells(config)]  # every cell validated before any work
    rows = []
    for n, (cell, plan) in enumerate(plans, start=1):
        started = time.monotonic()
        ctx.log.info("multidb cell %d of %d: train %s, test %s (%s)", n, len(plans), cell.train, cell.test, plan.name)
        result = execute(plan, ctx, workers=workers)
        metric = "uar" if result.task == "classification" else "ccc"
        head = result.headline().filter(pl.col("metric") == metric).row(0, named=True)
        n_test = (result.n_samples or {}).get(result.eval_split)
        rows.append({"experiment": config.exp.name, "train": cell.train, "test": cell.test, "cell": plan.name, "metric": metric,
                     "value": head["value"], "ci_low": head["ci_low"], "ci_high": head["ci_high"], "n_test": n_test,
                     "cached": result.cached})
        ctx.log.debug("cell %s done in %.1f s", plan.name, time.monotonic() - started)
    table = pl.DataFrame(rows, schema=CROSSDB)
    ctx.workspace.write_part("crossdb", config.exp.name, table)
    return table


def heatmap(table: pl.DataFrame, folder, name: str, titles: bool = True) -> list:
    """Rows = training database, columns = test database, each cell its UAR (CCC) with the CI."""
    import altair as alt

    from nkl.evaluate.plots import save_chart

    metric = table["metric"][0].upper()
    order = list(dict.fromkeys(table["train"].to_list()))
    cells_ = [{**r, "label": f"{r['value']:.3f}\n[{r['ci_low']:.2f}, {r['ci_high']:.2f}]"} for r in table.iter_rows(named=True)]
    base = alt.Chart(alt.Data(values=cells_)).encode(x=alt.X("test:N", sort=order, title="Test database"),
                                                     y=alt.Y("train:N", sort=order, title="Training database"))
    heat = base.mark_rect().encode(color=alt.Color("value:Q", title=metric, scale=alt.Scale(scheme="blues", domain=[0, 1])))
    text = base.mark_text(fontSize=12, lineBreak="\n").encode(
        text="label:N", color=alt.when(alt.datum.value > 0.6).then(alt.value("white")).otherwise(alt.value("black")))
    size = max(160, 110 * len(order))
    title = f"{name}: {metric} (bootstrap 95 % CI), train × test" if titles else ""
    folder.mkdir(parents=True, exist_ok=True)
    return save_chart(alt.layer(heat, text).properties(title=title, width=size, height=size), folder / f"{name}_crossdb")
