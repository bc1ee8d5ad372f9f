"""Walking generated JSON Schemas: find a dotted key's schema, and write the "expected ..." text of each leaf.

The text is computed here, once, and stored in the schema as `x-expected`; both the engine's and the front's
error messages read it from there, so a refused value reads the same whichever side refused it.
"""

from __future__ import annotations

import copy
from typing import Any


def _deref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not ref:
        return schema
    target = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}


def resolve(root: dict[str, Any], parts: list[str]) -> dict[str, Any] | None:
    """The schema of the property path `parts` (['train', 'epochs']) under `root`, $refs followed."""
    node = _deref(root, root)
    for part in parts:
        props = node.get("properties")
        if not props or part not in props:
            return None
        node = _deref(props[part], root)
    return node


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _bounds(s: dict[str, Any]) -> str:
    lo, hi = s.get("minimum"), s.get("maximum")
    xlo, xhi = s.get("exclusiveMinimum"), s.get("exclusiveMaximum")
    if (lo is not None or xlo is not None) and (hi is not None or xhi is not None):
        left = f"[{_num(lo)}" if lo is not None else f"({_num(xlo)}"
        right = f"{_num(hi)}]" if hi is not None else f"{_num(xhi)})"
        return f" in {left}, {right}"
    if xlo == 0:
        return ">0"
    if lo is not None:
        return f" >= {_num(lo)}"
    if xlo is not None:
        return f" > {_num(xlo)}"
    if hi is not None:
        return f" <= {_num(hi)}"
    if xhi is not None:
        return f" < {_num(xhi)}"
    return ""


def describe(s: dict[str, Any], root: dict[str, Any]) -> str:
    """Plain words for what a schema accepts: 'an integer >= 1', 'one of adamw, sgd', 'a list of ...'."""
    s = _deref(s, root)
    if "x-expected" in s:
        return s["x-expected"]
    if "const" in s:
        return repr(s["const"]) if isinstance(s["const"], str) else _num(s["const"])
    if "enum" in s:
        return "one of " + ", ".join(_num(v) if not isinstance(v, str) else v for v in s["enum"])
    alts = s.get("anyOf") or s.get("oneOf")
    if alts:
        return " or ".join(describe(a, root) for a in alts)
    kind = s.get("type")
    if kind == "integer":
        bounds = _bounds(s)
        return "a positive integer" if bounds == ">0" else f"an integer{bounds}"
    if kind == "number":
        bounds = _bounds(s)
        return "a positive number" if bounds == ">0" else f"a number{bounds}"
    if kind == "boolean":
        return "true/false"
    if kind == "string":
        return "a string"
    if kind == "null":
        return "null"
    if kind == "array":
        item = describe(s.get("items", {}), root) if s.get("items") else "anything"
        n_min, n_max = s.get("minItems"), s.get("maxItems")
        count = f"{n_min} " if n_min is not None and n_min == n_max else ""
        return f"a list of {count}{item.removeprefix('an ').removeprefix('a ')}"
    if kind == "object":
        return "a JSON object"
    return "a valid value"


def annotate_expected(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` with `x-expected` on every property that lacks one."""
    out = copy.deepcopy(schema)

    def walk(node: dict[str, Any]) -> None:
        for prop in node.get("properties", {}).values():
            if "$ref" not in prop and "x-expected" not in prop:
                prop["x-expected"] = describe(prop, out)
        for sub in node.get("$defs", {}).values():
            walk(sub)

    walk(out)
    return out
