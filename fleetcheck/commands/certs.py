"""``fleetcheck certs``: every gateway certificate of the office, days left, renewal readiness and blockers.

By default the office state: each PC's certificates as its latest probe saw
them (from whichever run that was: a full scan, a ``--limit`` scan, a rescan),
with that probe's time. ``--run ID`` (or ``latest``) lists one run's.
"""

from __future__ import annotations

from collections.abc import Mapping

import click
from rich.table import Table

from fleetcheck.commands.common import lang_of, say
from fleetcheck.commands.options import db_option, format_option
from fleetcheck.commands.tables import add_row, bold, console
from fleetcheck.findings import RunResult
from fleetcheck.i18n import T
from fleetcheck.jsonout import echo_json, text_json
from fleetcheck.officetime import office_day, office_minute, office_stamp, office_zone
from fleetcheck.readiness import STATE_LABELS, HostReadiness, ReadinessState, host_readiness
from fleetcheck.report.model import CertificateRow, build_report
from fleetcheck.report.publish import office_context
from fleetcheck.report.render import LABELS, labels
from fleetcheck.store import Store

__all__ = ["certs_cmd", "certs_json"]


def certs_json(run: RunResult, rows: list[CertificateRow],
               readiness: dict[str, HostReadiness], observed: Mapping[str, str | None] | None = None
               ) -> dict[str, object]:
    """The ``--format json`` document (``reports_templates/certs.schema.json``)."""
    out: list[dict[str, object]] = []
    for c in rows:
        r = readiness.get(c.host)
        out.append({
            "host": c.host, "branch": c.branch, "user": c.user, "subject_cn": c.subject_cn, "issuer": c.issuer,
            "not_after": c.not_after, "days_left": c.days_left, "expiry_class": c.expiry_class, "kind": c.kind,
            "has_private_key": c.has_private_key, "store": c.store, "thumbprint": c.thumbprint,
            "readiness": c.readiness, "readiness_label": text_json(STATE_LABELS[ReadinessState(c.readiness)]),
            "blockers": [{"check_id": b.check_id, "title": text_json(b.title), "status": b.status}
                         for b in (r.blockers if r is not None else [])],
            "observed": (observed or {}).get(c.host),
        })
    return {"run_id": run.run_id, "office": observed is not None, "certificates": out}


@click.command("certs")
@click.option("--expiring", type=int, default=None, metavar="DAYS",
              help="只列出 DAYS 天内到期的证书 / only certificates expiring within DAYS days")
@click.option("--run", "run_id", default=None,
              help="只列出这一次扫描（编号或 latest）；默认办公室现状 / this one run (id or latest); default: the office state")
@db_option
@format_option(("table", "json"), "table")
def certs_cmd(expiring: int | None, run_id: str | None, db_url: str | None, fmt: str) -> None:
    """全网关证书到期与更新就绪情况 / Every gateway certificate with days left and readiness."""
    lang = lang_of()
    lab = labels(lang)
    observed: dict[str, str | None] | None = None
    with Store.open(db_url) as store:
        state = store.office_state() if run_id is None else None
        if state is None:
            run = store.load_run(run_id or "latest")  # before any run: the store's "run fleetcheck scan first"
            model = build_report(run, lang=lang)
        else:
            run = state.run
            model = build_report(run, lang=lang, office=office_context(state))
            observed = {h.host: h.observed for h in model.hosts}
    rows = model.certificates
    if expiring is not None:
        rows = [c for c in rows if c.days_left is not None and c.days_left <= expiring]
    readiness = {h.host: host_readiness(h) for h in run.hosts}
    if fmt == "json":  # an empty list is a valid answer: no message on stdout
        echo_json(certs_json(run, rows, readiness, observed))
        return
    if not rows:
        where = T("办公室现状", "the office state") if observed is not None else T(f"扫描 {run.run_id}", f"run {run.run_id}")
        say(T(f"{where.zh}中没有符合条件的证书。", f"no matching certificates in {where.en}."))
        return
    scope = T("办公室现状", "office state").get(lang) if observed is not None else \
        f"{run.run_id} · {office_minute(run.started)}"
    zone = T(f"日期为 {office_zone().key} 日期", f"dates in {office_zone().key}").get(lang)  # expiry: the office's date
    table = Table(title=bold(f"{lab['certificates']} — {scope} · {zone}"))
    for key in ("days_left", "host", "user", "subject", "not_after", "kind", "readiness"):
        table.add_column(lab[key], justify="right" if key == "days_left" else "left")
    table.add_column(T("阻碍项", "blocking checks").get(lang))  # BLOCKED: which checks (issue 7)
    if observed is not None:
        table.add_column(LABELS["observed_at"].get(lang))  # when the PC's latest probe saw it, zone named
    for c in rows:
        days = "—" if c.days_left is None else str(c.days_left)
        blockers = readiness[c.host].blockers if c.host in readiness else []
        cells = [days, c.host, c.user or "", c.subject_cn or "", office_day(c.not_after),
                 c.kind or "", c.readiness_label, ", ".join(b.check_id for b in blockers)]
        if observed is not None:
            cells.append(office_stamp(observed.get(c.host)))
        add_row(table, *cells)
    console().print(table)
