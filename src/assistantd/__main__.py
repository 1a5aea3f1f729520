"""Allows `python -m assistantd`, the same as the `assistantd` console script."""

from assistantd.cli import main

main()
