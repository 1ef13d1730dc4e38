"""Benchmark: ``fleetcheck renew --apply`` over a simulated office (real WinRM on loopback).

    /work/venv/bin/python benchmarks/renew.py [--hosts N] [--forks F] [--first-address 127.0.88.1]

Starts N simulated PCs (operator logged on, no trading client, certificate in
the renewal window), makes one PFX per host signed by the simulated SCCC CA,
then times PFX validation alone, the dry run and the applied run (probe, guard,
import, re-probe verification per host). The simulator charges its cost model
(import_pfx ≈ 2.5 s of simulated agent time is *not* slept; only the protocol
and Python work are real). The last line is exactly::

    hosts=N validate_s=<s> dry_run_s=<s> apply_s=<s> installed=<n>
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from fleetcheck.inventory import PasswordSources, load_inventory
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.remediate.guard import Guard, TradingCalendar
from fleetcheck.renew.apply import Renewal, RenewalOptions, read_drop
from fleetcheck.renew.passwords import PfxPassword
from fleetcheck.renew.plan import RenewalState
from fleetcheck.renew.validate import open_pfx
from fleetcheck.sim import certgen
from fleetcheck.sim.office import OfficeSpec, start_office
from fleetcheck.store import Store

IMAGE = """\
extends: win10-compliant
processes:
  - {name: msedge.exe, user: '${operator}'}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--first-address", default="127.0.88.1")
    args = parser.parse_args()
    now = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory(prefix="fleetcheck-renew-bench-") as tmp:
        root = Path(tmp)
        (root / "renew.yaml").write_text(IMAGE, encoding="utf-8")
        spec = OfficeSpec.model_validate({
            "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": "Bench-Pass-1"}, "scheme": "http"},
            "groups": [{"name": "pcs", "image": str(root / "renew.yaml"), "count": args.hosts,
                        "vars": {"hostname": "BENCH-${n:03}", "gateway_cert": "F00504Y${index:04}#0",
                                 "operator": "TRADE\\交易员01", "cert_days_left": 15}}],
        })
        drop = root / "drop"
        drop.mkdir()
        passwords: dict[str, PfxPassword] = {}
        for n in range(1, args.hosts + 1):
            cn = f"F00504Y{n:04}#0"
            data, _ = certgen.make_pfx(certgen.LeafSpec(cn=cn, days_left=380), now, f"pw-{n}")
            (drop / f"{cn}.pfx").write_bytes(data)
            passwords[cn] = PfxPassword(f"pw-{n}")
        with start_office(spec, root / "sim", first_address=args.first_address, now=now) as office:
            inventory = load_inventory(office.write_inventory(root / "inv.yaml"), PasswordSources(literal_ok=True))
            policies = load_policies(shipped_policy_paths())
            files = read_drop(drop)
            began = time.perf_counter()
            for f in files:
                open_pfx(f.file_name, f.data, passwords[f.stem], now)
            validate_s = time.perf_counter() - began
            guard = Guard(TradingCalendar(sessions=()))
            timings: dict[str, float] = {}
            installed = 0
            with Store.open(f"sqlite:///{root / 'h.db'}") as store:
                for label, apply in (("dry_run", False), ("apply", True)):
                    began = time.perf_counter()
                    outcome = Renewal(inventory, list(inventory.hosts), policies, store=store, guard=guard,
                                      options=RenewalOptions(apply=apply, forks=args.forks, who="bench")
                                      ).run(files, passwords)
                    timings[label] = time.perf_counter() - began
                    installed = sum(1 for i in outcome.items if i.state is RenewalState.installed)
    print(f"hosts={args.hosts} validate_s={validate_s:.2f} dry_run_s={timings['dry_run']:.2f} "
          f"apply_s={timings['apply']:.2f} installed={installed}")


if __name__ == "__main__":
    main()
