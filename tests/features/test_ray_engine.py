"""[EXP] engine = ray: the same feature rows and rejects as the local engine, a killed Ray worker retried, an interrupted
run resumed with only the rest, and clear one-line errors (Ray not installed, no cluster at ray.address).

One local Ray (2 CPUs) serves the whole module; the engine uses it as it is and leaves it running.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest
import soundfile as sf

ray = pytest.importorskip("ray")

import nkl  # noqa: E402
from nkl.catalog.workspace import Workspace  # noqa: E402
from nkl.config import load_config  # noqa: E402
from nkl.context import RunContext  # noqa: E402
from nkl.errors import ConfigError, FeatureError, MissingExtraError, NklError  # noqa: E402
from nkl.features.cache import ensure_features, load_features  # noqa: E402
from nkl.features.ray_engine import RayEngine  # noqa: E402
from nkl.features.registry import Extractor, get_extractor_class  # noqa: E402
from nkl.plan import Plan, execute  # noqa: E402
from tests.conftest import interrupt_then_rerun, write_subset  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers get this module's extractors by value


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One quiet local Ray for the module, stopped at its end."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


def _write_csv(csv: Path, folder: Path) -> Path:
    """The 60 real EmoDB files, plus a silent and a 5 ms recording (rejected by extraction) and a garbage .wav
    (rejected when imported)."""
    rows = pl.read_csv(csv, infer_schema=False)
    silent, short, garbage = folder / "silent.wav", folder / "short.wav", folder / "garbage.wav"
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    sf.write(short, np.random.default_rng(0).normal(0, 0.1, 80).astype(np.float32), 16000)
    garbage.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt not audio at all")
    extra = pl.DataFrame([{"file": str(f), "speaker": "03", "gender": "male", "age": "31", "emotion": "neutral"} for f in (silent, short, garbage)])
    out = folder / "with_bad.csv"
    pl.concat([rows, extra]).write_csv(out)
    return out


def _with_exp_keys(ini: Path, keys: str) -> Path:
    ini.write_text(ini.read_text().replace("[EXP]\n", "[EXP]\n" + keys, 1))
    return ini


def _run(make_ini, csv: Path, root: Path, engine: str) -> Any:
    ini = make_ini(csv, name=f"exp_{engine}", root=root)
    if engine == "ray":
        _with_exp_keys(ini, "engine = ray\nray.address =\n")
    plan = Plan(load_config(ini))
    return plan, execute(plan, RunContext(Workspace(root)))


def _table(root: Path, sql: str) -> pl.DataFrame:
    return nkl.connect(root).sql(sql)


def test_ray_gives_the_rows_and_rejects_of_the_local_engine(balanced_csv: Path, make_ini, tmp_path: Path) -> None:
    csv = _write_csv(balanced_csv, tmp_path)
    local_plan, local = _run(make_ini, csv, tmp_path / "local", "local")
    ray_plan, on_ray = _run(make_ini, csv, tmp_path / "ray", "ray")
    assert ray_plan.config.exp.engine == "ray" and local_plan.config.exp.engine == "local"
    assert ray_plan.hash_inputs() == local_plan.hash_inputs()  # the engine is in no cache or plan hash
    assert [(r.computed, r.failed) for r in on_ray.extraction] == [(r.computed, r.failed) for r in local.extraction] == [(60, 2)]

    table = ray_plan.extractors[0].table
    rows = {name: _table(tmp_path / name, f"select * from {table} order by content_key") for name in ("local", "ray")}
    assert rows["ray"]["content_key"].to_list() == rows["local"]["content_key"].to_list()
    assert rows["ray"]["content_key"].n_unique() == 60
    assert rows["ray"].columns == rows["local"].columns
    values = [c for c in rows["ray"].columns if c not in ("content_key", "spec_hash")]
    np.testing.assert_allclose(rows["ray"].select(values).to_numpy(), rows["local"].select(values).to_numpy(), rtol=0, atol=1e-6)

    sql = "select database, file, stage, reason, content_key from rejects order by stage, file"
    rejects = {name: _table(tmp_path / name, sql) for name in ("local", "ray")}
    assert rejects["ray"].equals(rejects["local"])
    assert sorted(Path(f).name for f in rejects["ray"].filter(pl.col("stage") != "import")["file"]) == ["short.wav", "silent.wav"]
    assert rejects["ray"].filter(pl.col("stage") == "import")["file"].to_list() == [str(tmp_path / "garbage.wav")]


def _samples(files: list[Path]) -> pl.DataFrame:
    """Samples of these files, keyed by their path (for extractors called directly)."""
    return pl.DataFrame({"sample": [f"s{i}" for i in range(len(files))], "database": "db", "file": [str(f) for f in files],
                         "start": [0.0] * len(files), "end": [None] * len(files),
                         "content_key": [hashlib.sha1(str(f).encode()).hexdigest() for f in files]}, schema_overrides={"end": pl.Float64})


def _emodb_files(emodb: Path, emodb_table: pl.DataFrame, n: int) -> list[Path]:
    return [emodb / f for f in emodb_table.sort("file")["file"].head(n).to_list()]


def test_nkl_predict_gives_the_same_estimates_on_ray(emodb: Path, emodb_table: pl.DataFrame, run_cli, tmp_path: Path) -> None:
    """`nkl predict` with engine = ray (its own local Ray, stopped at the end) estimates what the local engine does."""
    csv = tmp_path / "twelve.csv"
    pl.DataFrame({"file": [str(f) for f in _emodb_files(emodb, emodb_table, 12)], "emotion": "x"}).write_csv(csv)
    frames = {}
    for engine in ("local", "ray"):
        ini = tmp_path / f"{engine}.ini"
        ini.write_text(f"[EXP]\nroot = {tmp_path / engine}\nname = p\nengine = {engine}\n[DATA]\ndatabases = ['db']\ndb = {csv}\n"
                       "target = emotion\n[PREDICT]\ntargets = ['snr']\n")
        done = run_cli("predict", ini, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "12 computed, 0 from cache" in " ".join(done.stderr.split())
        frames[engine] = _table(tmp_path / engine, "select s.file, e.* exclude (sample, database) from estimates e join samples s using (sample) "
                                                   "order by s.file")
    assert frames["ray"].height == 12 and frames["ray"].equals(frames["local"])


class _DiesOnce(Extractor):
    """Mean and RMS of the signal; the first call anywhere (the one that creates ``marker``) kills its process."""

    name = "dies_once"
    names: ClassVar[list[str]] = ["mean", "rms"]

    def __init__(self, marker: Path, batched: bool) -> None:
        super().__init__(kind=self.name, batch_size=3)
        self.marker, self.batched = str(marker), batched  # type: ignore[misc]

    def params(self) -> dict[str, Any]:
        return {"marker": hashlib.sha1(self.marker.encode()).hexdigest()[:8], "batched": self.batched}

    def versions(self) -> dict[str, str]:
        return {}

    def setup(self) -> None:
        pass

    def _die_once(self) -> None:
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
        os._exit(1)

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        self._die_once()
        return self.names, np.array([signal.mean(), np.sqrt(np.mean(signal ** 2))], dtype=np.float64)

    def extract_batch(self, signals: list[np.ndarray]) -> np.ndarray:
        self._die_once()
        return np.array([[s.mean(), np.sqrt(np.mean(s ** 2))] for s in signals])


@pytest.mark.parametrize(("batched", "workers"), [(False, 2), (True, 0), (True, 2)], ids=["task", "actor-after-decoding-tasks", "actors-decoding"])
def test_a_killed_worker_is_retried(batched: bool, workers: int, emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    samples = _samples([*_emodb_files(emodb, emodb_table, 12), silent])
    marker = tmp_path / "died"
    extractor = _DiesOnce(marker, batched)
    report = ensure_features(RunContext(Workspace(tmp_path / "ray")), extractor, samples, workers=workers, engine=RayEngine())
    assert marker.exists()  # a worker died ...
    assert (report.computed, report.failed) == (12, 1)  # ... and its unit ran again
    ensure_features(RunContext(Workspace(tmp_path / "local")), extractor, samples, workers=1)  # the marker exists: nothing dies here
    rejects = "select database, sample, file, stage, reason, content_key from rejects order by content_key"
    for sql in (f"select * from {extractor.table} order by content_key", rejects):
        on_ray, local = _table(tmp_path / "ray", sql), _table(tmp_path / "local", sql)
        assert on_ray.height == (1 if sql == rejects else 12) and on_ray.equals(local)


class _StopAfterFirst:
    """A progress display whose bar raises KeyboardInterrupt (a Ctrl-C) once the first unit has arrived."""

    def __init__(self) -> None:
        self.seen = 0

    @contextmanager
    def task(self, description: str, total: int):
        parent = self

        class Bar:
            def advance(self, n: int = 1) -> None:
                parent.seen += n
                raise KeyboardInterrupt

        yield Bar()


def test_a_rerun_after_an_interruption_extracts_only_the_rest(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path) -> None:
    samples = _samples(_emodb_files(emodb, emodb_table, 40))
    extractor = get_extractor_class("os")(kind="os")
    stopping = _StopAfterFirst()
    with pytest.raises(KeyboardInterrupt):
        ensure_features(RunContext(Workspace(tmp_path / "ws"), progress=stopping), extractor, samples, engine=RayEngine())
    ctx = RunContext(Workspace(tmp_path / "ws"))
    kept = load_features(ctx, extractor, samples["content_key"].to_list()).height
    assert 0 < stopping.seen == kept < 40  # the unit that arrived was written
    report = ensure_features(ctx, extractor, samples, engine=RayEngine())
    assert (report.cached, report.computed, report.failed) == (kept, 40 - kept, 0)
    rows = ctx.workspace.frame(extractor.table, extractor.spec_hash).collect()
    assert rows.height == rows["content_key"].n_unique() == 40


def test_ctrl_c_keeps_the_written_parts_and_the_rerun_extracts_the_rest(emodb: Path, emodb_table: pl.DataFrame, make_ini, tmp_path: Path) -> None:
    """`nkl run` with its own local Ray, interrupted by SIGINT once a part is written; the same command again resumes."""
    csv = write_subset(emodb, emodb_table, tmp_path / "subset.csv", per_speaker=20)
    ini = _with_exp_keys(make_ini(csv, name="resume"), "engine = ray\n")
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}
    kept, extracted, cached, keys = interrupt_then_rerun(ini, tmp_path, env)
    assert (cached, extracted) == (kept, 200 - kept)
    assert keys.len() == keys.n_unique() == 200


@pytest.mark.parametrize(("batched", "error", "expected"), [
    (False, ConfigError("[FEATS] x.model: no model at /nowhere; give a local folder"), r"^\[FEATS\] x.model: no model at /nowhere; give"),
    (True, ConfigError("[FEATS] x.model: no model at /nowhere; give a local folder"), r"^\[FEATS\] x.model: no model at /nowhere; give"),
    (True, RuntimeError("libfoo.so: cannot open\nshared object"), r"^features_cannot_load_\w+: the Ray pipeline failed \(RuntimeError: "
                                                                   r"libfoo.so: cannot open\); run with \[EXP\] engine = local"),
], ids=["task", "actor", "other-error"])
def test_a_setup_error_in_a_ray_worker_is_one_line(batched: bool, error: Exception, expected: str, emodb: Path, emodb_table: pl.DataFrame,
                                                   tmp_path: Path) -> None:
    class _CannotLoad(_DiesOnce):
        name = "cannot_load"

        def setup(self) -> None:
            raise error

    samples = _samples(_emodb_files(emodb, emodb_table, 4))
    with pytest.raises(NklError, match=expected) as caught:
        ensure_features(RunContext(Workspace(tmp_path / "ws")), _CannotLoad(tmp_path / "unused", batched=batched), samples, engine=RayEngine())
    assert type(caught.value) is (ConfigError if isinstance(error, ConfigError) else FeatureError)
    assert "\n" not in str(caught.value)


def test_engine_ray_without_ray_names_the_extra(make_ini, balanced_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(_with_exp_keys(make_ini(balanced_csv), "engine = ray\n"))
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'nkl\[ray\]'"):
        Plan(config)


@pytest.mark.parametrize(("keys", "expected"), [
    ("engine = ray\nray.address = 127.0.0.1:1\n", r"^error: \[EXP\] ray.address = 127.0.0.1:1: no Ray cluster answers there .*ray start --head"),
    ("engine = ray\nray.address = headnode\n", r"^error: \[EXP\] ray.address = 'headnode' is not host:port"),
    ("engine = spark\n", r"^error: \[EXP\] engine: unknown value 'spark'.*Choices: local, ray"),
], ids=["unreachable", "malformed", "unknown-engine"])
def test_bad_engine_settings_are_one_line(keys: str, expected: str, make_ini, balanced_csv: Path, run_cli, tmp_path: Path) -> None:
    ini = _with_exp_keys(make_ini(balanced_csv), keys)
    done = run_cli("run", ini, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert re.match(expected, lines[0]), lines[0]
    assert not (tmp_path / "ws" / "tables" / "features_os_egemapsv02").exists()  # nothing was extracted


def test_cli_without_ray_installed_is_one_line(make_ini, balanced_csv: Path, run_cli, tmp_path: Path) -> None:
    ini = _with_exp_keys(make_ini(balanced_csv), "engine = ray\n")
    hide = tmp_path / "hide_ray"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['ray'] = None\n")
    env_path = os.pathsep.join([str(hide), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run([sys.executable, "-m", "nkl.cli.app", "run", str(ini)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": env_path, "COLUMNS": "400", "NO_COLOR": "1"}, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == ["error: ray is not installed; install it with: pip install 'nkl[ray]'"]
