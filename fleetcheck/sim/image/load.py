"""Loading an image: the YAML files of its ``extends`` chain, merged, placeholders filled, validated."""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fleetcheck.sim.image.live import utf16_string
from fleetcheck.sim.image.spec import ImageError, ImageSpec
from fleetcheck.sim.regtree import split_path

IMAGES_DIR = Path(__file__).resolve().parent.parent / "images"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_EXTENDS_DEPTH = 8



@lru_cache(maxsize=64)
def _parse_yaml_cached(text: str, source: str) -> Any:
    # the bounded loader: aliases, depth, sizes and value errors are file:line:col messages
    from fleetcheck.yamlfile import UserFileError, parse_data

    try:
        return parse_data(text, source)
    except UserFileError as exc:
        lines_zh, lines_en = [], []
        for issue in exc.issues:
            where = issue.file + "".join(f":{n}" for n in (issue.line, issue.col) if n is not None)
            lines_zh.append(f"{where}: 不是有效的 YAML：{issue.message.zh.removeprefix('YAML 语法错误：')}")
            lines_en.append(f"{where}: not valid YAML: {issue.message.en.removeprefix('YAML syntax error: ')}")
        raise ImageError("\n".join(lines_zh + lines_en)) from None


def _read_raw(source: str | Path) -> tuple[dict[str, Any], str, Path | None, str]:
    """(raw mapping, name for messages, its directory for relative ``extends``, text)."""
    path: Path | None = None
    if isinstance(source, Path):
        path = source
    elif "\n" not in source and (
        source.endswith((".yaml", ".yml")) or _is_shipped_image(source)
    ):
        path = Path(source) if source.endswith((".yaml", ".yml")) else IMAGES_DIR / f"{source}.yaml"
    if path is not None:
        try:
            text = path.read_bytes()[: 20 * 1024 * 1024].decode("utf-8-sig")
        except OSError as exc:
            raise ImageError(
                f"{path}: cannot read the image ({exc.strerror}); check the name"
            ) from None
        except ValueError:  # not UTF-8, or a NUL in the path
            raise ImageError(f"{path}: not UTF-8 text; save the image as UTF-8") from None
        name = str(path)
    else:
        text, name = str(source), "<image text>"
    raw = _parse_yaml_cached(text, name)
    if not isinstance(raw, dict):
        raise ImageError(f"{name}: an image must be a YAML mapping (os:, registry:, ...)")
    return copy.deepcopy(raw), name, path.parent if path is not None else None, text


def shipped_images() -> list[str]:
    """Names of the images shipped in fleetcheck/sim/images (without .yaml)."""
    return sorted(p.stem for p in IMAGES_DIR.glob("*.yaml"))


def _resolve_extends(ref: str, base_dir: Path | None, name: str) -> Path:
    if ref.endswith((".yaml", ".yml")):
        candidate = (base_dir or Path.cwd()) / ref
    else:
        candidate = (base_dir or IMAGES_DIR) / f"{ref}.yaml"
        if not _is_file(candidate):
            candidate = IMAGES_DIR / f"{ref}.yaml"
    if not _is_file(candidate):
        if len(ref) > 80:
            raise ImageError(f"{name}: extends '{ref[:79]}…', which is not an image; check the name")
        raise ImageError(
            f"{name}: extends '{ref}', which is not an image (no {candidate}); check the name"
        )
    return candidate


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return False


def _merge_registry(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for path, values in child.items():
        low = "\\".join(split_path(str(path))).lower()
        matches = [k for k in result if "\\".join(split_path(str(k))).lower() == low]
        if values is None:  # delete the key and its whole tree
            for k in list(result):
                klow = "\\".join(split_path(str(k))).lower()
                if klow == low or klow.startswith(low + "\\"):
                    del result[k]
            continue
        if not matches:
            result[path] = {k: v for k, v in (values or {}).items() if v is not None}
            continue
        merged = _merge_mapping(result[matches[0]] or {}, values)
        result[matches[0]] = merged
    return result


def _merge_mapping(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Case-insensitive key-by-key merge; None deletes; nested mappings merge."""
    result = dict(base)
    lower = {str(k).lower(): k for k in result}
    for key, value in child.items():
        existing = lower.get(str(key).lower())
        if value is None:
            if existing is not None:
                del result[existing]
            continue
        if existing is not None and isinstance(result[existing], dict) and isinstance(value, dict):
            if str(key).lower() in ("registry",):
                result[existing] = _merge_registry(result[existing], value)
            else:
                result[existing] = _merge_mapping(result[existing], value)
        elif existing is not None and str(key).lower() == "profiles":
            result[existing] = _merge_profiles(result[existing], value)
        else:
            if existing is not None:
                del result[existing]
            result[key] = value
            lower[str(key).lower()] = key
    return result


def _merge_profiles(base: Any, child: Any) -> Any:
    if not isinstance(base, list) or not isinstance(child, list):
        return child
    result = list(base)
    for entry in child:
        sid = str(entry.get("sid", "")).lower() if isinstance(entry, dict) else None
        index = next(
            (
                i
                for i, b in enumerate(result)
                if isinstance(b, dict) and str(b.get("sid", "")).lower() == sid
            ),
            None,
        )
        if index is None:
            result.append(entry)
        else:
            result[index] = _merge_mapping(result[index], entry)
    return result


def load_raw(source: str | Path, _depth: int = 0) -> tuple[dict[str, Any], str]:
    """The image as one mapping, its ``extends`` chain merged (placeholders untouched)."""
    raw, name, _sources = _load_chain(source, _depth)
    return raw, name


def _anchor_imports(raw: dict[str, Any], base_dir: Path | None) -> None:
    """Make ``registry_import`` paths relative to the file that names them (before merging)."""
    entries = raw.get("registry_import")
    if base_dir is None or not isinstance(entries, list):
        return
    for entry in entries:
        if isinstance(entry, dict):
            for key in ("file", "hive"):
                if isinstance(entry.get(key), str) and entry[key]:
                    entry[key] = str(base_dir / entry[key])


def _load_chain(
    source: str | Path, depth: int = 0
) -> tuple[dict[str, Any], str, list[tuple[str, str]]]:
    """Merged mapping, name, and the (name, text) of every file in the chain, child first."""
    raw, name, base_dir, text = _read_raw(source)
    _anchor_imports(raw, base_dir)
    parent_ref = raw.pop("extends", None)
    if parent_ref is None:
        return raw, name, [(name, text)]
    if depth >= _MAX_EXTENDS_DEPTH:
        raise ImageError(f"{name}: 'extends' nests deeper than {_MAX_EXTENDS_DEPTH} (a cycle?)")
    if not isinstance(parent_ref, str):
        raise ImageError(f"{name}: 'extends' must be an image name")
    parent, _, sources = _load_chain(_resolve_extends(parent_ref, base_dir, name), depth + 1)
    try:
        merged = _merge_mapping(parent, raw)
    except (AttributeError, TypeError):  # e.g. a registry key given as text, not a mapping
        raise ImageError(
            f"{name}: cannot be laid over '{parent_ref}': a section that should be a mapping is not"
        ) from None
    return merged, name, [(name, text), *sources]


def _is_shipped_image(name: str) -> bool:
    try:
        return (IMAGES_DIR / f"{name}.yaml").is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return False


@lru_cache(maxsize=64)
def _round_trip(text: str) -> Any:
    from fleetcheck.yamlfile import parse_text

    doc = parse_text(text, "<image>")  # bounded; only used to find a line for a message
    return doc.data if doc.loaded else None


def _locate(loc: tuple[Any, ...], sources: list[tuple[str, str]]) -> str | None:
    """``file:line:col`` of the deepest part of ``loc`` that one of the files spells out.

    The merged image has no positions; each file of the ``extends`` chain is
    searched (child first) for the same path, keys compared case-insensitively.
    """
    best: tuple[int, str] | None = None
    for name, text in sources:
        node = _round_trip(text)
        found = 0
        position: tuple[int, int] | None = None
        for part in loc:
            if isinstance(node, dict):
                key = next((k for k in node if str(k).lower() == str(part).lower()), None)
                if key is None:
                    break
                line_col = node.lc.key(key) if hasattr(node, "lc") else None
                node = node[key]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                line_col = node.lc.item(part) if hasattr(node, "lc") else None
                node = node[part]
            else:
                break
            found += 1
            if line_col is not None:
                position = (line_col[0] + 1, line_col[1] + 1)
        if position is not None and (best is None or found > best[0]):
            best = (found, f"{name}:{position[0]}:{position[1]}")
    return best[1] if best else None


def _substitute(node: Any, values: dict[str, str], name: str) -> Any:
    def repl(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ImageError(
                f"{name}: placeholder ${{{key}}} has no value; pass it in vars or add it under 'vars:'"
            )
        return values[key]

    if isinstance(node, str):
        node = utf16_string(node)
        return _PLACEHOLDER.sub(repl, node) if "${" in node else node
    if isinstance(node, dict):
        return {
            (_substitute(k, values, name) if isinstance(k, str) else str(k)): _substitute(
                v, values, name
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_substitute(item, values, name) for item in node]
    return node


def _describe_errors(exc: ValidationError, name: str, sources: list[tuple[str, str]]) -> str:
    lines = []
    for err in exc.errors()[:20]:
        parts = tuple(p for p in err["loc"] if not str(p).startswith(("function-", "union[")))
        where = _locate(parts, sources) or name
        loc = ".".join(str(p) for p in parts)
        lines.append(f"{where}: {loc or '(top)'}: {err['msg']}")
    more = exc.error_count() - 20
    if more > 0:
        lines.append(f"... and {more} more")
    return "\n".join(lines)


def load_spec(source: str | Path, vars: dict[str, Any] | None = None) -> ImageSpec:
    """Load, merge and validate an image; placeholders filled from ``vars`` then ``vars:``."""
    raw, name, sources = _load_chain(source)
    defaults = raw.get("vars") or {}
    if not isinstance(defaults, dict):
        raise ImageError(f"{name}: 'vars' must be a mapping of name: value")
    values = {str(k): str(v) for k, v in defaults.items()}
    values.update({str(k): str(v) for k, v in (vars or {}).items()})
    raw = _substitute(raw, values, name)
    try:
        return ImageSpec.model_validate(raw)
    except ValidationError as exc:
        raise ImageError(_describe_errors(exc, name, sources)) from None


