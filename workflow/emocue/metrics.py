"""Classification metrics for speech emotion recognition, with bootstrap confidence intervals.

- **WA** (weighted accuracy) = overall accuracy, Σ_k TP_k / N.
- **UA** (unweighted accuracy) = mean over classes of the per-class recall TP_k / N_k, averaged
  over the classes that occur in the reference (a class nobody is labelled with has no recall).

These are the usual definitions in SER. The paper's Eq. 6 names them the other way round (it calls
the class-averaged recall "WA"); emocue always uses the names above.

- **macro-F1** = mean over classes of F1_k = 2 TP_k / (2 TP_k + FP_k + FN_k), over the classes that
  occur in the reference or the predictions; a class that is never predicted has F1 = 0.

95 % confidence intervals are percentile bootstraps over utterances (seeded), vectorised over
resamples with one confusion matrix per resample.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from emocue.stats import bootstrap_ci


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class."""
    codes = np.asarray(y_true, dtype=np.int64) * num_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(codes, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def batched_confusions(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int,
                        indices: np.ndarray) -> np.ndarray:
    """(R, K, K) confusion matrices, one per row of the resample index matrix (R, n)."""
    codes = np.asarray(y_true, np.int64) * num_classes + np.asarray(y_pred, np.int64)
    rows = np.arange(len(indices), dtype=np.int64)[:, None] * num_classes * num_classes
    flat = np.bincount((codes[indices] + rows).ravel(), minlength=len(indices) * num_classes**2)
    return flat.reshape(len(indices), num_classes, num_classes)


# Each metric takes confusion matrices (..., K, K) and returns (...) values, so the same code
# serves the point estimate and the bootstrap.
def wa_from_confusion(confusion: np.ndarray) -> np.ndarray:
    total = confusion.sum(axis=(-2, -1))
    return np.trace(confusion, axis1=-2, axis2=-1) / np.where(total > 0, total, np.nan)


def recall_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """(..., K) per-class recall; NaN for a class absent from the reference."""
    support = confusion.sum(axis=-1)
    diagonal = np.diagonal(confusion, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, diagonal / support, np.nan)


def ua_from_confusion(confusion: np.ndarray) -> np.ndarray:
    recall = recall_from_confusion(confusion)
    present = np.isfinite(recall)
    return np.where(present, recall, 0.0).sum(-1) / np.maximum(present.sum(-1), 1)


def f1_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """(..., K) per-class F1; NaN for a class absent from both reference and predictions."""
    tp = np.diagonal(confusion, axis1=-2, axis2=-1).astype(float)
    denominator = confusion.sum(axis=-1) + confusion.sum(axis=-2)  # 2TP + FN + FP
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, np.nan)


def macro_f1_from_confusion(confusion: np.ndarray) -> np.ndarray:
    f1 = f1_from_confusion(confusion)
    present = np.isfinite(f1)
    return np.where(present, f1, 0.0).sum(-1) / np.maximum(present.sum(-1), 1)



SUMMARY_METRICS = {"wa": wa_from_confusion, "ua": ua_from_confusion, "macro_f1": macro_f1_from_confusion}


def weighted_accuracy(y_true, y_pred, num_classes: int) -> float:
    return float(wa_from_confusion(confusion_matrix(y_true, y_pred, num_classes)))


def unweighted_accuracy(y_true, y_pred, num_classes: int) -> float:
    return float(ua_from_confusion(confusion_matrix(y_true, y_pred, num_classes)))


def macro_f1(y_true, y_pred, num_classes: int) -> float:
    return float(macro_f1_from_confusion(confusion_matrix(y_true, y_pred, num_classes)))


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], n_bootstrap: int,
             seed: int, confidence: float = 0.95) -> dict[str, Any]:
    """WA, UA and macro-F1 with bootstrap CIs, per-class recall and the confusion matrix.

    Keys: ``wa``, ``wa_ci_low``, ``wa_ci_high`` (same for ``ua`` and ``macro_f1``),
    ``per_class_recall`` ({class: recall or None}), ``confusion`` (rows true, columns predicted,
    in ``classes`` order), ``classes``, ``n``, ``bootstrap`` (resamples), ``confidence``.
    """
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    K = len(classes)
    confusion = confusion_matrix(y_true, y_pred, K)
    result: dict[str, Any] = {}
    for name, metric in SUMMARY_METRICS.items():
        result[name] = float(metric(confusion))
        if len(y_true) == 0:
            low = high = float("nan")
        else:
            low, high = bootstrap_ci(
                lambda idx, metric=metric: metric(batched_confusions(y_true, y_pred, K, idx)),
                n=len(y_true), n_resamples=n_bootstrap, seed=seed, confidence=confidence,
            )
        result[f"{name}_ci_low"], result[f"{name}_ci_high"] = low, high
    recall = recall_from_confusion(confusion)
    result["per_class_recall"] = {
        name: (float(value) if np.isfinite(value) else None) for name, value in zip(classes, recall)
    }
    result["confusion"] = confusion.tolist()
    result["classes"] = list(classes)
    result["n"] = int(len(y_true))
    result["bootstrap"] = int(n_bootstrap)
    result["confidence"] = confidence
    return result


def mean_sd_across_seeds(runs: Iterable[dict[str, Any]],
                         keys: Sequence[str] = ("wa", "ua", "macro_f1")) -> dict[str, dict[str, float]]:
    """Mean ± sample s.d. (ddof = 1; 0 for one seed) of each metric over runs of different seeds.

    Returns ``{key: {"mean": …, "sd": …, "n": seeds}}``.
    """
    runs = list(runs)
    summary = {}
    for key in keys:
        values = np.array([run[key] for run in runs], dtype=float)
        summary[key] = {
            "mean": float(values.mean()) if len(values) else float("nan"),
            "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "n": int(len(values)),
        }
    return summary
