"""Rule demo_session: synthesize one session of the demo corpus (IEMOCAP layout + TextGrids)."""

from pathlib import Path

from emocue.demo import generate_session, write_summary
from emocue.logs import setup_rule_logging

log = setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
params = snakemake.params  # noqa: F821
summary = generate_session(
    corpus_root=params.corpus_root,
    # the TextGrid root is the parent of this session's declared output folder
    textgrid_dir=Path(snakemake.output.textgrids).parent,  # noqa: F821
    session=snakemake.wildcards.session,  # noqa: F821
    seed=params.seed,
    dialogs=params.dialogs,
    utterances_per_dialog=params.utterances_per_dialog,
    cue=params.cue,
)
write_summary(snakemake.output.summary, summary)  # noqa: F821
log.info("%s: %d utterances, %.1f s of speech", summary["session"], summary["n_utterances"],
         summary["total_duration_s"])
