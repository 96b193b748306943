"""Classification metrics for speech emotion recognition (WA, UA, macro-F1, per-class recall).

- **WA** (weighted accuracy) = overall accuracy, Σ_k TP_k / N.
- **UA** (unweighted accuracy) = mean over classes of the per-class recall TP_k / N_k, averaged
  over the classes that occur in the reference (a class nobody is labelled with has no recall).

These are the usual definitions in SER. The paper's Eq. 6 names them the other way round (it calls
the class-averaged recall "WA"); emocue always uses the names above.

- **macro-F1** = mean over classes of F1_k = 2 TP_k / (2 TP_k + FP_k + FN_k), over the classes that
  occur in the reference or the predictions; a class that is never predicted has F1 = 0.

Every metric is a function of confusion matrices (..., K, K), so the point estimate and a batch of
bootstrap resamples use the same code; emocue.scoring turns predictions into scored tables with
CIs, and is the only place that does.
"""

from __future__ import annotations

import numpy as np


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
