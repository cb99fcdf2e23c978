"""Placeholder replaced by the comparison harness (issue 4)."""


def add_arguments(parser) -> None:
    parser.set_defaults(handler=lambda args: 1)
