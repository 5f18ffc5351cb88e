"""YAML with line numbers and `FILE:LINE` problems, re-exported: it lives in `groundwork.yamlio`, under every
layer (team files and task files share it)."""

from groundwork.yamlio import format_loc, line_of, load_yaml, validate_model

__all__ = ["load_yaml", "line_of", "validate_model", "format_loc"]
