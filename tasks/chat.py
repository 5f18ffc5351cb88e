"""How a benchmark item becomes the text a model reads, the same way in training and in every evaluation.

Inspect's `hf` provider renders the user message with the chat template it is given, else the
tokenizer's own, else as `user: <text>\\n`; `render` does exactly that, so a starter or recipe that trains
on `render(...) + answer + eos` trains on what the evaluation will show. Multiple-choice items are first
written with `MC_TEMPLATE`, which the evaluation passes to Inspect's `multiple_choice` solver.

A task's `chat_template:` setting is a file in the task folder, or `auto`: PostTrainBench's file for the
base model's family in the folder's `templates/` (llama3.jinja, gemma3.jinja, smollm.jinja,
qwen_base.jinja), else the tokenizer's own. It is checked at load time (`check_template`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox.errors import ConfigError

__all__ = ["MC_TEMPLATE", "item_prompt", "render", "check_template", "template_for", "PTB_TEMPLATES", "use_task_format"]

# Inspect's single-answer multiple-choice template, word for word (a test compares them).
MC_TEMPLATE = (
    "Answer the following multiple choice question. The entire content of your response should be of the "
    "following format: 'ANSWER: $LETTER' (without quotes) where LETTER is one of {letters}.\n\n{question}\n\n"
    "{choices}"
)
PTB_TEMPLATES = {"llama": "llama3.jinja", "gemma": "gemma3.jinja", "smollm": "smollm.jinja", "qwen": "qwen_base.jinja"}


def item_prompt(item: Mapping[str, Any], solver: str = "generate") -> str:
    """The user message of an item: its prompt, or for multiple choice the question with lettered choices."""
    if solver != "multiple_choice" or not item.get("choices"):
        return item["prompt"]
    choices = item["choices"]
    letters = ",".join(chr(65 + i) for i in range(len(choices)))
    lines = "\n".join(f"{chr(65 + i)}) {c}" for i, c in enumerate(choices))
    return MC_TEMPLATE.format(letters=letters, question=item["prompt"], choices=lines)


def render(tokenizer: Any, text: str, template: str | None = None) -> str:
    """The prompt string Inspect's hf provider generates from for one user message `text`."""
    template = template if template is not None else getattr(tokenizer, "chat_template", None)
    if not template:
        return f"user: {text}\n"
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], chat_template=template,
                                         add_generation_prompt=True, tokenize=False)


def _environment():
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda x, **kw: json.dumps(x, **kw)
    env.globals["raise_exception"] = raise_exception
    return env


def check_template(path: Path) -> str:
    """The template's text; ConfigError `FILE:LINE: ...` when it does not parse or render a user turn."""
    from jinja2 import TemplateError, TemplateSyntaxError

    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}:1: cannot read the chat template ({exc})") from None
    try:
        out = _environment().from_string(text).render(
            messages=[{"role": "user", "content": "2 + 2 ="}], add_generation_prompt=True, bos_token="<s>",
            eos_token="</s>", tools=None, enable_thinking=None)
    except TemplateSyntaxError as exc:
        raise ConfigError(f"{path}:{exc.lineno or 1}: the chat template does not parse: {exc.message}") from None
    except (TemplateError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise ConfigError(f"{path}:1: the chat template does not render a user message: "
                          f"{type(exc).__name__}: {exc}") from None
    if "2 + 2 =" not in out:
        raise ConfigError(f"{path}:1: the chat template drops the user's message (rendered {out[:60]!r})")
    return text


def _family(model_dir: Path) -> str | None:
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    names = " ".join([*(config.get("architectures") or []), str(config.get("model_type", ""))]).lower()
    return next((family for family in PTB_TEMPLATES if family in names), None)


def template_for(setting: str | None, task_root: Path, model_dir: Path | None,
                 templates_dir: Path | None = None) -> Path | None:
    """The chat template file a task's setting names (None: the tokenizer's own, or none at all)."""
    if not setting or setting == "none":
        return None
    if setting != "auto":
        return (Path(task_root) / setting).resolve()
    family = _family(model_dir) if model_dir is not None else None
    folder = templates_dir or Path(task_root) / "templates"
    path = folder / PTB_TEMPLATES[family] if family else None
    return path if path is not None and path.is_file() else None


def use_task_format(lm: Any, visible: Path, card: Mapping[str, Any]) -> None:
    """Make `lm.prompt_of(item)` give the text a task scored by Inspect (or a PostTrainBench folder) shows the
    model: the item's user message rendered with the task's chat template. A home-scored task is left as
    it is (the raw prompt)."""
    if card.get("evaluator", "home") == "home" or getattr(lm, "tokenizer", None) is None:
        return
    name = card.get("chat_template")
    template = (Path(visible) / name).read_text() if name else None
    solver = card.get("solver", "generate")
    lm.format = lambda item: render(lm.tokenizer, item_prompt(item, solver), template)
