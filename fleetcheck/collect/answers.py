"""Import answer files written by the collection kit: one run, as if the PCs had been swept over WinRM.

Each file is checked exactly as a WinRM answer (:func:`fleetcheck.agent.parse_output`:
UTF-8, JSON, the size, depth and integer bounds, the ProbeResponse schema) and
refused by name with the reason when it fails; one bad file never spoils the
others. A good answer is mapped to its inventory host by the hostname the agent
reported (:func:`match_host`), or recorded under that hostname when the
inventory does not list it, evaluated like a swept host and marked
:class:`~fleetcheck.findings.LocalCollection` (file, collection time, listed).

Collection time: from the file name ``<COMPUTERNAME>-<yyyyMMddTHHmmssZ>.json``
the kit writes (UTC); a file named otherwise is refused. Answers are evaluated
at the import's clock, as a scan evaluates what it reads at its own clock.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fleetcheck.agent import MAX_OUTPUT_BYTES, AgentOutputError, parse_output
from fleetcheck.agent.contract import ProbeResponse
from fleetcheck.evaluate import evaluate_host
from fleetcheck.findings import HostResult, HostStatus, LocalCollection, RunResult
from fleetcheck.i18n import T, Text
from fleetcheck.inventory.model import HostSpec
from fleetcheck.officetime import Clock, utc_now

#: The kit's file names: computer name, a dash, the UTC time, ``.json``.
ANSWER_NAME = re.compile(r"^(?P<computer>[^\\/:*?\"<>|]+)-(?P<stamp>\d{8}T\d{6}Z)\.json$", re.IGNORECASE)
#: At most this many answer files in one import (a bound on the walk).
MAX_FILES = 100_000
BAD_FILE_CLASS = "BadAnswerFile"

Evaluator = Callable[[HostSpec, ProbeResponse, datetime], "tuple[list[Any], Any]"]


class AnswerRefused(Exception):
    """Internal: one answer file is refused; the importer records ``reason`` against the file."""

    def __init__(self, reason: Text) -> None:
        super().__init__(reason.en)
        self.reason = reason


@dataclass(frozen=True)
class AnswerFile:
    """One accepted answer."""

    path: Path
    computer: str  # from the file name
    collected: datetime
    response: ProbeResponse


@dataclass(frozen=True)
class Refusal:
    """One refused file and why (bilingual)."""

    path: Path
    reason: Text

    @property
    def text(self) -> Text:
        return T(f"{self.path.name}：已拒绝，{self.reason.zh}", f"{self.path.name}: refused, {self.reason.en}")


def answer_files(paths: Iterable[Path]) -> list[Path]:
    """The ``*.json`` files of each folder (or the file itself), sorted, at most :data:`MAX_FILES`."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.glob("*.json") if p.is_file()))
        else:
            found.append(path)
        if len(found) > MAX_FILES:
            raise AnswerRefused(T(f"答案文件超过 {MAX_FILES} 个", f"more than {MAX_FILES} answer files"))
    return found


def collection_time(name: str) -> tuple[str, datetime]:
    """(computer name, UTC collection time) from a kit file name; AnswerRefused when it is not one."""
    match = ANSWER_NAME.fullmatch(name)
    if match is None:
        raise AnswerRefused(T("文件名不是采集工具写的“计算机名-yyyyMMddTHHmmssZ.json”",
                              "the name is not the kit's <COMPUTERNAME>-<yyyyMMddTHHmmssZ>.json"))
    try:
        when = datetime.strptime(match["stamp"].upper(), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise AnswerRefused(T(f"文件名中的时间 {match['stamp']} 不存在", f"the time {match['stamp']} in the name does not exist")) from None
    return match["computer"], when


def read_answer(path: Path) -> AnswerFile:
    """One answer file checked as a WinRM answer; AnswerRefused with the reason otherwise."""
    computer, collected = collection_time(path.name)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_OUTPUT_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise AnswerRefused(T(f"无法读取（{reason}）", f"cannot be read ({reason})")) from None
    if len(data) > MAX_OUTPUT_BYTES:
        raise AnswerRefused(T(f"大于 {MAX_OUTPUT_BYTES // 2**20} MB", f"larger than {MAX_OUTPUT_BYTES // 2**20} MB"))
    try:
        response = parse_output(data)
    except AgentOutputError as exc:
        raise AnswerRefused(T(f"不是有效的代理答复：{exc.reason}", f"not a valid agent answer: {exc.reason}")) from None
    return AnswerFile(path=path, computer=computer, collected=collected, response=response)


def match_host(hosts: Mapping[str, HostSpec], hostname: str) -> HostSpec | None:
    """The inventory host of a PC that calls itself ``hostname`` (case-insensitive).

    In order: the inventory name; its ``hostname`` variable; the first label of a
    DNS name (``pc01.trade.local`` for ``PC01``); the address. The first host in
    inventory order wins at each step.
    """
    wanted = hostname.strip().lower()
    rules: tuple[Callable[[HostSpec], str], ...] = (
        lambda h: h.name,
        lambda h: str(h.host_vars.get("hostname") or ""),
        lambda h: h.name.split(".", 1)[0],
        lambda h: h.address,
    )
    for rule in rules:
        for spec in hosts.values():
            if rule(spec).lower() == wanted:
                return spec
    return None


@dataclass
class ImportOutcome:
    """One import: the run (one host result per PC), and what was not imported."""

    run: RunResult
    refused: list[Refusal] = field(default_factory=list)
    superseded: list[Path] = field(default_factory=list)  # an older answer of a PC with a newer one
    unlisted: list[str] = field(default_factory=list)  # PCs the inventory does not list
    missing: list[str] = field(default_factory=list)  # inventory hosts with no answer


@dataclass(frozen=True)
class ImportSettings:
    """The import's context: the inventory's hosts (may be empty) and source, the clock."""

    hosts: Mapping[str, HostSpec] = field(default_factory=dict)
    inventory: str | None = None
    policies: Sequence[str] = ()
    clock: Clock = utc_now


def policy_evaluator(policies: Sequence[Any], waivers: Sequence[Any] = ()) -> Evaluator:
    """(host, facts, now) -> (findings, operator): the evaluation a scan applies to each answer."""
    def evaluate(host: HostSpec, facts: ProbeResponse, now: datetime) -> tuple[list[Any], Any]:
        evaluation = evaluate_host(list(policies), facts, host_vars=host.host_vars, now=now,
                                   waivers=tuple(waivers), host=host.name, groups=tuple(host.groups))
        return list(evaluation.findings), evaluation.operator

    return evaluate


def _evaluated(spec: HostSpec, answer: AnswerFile, evaluator: Evaluator, now: datetime,
               listed: bool) -> HostResult:
    result = HostResult(
        host=spec.name, address=spec.address if listed else None, groups=list(spec.groups),
        branch=spec.branch,
        status=HostStatus.ok, started=answer.collected, finished=answer.collected, attempts=1,
        facts=answer.response,
        local_collection=LocalCollection(file=answer.path.name, collected=answer.collected, listed=listed),
    )
    try:
        findings, operator = evaluator(spec, answer.response, now)
    except Exception as exc:  # noqa: BLE001 - per-host boundary: an evaluator bug stays on this host
        return result.model_copy(update={
            "status": HostStatus.error, "error_class": "EvaluationError",
            "error": T(f"{spec.name}：评估失败（{type(exc).__name__}），请报告此问题",
                       f"{spec.name}: evaluation failed ({type(exc).__name__}); please report it"),
        })
    return result.model_copy(update={
        "findings": list(findings),
        "operator": getattr(operator, "user", None),
        "operator_sid": getattr(operator, "sid", None),
    })


def _refused_result(refusal: Refusal, hosts: Mapping[str, HostSpec]) -> HostResult:
    """A refused file as a host that could not be read (bad output), named by its file."""
    match = ANSWER_NAME.fullmatch(refusal.path.name)
    spec = match_host(hosts, match["computer"]) if match else None
    name = spec.name if spec is not None else (match["computer"] if match else refusal.path.name)
    return HostResult(host=name, address=spec.address if spec else None,
                      groups=list(spec.groups) if spec else [], status=HostStatus.bad_output,
                      error_class=BAD_FILE_CLASS, error=refusal.text, attempts=1)


def _newest_per_host(accepted: list[tuple[HostSpec, bool, AnswerFile]],
                     outcome: ImportOutcome) -> list[tuple[HostSpec, bool, AnswerFile]]:
    newest: dict[str, tuple[HostSpec, bool, AnswerFile]] = {}
    for item in accepted:
        key = item[0].name.lower()
        kept = newest.get(key)
        if kept is None or item[2].collected > kept[2].collected:
            if kept is not None:
                outcome.superseded.append(kept[2].path)
            newest[key] = item
        else:
            outcome.superseded.append(item[2].path)
    return list(newest.values())


def import_answers(files: Sequence[Path], evaluator: Evaluator, settings: ImportSettings) -> ImportOutcome:
    """Read, map and evaluate every answer file into one run. Never raises for a file's fault."""
    run = RunResult(run_id=uuid.uuid4().hex[:12], started=settings.clock(), policies=list(settings.policies),
                    inventory=settings.inventory)
    outcome = ImportOutcome(run=run)
    accepted: list[tuple[HostSpec, bool, AnswerFile]] = []
    for path in files:
        try:
            answer = read_answer(path)
        except AnswerRefused as exc:
            outcome.refused.append(Refusal(path, exc.reason))
            continue
        hostname = answer.response.os.hostname.strip() or answer.computer  # the file's name when the PC gave none
        spec = match_host(settings.hosts, hostname)
        listed = spec is not None
        if spec is None:
            spec = HostSpec(name=hostname, address=hostname)
        accepted.append((spec, listed, answer))
    now = settings.clock()
    for spec, listed, answer in _newest_per_host(accepted, outcome):
        run.hosts.append(_evaluated(spec, answer, evaluator, now, listed))
        if not listed:
            outcome.unlisted.append(spec.name)
    good = {h.host.lower() for h in run.hosts}
    for refusal in outcome.refused:
        bad = _refused_result(refusal, settings.hosts)
        if bad.host.lower() not in good:
            good.add(bad.host.lower())
            run.hosts.append(bad)
    outcome.missing = [name for name in settings.hosts if name.lower() not in good]
    run.finished = settings.clock()
    return outcome
