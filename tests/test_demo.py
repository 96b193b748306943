"""Demo corpus generator (emocue.demo): IEMOCAP layout and formats, TextGrids from espeak-ng's own
events, determinism, voices, and emotion prosody in the intended direction. Runs in ~15 s."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from praatio import textgrid

from emocue import demo
from emocue.phones import ARPABET_CONSONANTS, ARPABET_VOWELS

SESSION = "Session3"
SEED = 7
DIALOGS, UTTERANCES_PER_DIALOG = 2, 12

# Line formats of IEMOCAP_full_release (issue 2).
EVALUATION_LINE = re.compile(
    r"^\[(\d+\.\d{4}) - (\d+\.\d{4})\]\t(Ses\d{2}[FM]_\S+)\t([a-z]{3})\t"
    r"\[(\d\.\d{4}), (\d\.\d{4}), (\d\.\d{4})\]$"
)
ANNOTATOR_LINE = re.compile(
    r"^(C-[EFM]\d:\t([A-Za-z]+;)+\t\(.*\)|A-[EFM]\d:\tval \d; act \d; dom  \d;\t\(.*\))$"
)
TRANSCRIPT_LINE = re.compile(r"^(Ses\d{2}[FM]_\S+) \[(\d{3}\.\d{4})-(\d{3}\.\d{4})\]: (.+)$")
UTT_ID = re.compile(r"^Ses03([FM])_(impro\d{2}|script\d{2}_\d)_([FM])\d{3}$")
IEM4 = {"neu", "hap", "exc", "ang", "sad"}


def generate(root: Path, seed: int = SEED, session: str = SESSION) -> dict:
    # A higher share of non-speech tokens than the default so that a small session shows them.
    return demo.generate_session(root / "corpus", root / "textgrids", session, seed, DIALOGS,
                                 UTTERANCES_PER_DIALOG, non_speech_share=0.3)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("demo")
    return root, generate(root)


def read_evaluations(session_dir: Path) -> dict[str, tuple[float, float, str]]:
    """utt_id -> (start, end, label), checking every line's format on the way."""
    entries = {}
    for path in sorted((session_dir / "dialog" / "EmoEvaluation").glob("*.txt")):
        lines = path.read_text().splitlines()
        assert lines[0].startswith("%"), path
        for line in lines[1:]:
            if not line:
                continue
            match = EVALUATION_LINE.match(line)
            if match:
                start, end, utt_id, label = float(match[1]), float(match[2]), match[3], match[4]
                entries[utt_id] = (start, end, label)
            else:
                assert ANNOTATOR_LINE.match(line), f"{path.name}: unexpected line {line!r}"
    return entries


def read_transcripts(session_dir: Path) -> dict[str, tuple[float, float, str]]:
    entries = {}
    for path in sorted((session_dir / "dialog" / "transcriptions").glob("*.txt")):
        for line in path.read_text().splitlines():
            match = TRANSCRIPT_LINE.match(line)
            assert match, f"{path.name}: unexpected line {line!r}"
            entries[match[1]] = (float(match[2]), float(match[3]), match[4])
    return entries


def tier_entries(path: Path, tier: str):
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=True)
    return grid.getTier(tier).entries


def test_sentences_are_in_cmudict_and_share_words():
    pronunciations = demo.cmu_dictionary()
    sentences = demo.load_sentences()
    assert len(sentences) >= 60
    pools_of_word = defaultdict(set)
    for sentence in sentences:
        words = demo.transcript_words(sentence.text)
        assert 3 <= len(words) <= 15, sentence.text
        for word in words:
            assert word in pronunciations, f"{word!r} of {sentence.text!r} is not in cmudict"
            pools_of_word[word].add(sentence.pool)
    assert {pool for sentence in sentences for pool in [sentence.pool]} == {"shared", *demo.EMOTIONS}
    assert pools_of_word["know"] >= {"shared", "happy", "angry", "sad"}
    assert sum(len(pools) >= 3 for pools in pools_of_word.values()) >= 10


def test_bad_sentence_file_names_file_and_line(tmp_path):
    path = tmp_path / "sentences.txt"
    path.write_text("shared: I know the answer.\nangry: Gimme the zorblax now!\n")
    with pytest.raises(demo.DemoError, match=r"sentences.txt:2: not in the CMU Pronouncing Dictionary"):
        demo.load_sentences(path)


def test_bad_session_name_is_reported(tmp_path):
    with pytest.raises(demo.DemoError, match="corpus.sessions"):
        demo.generate_session(tmp_path, tmp_path, "S1", 1, 1, 4)


def test_iemocap_layout_and_audio(generated):
    root, summary = generated
    session_dir = root / "corpus" / SESSION
    wavs = sorted((session_dir / "sentences" / "wav").glob("*/*.wav"))
    assert len(wavs) == summary["n_utterances"] == DIALOGS * UTTERANCES_PER_DIALOG
    assert {wav.parent.name for wav in wavs} == set(summary["dialogs"])
    for wav in wavs:
        match = UTT_ID.match(wav.stem)
        assert match and wav.stem.startswith(wav.parent.name + "_"), wav.name
        info = sf.info(wav)
        assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
        assert 0.5 < info.duration < 12
    speakers = {f"Ses03{UTT_ID.match(wav.stem)[3]}" for wav in wavs}
    assert speakers == {"Ses03F", "Ses03M"}
    assert {s["speaker"] for s in summary["speakers"]} == speakers


def test_emo_evaluation_and_transcriptions(generated):
    root, summary = generated
    session_dir = root / "corpus" / SESSION
    evaluations = read_evaluations(session_dir)
    transcripts = read_transcripts(session_dir)
    wav_ids = {wav.stem for wav in (session_dir / "sentences" / "wav").glob("*/*.wav")}
    assert set(evaluations) == wav_ids
    labels = Counter(label for _, _, label in evaluations.values())
    assert labels == Counter(summary["raw_labels"])
    assert sum(labels[code] for code in IEM4) >= 0.8 * len(evaluations)
    assert set(labels) - IEM4, "some labels outside IEM4 exercise the reader's dropping"
    for utt_id, (start, end, _) in evaluations.items():
        duration = sf.info(next((session_dir / "sentences" / "wav").glob(f"*/{utt_id}.wav"))).duration
        assert end - start == pytest.approx(duration, abs=2e-4)
        assert transcripts[utt_id][:2] == (start, end)
    # Dialog times are consecutive positions in one notional dialog.
    by_dialog = defaultdict(list)
    for utt_id, (start, end, _) in transcripts.items():
        by_dialog[utt_id.rsplit("_", 1)[0]].append((start, end))
    for times in by_dialog.values():
        times.sort()
        assert all(end <= next_start for (_, end), (next_start, _) in zip(times, times[1:]))
    not_utterances = set(transcripts) - set(evaluations)
    assert not_utterances and all("XX" in utt_id for utt_id in not_utterances)
    texts = [text for utt_id, (_, _, text) in transcripts.items() if utt_id in evaluations]
    assert any("[LAUGHTER]" in text or "[BREATHING]" in text for text in texts)


def test_textgrids_tile_the_audio_with_cmu_phones(generated):
    root, _ = generated
    session_dir = root / "corpus" / SESSION
    transcripts = read_transcripts(session_dir)
    pronunciations = demo.cmu_dictionary()
    vowel_durations = []
    wavs = sorted((session_dir / "sentences" / "wav").glob("*/*.wav"))
    for wav in wavs:
        path = root / "textgrids" / SESSION / f"{wav.stem}.TextGrid"
        duration = sf.info(wav).frames / 16000
        tiers = {name: tier_entries(path, name) for name in ("words", "phones")}
        for name, entries in tiers.items():
            assert entries[0].start == 0 and entries[-1].end == pytest.approx(duration, abs=1e-9), (path, name)
            assert all(e.end > e.start for e in entries), (path, name)
            assert all(a.end == b.start for a, b in zip(entries, entries[1:])), f"{path}: gap/overlap in {name}"
        words = [e for e in tiers["words"] if e.label]
        assert [e.label for e in words] == demo.transcript_words(transcripts[wav.stem][2])
        for word in words:
            inside = [e for e in tiers["phones"] if word.start <= e.start and e.end <= word.end]
            assert [e.label for e in inside] == pronunciations[word.label][0], (path, word)
        for phone in tiers["phones"]:
            if not phone.label:
                continue
            base, stress = re.fullmatch(r"([A-Z]+)([012]?)", phone.label).groups()
            assert base in ARPABET_VOWELS | ARPABET_CONSONANTS, phone.label
            assert bool(stress) == (base in ARPABET_VOWELS), phone.label
            if base in ARPABET_VOWELS:
                vowel_durations.append(phone.end - phone.start)
        # Phones outside words are exactly the silences.
        phone_speech = sum(e.end - e.start for e in tiers["phones"] if e.label)
        assert phone_speech == pytest.approx(sum(e.end - e.start for e in words), abs=1e-9)
    assert 0.04 < np.median(vowel_durations) < 0.25


def test_same_seed_same_bytes_other_seed_differs(generated, tmp_path):
    root, summary = generated
    again = generate(tmp_path / "again")
    assert again == {**summary, "corpus_root": again["corpus_root"], "textgrid_dir": again["textgrid_dir"]}
    first = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    second = sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file())
    assert first == second
    for relative in first:
        assert (root / relative).read_bytes() == (tmp_path / "again" / relative).read_bytes(), relative
    other = generate(tmp_path / "other", seed=SEED + 1)
    assert other["total_duration_s"] != summary["total_duration_s"]
    common = [r for r in first if r.suffix in (".wav", ".TextGrid") and (tmp_path / "other" / r).exists()]
    assert len(common) > 10
    for relative in common:  # the same ids carry other sounds and timings
        assert (root / relative).read_bytes() != (tmp_path / "other" / relative).read_bytes(), relative


def test_regeneration_replaces_the_old_session(tmp_path):
    generate(tmp_path, seed=1)
    stale = tmp_path / "corpus" / SESSION / "sentences" / "wav" / "Ses03F_impro09" / "stale.wav"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")
    (tmp_path / "textgrids" / SESSION / "stale.TextGrid").write_text("")
    generate(tmp_path, seed=1)
    assert not stale.parent.exists() and not (tmp_path / "textgrids" / SESSION / "stale.TextGrid").exists()


def test_ten_distinct_voices_over_five_sessions():
    voices = [voice for number in range(1, 6) for voice in demo.session_voices(number)]
    assert len({voice.espeak_name for voice in voices}) == 10
    assert len({voice.baseline for voice in voices}) == 10
    assert Counter(voice.gender for voice in voices) == {"F": 5, "M": 5}
    assert [v.gender for v in demo.session_voices(3)] == ["F", "M"]
    # Every voice exists in the shipped espeak-ng data and sounds different.
    sentence = demo.load_sentences()[0]
    text, _ = demo.espeak_input(sentence)
    audio = [demo.espeak().synthesize(text, v.espeak_name, v.baseline, 1)[0].tobytes() for v in voices]
    assert len(set(audio)) == 10
    # Female voices speak higher than male ones.
    f0 = {v.espeak_name: median_f0(np.frombuffer(a, np.int16), demo.espeak().sample_rate)
          for v, a in zip(voices, audio)}
    female = [f0[v.espeak_name] for v in voices if v.gender == "F"]
    male = [f0[v.espeak_name] for v in voices if v.gender == "M"]
    assert min(female) > max(male)


def median_f0(audio: np.ndarray, sample_rate: int, frame_s: float = 0.04) -> float:
    """Median F0 (Hz) of voiced frames by normalised autocorrelation: enough to compare registers."""
    x = np.asarray(audio, np.float64)
    size = int(frame_s * sample_rate)
    lags = np.arange(int(sample_rate / 400), int(sample_rate / 60))
    threshold = 0.3 * np.sqrt(np.mean(x**2))
    estimates = []
    for start in range(0, len(x) - size - lags[-1], size // 2):
        head = x[start : start + size]
        if np.sqrt(np.mean(head**2)) < threshold:
            continue
        shifted = np.lib.stride_tricks.sliding_window_view(x[start : start + size + lags[-1]], size)[lags]
        corr = shifted @ head / (np.dot(head, head) + 1e-9)
        if corr.max() > 0.5:
            estimates.append(sample_rate / lags[corr.argmax()])
    return float(np.median(estimates))


def test_emotion_prosody_goes_the_intended_way():
    """Averaged over 24 utterances per emotion (4 voices x 6 sentences, with jitter): angry is
    loudest and fastest, sad softest and slowest; happy and angry are higher pitched than sad."""
    rng = np.random.default_rng(0)
    sentences = demo.load_sentences()[:6]
    voices = [*demo.session_voices(1), *demo.session_voices(4)]
    measures = defaultdict(lambda: defaultdict(list))
    for emotion in demo.EMOTIONS:
        for voice in voices:
            for sentence in sentences:
                prosody = demo.utterance_prosody(voice.baseline, emotion, 1.0, rng)
                rendered = demo.render_utterance(sentence, voice, prosody, None, rng)
                audio = rendered.audio.astype(np.float64)
                speech = np.concatenate([audio[w.start : w.end] for w in rendered.words])
                measures[emotion]["rms_db"].append(20 * np.log10(np.sqrt(np.mean(speech**2))))
                measures[emotion]["s_per_phone"].append(
                    (rendered.words[-1].end - rendered.words[0].start) / 16000 / len(rendered.phones))
                measures[emotion]["f0_vs_speaker"].append(
                    median_f0(speech, 16000) / median_f0_baseline(voice, sentence))
    mean = {e: {k: float(np.mean(v)) for k, v in m.items()} for e, m in measures.items()}
    assert mean["angry"]["rms_db"] > mean["neutral"]["rms_db"] + 2 > mean["sad"]["rms_db"] + 4
    assert mean["happy"]["rms_db"] > mean["sad"]["rms_db"] + 3
    assert mean["sad"]["s_per_phone"] > 1.15 * mean["neutral"]["s_per_phone"]
    assert mean["neutral"]["s_per_phone"] > 1.05 * mean["angry"]["s_per_phone"]
    assert mean["happy"]["s_per_phone"] < mean["neutral"]["s_per_phone"]
    assert mean["happy"]["f0_vs_speaker"] > mean["neutral"]["f0_vs_speaker"] > mean["sad"]["f0_vs_speaker"]
    assert mean["angry"]["f0_vs_speaker"] > mean["neutral"]["f0_vs_speaker"]


_BASELINE_F0: dict = {}


def median_f0_baseline(voice: demo.Voice, sentence: demo.Sentence) -> float:
    """The speaker's neutral F0 on this sentence, without jitter."""
    key = (voice.espeak_name, sentence.text)
    if key not in _BASELINE_F0:
        rendered = demo.render_utterance(sentence, voice, voice.baseline, None, np.random.default_rng(0))
        _BASELINE_F0[key] = median_f0(rendered.audio, 16000)
    return _BASELINE_F0[key]
