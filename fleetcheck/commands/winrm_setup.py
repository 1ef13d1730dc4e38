"""``fleetcheck winrm-setup``: write the WinRM enablement kit for one controller (see fleetcheck.winrmsetup)."""

from __future__ import annotations

from pathlib import Path

import click

from fleetcheck.commands.common import fail, say
from fleetcheck.i18n import T
from fleetcheck.winrmsetup import SetupOptions, write_kit

DEFAULT_OUT = "fleetcheck-winrm-setup"


@click.command(name="winrm-setup")
@click.option("--controller", required=True,
              help="控制机（运行 fleetcheck 的电脑）的 IP 地址或主机名 / the controller's IP address or host name")
@click.option("--https", is_flag=True, help="HTTPS 监听器（5986）而非 HTTP（5985）/ an HTTPS listener (5986), not HTTP (5985)")
@click.option("--cert-thumbprint", default=None,
              help="HTTPS 证书的指纹（Windows 7 必需）/ the HTTPS certificate's thumbprint (needed on Windows 7)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path(DEFAULT_OUT), show_default=True,
              help="写入的目录 / folder to write into")
def winrm_setup(controller: str, https: bool, cert_thumbprint: str | None, out_dir: Path) -> None:
    """写出启用 WinRM 的脚本、撤销脚本和组策略说明 / write the WinRM enablement kit."""
    options = SetupOptions.parse(controller, https=https, cert_thumbprint=cert_thumbprint)  # SetupError: exit 2
    try:
        written = write_kit(out_dir, options)
    except OSError as exc:
        fail(T(f"无法写入 {out_dir}：{exc.strerror}", f"cannot write {out_dir}: {exc.strerror}"))
    for path in written:
        say(str(path))
    say(T(f"在每台电脑上以管理员身份运行 enable-winrm.cmd 一次（只允许 {options.controller} 连接 TCP {options.port}）；"
          "原值记录在脚本旁的 winrm-prior-<计算机名>.txt，undo-winrm.cmd 可恢复。域环境请用 group-policy.md。",
          f"Run enable-winrm.cmd once as administrator on each PC (only {options.controller} may connect, "
          f"TCP {options.port}); prior values go to winrm-prior-<COMPUTERNAME>.txt beside it and "
          "undo-winrm.cmd restores them. In a domain, use group-policy.md."))


__all__ = ["winrm_setup"]
