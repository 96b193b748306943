"""A small hyper-parameter search on validation only (``hparam`` config section; BLSTMATT).

The grid is lr × hidden size × dropout (``hparam.lr``, ``hparam.hidden_size``, ``hparam.dropout``).
Each point is one training job per fold (rule ``hparam_point``, the first of ``train.seeds``) with
the point's values in place of ``train.lr``, ``blstmatt.hidden_size`` and ``blstmatt.dropout``.
Rule ``hparam_select`` then reads **only the validation curves** (history.parquet: val_loss,
val_wa, val_ua per epoch) and keeps, per fold, the point whose best epoch scores highest on
``train.select_metric`` (ties: lower validation loss, then the earlier point in grid order). The
fold's real BLSTMATT runs (every seed) train with the chosen point, and record it in
``metrics.json`` (``hparams``). No test prediction or test metric is read by the selection.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from copy import deepcopy
from pathlib import Path
from typing import Any

import polars as pl

# grid key -> (config section, key) it replaces
GRID_KEYS = {"lr": ("train", "lr"), "hidden_size": ("blstmatt", "hidden_size"), "dropout": ("blstmatt", "dropout")}
SEARCH_SCHEMA = {"fold": pl.String, "point": pl.String, "lr": pl.Float64, "hidden_size": pl.Int64, "dropout": pl.Float64,
                 "metric": pl.String, "best_epoch": pl.Int64, "val_score": pl.Float64, "val_loss": pl.Float64,
                 "chosen": pl.Boolean}


def point_name(point: Mapping[str, Any]) -> str:
    """``lr0.001_h64_d0.2``: a file-name-safe name of one grid point."""
    return f"lr{point['lr']:g}_h{point['hidden_size']}_d{point['dropout']:g}"


def grid_points(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every point of the grid by name, in grid order."""
    search = config["hparam"]
    points = [dict(zip(GRID_KEYS, values))
              for values in itertools.product(search["lr"], search["hidden_size"], search["dropout"])]
    return {point_name(point): point for point in points}


def apply_point(config: dict[str, Any], point: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the config with the point's values in their sections."""
    changed = deepcopy(config)
    for key, (section, name) in GRID_KEYS.items():
        changed[section][name] = point[key]
    return changed


def best_epoch_score(history: pl.DataFrame, metric: str) -> tuple[int, float, float]:
    """(epoch, validation score, validation loss) of the epoch training would keep
    (emocue.train.selection_score: the metric, ties broken by the lower loss)."""
    score = -pl.col("val_loss") if metric == "loss" else pl.col(f"val_{metric}")
    best = history.select("epoch", "val_loss", score.alias("score")).sort(
        ["score", "val_loss", "epoch"], descending=[True, False, False]).row(0, named=True)
    return int(best["epoch"]), float(best["score"]), float(best["val_loss"])


def select_point(histories: Mapping[str, pl.DataFrame], points: Mapping[str, Mapping[str, Any]],
                 metric: str, fold: str = "") -> pl.DataFrame:
    """The search table (SEARCH_SCHEMA), one row per point, the chosen one marked.

    ``histories`` are validation curves only: columns epoch, val_loss, val_wa, val_ua."""
    rows = []
    for name, point in points.items():
        epoch, score, loss = best_epoch_score(histories[name].select("epoch", "val_loss", "val_wa", "val_ua"), metric)
        rows.append({"fold": fold, "point": name, **point, "metric": metric, "best_epoch": epoch, "val_score": score,
                     "val_loss": loss, "chosen": False})
    order = sorted(range(len(rows)), key=lambda i: (-rows[i]["val_score"], rows[i]["val_loss"], i))
    rows[order[0]]["chosen"] = True
    return pl.DataFrame(rows, schema=SEARCH_SCHEMA)


def write_selection(history_paths: Sequence[str | Path], config: dict[str, Any], fold: str,
                    search_path: str | Path, chosen_path: str | Path) -> dict[str, Any]:
    """Rule hparam_select: the search table and chosen.json (the point's values) of one fold."""
    points = grid_points(config)
    if len(history_paths) != len(points):
        raise ValueError(f"{len(history_paths)} histories for {len(points)} grid points; rerun the search")
    histories = {name: pl.read_parquet(path) for name, path in zip(points, history_paths)}
    table = select_point(histories, points, config["train"]["select_metric"], fold)
    table.write_parquet(search_path)
    chosen = table.filter("chosen").row(0, named=True)
    record = {"point": chosen["point"], **{key: chosen[key] for key in GRID_KEYS},
              "metric": chosen["metric"], "val_score": chosen["val_score"]}
    Path(chosen_path).write_text(json.dumps(record, indent=2) + "\n")
    return record


def read_choice(path: str | Path) -> dict[str, Any]:
    record = json.loads(Path(path).read_text())
    missing = [key for key in GRID_KEYS if key not in record]
    if missing:
        raise ValueError(f"{path}: no {missing} (not written by hparam_select); rerun `snakemake hparam`")
    return record
