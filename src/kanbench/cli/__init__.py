"""The ``kanbench`` command-line interface."""
