"""The ``attention_stats`` job: read every fold of one seed, map attention, run all tests, write."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from emocue.attention.mapping import curves_from_table, frame_classes, map_tokens
from emocue.attention.settings import TEST_SCHEMA, AttentionSettings, with_fdr
from emocue.attention.tokens import phone_ranking, word_emotion_tests, word_importance
from emocue.attention.vowels import (
    circular_shift_tests,
    mass_share_tests,
    utterance_summary,
    vowel_consonant_tests,
)

log = logging.getLogger("emocue.attention")

# ---- the stage: inputs → tables ------------------------------------------------------------------
@dataclass(frozen=True)
class StageTables:
    phones: pl.DataFrame
    words: pl.DataFrame
    utterances: pl.DataFrame
    tests: pl.DataFrame
    phone_ranking: pl.DataFrame
    word_importance: pl.DataFrame
    left_out: pl.DataFrame

    def write(self, paths: dict[str, str | Path]) -> None:
        for name, path in paths.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            getattr(self, name).write_parquet(path)


def utterance_table(predictions: pl.DataFrame, manifest: pl.DataFrame) -> pl.DataFrame:
    """Per test utterance: fold, session, speaker, emotion (true label), pred, correct, confidence."""
    logp_columns = [column for column in predictions.columns if column.startswith("logp_")]
    confidence = pl.coalesce(
        pl.when(pl.col("pred") == column.removeprefix("logp_")).then(pl.col(column))
        for column in logp_columns
    ).exp()
    return (
        predictions.select(
            "utt_id", "fold", pl.col("label").alias("emotion"), "pred",
            (pl.col("label") == pl.col("pred")).alias("correct"), confidence.alias("confidence"),
        )
        .join(manifest.select("utt_id", "session", "speaker"), on="utt_id", how="left")
        .select("utt_id", "fold", "session", "speaker", "emotion", "pred", "correct", "confidence")
    )


def analyse(attention: pl.DataFrame, predictions: pl.DataFrame, manifest: pl.DataFrame,
            intervals: pl.DataFrame, settings: AttentionSettings) -> StageTables:
    """Map attention onto phones/words of every test utterance and run the five test families.

    ``attention`` and ``predictions`` carry a ``fold`` column (pooled over folds); ``intervals``
    is the alignment of the test sessions. Utterances without attention or alignment are listed
    in ``left_out`` (and those without vowel or consonant frames, which only the paired tests
    leave out).
    """
    utterances = utterance_table(predictions, manifest)
    attended = attention["utt_id"].unique()
    aligned = intervals.filter(pl.col("tier") == "phone")["utt_id"].unique()
    left_out = pl.concat([
        utterances.filter(~pl.col("utt_id").is_in(attended.implode()))
        .select("utt_id", "fold", pl.lit("no attention weights").alias("reason")),
        utterances.filter(pl.col("utt_id").is_in(attended.implode()),
                          ~pl.col("utt_id").is_in(aligned.implode()))
        .select("utt_id", "fold", pl.lit("no phone alignment").alias("reason")),
        attention.filter(~pl.col("utt_id").is_in(utterances["utt_id"].implode()))
        .select("utt_id", "fold").unique()
        .with_columns(pl.lit("attention but no prediction row").alias("reason")),
    ])
    kept = utterances.filter(pl.col("utt_id").is_in(attended.implode()),
                             pl.col("utt_id").is_in(aligned.implode()))
    if kept.height == 0:
        raise ValueError(
            f"attention: none of the {utterances.height} test utterances has both attention weights "
            "and a phone alignment; check that the align stage aligned the test session(s) and that "
            "the BLSTMATT runs wrote attention.parquet"
        )
    curves = curves_from_table(attention.filter(pl.col("utt_id").is_in(kept["utt_id"].implode())))
    log.info("attention: %d test utterances, %d analysed, %d left out",
             utterances.height, curves.utt_ids.size, left_out.height)
    phones = map_tokens(curves, intervals, kept, "phone")
    words = map_tokens(curves, intervals, kept, "word")
    classes = frame_classes(curves, phones)
    summary = (
        utterance_summary(curves, classes, settings.position_bins)
        .with_columns(pl.int_range(0, curves.utt_ids.size).alias("utt_pos"))
        .join(kept, on="utt_id", how="left")
    )
    unpaired = summary.filter(~pl.col("paired")).select(
        "utt_id", "fold", pl.lit("no vowel or no consonant frames (paired tests only)").alias("reason")
    )
    tests = pl.DataFrame(
        vowel_consonant_tests(summary, settings)
        + circular_shift_tests(curves, classes, summary.filter(pl.col("paired")), settings)
        + mass_share_tests(summary, settings),
        schema=TEST_SCHEMA,
    )
    ranking = phone_ranking(curves, phones, settings)
    phone_rows = pl.concat([
        ranking.select(
            pl.lit("phone_vs_uniform").alias("test"), pl.lit(variant).alias("variant"),
            pl.lit("phone").alias("group_type"), pl.col("phone").alias("group"),
            pl.lit("two-sided").alias("alternative"), *columns,
            pl.col("n_utterances").cast(pl.Int64).alias("n"),
        )
        for variant, columns in (
            ("circular_shift", ["name", "statistic", "pvalue", "effect_size", "effect_size_name",
                                "ci_low", "ci_high"]),
            ("wilcoxon", [pl.lit("one_sample_wilcoxon").alias("name"),
                          pl.col("wilcoxon_statistic").alias("statistic"),
                          pl.col("wilcoxon_pvalue").alias("pvalue"),
                          pl.col("rank_biserial").alias("effect_size"),
                          pl.lit("rank_biserial").alias("effect_size_name"),
                          pl.col("rank_biserial_ci_low").alias("ci_low"),
                          pl.col("rank_biserial_ci_high").alias("ci_high")]),
        )
    ])
    tests = pl.concat([tests, phone_rows, word_emotion_tests(words, settings)])
    return StageTables(
        phones=phones.drop("utt_pos", "clipped_start_frame"),
        words=words.drop("utt_pos", "clipped_start_frame"),
        utterances=summary.drop("utt_pos"),
        tests=with_fdr(tests, settings.alpha),
        phone_ranking=ranking,
        word_importance=word_importance(words),
        left_out=pl.concat([left_out, unpaired]).with_columns(pl.lit("attention").alias("stage")),
    )


def read_with_fold(paths: Iterable[str | Path], folds: Iterable[str]) -> pl.DataFrame:
    """Concatenate per-fold tables, adding the fold name as a column."""
    return pl.concat([pl.read_parquet(path).with_columns(pl.lit(fold).alias("fold"))
                      for path, fold in zip(paths, folds)], how="diagonal_relaxed")


def run_stage(attention_paths: list[str], prediction_paths: list[str], folds: list[str],
              manifest_paths: list[str], interval_paths: list[str], settings: AttentionSettings,
              outputs: dict[str, str]) -> StageTables:
    """The ``attention_stats`` job: read every fold of one seed, analyse, write the tables."""
    tables = analyse(
        attention=read_with_fold(attention_paths, folds),
        predictions=read_with_fold(prediction_paths, folds),
        manifest=pl.concat([pl.read_parquet(p) for p in manifest_paths], how="diagonal_relaxed"),
        intervals=pl.concat([pl.read_parquet(p) for p in interval_paths], how="diagonal_relaxed"),
        settings=settings,
    )
    tables.write(outputs)
    return tables
