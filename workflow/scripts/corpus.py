"""Rule corpus_session: write one session's utterance manifest and dropped table."""

from emocue.corpus import write_session_manifest
from emocue.logs import setup_rule_logging

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
corpus = dict(snakemake.params.corpus)  # noqa: F821
if "rows" in snakemake.input.keys():  # noqa: F821 (a manifest corpus: read the session's own rows file)
    corpus["manifest"] = snakemake.input.rows  # noqa: F821
write_session_manifest(
    corpus=corpus,
    session=snakemake.wildcards.session,  # noqa: F821
    on_bad_input=snakemake.params.on_bad_input,  # noqa: F821
    min_duration_s=snakemake.params.min_duration_s,  # noqa: F821
    manifest_path=snakemake.output.manifest,  # noqa: F821
    dropped_path=snakemake.output.dropped,  # noqa: F821
)
