"""The role library: built-in roles as data (roles.yaml + Jinja templates + output schemas), and
the built-in teams (roles/teams/*.yaml), addressable by name.
"""

from __future__ import annotations

import hashlib
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

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def template_source(role: Role) -> str:
    path = HERE / "templates" / role.template
    return path.read_text(encoding="utf-8") if path.suffix == ".j2" and path.exists() else role.template


def prompt_hash(role: Role) -> str:
    """A digest of everything that shapes the role's prompt (for the run manifest)."""
    text = template_source(role) + "\0" + role.prompt + "\0" + role.schema
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def render_prompt(role: Role, ctx: Any) -> str:
    """Render the role's prompt from its typed context; a missing variable fails loudly."""
    env = _environment()
    if role.template.endswith(".j2"):
        template = env.get_template(role.template)
    else:
        template = env.from_string(role.template)
    text = template.render(ctx=ctx)
    if role.prompt and role.prompt not in text:
        text = text.rstrip() + "\n" + role.prompt.strip() + "\n"
    return text


def team_files() -> dict[str, Path]:
    """The built-in teams: name -> YAML path."""
    return {p.stem: p for p in sorted((HERE / "teams").glob("*.yaml"))}
