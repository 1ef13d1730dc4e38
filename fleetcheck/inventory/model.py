"""What the inventory resolves to: one ``HostSpec`` per PC, with its connection settings.

A ``HostSpec`` is pure, serialisable data (pydantic): it is half of the
"sweep one host" job the runner hands to an executor (DESIGN "Scale-out").
The password travels as a :class:`pydantic.SecretStr`, whose ``repr``/``str``
and JSON dump are masked; only the transport calls ``get_secret_value()``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from fleetcheck.i18n import Text
from fleetcheck.yamlfile import UserFileError

AuthTransport = Literal["ntlm", "kerberos", "credssp", "basic"]
Scheme = Literal["http", "https"]
CertValidation = Literal["validate", "ignore"]

# Inventory variables that configure the connection; every other variable is a
# host variable a policy may reference ("{{ host.gateway_cert }}").
CONNECTION_VARS = frozenset(
    {
        "ansible_host",
        "ansible_port",
        "ansible_user",
        "ansible_password",
        "ansible_connection",
        "ansible_winrm_transport",
        "ansible_winrm_scheme",
        "ansible_winrm_server_cert_validation",
        "ansible_winrm_ca_trust_path",
        "ansible_winrm_path",
        "ansible_winrm_message_encryption",
    }
)
SECRET_VARS = frozenset({"ansible_password"})


class InventoryError(UserFileError):
    """A bad inventory: every issue as ``file:line:col: message`` with the source line.

    A sibling of ``PolicyError`` in the one family of bad user files
    (``fleetcheck.yamlfile.UserFileError``); ``format(lang)`` renders all issues.
    """


class HostVarsError(UserFileError):
    """A host variables file (``evaluate --host-vars``) that cannot be used; issues at ``file:line:col``."""


class HostSpec(BaseModel):
    """One PC: where it is, how to connect, and its inventory variables.

    ``host_vars`` holds the merged variables minus secrets, for policies
    (``{{ host.gateway_cert }}``), ``when: host:`` and waivers.

    >>> HostSpec(name="PC-SZ-001", address="10.1.2.3").endpoint
    'https://10.1.2.3:5986/wsman'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    address: str
    port: int | None = Field(default=None, ge=1, le=65535)
    scheme: Scheme | None = None
    user: str | None = None
    password: SecretStr | None = None
    auth: AuthTransport = "ntlm"
    cert_validation: CertValidation = "validate"
    ca_trust_path: str | None = None
    wsman_path: str = "/wsman"
    groups: tuple[str, ...] = ()
    host_vars: dict[str, Any] = Field(default_factory=dict)

    @property
    def effective_scheme(self) -> Scheme:
        """Ansible's rule: https unless the port is 5985 or http is asked for."""
        if self.scheme is not None:
            return self.scheme
        return "http" if self.port == 5985 else "https"

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 5985 if self.effective_scheme == "http" else 5986

    @property
    def endpoint(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.effective_scheme}://{host}:{self.effective_port}{self.wsman_path}"

    @property
    def branch(self) -> str | None:
        value = self.host_vars.get("branch")
        return None if value is None else str(value)

    @property
    def operator(self) -> str | None:
        value = self.host_vars.get("operator")
        return None if value is None else str(value)


class Inventory(BaseModel):
    """All hosts (in file order) and every group's member host names.

    ``groups``: every member (also through child groups); ``group_hosts``: the
    hosts listed in the group itself; ``group_children``: its child groups
    (sorted) — the shape ``ansible-inventory --list`` prints.
    """

    model_config = ConfigDict(frozen=True)

    source: str
    hosts: dict[str, HostSpec]
    groups: dict[str, tuple[str, ...]]
    group_hosts: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    group_children: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    warnings: tuple[Text, ...] = ()
