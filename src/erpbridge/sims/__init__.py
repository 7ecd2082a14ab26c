"""Simulators: each serves one system's real protocol on 127.0.0.1 (DESIGN.md §10).

A simulator package ``sims/<system>`` exports ``SIMULATOR`` (a
:class:`erpbridge.sims._common.spec.SimulatorSpec`). Simulators never import connectors;
they agree with them by protocol only. ``erpbridge sandbox`` starts them
(:mod:`erpbridge.sims.sandbox`).
"""
