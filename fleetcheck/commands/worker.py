"""``fleetcheck worker``: a Celery worker sweeping the hosts of the branch queues it serves.

Run one or more inside each branch network (README "Many branches / 多营业部")::

    fleetcheck worker --broker redis://broker.hq:6379/0 -i branch.yaml --queue 深圳

It reads its own inventory (``-i``): every job names a host, and the worker
connects with that inventory's settings and password (``{env: …}`` and
``{keyring: …}`` resolved here; no password ever crosses the broker, see
:mod:`fleetcheck.distributed.secrets`). With no ``--queue`` it serves every
queue its inventory's hosts route to. ``--concurrency`` hosts at once (a
thread pool). SIGTERM or Ctrl-C: finish the hosts in flight, then exit; a
SIGKILL leaves them un-acknowledged, and the broker gives them to another
worker after ``--visibility-timeout`` seconds.
"""

from __future__ import annotations

from pathlib import Path

import click

from fleetcheck.commands.common import say
from fleetcheck.commands.options import inventory_option
from fleetcheck.distributed.app import DEFAULT_VISIBILITY_TIMEOUT_S, safe_url
from fleetcheck.i18n import T, Text

BROKER_HELP = "消息代理地址，如 redis://主机:6379/0 / broker URL, e.g. redis://host:6379/0"

#: ``--broker URL`` (also ``FLEETCHECK_BROKER``), shared with ``scan --executor celery``.
broker_option = click.option("--broker", "broker_url", envvar="FLEETCHECK_BROKER", required=True,
                             metavar="URL", help=BROKER_HELP)


@click.command(name="worker")
@broker_option
@inventory_option
@click.option("--queue", "queues", multiple=True, metavar="NAME",
              help="服务的营业部队列（清单中的 branch 或 queue 值），可重复；默认为清单中的全部 / "
                   "branch queue to serve (the inventory's branch or queue value), repeatable; default: all of the inventory's")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="同时处理的主机数 / hosts at once")
@click.option("--visibility-timeout", "visibility_timeout_s", type=click.FloatRange(2, 86400),
              default=DEFAULT_VISIBILITY_TIMEOUT_S, show_default=True,
              help="worker 中途退出后多久（秒）将其任务重新投递；须大于每台主机的时限 / "
                   "seconds before a lost worker's jobs are delivered again; must exceed the host deadline")
@click.option("--name", default=None, help="worker 名称（默认 主机名-进程号）/ worker name (default host-pid)")
def worker(broker_url: str, inventory_path: Path, queues: tuple[str, ...], concurrency: int,
           visibility_timeout_s: float, name: str | None) -> None:
    """运行分布式扫描 worker（Celery）/ run a distributed sweep worker (Celery)."""
    from fleetcheck.distributed.app import check_url
    from fleetcheck.distributed.tasks import run_worker

    check_url(broker_url)
    say(_starting(broker_url, queues, concurrency), err=True)
    run_worker(broker_url, inventory_path, queues, concurrency, visibility_timeout_s=visibility_timeout_s, name=name)


def _starting(broker_url: str, queues: tuple[str, ...], concurrency: int) -> Text:
    shown = ", ".join(queues) if queues else None
    return T(f"worker 启动：消息代理 {safe_url(broker_url)}，队列 {shown or '清单中的全部营业部'}，并发 {concurrency}",
             f"worker starting: broker {safe_url(broker_url)}, queues {shown or 'every branch of the inventory'}, "
             f"{concurrency} at once")
