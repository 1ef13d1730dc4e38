"""Credentials never cross the broker: jobs carry no password; each worker uses its own inventory.

The choice (issue 18): a job on the broker is a :class:`~fleetcheck.runner.SweepJob`
whose host has **no password at all** (:func:`job_for_broker` sets it to
``None`` before the job is serialised; a masked ``**********`` is not sent
either). The worker reads its own copy of the inventory at start
(``fleetcheck worker --inventory FILE``) and resolves ``{env: NAME}`` and
``{keyring: service/user}`` there, in its own environment or keyring — or reads
a literal password from that file, which is the worker machine's business and
never travels. Nothing is encrypted because nothing secret is sent.

For every job the worker connects with **its own** host entry
(:meth:`WorkerHosts.spec_for`): address, port, scheme, user, transport and
password all come from the worker's inventory, the job contributes only the
host name, the request and the deadline. A job naming a host the worker does
not know, or whose connection settings differ from the worker's (the two
inventories disagree, or someone forged a job to steer a password to another
address), is refused: that host's result is a ``ConfigurationError`` saying why.

On the controller, a password typed at ``--ask-pass`` cannot reach the workers
without crossing the broker, so ``--executor celery`` refuses it
(:func:`refuse_prompted_password`).
"""

from __future__ import annotations

from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import T, Text
from fleetcheck.inventory.model import HostSpec, Inventory
from fleetcheck.runner import SweepJob
from fleetcheck.yamlfile import Issue

# The connection settings a job and the worker's inventory must agree on.
_CONNECTION_FIELDS = ("address", "port", "scheme", "user", "auth", "cert_validation", "wsman_path")


class PromptedPasswordError(FleetcheckError):
    """``--ask-pass`` with ``--executor celery``: the typed password would have to cross the broker."""


def refuse_prompted_password(ask_pass: bool) -> None:
    """Raise when a password typed at the prompt would have to reach the workers."""
    if ask_pass:
        raise PromptedPasswordError(T(
            "--ask-pass 不能与 --executor celery 一起使用：输入的密码无法不经消息代理送到 worker。"
            "请在 worker 的清单中使用 {env: 变量名} 或 {keyring: 服务/用户}",
            "--ask-pass cannot be used with --executor celery: a typed password cannot reach the "
            "workers without crossing the broker. Use {env: NAME} or {keyring: service/user} in the "
            "workers' inventory"))


def job_for_broker(job: SweepJob) -> SweepJob:
    """``job`` with its host's password removed (``None``): what goes onto the broker."""
    if job.host.password is None:
        return job
    return job.model_copy(update={"host": job.host.model_copy(update={"password": None})})


class WorkerHosts:
    """A worker's own inventory: the connection (and password) of every host it may sweep."""

    def __init__(self, inventory: Inventory, credential_issues: dict[str, list[Issue]] | None = None) -> None:
        self.inventory = inventory
        self.credential_issues = credential_issues or {}

    def spec_for(self, job: SweepJob) -> HostSpec | Text:
        """The worker's HostSpec for the job's host, or why this worker cannot sweep it."""
        name = job.host.name
        own = self.inventory.hosts.get(name)
        if own is None:
            return T(f"{name}：worker 的清单中没有这台主机（{self.inventory.source}）",
                     f"{name}: this host is not in the worker's inventory ({self.inventory.source})")
        differ = [f for f in _CONNECTION_FIELDS if getattr(own, f) != getattr(job.host, f)]
        if differ:
            fields = ", ".join(differ)
            return T(f"{name}：控制端与 worker 的清单对这台主机的连接设置不一致（{fields}）；worker 拒绝连接",
                     f"{name}: the controller's and the worker's inventories disagree about this host's "
                     f"connection ({fields}); the worker refuses to connect")
        issues = self.credential_issues.get(name)
        if issues:
            # The issue's message only: never the inventory line it points at.
            return T(f"{name}：worker 无法取得密码：" + "；".join(i.message.zh for i in issues),
                     f"{name}: the worker cannot get the password: " + "; ".join(i.message.en for i in issues))
        return own

    def job_with_credentials(self, job: SweepJob) -> SweepJob | Text:
        """``job`` with the worker's own host entry (password included), or why not."""
        spec = self.spec_for(job)
        if isinstance(spec, HostSpec):
            return job.model_copy(update={"host": spec})
        return spec

