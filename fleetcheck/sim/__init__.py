"""Simulated Windows PCs: host images, the agent's semantics in Python, and the
WS-Management server that serves them (see README "Simulated PCs / 模拟终端").

Modules: ``image`` (image format and loader), ``certgen`` (real X.509),
``executor`` (a ProbeRequest carried out against an image), ``host``
(SimulatedHost: what the server runs), and the server side (``wsman``,
``server``, ``office``...).
"""
