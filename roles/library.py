"""The role library: built-in roles as data (roles.yaml + Jinja templates + output schemas), and
the built-in teams (roles/teams/*.yaml), addressable by name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from roles.schemas import SCHEMAS

__all__ = ["Role", "builtin_roles", "render_prompt", "prompt_hash", "template_source", "team_files", "BUILTIN_KINDS"]

HERE = Path(__file__).parent
BUILTIN_KINDS = ("director", "engineer", "critic", "editor", "solo")


@dataclass(frozen=True)
class Role:
    """A role: what it is for, how it is prompted, what it answers, and its offline policy."""

    name: str
    kind: str  # the built-in role whose behaviour it has (director, engineer, critic, editor, solo)
    description: str
    template: str  # a template file name in roles/templates, or inline Jinja text
    schema: str  # a name in roles.schemas.SCHEMAS
    policy: str  # the scripted policy's name
    prompt: str = ""  # extra instructions, appended to the template's output

    @property
    def output_type(self) -> type[BaseModel]:
        return SCHEMAS[self.schema]

    def extend(self, name: str, *, description: str | None = None, prompt: str | None = None,
               template: str | None = None) -> Role:
        return Role(name=name, kind=self.kind, description=description or self.description,
                    template=template or self.template, schema=self.schema, policy=self.policy,
                    prompt=prompt if prompt is not None else self.prompt)


@cache
def builtin_roles() -> dict[str, Role]:
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load((HERE / "roles.yaml").read_text(encoding="utf-8"))
    return {name: Role(name=name, kind=name, **spec) for name, spec in data.items()}


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


@dataclass(frozen=True)
class _TaskOnly:
    task: Any


def template_source(role: Role) -> str:
    path = HERE / "templates" / role.template
    return path.read_text(encoding="utf-8") if path.suffix == ".j2" and path.exists() else role.template


def prompt_hash(role: Role) -> str:
    """A digest of everything that shapes the role's prompt (for the run manifest)."""
    text = template_source(role) + "\0" + (HERE / "templates" / "_task.j2").read_text(encoding="utf-8") + \
        "\0" + role.prompt + "\0" + role.schema
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def render_prompt(role: Role, ctx: Any) -> str:
    """Render the role's prompt from its typed context; a missing variable fails loudly."""
    text = _template(role.template).render(ctx=ctx)
    if role.prompt and role.prompt not in text:
        text = text.rstrip() + "\n" + role.prompt.strip() + "\n"
    return text


def team_files() -> dict[str, Path]:
    """The built-in teams: name -> YAML path."""
    return {p.stem: p for p in sorted((HERE / "teams").glob("*.yaml"))}
