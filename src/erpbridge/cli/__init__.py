"""The ``erpbridge`` command line (typer): parse, call the layers below, render."""
