"""A missing credssp/kerberos extra: those hosts get a ConfigurationError, the others are swept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from winrm import transport as winrm_transport

from fleetcheck.cli import main


@pytest.mark.parametrize("extra,flag", [("kerberos", "HAVE_KERBEROS"), ("credssp", "HAVE_CREDSSP")])
def test_missing_extra_is_a_host_result_not_an_abort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     extra: str, flag: str) -> None:
    monkeypatch.setattr(winrm_transport, flag, False)
    monkeypatch.setenv("FC_TEST_PW", "example")
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "all:\n  vars: {ansible_user: 'OFFICE\\\\fc', ansible_password: {env: FC_TEST_PW}, ansible_port: 1}\n"
        "  hosts:\n"
        f"    PC-EXTRA: {{ansible_host: 127.0.9.9, ansible_winrm_transport: {extra}, ansible_winrm_scheme: https}}\n"
        "    PC-NTLM: {ansible_host: 127.0.9.9}\n",
        encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["--lang", "en", "scan", "-i", str(inv), "--out", str(out), "--timeout", "5"])
    assert result.exit_code == 3, result.output  # some hosts not probed
    assert f"fleetcheck[{extra}]" in result.stderr and "1 host(s) get a ConfigurationError" in result.stderr
    hosts = {h["host"]: h for h in json.loads((out / "results.json").read_text(encoding="utf-8"))["hosts"]}
    assert hosts["PC-EXTRA"]["error_class"] == "ConfigurationError"
    assert f"fleetcheck[{extra}]" in hosts["PC-EXTRA"]["error"]["en"]
    assert hosts["PC-NTLM"]["error_class"] != "ConfigurationError"  # swept: it was tried (port 1 refuses)
