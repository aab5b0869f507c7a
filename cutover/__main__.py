"""`python -m cutover` is the `cutover` command."""

from cutover.cli import main

main()
