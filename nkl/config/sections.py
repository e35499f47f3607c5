"""Typed INI sections with their defaults: the single source of every supported key.

Each dataclass field is one INI key. Its metadata holds the one-line meaning shown in the
README key table and in error hints, nkululeko's alias spellings, and the allowed choices.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def key(default: Any, help: str, *, aliases: tuple[str, ...] = (), choices: tuple[str, ...] = (), path: bool = False,
        secret: bool = False, hashed: bool = True, sparse: bool = False, check: Any = None) -> Any:
    """Declare one INI key: its default, meaning, alias spellings and allowed values.

    ``path``: environment variables are expanded. ``secret``: a token or password, never part of a hash.
    ``hashed=False``: does not change results (a device, a batch size), so it stays out of cache keys.
    ``sparse=True``: enters a cache key only when set to something else than its default (keys added later, so that
    adding them changes no existing experiment's hash).
    ``check(value, where)``: raises ConfigError for a value of the right type that is still wrong.
    """
    metadata = {"help": help, "aliases": aliases, "choices": choices, "path": path, "secret": secret, "hashed": hashed, "sparse": sparse,
                "check": check}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


SCALERS = ("standard", "robust", "minmax", "speaker")
# imbalanced-learn samplers by nkululeko's names (nkl.models.balancing maps them); none/false = off
BALANCING = ("ros", "smote", "adasyn", "borderlinesmote", "svmsmote", "clustercentroids", "randomundersampler", "rus",
             "editednearestneighbours", "tomeklinks", "smoteenn", "smotetomek", "none", "false")


@dataclass(frozen=True)
class ExpSection:
    """[EXP]: the experiment and its workspace."""

    root: str = key("./results", "Workspace folder: Parquet tables, the DuckDB catalog and one folder per experiment.", path=True)
    name: str = key("", "Experiment name (default: the INI file's name without .ini).")
    type: str = key("", "classification or regression (default: the task of [MODEL] type).", choices=("classification", "regression"))
    runs: int = key(1, "Repetitions with different seeds (seed, seed+1, ...); all are stored, the best on dev is saved.")
    epochs: int = key(1, "Training epochs for mlp/mlp_reg (other models train once).")
    traindevtest: bool = key(False, "Split off a speaker-disjoint dev set for model selection (else held-out training speakers select).")
    seed: int = key(42, "Seed of splits, models and bootstrap resampling.", aliases=("random_seed",))
    save: bool = key(True, "Save the best model with its scaler, encoder and feature spec for later reuse.")
    save_test: str = key("", "Also write the test predictions to this CSV path.", path=True)
    sample_selection: str = key("all", "Split that data-only modules act on: all, train or test.", choices=("all", "train", "test"))
    no_warnings: bool = key(False, "Hide warnings on the console (they still go to the log file).")
    databases: list = key([], "nkl multidb: the databases (declared in [DATA]) whose train-on-i/test-on-j matrix is computed.")
    use_splits: bool = key(False, "nkl multidb: off the diagonal train on database i's train split and test on j's test split (else on "
                                  "the whole databases); the diagonal always uses each database's own split.")
    res_name: str = key("", "Accepted for nkululeko INIs (its name of the stored model); nkl stores the model in the experiment's folder.",
                        hashed=False)
    engine: str = key("local", "Where missing feature and estimate rows are computed: local (processes of this machine) or ray (a Ray Data "
                               "pipeline; `pip install 'nkl[ray]'`); the rows are the same.", choices=("local", "ray"), hashed=False)
    ray_address: str = key("", "engine = ray: the Ray cluster to join (host:port, auto or ray://host:port); empty = a local Ray started for "
                               "the run.", aliases=("ray.address",), hashed=False)


@dataclass(frozen=True)
class DatabaseSection:
    """[DATA] <db>.<key>: one database."""

    path: str = key("", "<db> = path of the CSV file or audformat folder.", path=True)
    type: str = key("", "csv or audformat (default: csv when the path ends in .csv).", choices=("csv", "audformat"))
    absolute_path: bool | None = key(
        None, "CSV paths: True = relative to the working folder, False or unset = relative to the CSV's folder (+audio_path); absolute paths stay."
    )
    audio_path: str = key("", "Folder prefix joined to every relative file path (relative to the CSV's folder).", path=True)
    colnames: dict = key({}, "Rename columns, e.g. {'sex': 'gender', 'path': 'file'}.")
    mapping: dict = key({}, "Map labels, e.g. {'anger': 'angry'} or {'sad, bored': 'negative'}; unmapped labels are kept.")
    label: str = key("", "Name of the target column in this database (default: [DATA] target).")
    as_train: bool = key(False, "Keep only this database's train (and dev) rows after splitting (nkululeko's multidb use_splits).")
    as_test: bool = key(False, "Keep only this database's test rows after splitting.")
    split_strategy: Any = key("speaker_split", "speaker_split, balanced (speaker-disjoint, test classes distributed like the whole), random, train, "
                                                "test, speakers_stated, specified, database, or a list of test speakers.")
    test_size: float = key(20.0, "Percent of speakers (speaker_split) or samples (random) for test.", aliases=("tests_size",))
    dev_size: float = key(20.0, "Percent of train speakers/samples for dev.")
    test: list = key([], "Test speakers for speakers_stated.")
    dev: list = key([], "Dev speakers for speakers_stated.")
    train: list = key([], "Train speakers for speakers_stated (default: all speakers not in test/dev).")
    train_tables: list = key([], "audformat tables forming the train split (split_strategy = specified).")
    dev_tables: list = key([], "audformat tables forming the dev split (specified).")
    test_tables: list = key([], "audformat tables forming the test split (specified).")
    target_tables: list = key([], "audformat tables to read labels from (default: every table with the target column).")
    files_tables: list = key([], "audformat tables to read speaker/gender/age from.", aliases=("files_table",))
    limit_samples: int = key(0, "Keep at most N random samples of this database (0 = all).")
    limit_samples_per_speaker: int = key(0, "Keep at most N random samples per speaker (0 = all).", aliases=("samples_per_speaker",))
    min_duration_of_sample: float = key(0.0, "Drop samples shorter than this (seconds).", aliases=("min_length", "min_duration"))
    max_duration_of_sample: float = key(0.0, "Drop samples longer than this (seconds; 0 = no limit).", aliases=("max_length", "max_duration"))
    filter: Any = key({}, "Keep rows whose column matches, e.g. {'gender': 'female'} or {'emotion': ['anger', 'neutral']}.")
    required: str = key("", "Keep only rows where this column is not empty.")
    rename_speakers: bool = key(False, "Prefix speaker ids with the database name.")
    check_size: int = key(0, "Reject files smaller than N bytes (True = 1000).")
    disjoint_speakers: bool = key(True, "Refuse splits that share speakers between train, dev and test.")


@dataclass(frozen=True)
class DataSection:
    """[DATA]: databases, target and filters applied to all of them."""

    databases: list = key([], "Names of the databases; each needs a `<name> = path` key.")
    tests: list = key([], "Extra test databases scored by the experiment's best saved model after training (results and "
                          "predictions with split = the database's name); each needs `<name> = path`, and need not be in databases.")
    target: str = key("", "Column to predict (e.g. emotion, age).")
    labels: list = key([], "Classes to keep (default: all found); a listed class with no data is an error.")
    type: str = key("", "continuous = bin a numeric target into `labels` using `bins`.", choices=("continuous",))
    bins: list = key([], "Bin edges for type = continuous (default: tertiles).")
    target_divide_by: float = key(0.0, "Divide a numeric target by this factor (0 = off).")
    limit_samples: int = key(0, "Keep at most N random samples in total (0 = all).")
    limit_samples_per_speaker: int = key(0, "Keep at most N random samples per speaker (0 = all).", aliases=("samples_per_speaker",))
    min_duration_of_sample: float = key(0.0, "Drop samples shorter than this (seconds).", aliases=("min_length", "min_duration"))
    max_duration_of_sample: float = key(0.0, "Drop samples longer than this (seconds; 0 = no limit).", aliases=("max_length", "max_duration"))
    filter: Any = key({}, "Keep rows whose column matches, in every database.")
    check_size: int = key(0, "Reject files smaller than N bytes (True = 1000).")
    no_reuse: bool = key(False, "Accepted for nkululeko INIs; nkl's caches are keyed by content, so stale reuse cannot happen.")


@dataclass(frozen=True)
class FeatsSection:
    """[FEATS]: what every extractor shares. Each extractor's own keys (``os.set``, ``wav2vec2.layer``, ...) are declared
    by the extractor (see the tables below)."""

    type: list = key(["os"], "Extractors, concatenated column-wise (see the extractor tables below for names and keys).")
    features: list = key([], "Keep only these feature columns.")
    scale: str = key(
        "", "Feature scaling, fitted on training data only; speaker = z-score per speaker from that speaker's own samples.", choices=SCALERS
    )
    fail_threshold: float = key(0.5, "Abort when more than this fraction of files fail extraction (failures are recorded in `rejects`).")
    workers: int = key(0, "Parallel extraction processes for per-file extractors (0 = all cores); with [EXP] engine = ray, the most parallel "
                          "Ray tasks, and the model actors of model-based extractors (0 = one per GPU, else one).", aliases=("n_jobs",))
    nan_strategy: str = key("zero", "Missing feature values: zero, mean or median (of training data).", choices=("zero", "mean", "median"))
    device: str = key("", "Device of model-based extractors: cpu, cuda or cuda:N (default: [MODEL] device); cuda without a GPU falls back "
                      "to cpu with one warning.")
    batch_size: int = key(0, "Files per batch for model-based extractors (sorted by length, padded with attention masks); 0 = 64 on a GPU, "
                             "8 on the CPU.")
    no_reuse: bool = key(False, "Accepted for nkululeko INIs; caches are keyed by content, so there is nothing stale to reuse.")
    balancing: str = key("", "Resample the training rows of each fit (never dev or test): ros, smote, adasyn, borderlinesmote, svmsmote "
                             "(over); clustercentroids, randomundersampler (rus), editednearestneighbours, tomeklinks (under); smoteenn, "
                             "smotetomek (both); imbalanced-learn.", choices=BALANCING)
    balancing_random_state: int = key(-1, "Seed of the balancing sampler (-1 = the run's seed).")


@dataclass(frozen=True)
class ModelSection:
    """[MODEL]: the model type and what every model shares. Each model's own keys (``C_val``, ``layers``, ...) are
    declared by the model (see the model tables below)."""

    type: str = key("", "Model: svm, svr, knn, knn_reg, tree, tree_reg, bayes, gmm, log_reg, lin_reg, xgb, xgr, mlp, mlp_reg.")
    class_weight: bool = key(False, "Weight classes inversely to their frequency.")
    logo: int = key(0, "Speaker-grouped cross-validation with N folds over train+test (N = number of speakers: leave-one-speaker-out).")
    k_fold_cross: int = key(0, "Stratified speaker-grouped cross-validation with K folds over train+test (nkululeko's folds ignore "
                               "speakers; nkl's never split a speaker).", sparse=True)
    device: str = key("cpu", "Device for torch models (and the default of [FEATS] and [PREDICT] device): cpu or cuda.", hashed=False)
    hf_token: str = key("", "Hugging Face token for pyannote models (nkl segment, the speaker target); default $HF_TOKEN.", secret=True)
    n_jobs: int = key(1, "Threads inside one model (LightGBM; 0 = all cores: faster on an idle machine, much slower on a busy one). "
                         "Results do not depend on it.", hashed=False)
    measure: str = key(
        "", "Selection metric on dev (default uar for classification, mse for regression).", choices=("uar", "accuracy", "mse", "mae", "ccc", "pcc")
    )
    random_seed: int = key(0, "Seed of model training (nkululeko's key; 0 = use [EXP] seed).")
    save: bool = key(True, "Accepted for nkululeko INIs; see [EXP] save.")

    @property
    def cv_folds(self) -> int:
        """Folds of cross-validation (logo or k_fold_cross), 0 for a train/test evaluation."""
        return self.logo or self.k_fold_cross


@dataclass(frozen=True)
class PlotSection:
    """[PLOT]: result plots (Altair; always PNG and SVG)."""

    name: str = key("", "Prefix of the plot files (default: the experiment name).")
    format: str = key("png", "Preferred image format for reports; PNG and SVG are always written.", choices=("png", "svg", "pdf", "eps"))
    titles: bool = key(True, "Put titles on plots.")


def field_meta(section: type) -> dict[str, dict[str, Any]]:
    """Map each key of a section dataclass to its default, type and metadata."""
    out = {}
    for f in fields(section):
        default = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
        out[f.name] = {"default": default, "type": f.type, **f.metadata}
    return out


@dataclass(frozen=True)
class PredictSection:
    """[PREDICT]: what `nkl predict` estimates for every sample (est_<target> columns in `estimates`). Each target's own
    keys (``agender.model``, ``speaker.method``, ...) are declared by its predictor (see the tables below)."""

    targets: list = key([], "Targets to estimate, e.g. ['snr', 'mos'] (see `nkl predict --help`).")
    sample_selection: str = key("all", "Samples to estimate: all, or the train or test split of the experiment.", choices=("all", "train", "test"))
    workers: int = key(0, "Parallel processes for CPU predictors (0 = all cores).")
    fail_threshold: float = key(0.5, "Abort when more than this fraction of files fail.")
    device: str = key("", "Device for model-based predictors: cpu, cuda or cuda:N (default: [MODEL] device, else cpu).", aliases=("model.device",))
    batch_size: int = key(0, "Files per batch for model-based predictors (padded, with attention masks; one model copy in the main process); "
                             "0 = 64 on a GPU, 8 on the CPU.")


@dataclass(frozen=True)
class SegmentSection:
    """[SEGMENT]: how `nkl segment` cuts recordings into speech segments."""

    method: str = key("silero", "Voice activity detector: silero (its wheel carries the model) or pyannote (pyannote.model).",
                      choices=("silero", "pyannote"))
    result: str = key("segmented", "Name of the segments CSV written to the workspace (<root>/<result>.csv, usable as a [DATA] database; "
                      "the gaps go to <root>/<result>_silence.csv).", aliases=("segment_target",))
    min_length: float = key(0.0, "Drop segments shorter than this (seconds); with max_length, shorter leftovers join the previous piece.")
    max_length: float = key(0.0, "Cut segments longer than this into pieces (seconds; 0 = no limit).")
    threshold: float = key(0.5, "silero speech probability threshold.")
    include_silence_borders: bool = key(False, "Count leading and trailing silence in the silences table.")
    sample_selection: str = key("all", "Samples to segment: all, train or test.", choices=("all", "train", "test"))
    pyannote_model: str = key("pyannote/segmentation-3.0", "method = pyannote: segmentation model (local folder with pytorch_model.bin, a checkpoint "
                              "file, or a hub id with [MODEL] hf_token) for voice activity detection; or a speaker-diarization pipeline "
                              "(folder with config.yaml), which also fills the segments' speaker column.", aliases=("pyannote.model",))
    output_audio: bool = key(False, "Also write each segment as an audio file (<audio_dir>/<database>/<stem>_segment_<i>_<start>-<end>.<format>) "
                             "and <root>/<result>_files.csv listing them.")
    audio_format: str = key("wav", "Format of exported segments.", choices=("wav", "flac", "ogg", "mp3"))
    audio_dir: str = key("segments", "Folder for exported segments (relative paths are inside the workspace root).")
    sampling_rate: int = key(0, "Sample rate of exported segments (0 = the source file's rate).")


IMPORTANCE_MODELS = ("log_reg", "tree", "xgb", "svm", "knn", "bayes", "lin_reg", "tree_reg", "xgr", "svr", "knn_reg")


@dataclass(frozen=True)
class ExplSection:
    """[EXPL]: what `nkl explore` analyses (tables `bias`, `importance`, `scatter`, `artifacts`; views from sql/)."""

    value_counts: list = key([], "Columns tested against the target, e.g. [['gender'], ['age'], ['est_snr']] (a second name in a list is tested too).")
    bin_reals: list = key([], "Numeric columns treated as tertile classes (nkululeko's `<col>.bin_reals = True` is read into this list).")
    dist_type: str = key("hist", "Distribution plots of numeric columns: hist or kde.", choices=("hist", "kde"))
    feature_distributions: bool = key(False, "Feature importance (fitted on train, scored on held-out rows) and plots of the top features per class.")
    model: list = key(["log_reg"], "Importance model(s); several are min-max normalised and averaged.", choices=IMPORTANCE_MODELS)
    max_feats: int = key(10, "Number of top features plotted and tested.")
    permutation: bool = key(False, "Permutation importance on held-out rows (30 repeats) instead of the model's own importance.")
    plot_features: list = key([], "Features always plotted and tested besides the top ones.")
    ignore_gender: bool = key(False, "Do not split feature distribution plots by gender.")
    shap: bool = key(False, "Mean |SHAP| per feature (shap's permutation explainer) on held-out rows; needs `pip install 'nkl[explore]'`.")
    scatter: list = key([], "2-D projections of the features: tsne, umap, pca.")
    scatter_target: list = key([], "Columns the scatter plots are coloured by (default: the target); numeric ones are binned into tertiles.",
                               aliases=("scatter.target",))
    scatter_dim: int = key(2, "Dimensions of the scatter plots (only 2 is supported).", aliases=("scatter.dim",))
    tsne: bool = key(False, "Same as adding tsne to scatter.")
    umap: bool = key(False, "Same as adding umap to scatter.")
    pca: bool = key(False, "Same as adding pca to scatter.")
    print_stats: bool = key(False, "Print every test (also the non-significant and pairwise ones) on the console.")
    print_colvals: bool = key(False, "Print the distinct values of every column.")
    sample_selection: str = key("", "Samples to explore: all, train or test (default: [EXP] sample_selection).", choices=("all", "train", "test"))
    alpha: float = key(0.05, "Significance level applied to the Benjamini–Hochberg corrected p-values.")


@dataclass(frozen=True)
class CrossdbSection:
    """[CROSSDB] (`nkl multidb`): what every cell of the cross-database matrix shares."""

    train_extra: list = key([], "Databases (declared in [DATA]) added as training data to every cell of the matrix.")


@dataclass(frozen=True)
class ReportSection:
    """[REPORT]: the PDF/HTML report that `nkl run` renders at the end (and `nkl report` renders again)."""

    latex: str = key("", "Name of the report files, <name>.pdf and <name>.html (nkululeko's key; default: <experiment>_report).")
    title: str = key("", "Report title (default: the experiment name).")
    author: str = key("", "Author shown under the title.")
    format: str = key("both", "pdf, html or both.", choices=("pdf", "html", "both"))
    template: str = key("", "A Quarto template (.qmd) to fill instead of the built-in reports/experiment.qmd (copy it and edit).", path=True)
    engine: str = key("auto", "auto (quarto when on PATH, else Pandoc + Typst), quarto, or pandoc.", choices=("auto", "quarto", "pandoc"))
    show: bool = key(False, "Accepted for nkululeko INIs; nkl always prints where the report was written.")
    fresh: bool = key(False, "Accepted for nkululeko INIs; nkl builds every report afresh from the catalog.")
