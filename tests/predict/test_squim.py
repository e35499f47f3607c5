"""SQUIM predictors (pesq/stoi/sdr and mos_squim) on randomly initialised torchaudio models saved as ``.pth`` files.

The real weights come from download.pytorch.org, which is out of reach here: models built with torchaudio's own
``squim_objective_base()`` / ``squim_subjective_base()``, their state dicts saved with ``torch.save``, exercise the same
loading path as the real files (``torch.load(weights_only=True)`` + ``load_state_dict``), on real EmoDB speech.
The clips are EmoDB utterances cut to under a second: the objective model's attention costs grow with the square of
the length (a 2 s clip takes seconds on a busy CPU). Downloads are faked in-process (no network) to check the cache
location and that nothing half-written stays behind.
"""

from __future__ import annotations

import io
import pickle
import textwrap
import urllib.error
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf

from nkl.audio.decode import load_audio
from nkl.errors import ConfigError, ModelError
from nkl.predict import squim
from nkl.predict.registry import PREDICTORS, TARGET_ALIASES, get_predictor_class
from nkl.predict.squim import OBJECTIVE_FILE, SUBJECTIVE_FILE, URL_BASE, SquimObjectivePredictor, SquimSubjectivePredictor

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchaudio.models")

RATE = 16000
SPEAKERS = ["03", "08", "11", "09"]  # 09 is the reference: another speaker and text
CUTS_S = [0.5, 0.3, 0.5, 0.4]  # two equal lengths (one batch) and one shorter (its own batch); a reference shorter than some clips


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One torch thread: the models' LSTMs ran 10-30x slower with 2 threads on a machine busy with other tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def save_state(model, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def objective_pth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_state(models.squim_objective_base(), tmp_path_factory.mktemp("squim") / OBJECTIVE_FILE)


@pytest.fixture(scope="module")
def subjective_pth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    return save_state(models.squim_subjective_base(), tmp_path_factory.mktemp("squim_subjective") / SUBJECTIVE_FILE)


@pytest.fixture(scope="module")
def short_wavs(emodb: Path, emodb_table: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    """The first utterance of four speakers, from 0.3 s into the file (speech, not the leading silence), cut short and
    written as 22.05 kHz WAV files like EmoDB's own; the table has EmoDB's columns and absolute paths."""
    folder = tmp_path_factory.mktemp("squim_wavs")
    rows = emodb_table.filter(pl.col("speaker").is_in(SPEAKERS)).sort("file").group_by("speaker", maintain_order=True).head(1)
    rows = rows.sort(pl.col("speaker").replace_strict({s: i for i, s in enumerate(SPEAKERS)}))
    paths = []
    for file, seconds in zip(rows["file"], CUTS_S, strict=True):
        audio, rate = sf.read(emodb / file, dtype="float32")
        first = int(0.3 * rate)
        paths.append(str(folder / Path(file).name))
        sf.write(paths[-1], audio[first: first + int(seconds * rate)], rate)
    return rows.with_columns(pl.Series("file", paths)).select("file", "speaker", "gender", "age", "emotion")


@pytest.fixture(scope="module")
def clips(short_wavs: pl.DataFrame) -> list[np.ndarray]:
    """Three clips at 16 kHz (resampled by the repo's decoder, as the engine does)."""
    return [load_audio(file, sample_rate=RATE)[0] for file in short_wavs["file"][:3]]


@pytest.fixture(scope="module")
def reference_wav(short_wavs: pl.DataFrame) -> Path:
    """A clean recording of another speaker (09) and text than the clips."""
    return Path(short_wavs["file"][3])


@pytest.fixture(scope="module")
def objective(objective_pth: Path) -> SquimObjectivePredictor:
    predictor = SquimObjectivePredictor({"model": str(objective_pth)})
    predictor.setup()
    return predictor


@pytest.fixture(scope="module")
def subjective(subjective_pth: Path, reference_wav: Path) -> SquimSubjectivePredictor:
    predictor = SquimSubjectivePredictor({"model": str(subjective_pth), "reference": str(reference_wav)})
    predictor.setup()
    return predictor


def torchaudio_way(build, path: Path):
    """What ``torchaudio.pipelines.SQUIM_*.get_model()`` does with the downloaded file."""
    model = build()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def test_registry_names() -> None:
    assert get_predictor_class("squim") is SquimObjectivePredictor and get_predictor_class("mos_squim") is SquimSubjectivePredictor
    assert {TARGET_ALIASES[name] for name in ("pesq", "stoi", "sdr")} == {"squim"}
    assert set(TARGET_ALIASES.values()) <= set(PREDICTORS)
    assert SquimObjectivePredictor().table == "estimates_squim" and SquimSubjectivePredictor().table == "estimates_mos_squim"
    assert SquimObjectivePredictor.batched and SquimSubjectivePredictor.batched


def test_objective_columns_ranges_and_torchaudio_equivalence(objective: SquimObjectivePredictor, objective_pth: Path,
                                                              clips: list[np.ndarray]) -> None:
    names, values = objective.extract(clips[0], RATE)
    assert names == ["est_pesq", "est_stoi", "est_sdr"]
    assert values.shape == (3,) and values.dtype == np.float64 and np.all(np.isfinite(values))
    assert 1.0 <= values[0] <= 4.65 and 0.0 <= values[1] <= 1.0  # the model's own PESQ and STOI ranges
    with torch.inference_mode():
        stoi, pesq, sdr = torchaudio_way(models.squim_objective_base, objective_pth)(torch.from_numpy(clips[0])[None, :])
    np.testing.assert_allclose(values, [pesq.item(), stoi.item(), sdr.item()], rtol=1e-5)


def test_subjective_matches_the_models_own_forward(subjective: SquimSubjectivePredictor, reference_wav: Path,
                                                   clips: list[np.ndarray]) -> None:
    """Reference features computed once per length give what ``SquimSubjective(waveform, reference)`` gives."""
    reference = torch.from_numpy(load_audio(reference_wav, sample_rate=RATE)[0])[None, :]
    model = subjective._model  # loaded the torchaudio way (see the objective test); here the forward pass is checked
    long_clip = np.concatenate([clips[0], clips[1]])  # longer than the 0.4 s reference: the model repeats the reference
    batch = subjective.extract_batch([clips[0], clips[1], long_clip])
    assert batch.shape == (3, 1) and np.all((batch >= 1.0) & (batch <= 5.0))
    with torch.inference_mode():
        expected = [model(torch.from_numpy(c)[None, :], reference).item() for c in (clips[0], clips[1], long_clip)]
    np.testing.assert_allclose(batch[:, 0], expected, rtol=1e-5)
    assert subjective.extract(clips[0], RATE)[0] == ["est_mos_squim"]


@pytest.mark.parametrize("which", ["objective", "subjective"])
def test_equal_length_batches_give_the_single_file_estimates(which: str, request: pytest.FixtureRequest, clips: list[np.ndarray]) -> None:
    predictor = request.getfixturevalue(which)
    singles = np.stack([predictor.extract(clip, RATE)[1] for clip in clips])
    assert len(clips[0]) == len(clips[2]) != len(clips[1])  # one batch of two, one of one; rows back in input order
    np.testing.assert_allclose(predictor.extract_batch(clips[::-1]), singles[::-1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(singles[0], singles[1])


def test_zero_padding_would_change_the_objective_estimates(objective: SquimObjectivePredictor, clips: list[np.ndarray]) -> None:
    """Why extract_batch never pads: the model normalises by the row's RMS and pools over every frame, padding included."""
    short = torch.from_numpy(clips[1])[None, :]
    padded = torch.nn.functional.pad(short, (0, len(clips[0]) - len(clips[1])))
    with torch.inference_mode():
        plain, with_zeros = (torch.stack(objective._model(x)).flatten().numpy() for x in (short, padded))
    assert np.max(np.abs(plain - with_zeros)) > 1e-4


def test_pickle_drops_the_model_and_reloads(objective: SquimObjectivePredictor, subjective: SquimSubjectivePredictor,
                                            clips: list[np.ndarray]) -> None:
    copy = pickle.loads(pickle.dumps(objective))
    assert copy._model is None
    np.testing.assert_allclose(copy.extract(clips[1], RATE)[1], objective.extract(clips[1], RATE)[1], rtol=1e-6)
    copy = pickle.loads(pickle.dumps(subjective))
    assert copy._model is None and copy._reference is None and not copy._reference_features and copy.options == subjective.options


def test_spec_follows_the_weights_and_the_reference(objective_pth: Path, reference_wav: Path, emodb: Path, tmp_path: Path) -> None:
    default = SquimObjectivePredictor()
    assert default.params() == {"model": URL_BASE + OBJECTIVE_FILE}
    assert SquimObjectivePredictor({"model": "squim_objective"}).params() == default.params()  # torchaudio's pipeline name
    copy = tmp_path / OBJECTIVE_FILE
    copy.write_bytes(objective_pth.read_bytes())
    local = SquimObjectivePredictor({"model": str(copy)})
    params, spec = local.params(), local.spec_hash
    assert params["model"] == str(copy) and params["model_hash"] and spec != default.spec_hash
    assert SquimObjectivePredictor({"model": str(copy)}).spec_hash == spec
    torch.manual_seed(5)
    save_state(models.squim_objective_base(), copy)  # other weights in the same file
    assert local.params()["model_hash"] != params["model_hash"] and local.spec_hash != spec
    ref_a = SquimSubjectivePredictor({"reference": str(reference_wav)})
    ref_b = SquimSubjectivePredictor({"reference": str(emodb / "wav" / "16b10Wb.wav")})
    assert ref_a.params()["model"] == URL_BASE + SUBJECTIVE_FILE and ref_a.spec_hash != ref_b.spec_hash


def test_mos_squim_without_a_reference_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[PREDICT\] mos_squim\.reference = ") as info:
        SquimSubjectivePredictor().spec_hash  # noqa: B018 - computed before any work starts
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="no file"):
        SquimSubjectivePredictor({"reference": str(tmp_path / "missing.wav")}).params()


class FakeResponse(io.BytesIO):
    """What urlopen returns: a readable body; ``fail_after`` bytes then a dropped connection."""

    def __init__(self, data: bytes, fail_after: int | None = None, length: int | None = None) -> None:
        super().__init__(data)
        self.fail_after = fail_after
        self.headers = {"Content-Length": str(len(data) if length is None else length)}

    def read(self, size: int = -1) -> bytes:
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset by peer")
        return super().read(size if self.fail_after is None else min(size if size > 0 else 1 << 20, 1 << 16))


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_offline_default_weights_fail_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(url, timeout):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(squim.urllib.request, "urlopen", offline)
    with pytest.raises(ModelError) as info:
        SquimObjectivePredictor().setup()
    message = str(info.value)
    assert "\n" not in message and "Temporary failure in name resolution" in message
    assert "[PREDICT] squim.model = /path/to/squim_objective_dns2020.pth" in message and URL_BASE + OBJECTIVE_FILE in message
    assert not (tmp_path / "torch").exists()  # not even the cache folder


@pytest.mark.parametrize(("how", "message"), [("reset", "connection reset by peer"), ("short", "download ended after")])
def test_an_interrupted_download_leaves_no_file(how: str, message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                objective_pth: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    data = objective_pth.read_bytes()
    half = len(data) // 2
    response = FakeResponse(data, fail_after=half) if how == "reset" else FakeResponse(data[:half], length=len(data))
    monkeypatch.setattr(squim.urllib.request, "urlopen", lambda url, timeout: response)
    with pytest.raises(ModelError, match=message):
        SquimObjectivePredictor().setup()
    assert files_under(tmp_path / "torch") == []


def test_download_lands_in_torchaudios_cache_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, objective_pth: Path,
                                                  objective: SquimObjectivePredictor, clips: list[np.ndarray]) -> None:
    """The default weights go where torchaudio's own SQUIM_OBJECTIVE looks, so either finds the other's download."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    calls: list[str] = []

    def serve(url: str, timeout: float) -> FakeResponse:
        calls.append(url)
        return FakeResponse(objective_pth.read_bytes())

    monkeypatch.setattr(squim.urllib.request, "urlopen", serve)
    first = SquimObjectivePredictor()
    first.setup()
    assert calls == [URL_BASE + OBJECTIVE_FILE]
    assert files_under(tmp_path / "torch") == [tmp_path / "torch" / "hub" / "torchaudio" / "models" / OBJECTIVE_FILE]
    second = SquimObjectivePredictor()
    second.setup()
    assert len(calls) == 1
    np.testing.assert_allclose(second.extract(clips[1], RATE)[1], objective.extract(clips[1], RATE)[1], rtol=1e-6)


def test_a_missing_or_wrong_local_file_is_one_line(tmp_path: Path, reference_wav: Path) -> None:
    with pytest.raises(ModelError, match=r"no file .*missing\.pth.*\[PREDICT\] mos_squim\.model = /path/to/squim_subjective_bvcc_daps\.pth"):
        SquimSubjectivePredictor({"model": str(tmp_path / "missing.pth"), "reference": str(reference_wav)}).setup()
    wrong = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(2)}, wrong)
    with pytest.raises(ModelError, match=r"is not a SQUIM_OBJECTIVE state dict") as info:
        SquimObjectivePredictor({"model": str(wrong)}).setup()
    assert "\n" not in str(info.value)


def test_wrong_rate_and_too_short(objective: SquimObjectivePredictor) -> None:
    with pytest.raises(ValueError, match="16000 Hz"):
        objective.extract(np.zeros(8000, dtype=np.float32), 8000)
    with pytest.raises(ValueError, match="at least"):
        objective.extract(np.zeros(100, dtype=np.float32), RATE)


@pytest.fixture(scope="module")
def short_csv(short_wavs: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("squim_db") / "short.csv"
    short_wavs.head(3).write_csv(path)
    return path


def _ini(tmp_path: Path, csv: Path, predict: str) -> Path:
    path = tmp_path / "squim.ini"
    path.write_text(textwrap.dedent(f"""
        [EXP]
        root = {tmp_path / 'ws'}
        name = squim
        [DATA]
        databases = ['db']
        db = {csv}
        target = emotion
        [PREDICT]
        """).lstrip() + textwrap.dedent(predict).strip() + "\n")
    return path


def test_cli_fills_estimates_then_computes_nothing(objective_pth: Path, subjective_pth: Path, reference_wav: Path,
                                                   short_csv: Path, tmp_path: Path, run_cli, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # see one_torch_thread
    ini = _ini(tmp_path, short_csv, f"""
        targets = ['pesq', 'stoi', 'sdr', 'mos_squim']
        squim.model = {objective_pth}
        squim_subjective.model = {subjective_pth}
        squim_subjective.reference = {reference_wav}
        """)
    first = run_cli("predict", ini, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "6 computed, 0 from cache" in " ".join(first.stderr.split())  # 3 files x (squim run once for 3 names, mos_squim)
    import nkl

    rows = nkl.connect(tmp_path / "ws").sql("select sample, est_pesq, est_stoi, est_sdr, est_mos_squim from estimates")
    assert rows.height == 3
    values = rows.drop("sample").to_numpy()
    assert np.all(np.isfinite(values)) and np.all((values[:, 3] >= 1) & (values[:, 3] <= 5))
    second = run_cli("predict", ini, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 computed, 6 from cache" in " ".join(second.stderr.split())


def test_cli_weights_that_cannot_be_fetched_are_one_line(short_csv: Path, tmp_path: Path, run_cli, monkeypatch) -> None:
    """A download that fails (here: nothing listens on the port) stops the command with the key to set, exit 2."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    ini = _ini(tmp_path, short_csv, f"""
        targets = ['squim']
        squim.model = http://127.0.0.1:9/{OBJECTIVE_FILE}
        """)
    done = run_cli("predict", ini, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "[PREDICT] squim.model = /path/to/squim_objective_dns2020.pth" in done.stderr and "Traceback" not in done.stderr
    assert files_under(tmp_path / "torch") == []


def test_cli_mos_squim_without_reference_stops_before_work(short_csv: Path, tmp_path: Path, run_cli) -> None:
    done = run_cli("predict", _ini(tmp_path, short_csv, "targets = ['mos_squim']"), cwd=tmp_path)
    assert done.returncode == 2
    assert "mos_squim.reference" in done.stderr and "Traceback" not in done.stderr


def test_cli_files_use_the_weights_in_the_torch_hub_cache(objective_pth: Path, short_wavs: pl.DataFrame, tmp_path: Path,
                                                          run_cli, monkeypatch) -> None:
    """`nkl predict --model pesq --file ...` without a config: torchaudio's cached download is found, nothing is fetched."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "torchaudio" / "models" / OBJECTIVE_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(objective_pth.read_bytes())
    out = tmp_path / "pesq.csv"
    files = short_wavs["file"][:2].to_list()
    done = run_cli("predict", "--model", "pesq", "--file", *files, "-w", tmp_path / "ws", "-o", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = pl.read_csv(out)
    assert sorted(table["file"].to_list()) == sorted(files)
    assert table.select("est_pesq", "est_stoi", "est_sdr").null_count().sum_horizontal().item() == 0
    assert files_under(tmp_path / "torch") == [cached]
