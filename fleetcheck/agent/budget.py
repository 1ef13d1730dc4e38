"""What an agent action may take of the round trip, and what its errors mean.

Pure helpers shared by the controllers (fix, renew) and tested on their own:

* :func:`action_wait_ms`: how long the agent may wait for a task or an
  installer inside one WinRM command. The controller deletes the shell when
  its host deadline passes, and WinRM ends every process of a deleted shell:
  an agent still polling then is killed with its child (the installer) and
  cannot clean up. So the agent's own wait must end well before the deadline,
  leaving room for PowerShell's start-up, the reads, the answer's transfer
  and the clean-up.
* :func:`explain_action_error`: the agent's English error text (agent.ps1 is
  ASCII-only), recognised by its marks, as a bilingual message that names the
  cause and the remedy; an unknown text is passed through in both languages.
"""

from __future__ import annotations

from fleetcheck.i18n import T, Text

__all__ = ["RESERVE_S", "action_wait_ms", "explain_action_error"]

# Start-up (0.5-2 s on Windows 7), reads, transfer of up to 16 MiB, clean-up.
RESERVE_S = 30.0
MIN_WAIT_MS = 5000


def action_wait_ms(host_timeout_s: float, wanted_ms: int) -> int:
    """``wanted_ms``, shortened so that the agent's wait ends inside the host deadline.

    >>> action_wait_ms(120, 600_000)
    90000
    >>> action_wait_ms(3600, 600_000)
    600000
    >>> action_wait_ms(20, 60_000)
    5000
    """
    budget = int((host_timeout_s - RESERVE_S) * 1000)
    return max(MIN_WAIT_MS, min(wanted_ms, budget))


_MARKS: tuple[tuple[str, Text], ...] = (
    (
        "second hop",
        T(
            "安装程序位于网络共享上，WinRM 会话无法读取（第二跳：NTLM 或 Basic 登录没有网络凭据）。"
            "请先把安装程序复制到该电脑本地（例如 C:\\Windows\\Temp），或改用 CredSSP / Kerberos 委派连接",
            "the installer is on a network share that this WinRM session cannot read (second hop: an NTLM or "
            "Basic logon has no network credentials). Copy the installer to the PC first (e.g. C:\\Windows\\Temp), "
            "or connect with CredSSP or Kerberos delegation",
        ),
    ),
    (
        "WinRM ends it with this command's shell",
        T(
            "安装程序在等待时间内未结束；WinRM 关闭会话时会终止它，因此安装未完成。请加大 --timeout 后重试，或手动安装",
            "the installer had not finished within the wait; WinRM ends it when the session closes, so it did "
            "not complete. Retry with a longer --timeout, or install by hand",
        ),
    ),
    (
        "too large to back up",
        T(
            "文件过大，无法随回答带回备份（每次请求的备份上限 8 MiB）：未做任何更改",
            "the file is too large for its backup to travel back in the answer (8 MiB of backups per request): "
            "nothing was changed",
        ),
    ),
    (
        "the import task did not finish within",
        T(
            "用户会话中的导入任务未在时限内完成（操作员会话忙或被锁定？）；临时文件夹和任务已清除，可稍后重试",
            "the import task in the user's session did not finish in time (session busy or locked?); its "
            "folder and task were removed, retry later",
        ),
    ),
    (
        "a fleetcheck reboot is already scheduled",
        T(
            "已有一个 fleetcheck 计划重启在等待：未再安排",
            "a fleetcheck reboot is already scheduled and waiting: no second one was scheduled",
        ),
    ),
)


def explain_action_error(error: str) -> Text:
    """A bilingual message for an agent action error (Chinese first).

    >>> explain_action_error("installer on a network share ... (second hop: ...)").en.startswith("the installer")
    True
    >>> explain_action_error("installer exit code 1603").zh
    'installer exit code 1603'
    """
    for mark, text in _MARKS:
        if mark in error:
            return T(f"{text.zh}（代理原文：{error}）", f"{text.en} (agent: {error})")
    return T(error, error)
