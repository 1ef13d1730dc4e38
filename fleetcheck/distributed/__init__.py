"""Sweeps through Celery workers, one or more inside each branch network (DESIGN "Scale-out").

The controller (``fleetcheck scan --executor celery --broker URL``) turns every
host into a :class:`~fleetcheck.runner.SweepJob`, strips its password
(:mod:`.secrets`) and sends it to its branch's queue (:mod:`.routing`); a
worker (``fleetcheck worker --broker URL --inventory FILE``, :mod:`.tasks`)
takes the host's connection settings and password from *its own* inventory,
sweeps the host with :func:`fleetcheck.runner.sweep_one` and stores the
:class:`~fleetcheck.findings.HostResult` in the Celery result backend, where
:class:`.executor.CeleryExecutor` picks it up. Evaluation, progress, the
history store and exit codes stay on the controller, exactly as for a local
sweep: the executor is just another :class:`~fleetcheck.runner.SweepExecutor`.

Celery is optional (``pip install 'fleetcheck[distributed]'``); nothing here
imports it before it is needed, so the CLI starts without it.
"""

from __future__ import annotations
