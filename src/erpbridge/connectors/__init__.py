"""Connectors: one folder per system (DESIGN.md §4-5), plus shared HTTP helpers (``_http``).

A connector package exports ``SPEC`` (an :class:`erpbridge.spi.ConnectorSpec`) and is
listed in ``_BUILTIN`` in :mod:`erpbridge.spi.registry`. Connectors import only
``erpbridge.spi``, ``erpbridge.mapping`` types and :mod:`erpbridge.connectors._http`.
"""
