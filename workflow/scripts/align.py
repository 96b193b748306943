"""Rule align_session: one session's phone/word interval, QA and OOV tables (docs/outputs.md)."""

from emocue.align import align_session, write_session_outputs
from emocue.logs import setup_rule_logging

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
inputs = snakemake.input  # noqa: F821
result = align_session(
    session=snakemake.wildcards.session,  # noqa: F821
    manifest_path=inputs.manifest,
    align_config=snakemake.params.align,  # noqa: F821
    work_dir=snakemake.params.work_dir,  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
    on_bad_input=snakemake.params.on_bad_input,  # noqa: F821
    features_config=snakemake.params.features,  # noqa: F821
    # train mode: the outputs of rule mfa_train this session depends on (none otherwise)
    mfa_training={key: getattr(inputs, key) for key in ("model", "dictionary", "staging", "aligned")
                  if key in inputs.keys()},
)
write_session_outputs(result, *snakemake.output)  # noqa: F821 (intervals, qa, oov, summary)
