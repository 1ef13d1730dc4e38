"""Fix planner for ``installed_program``: only with an installer path given by the admin. Pure.

``--installer CHECK=PATH`` (``PlanOptions.installers``) names the installer on
the PC and its silent arguments; fleetcheck never downloads one, and an
installation is not reversible (rollback cannot uninstall).
"""

from __future__ import annotations

from fleetcheck.agent.contract import RunInstaller
from fleetcheck.checks import installed_program
from fleetcheck.i18n import T
from fleetcheck.remediate.proposal import FixContext, Proposal

__all__ = ["plan_installed_program"]


def plan_installed_program(spec: installed_program.Spec, fctx: FixContext) -> Proposal:
    """Run the installer the admin gave for this check, or say how to give one."""
    given = fctx.options.installers.get(spec.id)
    if given is None:
        return Proposal(manual=T(
            f"没有为 {spec.id} 指定安装程序：用 --installer {spec.id}=路径 指定（fleetcheck 不下载安装程序）",
            f"no installer given for {spec.id}: pass --installer {spec.id}=PATH (fleetcheck never downloads one)"))
    path, args = given
    action = RunInstaller(id=f"{spec.id}-1", path=path, args=list(args))
    shown = " ".join([path, *args])
    return Proposal(actions=(action,), diff=(T(f"运行安装程序 {shown}（不可回滚：需手动卸载）",
                                               f"run the installer {shown} (not reversible: uninstall by hand)"),))
