"""``python -m lockers`` is the ``lockers`` command."""

from lockers.cli import main

main()
