"""`arith-lm`, the built-in Hugging Face base model of the `arith-hf` task: a small Llama built and
pre-trained here from fixed seeds (nothing downloaded), with a byte-level BPE tokenizer trained here with
`tokenizers` (digits split one by one) and the task's chat template.

Its pre-training text is stories and sums (`Tom has 12 apples. He buys 7 more. Now Tom has 19 apples.`,
`12 + 7 = 19`), never a question in the chat format: like a PostTrainBench base model it knows some
arithmetic and no answer format, so it scores near zero before post-training.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

__all__ = ["ARITH_LM", "NAMES", "ITEMS", "PRONOUNS", "story", "corpus_text", "build_tokenizer", "build_base", "SPECIAL"]

# Part of the cache key (tasks.prepare): change anything here and the model is rebuilt.
ARITH_LM = {"v": 1, "seed": 0, "vocab": 384, "hidden": 96, "layers": 3, "heads": 4, "intermediate": 256,
            "ctx": 256, "seq_len": 64, "batch_size": 32, "steps": 400, "lr": 3e-3, "corpus_chars": 1_500_000}
SPECIAL = {"pad": "<|pad|>", "eos": "<|eos|>", "user": "<|user|>", "assistant": "<|assistant|>"}
NAMES = ["Tom", "Ana", "Ben", "Mia", "Sam", "Lea", "Max", "Eva", "Leo", "Zoe", "Ali", "Ivy", "Dan", "Amy", "Raj", "Kim"]
ITEMS = ["apples", "pens", "books", "cards", "stamps", "marbles", "shells", "coins", "cookies", "stickers", "eggs",
         "cups", "toys", "rocks", "beads", "pencils"]
PRONOUNS = {name: ("She" if name in {"Ana", "Mia", "Lea", "Eva", "Zoe", "Ivy", "Amy", "Kim"} else "He") for name in NAMES}


def story(rng: random.Random) -> str:
    """One line of pre-training text: a short story with its result, or a sum, difference, product or quotient
    in the ranges the arith-hf problems use."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    he, a, b = PRONOUNS[name], rng.randint(1, 9), rng.randint(1, 9)
    small_a, small_b = rng.randint(2, 9), rng.randint(2, 5)
    kind = rng.randrange(10)
    if kind == 0:
        return f"{name} has {a} {item}. {he} buys {b} more. How many {item} does {name} have now? {a + b}."
    if kind == 1:
        return f"{name} had {a + b} {item}. {he} gave {b} of them away. {name} has {a} {item} left."
    if kind == 2:
        return f"There are {small_a} boxes with {small_b} {item} in each box, so there are {small_a * small_b} {item}."
    if kind == 3:
        return f"{name} shares {small_a * small_b} {item} equally among {small_b} friends. Each gets {small_a}."
    op = rng.choice("+-*/")
    fact = {"+": f"{a} + {b} = {a + b}", "-": f"{a + b} - {b} = {a}", "*": f"{small_a} * {small_b} = "
            f"{small_a * small_b}", "/": f"{small_a * small_b} / {small_b} = {small_a}"}[op]
    return fact + rng.choice([".", ".", ","])


def corpus_text(rng: random.Random, chars: int) -> str:
    parts, size = [], 0
    while size < chars:
        line = story(rng)
        parts.append(line)
        size += len(line) + 1
    return " ".join(parts)


def build_tokenizer(text: str, vocab: int):
    """A byte-level BPE trained on `text`, digits one token each, with the chat's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=list(SPECIAL.values()),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    raw.train_from_iterator([text[i : i + 10_000] for i in range(0, len(text), 10_000)], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=raw, eos_token=SPECIAL["eos"], pad_token=SPECIAL["pad"],
                                   additional_special_tokens=[SPECIAL["user"], SPECIAL["assistant"]])


def _say(message: str) -> None:
    print(f"[prepare] {message}", file=sys.stderr, flush=True)


def build_base(out: Path, chat_template: str | None, threads: int = 1) -> None:
    """Build, pre-train and save arith-lm into `out` (a Hugging Face model directory)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tasks import training
    from tasks.hf import _Logits

    c = ARITH_LM
    torch.set_num_threads(threads)
    torch.manual_seed(c["seed"])
    started = time.perf_counter()
    text = corpus_text(random.Random(c["seed"]), c["corpus_chars"])
    tok = build_tokenizer(text, c["vocab"])
    if chat_template:
        tok.chat_template = chat_template
    config = LlamaConfig(vocab_size=len(tok), hidden_size=c["hidden"], intermediate_size=c["intermediate"],
                         num_hidden_layers=c["layers"], num_attention_heads=c["heads"],
                         num_key_value_heads=c["heads"], max_position_embeddings=c["ctx"], tie_word_embeddings=True,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)
    model = LlamaForCausalLM(config)
    _say(f"pre-training arith-lm ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
         f"{c['steps']} steps, once; cached in {out.parent})")
    data = training.encode_chunks(lambda s: tok(s, add_special_tokens=False).input_ids, text, c["seq_len"])
    settings = training.TrainSettings(lr=c["lr"], steps=c["steps"], batch_size=c["batch_size"], warmup_frac=0.05,
                                      weight_decay=0.01, seed=c["seed"], log_every=50)
    outcome = training.train(_Logits(model, torch.device("cpu")), data, settings)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    (out / "lineage.json").write_text(f'{{"kind": "pretrained", "model": "arith-lm", "steps": {outcome.steps}}}\n')
    _say(f"arith-lm ready in {time.perf_counter() - started:.0f}s")
