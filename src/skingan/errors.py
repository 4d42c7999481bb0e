"""The one exception type for user mistakes: the CLI turns it into a one-line message."""


def one_line(error: BaseException | str, limit: int = 160) -> str:
    """An exception's text on one line (whitespace runs collapsed), at most `limit` characters, for messages."""
    return " ".join(str(error).split())[:limit]


class UserError(Exception):
    """A mistake the user can fix (bad path, flag, config value, input file).

    The message must name the file, key or value at fault and what would be accepted.
    """


class TrainingStopped(UserError):
    """Non-finite or collapsed losses: the run stops and keeps its last good checkpoint."""
