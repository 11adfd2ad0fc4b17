"""The second reader's model file: plain data, the trainer's probabilities, never stale."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from followup.replies.corpus import CORPUS_DIR, corpus_hash, load_corpus
from followup.replies.second_reader import FEATURES_VERSION, MODEL_FILE, features, load_model
from followup.replies.training import fit, model_data, write_model

CORPUS = load_corpus()


def test_the_model_file_is_not_older_than_the_corpus() -> None:
    """Retrain (`followup triage train`) after any change to `corpus/`."""
    meta = load_model(MODEL_FILE).meta
    assert meta["corpus_sha256"] == corpus_hash(), "the corpus changed: followup triage train"
    assert meta["corpus_size"] == len(CORPUS)
    assert meta["features_version"] == FEATURES_VERSION


def test_a_changed_corpus_makes_the_hash_check_fail(tmp_path: Path) -> None:
    copy = tmp_path / "corpus"
    shutil.copytree(CORPUS_DIR, copy)
    assert corpus_hash(copy) == load_model(MODEL_FILE).meta["corpus_sha256"]
    with (copy / "grown.tsv").open("a", encoding="utf-8") as file:
        file.write("my legs are numb\ten\temergency\t\t\tleg weakness\tplain\tpatient\n")
    assert corpus_hash(copy) != load_model(MODEL_FILE).meta["corpus_sha256"]


def test_the_loaded_model_gives_the_trainers_probabilities(tmp_path: Path) -> None:
    fitted = fit(CORPUS)
    data = model_data(fitted, threshold=0.5, corpus=corpus_hash(), size=len(CORPUS), measures={})
    path = tmp_path / "model.json.gz"
    write_model(data, path)
    loaded = load_model(path)
    texts = [i.text for i in CORPUS[::7]] + ["cantfeelmylegs", "", "😭😭", "STOP"]
    for text, expected in zip(texts, fitted.probabilities(texts), strict=True):
        found = loaded.probabilities(text)
        for head in ("triage", "consent"):
            assert found[head] == pytest.approx(expected[head], abs=1e-6), text


def test_the_model_file_is_plain_data(tmp_path: Path) -> None:
    """JSON in gzip: loading it can run no code; anything else is refused."""
    with gzip.open(MODEL_FILE, "rt", encoding="utf-8") as file:
        data = json.load(file)
    assert set(data) >= {"format", "weights", "heads", "corpus_sha256", "emergency_threshold"}
    forged = tmp_path / "forged.json.gz"
    with gzip.open(forged, "wt", encoding="utf-8") as file:
        json.dump(data | {"format": "pickle"}, file)
    with pytest.raises(ValueError, match="not a followup reply reader"):
        load_model(forged)
    with gzip.open(forged, "wt", encoding="utf-8") as file:
        json.dump(data | {"features_version": FEATURES_VERSION + 1}, file)
    with pytest.raises(ValueError, match="retrain"):
        load_model(forged)


def test_features_ignore_case_accents_repeats_and_spaces() -> None:
    assert features("CAN'T FEEL MY LEGS") == features("cant feel my legs")
    assert features("no puedo orinar") == features("no puedo orinár")
    assert set(features("cant feeeeel my legs")) == set(features("cant feel my legs"))
    fused = {f for f in features("cantfeelmylegs") if f.startswith("f:")}
    assert fused == {f for f in features("cant feel my legs") if f.startswith("f:")}
    assert "w:~numbness" in features("no numbness at all")
