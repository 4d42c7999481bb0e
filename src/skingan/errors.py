"""The one exception type for user mistakes: the CLI turns it into a one-line message."""


class UserError(Exception):
    """A mistake the user can fix (bad path, flag, config value, input file).

    The message must name the file, key or value at fault and what would be accepted.
    """
