"""WA / UA / macro-F1 on hand-computed cases and the confusion layout (CIs: tests/test_scoring.py)."""

from __future__ import annotations

import numpy as np
import pytest

from emocue import metrics


# Imbalanced reference; classes 2 and 3 are never predicted.
#   true: 0 0 0 0 1 1 2 3
#   pred: 0 0 0 0 0 1 0 1
Y_TRUE = np.array([0, 0, 0, 0, 1, 1, 2, 3])
Y_PRED = np.array([0, 0, 0, 0, 0, 1, 0, 1])


def test_hand_computed_case_with_classes_missing_from_predictions():
    assert metrics.weighted_accuracy(Y_TRUE, Y_PRED, 4) == pytest.approx(5 / 8)
    # recalls 4/4, 1/2, 0, 0
    assert metrics.unweighted_accuracy(Y_TRUE, Y_PRED, 4) == pytest.approx((1 + 0.5 + 0 + 0) / 4)
    # F1 = 2TP / (2TP + FP + FN): class 0: 8/(8+2+0); class 1: 2/(2+1+1); classes 2, 3: 0
    assert metrics.macro_f1(Y_TRUE, Y_PRED, 4) == pytest.approx((0.8 + 0.5 + 0 + 0) / 4)


def test_confusion_rows_are_true_columns_predicted():
    confusion = metrics.confusion_matrix(Y_TRUE, Y_PRED, 4)
    expected = np.array([[4, 0, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    np.testing.assert_array_equal(confusion, expected)


def test_class_absent_from_reference_does_not_count_in_ua():
    y_true = np.array([0, 0, 1, 1, 1])
    y_pred = np.array([0, 3, 1, 1, 0])  # class 3 predicted once but never true; class 2 absent
    assert metrics.unweighted_accuracy(y_true, y_pred, 4) == pytest.approx((1 / 2 + 2 / 3) / 2)
    # macro-F1 over classes seen in reference or predictions (0, 1, 3): 2/(2+1+1), 4/(4+0+1), 0
    assert metrics.macro_f1(y_true, y_pred, 4) == pytest.approx((0.5 + 0.8 + 0) / 3)
    recall = metrics.recall_from_confusion(metrics.confusion_matrix(y_true, y_pred, 4))
    np.testing.assert_allclose(recall, [0.5, 2 / 3, np.nan, np.nan])


def test_batched_confusions_match_one_at_a_time():
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    indices = rng.integers(0, 50, size=(20, 50))
    batched = metrics.batched_confusions(y_true, y_pred, 4, indices)
    for row, index in zip(batched, indices):
        np.testing.assert_array_equal(row, metrics.confusion_matrix(y_true[index], y_pred[index], 4))
    ua = metrics.ua_from_confusion(batched)
    assert ua.shape == (20,)
    assert ua[3] == pytest.approx(metrics.unweighted_accuracy(y_true[indices[3]], y_pred[indices[3]], 4))
