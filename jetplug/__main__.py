"""``python -m jetplug``."""

from .cli import main

main()
