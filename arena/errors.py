"""One exception type for every user-facing failure; the CLI turns it into a message and exit 2."""


class ArenaError(Exception):
    """A problem with the user's input or environment, explained in words they can act on."""

    exit_code = 2

