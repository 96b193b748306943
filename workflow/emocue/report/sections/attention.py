"""Report section "Attention": where BLSTMATT's attention goes (per seed), with the paper's Figure 1.

The attention stage writes per seed: tables under results/attention/seed<seed>/ and its charts
(Vega-Lite + SVG) under charts/, including the Figure-1 style per-utterance plots.
"""

from __future__ import annotations

import polars as pl

from emocue import layout
from emocue.report.blocks import (
    MAX_LISTED_ROWS,
    Chart,
    NotConfigured,
    Paragraph,
    SectionSpec,
    Table,
    Unavailable,
    chart_block,
    fmt_pvalue,
    table_from_frame,
    without_xml_declaration,
)
from emocue.report.inputs import Inputs, MissingInput, not_configured

ATTENTION_CHARTS = {
    "vowel_consonant": "Vowel vs consonant mean attention per utterance",
    "phone_ranking": "Per-phone mean attention (FDR marks)",
    "position": "Attention vs relative position in the utterance",
    "word_emotion": "Word importance per emotion",
}
ATTENTION_TABLES = ("tests", "phone_ranking", "word_importance", "left_out")
TEST_FAMILIES = (
    "vowel_vs_consonant",
    "circular_shift",
    "mass_vs_time_share",
    "vowel_effect_correct_vs_wrong",
    "vowel_effect_across_emotions",
)
UTTERANCE_INDEX = "charts/utterance_charts.parquet"
UTTERANCE_DIR = "charts/utterances"


def seed_folders(config: dict) -> dict[str, str]:
    """{"seed<seed>": folder relative to the results} for every configured seed."""
    seeds = [int(seed) for seed in config["train"]["seeds"]]
    return {f"seed{seed}": layout.attention_dir(seed, root="") for seed in seeds}


def files(config: dict) -> dict[str, list[str]]:
    if not_configured(config, "attention"):
        return {}
    folders = list(seed_folders(config).values())
    declared = {
        f"attention_{name}": [f"{folder}/{name}.parquet" for folder in folders]
        for name in ATTENTION_TABLES
    }
    declared["attention_charts"] = [
        f"{folder}/charts/{name}.{suffix}"
        for folder in folders
        for name in ATTENTION_CHARTS
        for suffix in ("vl.json", "svg")
    ]
    declared["attention_utterance_index"] = [f"{folder}/{UTTERANCE_INDEX}" for folder in folders]
    declared["attention_utterance_dirs"] = [f"{folder}/{UTTERANCE_DIR}" for folder in folders]
    return declared


def attention_runs(inputs: Inputs, config: dict) -> dict[str, str]:
    """{seed label: folder} of every configured seed; NotConfigured/MissingInput say why not."""
    reason = not_configured(config, "attention")
    if reason:
        raise NotConfigured(reason)
    folders = seed_folders(config)
    found = {label: folder for label, folder in folders.items()
             if inputs.exists(f"{folder}/tests.parquet")}
    if not found:
        first = next(iter(folders.values()))
        raise MissingInput(f"results/{first}/tests.parquet", "attention")
    return found



def _attention_blocks(inputs: Inputs, config: dict) -> list:
    blocks: list = []
    for label, folder in attention_runs(inputs, config).items():
        tests = inputs.table(
            f"{folder}/tests.parquet",
            "attention",
            ["test", "variant", "group_type", "group", "pvalue"],
        )
        families = tests.filter(pl.col("test").is_in(TEST_FAMILIES))
        blocks.append(stats_table(families, f"Vowel vs consonant tests ({label})"))
        blocks += _stage_charts(inputs, folder, ATTENTION_CHARTS)
        ranking = inputs.table(
            f"{folder}/phone_ranking.parquet", "attention", ["phone", "mean_attention"]
        )
        blocks.append(
            stats_table(ranking, f"Per-phone ranking ({label}; significant: BH q < alpha)")
        )
        word_tests = tests.filter(pl.col("test") == "word_across_emotions")
        if word_tests.height:
            caption = f"Words compared across emotions (Kruskal–Wallis, {label})"
            blocks.append(stats_table(word_tests, caption))
        words = inputs.table(f"{folder}/word_importance.parquet", "attention", ["word", "emotion"])
        blocks.append(
            table_from_frame(
                words, f"Word importance per emotion ({label})", max_rows=MAX_LISTED_ROWS
            )
        )
        blocks += _utterance_charts(inputs, folder)
        left_out = f"{folder}/left_out.parquet"
        if inputs.exists(left_out):
            frame = inputs.table(left_out, "attention", ["utt_id", "reason"])
            if frame.height:
                blocks.append(
                    table_from_frame(
                        frame.group_by("reason", maintain_order=True).agg(utterances=pl.len()).sort("reason"),
                        f"Test utterances left out of the attention analysis ({label})",
                    )
                )
    return blocks


def stats_table(frame: pl.DataFrame, caption: str) -> Table:
    """A table of test results: p- and q-values in scientific notation when small."""
    formats = {"pvalue": fmt_pvalue, "q_value": fmt_pvalue}
    return table_from_frame(
        frame.drop("name", strict=False), caption, formats=formats, max_rows=MAX_LISTED_ROWS
    )


def _stage_charts(inputs: Inputs, folder: str, titles: dict[str, str]) -> list:
    """A stage's own charts (`charts/<name>.vl.json`, SVG beside it); a missing one is reported."""
    blocks = []
    for name, title in titles.items():
        spec_path = f"{folder}/charts/{name}.vl.json"
        try:
            blocks.append(stage_chart(inputs, spec_path, title, "attention"))
        except MissingInput as error:
            blocks.append(Unavailable(what=title, reason=str(error)))
    return blocks


def stage_chart(inputs: Inputs, spec_path: str, title: str, target: str) -> Chart:
    """A Chart block from a Vega-Lite file a stage wrote (its .svg beside it as the fallback)."""
    spec = inputs.json(spec_path, target)
    svg_path = spec_path.removesuffix(".vl.json") + ".svg"
    if inputs.exists(svg_path):
        svg = without_xml_declaration(inputs.text(svg_path, target))
        return Chart(title=title, spec=spec, svg=svg)
    return chart_block(spec, title)


def chunk_track_note(row: dict) -> str:
    """What the Figure's bottom panel shows: CSA's chunk posteriors at the chosen context."""
    context = row.get("chunk_context")
    if context is None:
        return ""
    if not row.get("n_chunks"):
        return f"; no CSA-C{context} chunk (the utterance is shorter than C)"
    return (f"; bottom: CSA-C{context} posteriors of its {row['n_chunks']} chunks (the context "
            "fusion chose on validation)")


def _utterance_charts(inputs: Inputs, folder: str) -> list:
    """The paper's Figure 1 for the stage's picked utterances (attention over time with phones/words)."""
    index_path = f"{folder}/{UTTERANCE_INDEX}"
    if not inputs.exists(index_path):
        error = MissingInput(f"results/{index_path}", "attention")
        return [Unavailable(what="Figure-1 style utterance plots", reason=str(error))]
    picks = inputs.table(index_path, "attention", ["utt_id", "reason", "group"])
    if "available" in picks.columns:
        picks = picks.filter(pl.col("available"))
    per_utterance = picks.group_by("utt_id", maintain_order=True).agg(
        pl.col("emotion").first() if "emotion" in picks.columns else pl.lit(None).alias("emotion"),
        pl.col("pred").first() if "pred" in picks.columns else pl.lit(None).alias("pred"),
        pl.format("{} ({})", "reason", "group").str.join("; ").alias("why"),
        *[pl.col(name).first() for name in ("chunk_context", "n_chunks") if name in picks.columns],
    )
    blocks: list = [
        Paragraph(
            f"Figure-1 style plots of {per_utterance.height} test utterances picked by the attention "
            "stage: the configured ids, the most confident correct utterance per emotion, and "
            "utterances of different emotions that share a word. Under each, CSA's posterior of "
            "every class per C-frame chunk shows how its decision moves within the utterance."
        )
    ]
    for row in per_utterance.iter_rows(named=True):
        title = (f"{row['utt_id']} — {row['emotion']} (predicted {row['pred']}); picked as "
                 f"{row['why'].replace('_', ' ')}{chunk_track_note(row)}")
        spec_path = inputs.member(f"{folder}/{UTTERANCE_DIR}", f"{row['utt_id']}.vl.json")
        blocks.append(stage_chart(inputs, spec_path, title, "attention"))
    return blocks




SECTION = SectionSpec(
    id="attention",
    title="Attention",
    files=files,
    parts=(("Attention analysis", _attention_blocks),),
    intro="Normalised attention a = α·T (1.0 = uniform over the utterance's frames) mapped onto the "
    "phones and words of every aligned test utterance. Tests report statistic, p-value, BH q-value "
    "within each family, effect size with a 95% bootstrap CI and n.",
)
