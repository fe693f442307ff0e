"""``python -m citadel``: the same as the ``citadel`` command."""

from citadel.cli.main import main

main()
