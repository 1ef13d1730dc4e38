"""The dashboard's HTTP side: a Starlette app with login, CSRF, security headers and the pages.

Build it with :func:`create_app`; ``fleetcheck serve`` runs it under uvicorn.
Pages (all need a login; Chinese by default, ``?lang=en`` or the ``lang``
cookie for English):

* ``/`` — the newest run: compliance, by branch and group (with a Rescan
  button per group), renewal readiness, trend, and the hosts with filters
  (``branch``, ``group``, ``status``, ``q``);
* ``/hosts/<name>`` — findings, the planned fix (dry-run diff, loaded from
  ``/hosts/<name>/preview``), the guard's verdict, **Fix this host** and
  **Rescan**, the host's audit entries and its latest job;
* ``/certificates``, ``/history``, ``/audit``, ``/jobs/<id>`` (+ ``.json``).

Pages read the office view (:mod:`fleetcheck.web.officeview`), not the store:
it is rebuilt in its own thread when a run is recorded. Long host tables are
paged (``page``, 200 rows). No handler blocks the event loop (see
:class:`Dashboard`).

Every POST (login, logout, fix, rescan) must carry the session's CSRF token
(form field ``csrf`` or header ``X-CSRF-Token``); every POST but login also
needs a logged-in session. Anything else is refused with 403 before the
handler runs, so nothing changes. Responses carry a CSP that allows only the
app's own script and style files (no inline script), ``X-Frame-Options:
DENY``, ``nosniff`` and ``no-referrer``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import anyio.to_thread
from anyio import CapacityLimiter
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetcheck.i18n import Lang, T, Text, tr
from fleetcheck.officetime import TEMPLATE_FILTERS
from fleetcheck.report.render import labels, trend_chart
from fleetcheck.report.scope import scope_label
from fleetcheck.report.timeline import build_timeline
from fleetcheck.resources import templates_dir
from fleetcheck.store import StoreError
from fleetcheck.store.audit import AuditLog
from fleetcheck.web.auth import (
    DEFAULT_SESSION_S,
    Credentials,
    LoginThrottle,
    Session,
    SessionStore,
    new_csrf_token,
    same_token,
)
from fleetcheck.web.fleet import Fleet, Preview
from fleetcheck.web.hosttimeline import TIMELINE_ENTRIES, timeline_labels, timeline_rows
from fleetcheck.web.jobs import HostBusy, JobBoard
from fleetcheck.web.officeview import OfficeView, OfficeViews, ViewUnavailable
from fleetcheck.web.views import HostFilter, audit_rows, filter_hosts, page_of, reasons_text

__all__ = ["SESSION_COOKIE", "create_app"]

SESSION_COOKIE = "fleetcheck_session"
MAX_BODY_BYTES = 64 * 1024  # forms here are tiny
PREVIEW_PROBES = 4  # previews probing at once (each may take the WinRM timeout); more wait, off the event loop
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
STATIC_FILES = {
    "report.css": ("report.css", "text/css; charset=utf-8"),
    "web.css": ("web/web.css", "text/css; charset=utf-8"),
    "dashboard.js": ("web/dashboard.js", "text/javascript; charset=utf-8"),
}

#: Fixed strings of the dashboard, both languages (the report's LABELS are merged in).
WEB_LABELS: dict[str, Text] = {
    "app": T("fleetcheck 仪表盘", "fleetcheck dashboard"),
    "nav_overview": T("概览", "Overview"),
    "nav_certs": T("证书", "Certificates"),
    "nav_history": T("历史", "History"),
    "nav_audit": T("审计", "Audit"),
    "logout": T("退出", "Log out"),
    "login": T("登录", "Log in"),
    "login_title": T("登录 fleetcheck 仪表盘", "Log in to the fleetcheck dashboard"),
    "username": T("用户名", "User name"),
    "password": T("密码", "Password"),
    "token_hint": T("未配置密码：请使用服务启动时在控制台打印的令牌作为密码。",
                    "No password is configured: use the token printed on the server console as the password."),
    "login_failed": T("用户名或密码错误。", "Wrong user name or password."),
    "login_throttled": T("此用户名在这台电脑上失败次数过多，请 {seconds} 秒后再试。",
                         "Too many failed attempts for this user from this computer; try again in {seconds} s."),
    "no_run": T("还没有扫描记录。请先运行 fleetcheck scan，或在此对分组重新扫描。",
                "No run recorded yet. Run fleetcheck scan first, or rescan a group here."),
    "filters": T("筛选", "Filter"),
    "apply": T("应用", "Apply"),
    "clear": T("清除", "Clear"),
    "any": T("全部", "All"),
    "rescan": T("重新扫描", "Rescan"),
    "rescan_group": T("重新扫描该组", "Rescan group"),
    "fix_host": T("修复此主机", "Fix this host"),
    "planned_fix": T("计划的修复（预演，尚未执行）", "Planned fix (dry run, nothing changed yet)"),
    "loading_plan": T("正在读取主机当前状态并计算修复计划…", "reading the host's current state and planning the fix…"),
    "guard": T("安全检查", "Safety check"),
    "guard_ok": T("当前允许修改：不在交易时段，未发现交易软件运行。",
                  "changes are allowed now: outside trading hours, no trading client running."),
    "guard_refused": T("当前不允许修改", "Changes are refused now"),
    "nothing_to_fix": T("没有可自动修复的项目。", "Nothing to fix automatically."),
    "manual_steps": T("需人工处理", "To do by hand"),
    "reboot": T("需要重启（安排在交易时段之外）", "needs a reboot (scheduled outside trading hours)"),
    "confirm_title": T("确认修复", "Confirm the fix"),
    "confirm_text": T("将在该主机上写入以上修改，每项修改都会记录在审计日志中并可回滚。",
                      "The changes above will be written on this host; each one is audited and can be rolled back."),
    "confirm": T("确认修复", "Fix now"),
    "cancel": T("取消", "Cancel"),
    "job": T("任务", "Job"),
    "job_state": T("状态", "State"),
    "progress": T("进度", "Progress"),
    "outcome": T("结果", "Outcome"),
    "last_job": T("最近的任务", "Latest job"),
    "audit_for_host": T("该主机的审计记录", "Audit entries for this host"),
    "audit": T("审计日志", "Audit log"),
    "audit_ok": T("哈希链完整", "hash chain intact"),
    "audit_bad": T("哈希链有问题", "hash chain problems"),
    "when": T("时间", "When"),
    "who": T("操作人", "Who"),
    "event": T("事件", "Event"),
    "forced": T("强制", "Forced"),
    "history": T("扫描历史", "Run history"),
    "run_scope": T("范围", "Scope"),
    "no_entries": T("暂无记录", "no entries"),
    "read_only": T("只读模式", "read-only"),
    "not_found": T("找不到该页面或主机。", "No such page or host."),
    "findings": T("检查结果", "Findings"),
    "host_not_in_run": T("该主机不在最新的扫描中。", "This host is not in the newest run."),
    "refused_csrf": T("请求被拒绝：缺少有效的会话或 CSRF 令牌。请刷新页面后重试。",
                      "Request refused: no valid session or CSRF token. Reload the page and try again."),
    "busy": T("已有任务在运行", "already running"),
    "view_job": T("查看任务", "view the job"),
    "view_updating": T("数据库有新的扫描结果，页面数据正在更新；当前显示的是更新前的数据，请稍后刷新。",
                       "the history database has new results and the page data is being updated; this page shows "
                       "the data before that, reload in a moment."),
    "view_not_ready": T("正在从历史数据库准备页面数据，请几秒后刷新。",
                        "the page data is still being prepared from the history database; reload in a few seconds."),
    "page": T("页", "page"),
    "prev_page": T("上一页", "previous"),
    "next_page": T("下一页", "next"),
}


def _labels(lang: Lang) -> dict[str, str]:
    merged = labels(lang)
    merged.update({k: v.get(lang) for k, v in WEB_LABELS.items()})
    return merged


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(templates_dir())),
                      autoescape=select_autoescape(default_for_string=True, default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(TEMPLATE_FILTERS)  # the report's partials show times in office time, zone named
    env.filters["run_scope"] = lambda run, lang: scope_label(run).get(lang)  # what a run set out to see
    return env


class SecurityHeaders:
    """Pure ASGI middleware adding the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                for name, value in (("content-security-policy", CSP), ("x-frame-options", "DENY"),
                                    ("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer"),
                                    ("cache-control", "no-store")):
                    headers.append((name.encode("latin-1"), value.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def request_lang(request: Request) -> Lang:
    asked = request.query_params.get("lang") or request.cookies.get("lang")
    return "en" if asked == "en" else "zh"


def safe_next(target: str | None) -> str:
    """Only a local path may follow a login (no open redirect to another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return parts.path + (f"?{parts.query}" if parts.query else "")


Handler = Callable[[Request], Awaitable[Response]]
SyncHandler = Callable[[Request], Response]
WARM_JOIN_S = 5.0  # at shutdown, wait this long for a view rebuild to end


class Dashboard:
    """Routes and their shared state (fleet, jobs, credentials, the office view).

    Threads: every handler but :meth:`static` is a plain function that the
    wrappers (:meth:`page`, :meth:`action`, :meth:`offload`) run in a worker
    thread, so no store read, password hash, template render or probe ever runs
    on the event loop. Previews (a WinRM probe, up to the host timeout) have
    their own :data:`PREVIEW_PROBES` threads, so slow PCs cannot use up the
    threads the pages need, and previews of one host share its probe. Fixes
    and rescans are jobs (:mod:`fleetcheck.web.jobs`). Shared state is
    thread-safe: the session store, throttle and job board lock; the office
    views are immutable snapshots; the fleet's caches lock; the store's engine
    pools its connections.
    """

    def __init__(self, fleet: Fleet, credentials: Credentials, board: JobBoard,
                 sessions: SessionStore | None = None) -> None:
        self.fleet = fleet
        self.credentials = credentials
        self.board = board
        self.throttle = LoginThrottle()
        self.sessions = sessions or SessionStore()
        self.views = OfficeViews(fleet.store)
        self.preview_limiter = CapacityLimiter(PREVIEW_PROBES)
        self._previewing: dict[str, threading.Lock] = {}  # one probe per host at a time (inventory hosts only)
        self._previewing_lock = threading.Lock()

    def update_credentials(self, credentials: Credentials) -> None:
        """New users/password hashes: sessions opened with a changed credential end at their next request."""
        self.credentials = credentials

    # ------------------------------------------------------------------ plumbing
    def session(self, request: Request) -> Session | None:
        """The live server-side session of this browser, if any (the cookie holds only its id)."""
        return self.sessions.get(request.session.get("sid"), self.credentials)

    def user_of(self, request: Request) -> str | None:
        live = self.session(request)
        return live.user if live is not None else None

    def csrf(self, request: Request) -> str:
        live = self.session(request)
        if live is not None:
            return live.csrf
        token = request.session.get("csrf")  # before login: a token for the login form only
        if not isinstance(token, str) or not token:
            token = new_csrf_token()
            request.session["csrf"] = token
        return token

    @staticmethod
    def client_address(request: Request) -> str:
        return request.client.host if request.client is not None else "?"

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        lang = request_lang(request)
        body = _environment().get_template(template).render(
            L=_labels(lang), lang=lang, html_lang="en" if lang == "en" else "zh-CN", user=self.user_of(request),
            csrf=self.csrf(request), path=request.url.path, read_only=self.fleet.why_read_only(), tr=tr,
            updating=getattr(request.state, "view_updating", False), **context)
        response = HTMLResponse(body, status_code=status)
        self._remember_lang(request, response)
        return response

    @staticmethod
    def _remember_lang(request: Request, response: Response) -> None:
        asked = request.query_params.get("lang")
        if asked in ("zh", "en"):
            response.set_cookie("lang", asked, max_age=365 * 86400, httponly=True, samesite="strict")

    def refused(self, request: Request) -> Response:
        lang = request_lang(request)
        return Response(tr(WEB_LABELS["refused_csrf"], lang), status_code=403, media_type="text/plain; charset=utf-8")

    def view(self, request: Request) -> OfficeView:
        """The office view for this request (blocking: only from a worker thread). A view older than
        the store (its rebuild still running) makes the page say so."""
        view, fresh = self.views.lookup()
        request.state.view_updating = not fresh
        return view

    @staticmethod
    async def _in_thread(handler: SyncHandler, request: Request, limiter: CapacityLimiter | None = None) -> Response:
        try:
            return await anyio.to_thread.run_sync(handler, request, limiter=limiter)
        except ViewUnavailable:
            return Response(tr(WEB_LABELS["view_not_ready"], request_lang(request)), status_code=503,
                            media_type="text/plain; charset=utf-8", headers={"Retry-After": "5"})

    def offload(self, handler: SyncHandler) -> Handler:
        """Any GET: run the handler in a worker thread, off the event loop."""
        async def wrapped(request: Request) -> Response:
            return await self._in_thread(handler, request)
        return wrapped

    def page(self, handler: SyncHandler, *, limiter: CapacityLimiter | None = None) -> Handler:
        """A GET page: log in first; the handler runs in a worker thread (``limiter``: whose threads)."""
        async def wrapped(request: Request) -> Response:
            if self.session(request) is None:
                return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
            return await self._in_thread(handler, request, limiter)
        return wrapped

    def action(self, handler: SyncHandler, *, login: bool = True) -> Handler:
        """A POST: refused with 403 unless the session exists (and is logged in) and the CSRF token matches.

        A form body is read here (on the event loop, it is I/O) and left in ``request.state.form``;
        the handler then runs in a worker thread."""
        async def wrapped(request: Request) -> Response:
            live = self.session(request)
            if login and live is None:
                return self.refused(request)
            expected = live.csrf if live is not None else request.session.get("csrf")
            request.state.form = None
            content_type = request.headers.get("content-type", "")
            if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                request.state.form = await request.form()
            given = request.headers.get("x-csrf-token")
            if given is None and request.state.form is not None:
                value = request.state.form.get("csrf")
                given = value if isinstance(value, str) else None
            if not same_token(given, expected if isinstance(expected, str) else None):
                return self.refused(request)
            return await self._in_thread(handler, request)
        return wrapped

    @staticmethod
    def form_value(request: Request, name: str) -> str:
        form = getattr(request.state, "form", None)
        value = form.get(name) if form is not None else None
        return value if isinstance(value, str) else ""

    @staticmethod
    def wants_json(request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "")

    def who(self, request: Request) -> str:
        return f"web:{self.user_of(request)}"

    # ------------------------------------------------------------------ login
    def login_form(self, request: Request) -> Response:
        if self.session(request) is not None:
            return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
        return self.render(request, "web/login.html.j2", error=None, next=safe_next(request.query_params.get("next")),
                           token_mode=not self.credentials.users)

    def login(self, request: Request) -> Response:
        target = safe_next(self.form_value(request, "next") or "/")
        lang = request_lang(request)
        user = self.form_value(request, "username")
        address = self.client_address(request)
        wait = self.throttle.retry_after(user, address)
        if wait > 0:
            response = self.render(request, "web/login.html.j2", status=429,
                                   error=tr(WEB_LABELS["login_throttled"], lang).format(seconds=int(wait) + 1),
                                   next=target, token_mode=not self.credentials.users)
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        name = self.credentials.authenticate(user, self.form_value(request, "password"))  # scrypt: CPU, off the loop
        if name is None:
            self.throttle.failed(user, address)
            return self.render(request, "web/login.html.j2", status=401, error=tr(WEB_LABELS["login_failed"], lang),
                               next=target, token_mode=not self.credentials.users)
        self.throttle.succeeded(user, address)
        self.sessions.revoke(request.session.get("sid"))
        sid, _ = self.sessions.open(name, self.credentials.fingerprint(name))
        request.session.clear()  # a fresh session id (and CSRF token) after login: no fixation
        request.session["sid"] = sid
        return RedirectResponse(target, status_code=303)

    def logout(self, request: Request) -> Response:
        self.sessions.revoke(request.session.get("sid"))  # the old cookie is worthless from now on
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # ------------------------------------------------------------------ pages
    def overview(self, request: Request) -> Response:
        lang = request_lang(request)
        view = self.view(request)
        model = view.report(lang)
        flt = HostFilter.from_query(request.query_params)
        hosts = page_of(filter_hosts(model, flt) if model is not None else [], request.query_params.get("page"))
        return self.render(request, "web/overview.html.j2", m=model, hosts=hosts, flt=flt,
                           page_link=lambda number: "/?" + flt.query(number),
                           chart=trend_chart(model.trend) if model is not None else None, groups=list(view.groups),
                           inventory_groups=sorted(self.fleet.inventory.groups) if self.fleet.inventory else [])

    def host_page(self, request: Request) -> Response:
        name = request.path_params["name"]
        lang = request_lang(request)
        view = self.view(request)
        host = view.host(lang, name)
        recorded = self.fleet.store.host_timeline(name, TIMELINE_ENTRIES)  # a PC gone from the inventory keeps its page
        if host is None and self.fleet.host_spec(name) is None and not recorded.known:
            return self.render(request, "web/error.html.j2", status=404, message=tr(WEB_LABELS["not_found"], lang))
        entries = AuditLog(self.fleet.store).entries(host=name, limit=20)
        job = next((j for j in self.board.recent(200) if name in j.hosts), None)
        return self.render(request, "web/host.html.j2", m=view.report(lang), h=host, name=name,
                           audit=audit_rows(entries), job=job.view(lang) if job else None,
                           timeline=timeline_rows(build_timeline(recorded, TIMELINE_ENTRIES), lang) if recorded.known else [],
                           TL=timeline_labels(lang), TL_max=TIMELINE_ENTRIES)

    def host_preview(self, request: Request) -> Response:
        """The planned fix: probes the PC (blocking, up to its timeout) in one of the preview threads."""
        name = request.path_params["name"]
        lang = request_lang(request)
        busy = self.board.busy_job(name)
        try:
            preview = self._preview(name) if busy is None else None
            return self.render(request, "web/_preview.html.j2", p=preview, name=name, busy=busy,
                               reasons=reasons_text(preview.decision.reasons, lang) if preview and preview.decision else "")
        except Exception as exc:  # noqa: BLE001 - one host's odd data is that host's message, never a 500
            why = type(exc).__name__
            failed = Preview(name, None, None, None, T(f"无法预览此主机的修复（{why}），请报告此问题",
                                                       f"cannot preview this host's fix ({why}); please report it"))
            return self.render(request, "web/_preview.html.j2", p=failed, name=name, busy=None, reasons="")

    def _preview(self, name: str) -> Preview:
        """Previews of one host share its probe: a second one waits for the first, then reads its
        cached facts (a reloaded page must not start another probe of a slow PC)."""
        if self.fleet.host_spec(name) is None:
            return self.fleet.preview(name)  # says why, without probing
        with self._previewing_lock:
            lock = self._previewing.setdefault(name, threading.Lock())
        with lock:
            return self.fleet.preview(name)

    def certificates(self, request: Request) -> Response:
        """One page of certificates (soonest expiry first); the readiness summary counts them all."""
        model = self.view(request).report(request_lang(request))
        if model is None:
            return self.render(request, "web/certificates.html.j2", m=None)
        certs = page_of(model.certificates, request.query_params.get("page"))
        return self.render(request, "web/certificates.html.j2", m=dataclasses.replace(model, certificates=list(certs.rows)),
                           certs=certs, page_link=lambda number: f"/certificates?page={number}")

    def history(self, request: Request) -> Response:
        view = self.view(request)
        model = view.report(request_lang(request))
        return self.render(request, "web/history.html.j2", runs=list(view.runs),
                           chart=trend_chart(model.trend) if model is not None else None)

    def audit(self, request: Request) -> Response:
        log = AuditLog(self.fleet.store)
        host = request.query_params.get("host") or None
        rows = audit_rows(log.entries(host=host, limit=500))
        problems = log.verify()
        return self.render(request, "web/audit.html.j2", rows=rows, host=host or "", problems=problems)

    def job_page(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        lang = request_lang(request)
        job = self.board.get(job_id.removesuffix(".json"))
        if job is None:
            if job_id.endswith(".json"):
                return JSONResponse({"error": tr(WEB_LABELS["not_found"], lang)}, status_code=404)
            return self.render(request, "web/error.html.j2", status=404, message=tr(WEB_LABELS["not_found"], lang))
        if job_id.endswith(".json"):
            return JSONResponse(job.view(lang))
        return self.render(request, "web/job.html.j2", job=job.view(lang))

    # ------------------------------------------------------------------ actions
    def _started(self, request: Request, submit: Callable[[], Any]) -> Response:
        lang = request_lang(request)
        try:
            job = submit()
        except HostBusy as exc:
            message = tr(exc.text, lang)
            if self.wants_json(request):
                return JSONResponse({"error": message, "job": exc.job_id, "url": f"/jobs/{exc.job_id}"}, status_code=409)
            return self.render(request, "web/error.html.j2", status=409, message=message, job_id=exc.job_id)
        if self.wants_json(request):
            return JSONResponse({"job": job.id, "url": f"/jobs/{job.id}"}, status_code=202)
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    def _read_only(self, request: Request) -> Response | None:
        why = self.fleet.why_read_only()
        if why is None:
            return None
        message = tr(why, request_lang(request))
        if self.wants_json(request):
            return JSONResponse({"error": message}, status_code=409)
        return self.render(request, "web/error.html.j2", status=409, message=message)

    def _known(self, request: Request, name: str) -> Response | None:
        if self.fleet.host_spec(name) is not None:
            return None
        message = tr(T(f"清单中没有主机 {name}", f"host {name} is not in the inventory"), request_lang(request))
        if self.wants_json(request):
            return JSONResponse({"error": message}, status_code=404)
        return self.render(request, "web/error.html.j2", status=404, message=message)

    def fix(self, request: Request) -> Response:
        name = request.path_params["name"]
        refusal = self._read_only(request) or self._known(request, name)
        if refusal is not None:
            return refusal
        who = self.who(request)
        return self._started(request, lambda: self.board.submit(
            "fix", [name], who, lambda job: self.fleet.fix(job, name, who)))

    def rescan_host(self, request: Request) -> Response:
        name = request.path_params["name"]
        refusal = self._read_only(request) or self._known(request, name)
        if refusal is not None:
            return refusal
        return self._started(request, lambda: self.board.submit(
            "rescan", [name], self.who(request), lambda job: self.fleet.rescan(job, [name])))

    def rescan_group(self, request: Request) -> Response:
        group = request.path_params["group"]
        refusal = self._read_only(request)
        if refusal is not None:
            return refusal
        assert self.fleet.inventory is not None
        members = [n for n, spec in self.fleet.inventory.hosts.items() if group in spec.groups or group == "all"]
        if not members:
            lang = request_lang(request)
            return self.render(request, "web/error.html.j2", status=404, message=tr(
                T(f"清单中没有分组 {group}", f"no group {group} in the inventory"), lang))
        return self._started(request, lambda: self.board.submit(
            "rescan", members, self.who(request), lambda job: self.fleet.rescan(job, members)))

    async def static(self, request: Request) -> Response:
        entry = STATIC_FILES.get(request.path_params["file"])
        if entry is None:
            return Response("not found", status_code=404, media_type="text/plain")
        path: Path = templates_dir() / entry[0]
        return FileResponse(path, media_type=entry[1])


def _no_icon(request: Request) -> Response:
    """Browsers ask for it on every visit; no icon, and no 404 in their consoles."""
    return Response(status_code=204)


def create_app(fleet: Fleet, credentials: Credentials, *, secret_key: str | None = None,
               workers: int = 4, board: JobBoard | None = None,
               session_s: float = DEFAULT_SESSION_S) -> Starlette:
    """The dashboard ASGI app. ``secret_key`` signs the session cookie (random per start when None);
    sessions themselves live on the server for ``session_s`` seconds, so a restart logs everyone out."""
    dash = Dashboard(fleet, credentials, board or JobBoard(workers), SessionStore(session_s))
    routes = [
        Route("/login", dash.offload(dash.login_form), methods=["GET"]),
        Route("/login", dash.action(dash.login, login=False), methods=["POST"]),
        Route("/logout", dash.action(dash.logout), methods=["POST"]),
        Route("/", dash.page(dash.overview), methods=["GET"]),
        Route("/hosts/{name}", dash.page(dash.host_page), methods=["GET"]),
        Route("/hosts/{name}/preview", dash.page(dash.host_preview, limiter=dash.preview_limiter), methods=["GET"]),
        Route("/hosts/{name}/fix", dash.action(dash.fix), methods=["POST"]),
        Route("/hosts/{name}/rescan", dash.action(dash.rescan_host), methods=["POST"]),
        Route("/groups/{group}/rescan", dash.action(dash.rescan_group), methods=["POST"]),
        Route("/certificates", dash.page(dash.certificates), methods=["GET"]),
        Route("/history", dash.page(dash.history), methods=["GET"]),
        Route("/audit", dash.page(dash.audit), methods=["GET"]),
        Route("/jobs/{job_id}", dash.page(dash.job_page), methods=["GET"]),
        Route("/static/{file}", dash.static, methods=["GET"]),
        Route("/favicon.ico", _no_icon, methods=["GET"]),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=secret_key or secrets.token_urlsafe(32), session_cookie=SESSION_COOKIE,
                   max_age=int(session_s), same_site="strict", https_only=False),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        with contextlib.suppress(StoreError):  # the first page shows the store's error
            await anyio.to_thread.run_sync(dash.views.refresh)  # build the first view now, in its own thread
        try:
            yield
        finally:
            dash.board.shutdown()
            await anyio.to_thread.run_sync(dash.views.wait_idle, WARM_JOIN_S)

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan, max_body_size=MAX_BODY_BYTES)
    app.state.dashboard = dash
    return app
