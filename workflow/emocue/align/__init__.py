"""Forced alignment stage: per-session phone/word interval tables with QA.

Backends (``align.backend``) give one alignment (tiers ``words`` and ``phones``) per utterance:

* ``textgrid`` reads existing TextGrids (the demo synthesizer's exact timings, or alignments made
  earlier) from ``align.textgrid_dir`` (:mod:`emocue.align.intervals`, :mod:`emocue.align.tables`);
* ``mfa`` runs the Montreal Forced Aligner 3.x command line (:mod:`emocue.align.mfa`);
* ``emodb`` reads EmoDB's hand-labelled phone boundaries (:mod:`emocue.align.emodb`);
* ``none``: no alignment; the workflow then skips the attention analysis and says so.

Either way the alignments become the tables of ``docs/outputs.md``: intervals (phone and word
tiers, feature frames by :func:`interval_frames`, phone classes from :mod:`emocue.phones`, word
membership), a QA row per utterance (aligned or why not, partly spn/OOV), and the OOV words with
counts. Unaligned utterances are never dropped silently: they stay in the QA table with a reason,
and the attention analysis takes only ``aligned`` utterances.
"""

from emocue.align.emodb import align_from_emodb_labels, index_label_files, label_census, read_lablaut, sampa_label
from emocue.align.intervals import (
    EMPTY_ALIGNMENT, FRAME_LENGTH_S, FRAME_SHIFT_S, LABELS_MISSING, LABELS_UNREADABLE, MFA_FAILED, NO_TRANSCRIPT,
    OOV_ONLY, TEXTGRID_MISSING, TEXTGRID_UNREADABLE, Alignment, AlignmentError, Interval, index_textgrids,
    interval_frames, normalise_transcript, num_frames, read_textgrid, textgrid_folder,
)
from emocue.align.mfa import (
    BEAM_FAILURE, CAUSE_HINTS, EXPORT_ERROR, NO_CAUSE_STATED, NOT_IN_MFA_CORPUS, MfaConfig, MfaStaging,
    align_with_mfa, dictionary_case, mfa_align_command, mfa_failure_causes, mfa_train_command,
    read_dictionary_words, read_mfa_staging, resolve_mfa_model, run_mfa, stage_mfa_corpus, tables_from_mfa,
    train_mfa, write_cmudict_dictionary,
)
from emocue.align.session import BACKENDS, NO_ALIGNMENT_REASON, align_session
from emocue.align.tables import (
    INTERVAL_SCHEMA, OOV_SCHEMA, QA_SCHEMA, SessionAlignment, Utterance, align_from_textgrids,
    build_session_tables, interval_rows, oov_words, session_summary, utterances_from_manifest,
    write_session_outputs,
)

__all__ = [name for name in dir() if not name.startswith("_")]
