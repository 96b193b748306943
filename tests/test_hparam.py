"""Hyper-parameter search on validation only (emocue.hparam)."""

from __future__ import annotations

import json

import polars as pl
from test_train import SESSIONS, write_config, write_synthetic_corpus

from emocue import layout
from emocue.config import load_config
from emocue.hparam import apply_point, grid_points, read_choice, select_point, write_selection
from emocue.train import job_from_results, run_training


def test_grid_is_the_product_of_the_three_lists_and_points_replace_their_keys(tmp_path):
    config = load_config(write_config(tmp_path / "c.yaml", hparam={"lr": [1e-3, 3e-3], "hidden_size": [8],
                                                                    "dropout": [0.0, 0.3]}))
    points = grid_points(config)
    assert list(points) == ["lr0.001_h8_d0", "lr0.001_h8_d0.3", "lr0.003_h8_d0", "lr0.003_h8_d0.3"]
    changed = apply_point(config, points["lr0.003_h8_d0.3"])
    assert (changed["train"]["lr"], changed["blstmatt"]["hidden_size"], changed["blstmatt"]["dropout"]) == (3e-3, 8, 0.3)
    assert config["train"]["lr"] == 3e-3 and config["blstmatt"]["dropout"] == 0.2  # the original is unchanged


def history(val_ua, val_loss):
    return pl.DataFrame({"epoch": list(range(1, len(val_ua) + 1)), "val_loss": val_loss, "val_wa": val_ua,
                         "val_ua": val_ua})


def test_selection_keeps_the_point_with_the_best_validation_epoch():
    points = {"a": {"lr": 1e-3, "hidden_size": 8, "dropout": 0.1}, "b": {"lr": 1e-2, "hidden_size": 8, "dropout": 0.1}}
    table = select_point({"a": history([0.5, 0.7, 0.6], [1.0, 0.9, 0.8]), "b": history([0.7, 0.6], [0.7, 0.8])},
                         points, "ua")
    # both reach 0.7; b's epoch has the lower validation loss
    assert table.filter("chosen")["point"].to_list() == ["b"]
    assert table["best_epoch"].to_list() == [2, 1]
    loss = select_point({"a": history([0.5, 0.7, 0.6], [1.0, 0.9, 0.6]), "b": history([0.7, 0.6], [0.7, 0.8])},
                        points, "loss")
    assert loss.filter("chosen")["point"].to_list() == ["a"]


def poison_test_session(results):
    """Every test-session label flipped to one class: any use of test data would change the choice."""
    path = results / "corpus" / f"{SESSIONS[-1]}.parquet"
    pl.read_parquet(path).with_columns(label=pl.lit("sad")).write_parquet(path)


def test_search_choice_ignores_a_poisoned_test_set(tmp_path):
    config = load_config(write_config(tmp_path / "c.yaml", train={"max_epochs": 2, "early_stopping_patience": 2},
                                      hparam={"enabled": True, "lr": [3e-4, 3e-3], "hidden_size": [8],
                                              "dropout": [0.2]}))
    choices, test_scores = [], []
    for name in ("clean", "poisoned"):
        results = tmp_path / name / "results"
        write_synthetic_corpus(results, utterances_per_speaker=8)
        if name == "poisoned":
            poison_test_session(results)
        histories, tests = [], []
        for point_name, point in grid_points(config).items():
            out = layout.hparam_point_outputs("Session5", point_name, root=str(results))
            metrics = run_training(job_from_results(results, apply_point(config, point), "blstmatt", "Session5", 1,
                                                    None, out["history"].rsplit("/", 1)[0]), apply_point(config, point))
            histories.append(out["history"])
            tests.append(metrics["ua"])
        chosen = layout.hparam_outputs("Session5", root=str(results))
        write_selection(histories, config, "Session5", chosen["search"], chosen["chosen"])
        choices.append((pl.read_parquet(chosen["search"]), read_choice(chosen["chosen"])))
        test_scores.append(tests)
    assert choices[0][0].equals(choices[1][0]) and choices[0][1] == choices[1][1]
    assert test_scores[0] != test_scores[1]  # the poison did reach the test scores
    assert json.loads((tmp_path / "clean/results/hparam/blstmatt/Session5/chosen.json").read_text())["metric"] == "ua"


def test_search_jobs_feed_blstmatt_runs_only(tmp_path):
    """Dry run: one search job per (fold, point), one selection per fold; BLSTMATT runs wait for
    it, CSA runs do not."""
    import yaml
    from conftest import TINY_CONFIG, run_snakemake

    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["hparam"] = {"enabled": True, "lr": [1e-3, 3e-3], "hidden_size": [8], "dropout": [0.2]}
    (tmp_path / "hp.yaml").write_text(yaml.safe_dump(config))
    plan = run_snakemake(tmp_path, "-n", "--cores", "1", "train", configfile=tmp_path / "hp.yaml").stdout
    jobs = dict(line.split()[:2] for line in plan.splitlines()
                if line.split()[:1] and line.split()[0] in ("hparam_point", "hparam_select", "train_csa"))
    assert jobs == {"hparam_point": "2", "hparam_select": "1", "train_csa": "1"}
    blstmatt = plan.split("rule train_blstmatt:")[1].split("rule ")[0]
    assert "hparam/blstmatt/Session5/chosen.json" in blstmatt
    csa = plan.split("rule train_csa:")[1].split("rule ")[0]
    assert "chosen.json" not in csa
