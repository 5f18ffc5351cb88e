"""The role library: built-in roles as data (roles.yaml + Jinja templates + output schemas + settings),
and the built-in teams (roles/teams/*.yaml), addressable by name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ValidationError

from roles.schemas import SCHEMAS
from roles.settings import SETTINGS

__all__ = ["Role", "Handler", "builtin_roles", "render_prompt", "prompt_hash", "template_source", "team_files",
           "BUILTIN_KINDS", "check_settings", "budget_section", "curve_text"]

HERE = Path(__file__).parent
BUILTIN_KINDS = ("director", "engineer", "critic", "editor", "solo", "sampler")


@dataclass(frozen=True)
class Handler:
    """One decision a role makes: what it answers (schema), how it is asked (template), who answers offline."""

    schema: str  # a name in roles.schemas.SCHEMAS
    template: str  # a template file name in roles/templates, or inline Jinja text
    policy: str  # the scripted policy's name

    @property
    def output_type(self) -> type[BaseModel]:
        return SCHEMAS[self.schema]


@dataclass(frozen=True)
class Role:
    """A role: what it is for, how each of its decisions is prompted and answered, its settings."""

    name: str
    kind: str  # the built-in kind whose behaviour it has (roles.flow: what it takes and sends)
    description: str
    handlers: Mapping[str, Handler]  # the first one is the primary (a team file's `template:` replaces it)
    prompt: str = ""  # extra instructions, appended to every rendered prompt
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def handler(self, name: str | None = None) -> Handler:
        return self.handlers[name] if name else next(iter(self.handlers.values()))

    # the primary handler's parts (what most roles have exactly one of)
    @property
    def template(self) -> str:
        return self.handler().template

    @property
    def schema(self) -> str:
        return self.handler().schema

    @property
    def policy(self) -> str:
        return self.handler().policy

    @property
    def output_type(self) -> type[BaseModel]:
        return self.handler().output_type

    def extend(self, name: str, *, description: str | None = None, prompt: str | None = None,
               template: str | None = None, settings: Mapping[str, Any] | None = None) -> Role:
        handlers = dict(self.handlers)
        if template:
            first = next(iter(handlers))
            handlers[first] = replace(handlers[first], template=template)
        merged = {**self.settings, **(settings or {})}
        return Role(name=name, kind=self.kind, description=description or self.description, handlers=handlers,
                    prompt=prompt if prompt is not None else self.prompt, settings=MappingProxyType(merged))


def check_settings(kind: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings validated against the kind's model (defaults filled); ValueError with one line each."""
    try:
        return SETTINGS[kind](**dict(settings)).model_dump()
    except ValidationError as exc:
        lines = [f"settings.{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                 for e in exc.errors()]
        known = ", ".join(SETTINGS[kind].model_fields)
        raise ValueError("; ".join(lines) + f" ({'an' if kind[:1] in 'aeiou' else 'a'} {kind}'s settings: {known})") from None


@cache
def builtin_roles() -> dict[str, Role]:
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load((HERE / "roles.yaml").read_text(encoding="utf-8"))
    roles: dict[str, Role] = {}
    for name, spec in data.items():
        if "extends" in spec:
            base = roles[spec["extends"]]
            roles[name] = base.extend(name, description=spec.get("description"), settings=spec.get("settings"))
            continue
        handlers = {h: Handler(**hs) for h, hs in spec["handlers"].items()}
        roles[name] = Role(name=name, kind=name, description=spec["description"], handlers=handlers)
    return {name: replace(r, settings=MappingProxyType(check_settings(r.kind, r.settings)))
            for name, r in roles.items()}


@cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        auto_reload=False,  # templates ship with the package: no stat() of the file on every render
    )
    # Prompts are not HTML: plain JSON (sorted keys, as Jinja's own filter) without its HTML escapes.
    env.filters["tojson"] = json.JSONEncoder(sort_keys=True, default=str).encode  # built once, not per call
    env.globals["task_section"] = task_section
    env.globals["settings_section"] = settings_section
    env.globals["budget_section"] = budget_section
    env.globals["curve_text"] = curve_text
    return env


@cache
def _template(template: str) -> Any:
    env = _environment()
    return env.get_template(template) if template.endswith(".j2") else env.from_string(template)


_TASK_SECTIONS: dict[int, tuple[Any, str]] = {}


def task_section(card: Any) -> str:
    """The task part of every prompt (`_task.j2`): a run has one task card, so it is rendered once."""
    hit = _TASK_SECTIONS.get(id(card))
    if hit is None or hit[0] is not card:
        if len(_TASK_SECTIONS) > 64:
            _TASK_SECTIONS.clear()
        hit = _TASK_SECTIONS[id(card)] = (card, _template("_task.j2").render(ctx=_TaskOnly(card)))
    return hit[1]


def settings_section(settings: Mapping[str, Any]) -> str:
    """The role's settings as one line a model can follow (empty when every setting is unset); a critic's
    labels get a line of their own (labels_section)."""
    shown = {k: v for k, v in settings.items() if v is not None and k != "labels"}
    text = ("Your settings (follow them): " + json.dumps(shown, sort_keys=True, default=str)) if shown else ""
    labels = labels_section(settings)
    return f"{text}\n{labels}" if text and labels else text or labels


def labels_section(settings: Mapping[str, Any]) -> str:
    """A critic's custom labels, in words: the decision each means and when it applies."""
    from roles.settings import LABEL_CONDITIONS

    labels = settings.get("labels") or {}
    if not labels:
        return ""
    parts = [f"{name} = {spec['means']} when {LABEL_CONDITIONS[spec['if']]}"
             + (f" ({spec['note']})" if spec.get("note") else "") for name, spec in labels.items()]
    return ("Labels: when one applies, set `label` to it and the decision to what it means (the first that "
            "applies; none: no label): " + "; ".join(parts) + ".")


_UNITS = {"wall": " s of wall-clock", "job_seconds": " job-seconds", "tokens": " tokens", "usd": " USD",
          "model_calls": " model calls"}


def budget_section(left: Mapping[str, float]) -> str:
    """What the run's budget has left, in words: `Budget left: 53 s of wall-clock, 240 job-seconds, ...`."""
    parts = [f"{max(v, 0):.2f}{_UNITS[k]}" if k == "usd" else f"{max(v, 0):.0f}{_UNITS.get(k, ' ' + k)}"
             for k, v in left.items()]
    return ("Budget left: " + ", ".join(parts) + ".") if parts else ""


def curve_text(points: Any, most: int = 6) -> str:
    """A dev curve in a few points, `step 50: 0.41, step 100: 0.83` (first, last and evenly between)."""
    points = list(points)
    if len(points) > most:
        idx = sorted({round(i * (len(points) - 1) / (most - 1)) for i in range(most)})
        points = [points[i] for i in idx]
    return ", ".join(f"step {int(s)}: {v:.3f}" for s, v in points)


@dataclass(frozen=True)
class _TaskOnly:
    task: Any


def template_source(role: Role, handler: str | None = None) -> str:
    template = role.handler(handler).template
    path = HERE / "templates" / template
    return path.read_text(encoding="utf-8") if path.suffix == ".j2" and path.exists() else template


def prompt_hash(role: Role) -> str:
    """A digest of everything that shapes the role's prompts (for the run manifest)."""
    parts = [template_source(role, h) + "\0" + role.handler(h).schema for h in role.handlers]
    text = "\0".join(parts) + "\0" + (HERE / "templates" / "_task.j2").read_text(encoding="utf-8") + \
        "\0" + role.prompt + "\0" + json.dumps(dict(role.settings), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def render_prompt(role: Role, ctx: Any, handler: str | None = None) -> str:
    """Render the role's prompt for one of its decisions from its typed context; a missing variable fails."""
    text = _template(role.handler(handler).template).render(ctx=ctx)
    if role.prompt and role.prompt not in text:
        text = text.rstrip() + "\n" + role.prompt.strip() + "\n"
    return text


def team_files() -> dict[str, Path]:
    """The built-in teams: name -> YAML path."""
    return {p.stem: p for p in sorted((HERE / "teams").glob("*.yaml"))}
