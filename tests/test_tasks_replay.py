"""Replay rows (`replay_frac`) are the base model's own pre-training text, in whole rows: arith-lm's stories and
facts for arith-lm, the generic corpus for the built-in tiny model. A BPE packs several characters into a token,
so text is drawn by tokens, not characters (asked by characters, arith-lm's text left 47% of the rows empty)."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from types import SimpleNamespace

import tasks
from tasks import training
from tasks.corpus import pretraining_ids


class WordTokenizer:
    """A compressing tokenizer: one token per whitespace-separated word."""

    def __init__(self):
        self.ids: dict[str, int] = {}
        self.words: list[str] = []

    def encode(self, text: str) -> list[int]:
        out = []
        for word in text.split():
            if word not in self.ids:
                self.ids[word] = len(self.words)
                self.words.append(word)
            out.append(self.ids[word])
        return out

    def decode(self, ids) -> str:
        return " ".join(self.words[int(i)] for i in ids)


def _model_dir(path, lineage):
    path.mkdir()
    if lineage is not None:
        (path / "lineage.json").write_text(json.dumps(lineage))
    return path


def test_replay_text_is_the_base_models_own(tmp_path):
    arith = _model_dir(tmp_path / "arith", {"kind": "pretrained", "model": "arith-lm", "steps": 400})
    tuned = _model_dir(tmp_path / "tuned", {"kind": "finetune", "base_model": str(arith)})
    tiny = _model_dir(tmp_path / "tiny", None)
    for model, arith_text in ((arith, True), (tuned, True), (tiny, False)):
        tok = WordTokenizer()
        ids = pretraining_ids(model, tok.encode, random.Random(0), 500)
        text = tok.decode(ids)
        assert len(ids) >= 500
        looks_like_arith = " = " in text and not any(b in text for b in "([{<")
        assert looks_like_arith == arith_text, (model, text[:200])


def _starter(monkeypatch, base):
    monkeypatch.setenv("SYNTHTEAM_BASE_MODEL", str(base))
    spec = importlib.util.spec_from_file_location("hf_starter_replay", Path(tasks.__file__).parent / "starters" / "hf" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_hf_starters_replay_rows_are_whole_rows_of_arith_lm_text(tmp_path, monkeypatch):
    base = _model_dir(tmp_path / "arith", {"kind": "pretrained", "model": "arith-lm"})
    tok = WordTokenizer()
    data = _starter(monkeypatch, base).replay_rows(SimpleNamespace(encode=tok.encode), random.Random(1), 20, 12)
    assert tuple(data["ids"].shape) == (20, 12) and data["lengths"].tolist() == [12] * 20
    assert (data["targets"][:, :-1] == data["ids"][:, 1:]).all()  # the next token, every position
    assert "=" in tok.decode(data["ids"].flatten())


def test_the_recipes_replay_rows_are_whole_rows_of_arith_lm_text(tmp_path):
    from tasks.recipe import _training_data

    base = _model_dir(tmp_path / "arith", {"kind": "pretrained", "model": "arith-lm"})
    visible = tmp_path / "visible"
    visible.mkdir()
    pool = [{"prompt": f"{i} + 1 =", "answer": str(i + 1)} for i in range(40)]
    (visible / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in pool))
    tok = WordTokenizer()
    lm = SimpleNamespace(encode=tok.encode, eos_id=0, ctx=64, prompt_of=lambda item: item["prompt"])
    config = {"seed": 3, "n_train": 40, "hard_frac": 0.0, "replay_frac": 0.5}
    data = _training_data(SimpleNamespace(visible=visible), lm, config, base)
    replay = data.ids[40:]
    assert len(replay) == 40 and (data.lengths[40:] == replay.shape[1]).all()
    assert isinstance(data, training.TokenData) and " = " in tok.decode(replay.flatten())
