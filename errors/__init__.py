"""The one exception type for mistakes a user can fix (bad names, bad options, bad files).

A package of its own, below every other: planners, envs and agents all raise it, and none of them
should import another for it.
"""


class UserError(Exception):
    """A user-facing error: scripts print its message on one line and exit with status 2.

    Raise it for bad input (an unknown env name, a conflicting option, a corrupt checkpoint, a run
    directory that exists); never for bugs, which should keep their traceback.
    """
