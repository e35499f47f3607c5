"""The command line: one module per command family; ``app.py`` wires them up."""
