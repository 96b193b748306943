"""Report section "Summary": the setup, headline numbers, the vowel/consonant verdict, what changed."""

from __future__ import annotations

import math

import polars as pl

from emocue.report.blocks import BadInput, Facts, Paragraph, Section, guarded
from emocue.report.blocks import fmt_pvalue
from emocue.report.changes import config_digest, describe_changes
from emocue.report.inputs import Inputs
from emocue.report.sections.attention import attention_runs
from emocue.report.sections.fusion import FUSION
from emocue.report.sections.models import headline
from emocue.table1 import protocol


def summary_section(inputs: Inputs, config: dict, previous: dict | None) -> Section:
    """Built after every other section, so its change list covers every input the page read."""
    section = Section("summary", "Summary")
    corpus = config["corpus"]
    section.blocks.append(
        Facts(
            (
                ("corpus", f"{corpus['type']} at {corpus['root']}"),
                ("sessions", ", ".join(map(str, corpus["sessions"]))),
                ("protocol", protocol(config)),
                ("classes", ", ".join(corpus["classes"])),
                (
                    "BLSTMATT",
                    "{num_layers}×{hidden_size} BLSTM, attention context {context_size}".format(
                        **config["blstmatt"]
                    ),
                ),
                (
                    "CSA",
                    f"{config['csa']['channels']} channels, contexts {', '.join(map(str, config['csa']['contexts']))} frames",
                ),
                ("seeds", ", ".join(map(str, config["train"]["seeds"]))),
            )
        )
    )
    section.blocks += guarded("Headline numbers", lambda: _headline_blocks(inputs, config))
    section.blocks += guarded("Vowel vs consonant verdict", lambda: stage_verdict(inputs, config))
    lines = describe_changes(previous, inputs.checksums, config_digest(config))
    section.blocks.append(Paragraph("What changed since the last report: " + "; ".join(lines)))
    return section


def _headline_blocks(inputs: Inputs, config: dict) -> list:
    selected = set()
    if inputs.exists(FUSION["selection"]):
        selected = set(inputs.table(FUSION["selection"], "fusion", ["context"])["context"].to_list())
    lines = headline(inputs, config, selected)
    return [Paragraph("Headline numbers (test set, bootstrap CIs; full Table 1 in Models): "
                      + "; ".join(lines) + ".")]


def stage_verdict(inputs: Inputs, config: dict) -> list:
    """The paper's claim, tested: paired vowel vs consonant over all utterances, + circular shift."""
    blocks = []
    for label, folder in attention_runs(inputs, config).items():
        tests = inputs.table(
            f"{folder}/tests.parquet",
            "attention",
            ["test", "variant", "group_type", "alternative", "pvalue", "effect_size"],
        )
        overall = tests.filter(pl.col("group_type") == "all")
        paired = overall.filter(pl.col("test") == "vowel_vs_consonant", pl.col("variant") == "raw")
        if paired.height == 0:
            raise BadInput(
                f"results/{folder}/tests.parquet has no overall raw vowel_vs_consonant row"
            )
        one_sided_shift = overall.filter(
            pl.col("test") == "circular_shift", pl.col("alternative") == "greater"
        )
        blocks.append(
            Paragraph(
                f"Vowels vs consonants ({label}): "
                + verdict_text(
                    paired.row(0, named=True),
                    _first(one_sided_shift.filter(pl.col("variant") == "raw")),
                    _first(one_sided_shift.filter(pl.col("variant") == "position_adjusted")),
                )
            )
        )
    return blocks


def _first(frame: pl.DataFrame) -> dict | None:
    return frame.row(0, named=True) if frame.height else None


def verdict_text(
    paired: dict, shift: dict | None, adjusted_shift: dict | None = None, alpha: float = 0.05
) -> str:
    """One sentence: direction (if p < alpha), effect size with CI, p, and the circular-shift p's.

    The plain circular shift keeps each curve's autocorrelation but not a position trend shared
    by all utterances; only its position-adjusted variant controls for that (README: Attention).
    """
    effect = paired["effect_size"]
    if paired["pvalue"] < alpha:
        claim = f"attention is {'higher' if effect > 0 else 'lower'} on vowels than on consonants"
    else:
        claim = "no significant difference between vowels and consonants"
    ci = f"[{paired.get('ci_low', math.nan):+.2f}, {paired.get('ci_high', math.nan):+.2f}]"
    text = (
        f"{claim} (paired Wilcoxon over {paired.get('n', '?')} utterances, "
        f"{paired.get('effect_size_name', 'effect size')} {effect:+.2f} {ci}, p = {fmt_pvalue(paired['pvalue'])})"
    )
    if shift is not None:
        text += f"; circular-shift null (keeps attention's autocorrelation), vowels higher: p = {fmt_pvalue(shift['pvalue'])}"
    if adjusted_shift is not None:
        text += f"; the same after removing the common trend over position: p = {fmt_pvalue(adjusted_shift['pvalue'])}"
    return text + "."


