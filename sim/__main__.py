"""``python -m sim``: the simulator CLI."""

from .cli import main

main()
