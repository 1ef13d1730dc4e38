"""Loading an image: the YAML files of its ``extends`` chain, merged, placeholders filled, validated.

Every file goes through the one positioned YAML loader (:mod:`fleetcheck.yamlfile`):
its limits, its syntax messages, and ``file:line:col`` with the source line and a
caret for every problem. A validation error of the merged image is placed in the
file of the chain that spells out most of its location (the child on a tie);
keys compare without case there, as Windows names do.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fleetcheck.i18n import T, Text
from fleetcheck.sim.image.live import utf16_string
from fleetcheck.sim.image.spec import ImageError, ImageSpec, image_error
from fleetcheck.sim.regtree import split_path
from fleetcheck.yamlfile import (
    MAX_FILE_BYTES,
    Issue,
    YamlDocument,
    parse_bytes,
    parse_text,
    to_plain,
    validation_issues,
)

IMAGES_DIR = Path(__file__).resolve().parent.parent / "images"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_EXTENDS_DEPTH = 8


@dataclass(frozen=True)
class _Parsed:
    """One image file through the loader: its document (for positions) and its plain data."""

    doc: YamlDocument
    data: Any


@lru_cache(maxsize=64)
def _parse_cached(text: str, name: str) -> _Parsed:
    # the bounded loader: aliases, depth, sizes and value errors are file:line:col issues
    doc = parse_text(text, name)
    doc.ignore_case = True  # registry paths and value names: HKLM and hklm are one key
    if not doc.loaded or doc.issues:
        raise ImageError(doc.issues)
    return _Parsed(doc, to_plain(doc.data))


def _read_text(path: Path) -> str:
    """The image file's text (UTF-8, optional BOM), through the loader's size and encoding rules."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise image_error(
            str(path),
            T(f"无法读取镜像（{exc.strerror}）；请检查名称", f"cannot read the image ({exc.strerror}); check the name"),
        ) from None
    except ValueError:  # a NUL in the path
        raise image_error(str(path), T("不是有效的文件名", "not a valid file name")) from None
    if len(raw) > MAX_FILE_BYTES:
        raise image_error(str(path), T("文件过大（超过 20 MB）", "file is too large (over 20 MB)"))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImageError(parse_bytes(raw, str(path)).issues) from None  # says where, and to save as UTF-8


def _read_raw(source: str | Path) -> tuple[dict[str, Any], Path | None, YamlDocument]:
    """(raw mapping, its directory for relative ``extends``, the parsed document)."""
    path: Path | None = None
    if isinstance(source, Path):
        path = source
    elif "\n" not in source and (
        source.endswith((".yaml", ".yml")) or _is_shipped_image(source)
    ):
        path = Path(source) if source.endswith((".yaml", ".yml")) else IMAGES_DIR / f"{source}.yaml"
    if path is not None:
        text, name = _read_text(path), str(path)
    else:
        text, name = str(source), "<image text>"
    parsed = _parse_cached(text, name)
    if not isinstance(parsed.data, dict):
        raise ImageError([parsed.doc.issue((), T(
            "镜像必须是 YAML 映射（os:、registry: 等）", "an image must be a YAML mapping (os:, registry:, ...)"
        ))])
    return copy.deepcopy(parsed.data), path.parent if path is not None else None, parsed.doc


def shipped_images() -> list[str]:
    """Names of the images shipped in fleetcheck/sim/images (without .yaml)."""
    return sorted(p.stem for p in IMAGES_DIR.glob("*.yaml"))


def _resolve_extends(ref: str, base_dir: Path | None, doc: YamlDocument) -> Path:
    if ref.endswith((".yaml", ".yml")):
        candidate = (base_dir or Path.cwd()) / ref
    else:
        candidate = (base_dir or IMAGES_DIR) / f"{ref}.yaml"
        if not _is_file(candidate):
            candidate = IMAGES_DIR / f"{ref}.yaml"
    if not _is_file(candidate):
        if len(ref) > 80:
            shown = ref[:79] + "…"
            message = T(f"extends '{shown}'，这不是镜像；请检查名称", f"extends '{shown}', which is not an image; check the name")
        else:
            message = T(
                f"extends '{ref}'，这不是镜像（没有 {candidate}）；请检查名称",
                f"extends '{ref}', which is not an image (no {candidate}); check the name",
            )
        raise ImageError([doc.issue(("extends",), message)])
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


def _load_chain(source: str | Path, depth: int = 0) -> tuple[dict[str, Any], list[YamlDocument]]:
    """The merged mapping, and the document of every file in the chain, child first."""
    raw, base_dir, doc = _read_raw(source)
    _anchor_imports(raw, base_dir)
    parent_ref = raw.pop("extends", None)
    if parent_ref is None:
        return raw, [doc]
    if depth >= _MAX_EXTENDS_DEPTH:
        raise ImageError([doc.issue(("extends",), T(
            f"'extends' 嵌套超过 {_MAX_EXTENDS_DEPTH} 层（是否循环？）",
            f"'extends' nests deeper than {_MAX_EXTENDS_DEPTH} (a cycle?)",
        ))])
    if not isinstance(parent_ref, str):
        raise ImageError([doc.issue(("extends",), T("'extends' 必须是镜像名称", "'extends' must be an image name"))])
    parent, docs = _load_chain(_resolve_extends(parent_ref, base_dir, doc), depth + 1)
    try:
        merged = _merge_mapping(parent, raw)
    except (AttributeError, TypeError):  # e.g. a registry key given as text, not a mapping
        raise image_error(doc.file, T(
            f"无法叠加在 '{parent_ref}' 之上：某个应为映射的部分不是映射",
            f"cannot be laid over '{parent_ref}': a section that should be a mapping is not",
        )) from None
    return merged, [doc, *docs]


def _is_shipped_image(name: str) -> bool:
    try:
        return (IMAGES_DIR / f"{name}.yaml").is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return False


def _placed(docs: list[YamlDocument], loc: tuple[str | int, ...], message: Text) -> Issue:
    """``message`` at ``loc`` in the file of the chain that spells out most of it (child first)."""
    best = max(range(len(docs)), key=lambda i: (docs[i].depth_of(loc), -i))
    return docs[best].issue(loc, message)


def _substitute(node: Any, values: dict[str, str], docs: list[YamlDocument], loc: tuple[str | int, ...] = ()) -> Any:
    def repl(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ImageError([_placed(docs, loc, T(
                f"占位符 ${{{key}}} 没有值；请在 vars 中传入，或写在 'vars:' 下",
                f"placeholder ${{{key}}} has no value; pass it in vars or add it under 'vars:'",
            ))])
        return values[key]

    if isinstance(node, str):
        node = utf16_string(node)
        return _PLACEHOLDER.sub(repl, node) if "${" in node else node
    if isinstance(node, dict):
        return {
            (_substitute(k, values, docs, loc) if isinstance(k, str) else str(k)): _substitute(
                v, values, docs, (*loc, str(k))
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_substitute(item, values, docs, (*loc, i)) for i, item in enumerate(node)]
    return node


def load_spec(source: str | Path, vars: dict[str, Any] | None = None) -> ImageSpec:
    """Load, merge and validate an image; placeholders filled from ``vars`` then ``vars:``."""
    raw, docs = _load_chain(source)
    defaults = raw.get("vars") or {}
    if not isinstance(defaults, dict):
        raise ImageError([_placed(docs, ("vars",), T(
            "'vars' 必须是 名称: 值 的映射", "'vars' must be a mapping of name: value"
        ))])
    values = {str(k): str(v) for k, v in defaults.items()}
    values.update({str(k): str(v) for k, v in (vars or {}).items()})
    raw = _substitute(raw, values, docs)
    try:
        return ImageSpec.model_validate(raw)
    except ValidationError as exc:
        raise ImageError(validation_issues(exc, ImageSpec, docs)) from None
