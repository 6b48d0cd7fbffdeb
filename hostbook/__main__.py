"""`python -m hostbook` runs the command-line interface."""

from hostbook.cli import main

main()
