"""Keys and sections that nkululeko reads but nkl does not implement (yet).

An INI written for nkululeko runs unchanged: these keys give one warning naming them instead
of an "unknown key" error. Keys nkl implements live in ``sections.py``.
"""

from __future__ import annotations

# Sections that belong to other nkululeko modules; `nkl run` ignores them with a note.
OTHER_MODULE_SECTIONS: dict[str, str] = {
    "AUGMENT": "nkl augment",
    "RESAMPLE": "nkl resample",
    "OPTIM": "nkl optim",
    "FLAGS": "nkl flags",
    "EXPORT": "nkl export",
}

NOT_IMPLEMENTED: dict[str, frozenset[str]] = {
    "EXP": frozenset(
        {"store", "fig_dir", "res_dir", "cache", "model_dir", "models_dir", "export_onnx", "language",
         "balancing", "run", "filter.sample_selection"}
    ),
    "DATA": frozenset(
        {"trains", "root_folders", "check_vad", "sample_selection", "balance", "size_diff_weight",
         "label_data", "label_result", "min_dur_test", "target_tables_append", "filter.sample_selection"}
    ),
    "DATA.<db>": frozenset(
        {"scale", "reverse", "reverse.max", "value_counts", "limit", "columns", "check_vad", "reuse"}
    ),
    "FEATS": frozenset(
        {"store_format", "print_feats", "needs_feature_extraction",
         "os.features"}
    ),
    "MODEL": frozenset(
        {"gamma", "eval_metric", "validation_split",
         "loso", "tuning_params", "scoring", "label_smoothing", "scheduler", "weight_decay", "momentum",
         "only_test", "balancing", "nan_strategy",
         "warmup_epochs", "max_grad_norm", "feature_noise", "threshold"}
    ),
    "PREDICT": frozenset({"target_language", "textclassifier.candidates"}),
    "EXPL": frozenset({"plot_tree", "spotlight", "regplot"}),
    "PLOT": frozenset(
        {"epochs", "epoch_progression", "anim_progression", "fps", "combine_per_speaker", "uncertainty_threshold",
         "runs_compare", "ccc", "fill_areas", "kind", "best_model", "value_counts"}
    ),
}

# Prefixes of extractor- or model-specific nkululeko keys (e.g. FEATS.wav2vec2.layer).
NOT_IMPLEMENTED_PREFIXES: dict[str, tuple[str, ...]] = {
    "FEATS": ("audmodel.", "aud.", "emotion2vec.",
              "trill.", "xbow.", "mld.", "sptk.", "lfcc.", "cqcc.", "fft_", "textclassifier.", "min_syls",
              "size", "assignments", "with_os"),
    "MODEL": ("adm.", "scheduler.", "focal."),
}


def ignored_keys(section: str) -> frozenset[str]:
    """Lower-cased keys (and key prefixes ending in '.' or '_') of a section that are accepted with a warning."""
    return frozenset({k.lower() for k in NOT_IMPLEMENTED.get(section, ())} | {p.lower() for p in NOT_IMPLEMENTED_PREFIXES.get(section, ())})
