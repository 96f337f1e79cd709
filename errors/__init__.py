"""The one exception type for mistakes a user can fix (bad names, bad options, bad files)."""


class UserError(Exception):
    """A user-facing error: scripts print its message on one line and exit with status 2.

    Raise it for bad input (an unknown env name, a conflicting option, a corrupt checkpoint, a run
    directory that exists); never for bugs, which should keep their traceback.
    """
