"""Charts of the attention stage (altair → Vega-Lite JSON, SVG via vl-convert).

* :func:`utterance_chart` — the paper's Figure 1 for one utterance: normalised attention over time
  with vowels shaded, words above and phone labels below (shared time axis), and under it CSA's
  chunk posteriors over the same time axis (:func:`chunk_posterior_track`).
* :func:`vowel_consonant_chart`, :func:`phone_ranking_chart`, :func:`position_chart`,
  :func:`word_emotion_chart` — the summaries behind the tests.
* :func:`pick_utterances` — which utterances get a Figure 1.
"""

from __future__ import annotations

import logging
from pathlib import Path

import altair as alt
import numpy as np
import polars as pl

from emocue.align import FRAME_LENGTH_S, FRAME_SHIFT_S
from emocue.identifiers import child_path
from emocue.phones import CONSONANT, VOWEL

log = logging.getLogger(__name__)
alt.data_transformers.disable_max_rows()

FRAME_CENTRE_S = FRAME_LENGTH_S / 2  # frame t's centre: t · shift + window / 2 (the align rule)
CLASS_COLOURS = alt.Scale(domain=[VOWEL, CONSONANT], range=["#d95f02", "#1b9e77"])
WIDTH = 640


def _records(frame: pl.DataFrame) -> alt.Data:
    """Inline data; NaN becomes null so that the spec stays valid JSON."""
    return alt.Data(values=frame.with_columns(pl.selectors.float().fill_nan(None)).to_dicts())


# ---- which utterances get a Figure 1 -------------------------------------------------------------
def pick_utterances(utterances: pl.DataFrame, words: pl.DataFrame, requested: list[str],
                    n_word_groups: int) -> pl.DataFrame:
    """Figure-1 picks: ``utt_id``, ``reason`` (config | most_confident | shared_word), ``group``.

    * every id in ``attention.plot_utterances`` that was analysed (others are logged and listed
      with ``available`` false);
    * per emotion, the correctly classified utterance with the highest posterior;
    * ``n_word_groups`` groups of utterances from different emotions sharing a word (words in the
      most emotions first, then the most tokens; per emotion its most confident utterance).
    """
    analysed = set(utterances["utt_id"].to_list())
    rows = [{"utt_id": utt, "reason": "config", "group": "config", "available": utt in analysed}
            for utt in requested]
    for utt in requested:
        if utt not in analysed:
            log.warning("attention.plot_utterances: %r was not analysed (not a test utterance, or "
                        "no attention/alignment); it is listed in the picks as unavailable", utt)
    confident = (
        utterances.filter(pl.col("correct")).sort("confidence", descending=True)
        .group_by("emotion", maintain_order=True).first().sort("emotion")
    )
    rows += [{"utt_id": utt, "reason": "most_confident", "group": f"emotion:{emotion}",
              "available": True} for utt, emotion in confident.select("utt_id", "emotion").iter_rows()]
    occurrences = words.select("utt_id", "word", "emotion").unique().join(
        utterances.select("utt_id", "confidence"), on="utt_id")
    ranked = (
        occurrences.group_by("word")
        .agg(pl.col("emotion").n_unique().alias("n_emotions"), pl.len().alias("n_utterances"))
        .filter(pl.col("n_emotions") >= 2)
        .sort(["n_emotions", "n_utterances", "word"], descending=[True, True, False])
        .head(n_word_groups)
    )
    for word in ranked["word"]:
        chosen = (
            occurrences.filter(pl.col("word") == word).sort("confidence", descending=True)
            .group_by("emotion", maintain_order=True).first().sort("emotion")
        )
        rows += [{"utt_id": utt, "reason": "shared_word", "group": f"word:{word}", "available": True}
                 for utt in chosen["utt_id"]]
    schema = {"utt_id": pl.String, "reason": pl.String, "group": pl.String, "available": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)


# ---- Figure 1 ------------------------------------------------------------------------------------
def chosen_chunk_predictions(selection: pl.DataFrame, seed: int, runs: list[dict],
                             paths: list[str]) -> pl.DataFrame:
    """CSA's test chunk log-posteriors of one seed, each fold at the context fusion chose on
    validation for it (``selection``: fusion/selection.parquet). ``runs`` ({fold, context}) and
    ``paths`` (their chunk_predictions.parquet) are in the same order. Adds ``context``, ``fold``."""
    chosen = {row["fold"]: int(row["context"])
              for row in selection.filter(pl.col("seed") == seed).iter_rows(named=True)}
    frames = [pl.read_parquet(path).with_columns(context=pl.lit(int(run["context"]), pl.Int32),
                                                 fold=pl.lit(run["fold"]))
              for run, path in zip(runs, paths, strict=True)
              if chosen.get(run["fold"]) == int(run["context"])]
    missing = sorted({run["fold"] for run in runs} - set(chosen))
    if missing:
        raise ValueError(f"fusion selection has no CSA context for seed {seed}, folds {missing}; "
                         "rerun `snakemake fusion`")
    return pl.concat(frames, how="diagonal_relaxed")


def chunk_posterior_track(chunks: pl.DataFrame, time_scale: alt.Scale) -> alt.Chart:
    """CSA's posterior p(k | chunk) of each of one utterance's chunks at the chunk's centre time:
    how its decision moves within the utterance (the paper's CSA classifies every C-frame chunk;
    §3.2). ``chunks``: utt_id, start_frame, context, logp_<class> (one utterance)."""
    classes = [name.removeprefix("logp_") for name in chunks.columns if name.startswith("logp_")]
    context = int(chunks["context"][0])
    # chunk [s, s + C) is centred between the centres of frames s and s + C - 1
    centre = (pl.col("start_frame") + (context - 1) / 2) * FRAME_SHIFT_S + FRAME_CENTRE_S
    long = chunks.sort("start_frame").select(
        centre.alias("time_s"), *[pl.col(f"logp_{name}").exp().alias(name) for name in classes]
    ).unpivot(index="time_s", variable_name="class", value_name="posterior")
    return alt.Chart(_records(long)).mark_line(point=True, strokeWidth=1.2).encode(
        x=alt.X("time_s:Q", title="time (s)", scale=time_scale),
        y=alt.Y("posterior:Q", scale=alt.Scale(domain=[0, 1]),
                title=f"CSA-C{context} p(class | chunk)"),
        color=alt.Color("class:N", scale=alt.Scale(domain=classes), title="CSA class"),
        tooltip=["class:N", alt.Tooltip("time_s:Q", format=".2f"),
                 alt.Tooltip("posterior:Q", format=".2f")],
    ).properties(width=WIDTH, height=110)


def utterance_chart(weights: np.ndarray, phones: pl.DataFrame, words: pl.DataFrame,
                    title: str, highlight_word: str | None = None,
                    chunks: pl.DataFrame | None = None) -> alt.VConcatChart:
    """Attention a_t = α_t·T over time (frame centres), vowels shaded, words above, phones below;
    CSA's chunk posteriors under them when ``chunks`` has rows for the utterance."""
    curve = pl.DataFrame({
        "time_s": np.arange(weights.size) * FRAME_SHIFT_S + FRAME_CENTRE_S,
        "attention": weights * weights.size,
    })
    time_scale = alt.Scale(domain=[0, float(curve["time_s"].max()) + FRAME_CENTRE_S], nice=False)
    x = alt.X("time_s:Q", title="time (s)", scale=time_scale)
    phone_rows = phones.select("phone", "phone_class", "start_s", "end_s").with_columns(
        ((pl.col("start_s") + pl.col("end_s")) / 2).alias("mid_s"))
    word_rows = words.select("word", "start_s", "end_s").with_columns(
        ((pl.col("start_s") + pl.col("end_s")) / 2).alias("mid_s"),
        (pl.col("word") == (highlight_word or "")).alias("highlight"))

    vowels = alt.Chart(_records(phone_rows.filter(pl.col("phone_class") == VOWEL))).mark_rect(
        opacity=0.18, color=CLASS_COLOURS.range[0]).encode(x=alt.X("start_s:Q"), x2="end_s:Q")
    line = alt.Chart(_records(curve)).mark_line(color="black", strokeWidth=1.4).encode(
        x=x, y=alt.Y("attention:Q", title="attention a = α·T"))
    uniform = alt.Chart(alt.Data(values=[{"y": 1.0}])).mark_rule(
        strokeDash=[4, 3], color="grey").encode(y="y:Q")
    middle = alt.layer(vowels, line, uniform).properties(width=WIDTH, height=180)

    def strip(rows: pl.DataFrame, label: str, colour: alt.Color | str) -> alt.LayerChart:
        boundaries = alt.Chart(_records(rows)).mark_rule(color="#999").encode(
            x=alt.X("start_s:Q", axis=None, scale=time_scale))
        text = alt.Chart(_records(rows)).mark_text(fontSize=10).encode(
            x="mid_s:Q", text=f"{label}:N", color=colour)
        return alt.layer(boundaries, text).properties(width=WIDTH, height=22)

    word_colour = alt.condition("datum.highlight", alt.value("#7570b3"), alt.value("black"))
    phone_colour = alt.Color("phone_class:N", scale=CLASS_COLOURS, legend=None)
    rows = [strip(word_rows, "word", word_colour), middle, strip(phone_rows, "phone", phone_colour)]
    if chunks is not None and chunks.height:
        rows.append(chunk_posterior_track(chunks, time_scale))
    return alt.vconcat(*rows, spacing=2, title=title).resolve_scale(x="shared", color="independent")


# ---- summary charts ------------------------------------------------------------------------------
def vowel_consonant_chart(utterances: pl.DataFrame) -> alt.FacetChart:
    """Per-utterance mean a over vowel vs consonant frames, per emotion (boxplots)."""
    long = utterances.filter(pl.col("paired")).select(
        "utt_id", "emotion", pl.col("vowel_mean").alias(VOWEL),
        pl.col("consonant_mean").alias(CONSONANT),
    ).unpivot(index=["utt_id", "emotion"], variable_name="class", value_name="mean_attention")
    return alt.Chart(_records(long)).mark_boxplot(extent="min-max").encode(
        x=alt.X("class:N", title=None),
        y=alt.Y("mean_attention:Q", title="mean attention a per utterance"),
        color=alt.Color("class:N", scale=CLASS_COLOURS),
    ).properties(width=110, height=220).facet(column=alt.Column("emotion:N", title="emotion"))


def phone_ranking_chart(ranking: pl.DataFrame, alpha: float) -> alt.LayerChart:
    """Phones ranked by mean a with bootstrap CIs; '*' marks q < alpha (rotation test, BH)."""
    rows = ranking.with_columns(
        (pl.col("ci_low") + 1).alias("low"), (pl.col("ci_high") + 1).alias("high"),
        pl.when(pl.col("significant")).then(pl.lit("*")).otherwise(pl.lit("")).alias("mark"),
    ).select("phone", "phone_class", "mean_attention", "low", "high", "mark", "q_value",
             "n_utterances", "rank")
    # An explicit order: layers with a field sort each would conflict and fall back to A–Z.
    x = alt.X("phone:N", sort=rows.sort("rank")["phone"].to_list(), title="phone (ranked)")
    base = alt.Chart(_records(rows))
    bars = base.mark_bar().encode(
        x=x, y=alt.Y("mean_attention:Q", title="mean attention a"),
        color=alt.Color("phone_class:N", scale=CLASS_COLOURS),
        tooltip=["phone:N", "mean_attention:Q", "q_value:Q", "n_utterances:Q"],
    )
    errors = base.mark_rule().encode(x=x, y="low:Q", y2="high:Q")
    marks = base.mark_text(dy=-8, fontSize=14).encode(x=x, y="high:Q", text="mark:N")
    uniform = alt.Chart(alt.Data(values=[{"y": 1.0}])).mark_rule(strokeDash=[4, 3]).encode(y="y:Q")
    return alt.layer(bars, errors, marks, uniform).properties(
        width=WIDTH, height=240, title=f"Per-phone attention (* = BH q < {alpha})")


def position_chart(phones: pl.DataFrame, n_bins: int = 20) -> alt.Chart:
    """Mean a against relative position in the utterance (frame-weighted, per emotion)."""
    binned = (
        phones.filter(pl.col("n_frames") > 0)
        .with_columns(((pl.col("relative_position") * n_bins).floor().clip(0, n_bins - 1) + 0.5)
                      .truediv(n_bins).alias("position"))
        .group_by("emotion", "position")
        .agg(((pl.col("mean_attention") * pl.col("n_frames")).sum() / pl.col("n_frames").sum())
             .alias("mean_attention"))
        .sort("emotion", "position")
    )
    return alt.Chart(_records(binned)).mark_line(point=True).encode(
        x=alt.X("position:Q", title="relative position in the utterance"),
        y=alt.Y("mean_attention:Q", title="mean attention a"),
        color=alt.Color("emotion:N"),
    ).properties(width=WIDTH, height=220, title="Attention vs position")


def word_emotion_chart(importance: pl.DataFrame, tests: pl.DataFrame) -> alt.Chart:
    """Heat map of mean a per word (tested across emotions) and emotion."""
    tested = tests.filter(pl.col("test") == "word_across_emotions").select(
        pl.col("group").alias("word"), "q_value")
    rows = importance.join(tested, on="word", how="inner")
    return alt.Chart(_records(rows)).mark_rect().encode(
        x=alt.X("emotion:N"), y=alt.Y("word:N", sort="ascending"),
        color=alt.Color("mean_attention:Q", scale=alt.Scale(scheme="viridis"),
                        title="mean a"),
        tooltip=["word:N", "emotion:N", "n_tokens:Q", "mean_attention:Q", "q_value:Q"],
    ).properties(title="Word importance by emotion (words in ≥ 2 emotions)")


def save_chart(chart: alt.TopLevelMixin, json_path: str | Path, svg_path: str | Path) -> None:
    """Write the Vega-Lite spec and its SVG rendering."""
    import vl_convert

    spec = chart.to_json()
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(spec)
    Path(svg_path).write_text(vl_convert.vegalite_to_svg(spec))


SUMMARY_CHARTS = ("vowel_consonant", "phone_ranking", "position", "word_emotion")


def utterance_chart_paths(utterance_dir: str | Path, utt_id: str) -> tuple[Path, Path]:
    """``<utterance_dir>/<utt_id>.vl.json`` and ``.svg`` through :func:`emocue.identifiers.child_path`.

    Ids were checked when the corpus was read; this is the guarantee that none leaves the folder
    (one that is not a plain file name raises :class:`emocue.identifiers.UnsafePathError`).
    """
    return (child_path(utterance_dir, f"{utt_id}.vl.json"),
            child_path(utterance_dir, f"{utt_id}.svg"))


def render_stage(tables: dict[str, pl.DataFrame], attention: pl.DataFrame, requested: list[str],
                 n_word_groups: int, alpha: float, summary_paths: dict[str, tuple[str, str]],
                 utterance_dir: str | Path, index_path: str | Path,
                 chunks: pl.DataFrame | None = None) -> pl.DataFrame:
    """The ``attention_plots`` job: four summary charts and one Figure 1 per picked utterance.

    ``summary_paths`` maps each of :data:`SUMMARY_CHARTS` to its (.vl.json, .svg) paths; Figure-1
    charts go to ``<utterance_dir>/<utt_id>.vl.json`` / ``.svg``, listed in ``index_path`` with the
    CSA context of their chunk-posterior track and its number of chunks (0: shorter than C).
    ``chunks``: :func:`chosen_chunk_predictions`.
    """
    utterances, phones, words = tables["utterances"], tables["phones"], tables["words"]
    picks = pick_utterances(utterances, words, requested, n_word_groups)
    available = picks.filter(pl.col("available")).unique("utt_id", keep="first", maintain_order=True)
    # every path first, so that an unsafe id stops the job before anything is written
    chart_paths = {utt: utterance_chart_paths(utterance_dir, utt) for utt in available["utt_id"]}
    charts = {
        "vowel_consonant": vowel_consonant_chart(utterances),
        "phone_ranking": phone_ranking_chart(tables["phone_ranking"], alpha),
        "position": position_chart(phones),
        "word_emotion": word_emotion_chart(tables["word_importance"], tables["tests"]),
    }
    for name, chart in charts.items():
        save_chart(chart, *summary_paths[name])
    Path(utterance_dir).mkdir(parents=True, exist_ok=True)
    info = utterances.select("utt_id", "fold", "emotion", "pred", "confidence")
    index = []
    for pick in available.iter_rows(named=True):
        utt = pick["utt_id"]
        row = info.filter(pl.col("utt_id") == utt).row(0, named=True)
        weights = attention.filter(pl.col("utt_id") == utt).sort("frame")["weight"].to_numpy()
        word = pick["group"].removeprefix("word:") if pick["reason"] == "shared_word" else None
        title = (f"{utt} — {row['emotion']} (predicted {row['pred']}, "
                 f"p = {row['confidence']:.2f})")
        json_path, svg_path = chart_paths[utt]
        own_chunks = None if chunks is None else chunks.filter(pl.col("utt_id") == utt)
        save_chart(utterance_chart(weights.astype(np.float64),
                                   phones.filter(pl.col("utt_id") == utt),
                                   words.filter(pl.col("utt_id") == utt), title, word, own_chunks),
                   json_path, svg_path)
        index.append({**pick, "emotion": row["emotion"], "pred": row["pred"],
                      "vl_json": str(json_path), "svg": str(svg_path),
                      "chunk_context": None if chunks is None else _fold_context(chunks, row["fold"]),
                      "n_chunks": 0 if own_chunks is None else own_chunks.height})
    columns = ["utt_id", "emotion", "pred", "vl_json", "svg", "chunk_context", "n_chunks"]
    table = picks.join(pl.DataFrame(index, schema_overrides={"chunk_context": pl.Int32,
                                                             "n_chunks": pl.Int32}).select(columns)
                       if index else pl.DataFrame(schema={"utt_id": pl.String}),
                       on="utt_id", how="left")
    table.write_parquet(index_path)
    return table


def _fold_context(chunks: pl.DataFrame, fold: str) -> int | None:
    """The CSA context chosen for ``fold`` (an utterance may have no chunk: shorter than C)."""
    contexts = chunks.filter(pl.col("fold") == fold)["context"].unique()
    return int(contexts[0]) if contexts.len() else None
