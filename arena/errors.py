"""One exception type for every user-facing failure; the CLI turns it into a message and exit 2. Runs that
end early but keep what they did exit with their own codes, so scripts can tell the cases apart."""


class ArenaError(Exception):
    """A problem with the user's input or environment, explained in words they can act on."""

    exit_code = 2


EXIT_BUDGET_STOPPED = 3  # --max-cost stopped judging before the plan was done; everything judged is saved
EXIT_CALLS_FAILED = 4  # some judge calls failed in transport; nothing was stored for them; rerun to judge them


class NothingToRate(ArenaError):
    """The judgments asked for hold no readable verdict (every one an error): a report leaves that table out."""


class AnswersMissing(ArenaError):
    """Style or length control needs the answers behind the verdicts, and the store does not have them: a
    report or a bias table goes on without that part."""


class CallsFailed(ArenaError):
    """Calls to an endpoint failed in transport (refused, a circuit breaker); what was done is kept."""

    exit_code = EXIT_CALLS_FAILED
