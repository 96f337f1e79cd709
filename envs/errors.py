"""The one exception type for mistakes a user can fix: a bad name, option, value or file.

It lives in ``envs``, the leftmost package of the import direction (``envs -> world_model -> planners
-> agents -> scripts``), so every package can raise it without importing another for it.
"""


class UserError(Exception):
    """A mistake the user can fix; scripts print its message on one line and exit with status 2.

    Raise it where user input is checked (config values, env and preset names, command-line options,
    run directories and files the user names), with a message that says what to do. Never raise it for
    an internal failure (a bug keeps its traceback: raise ``ValueError``, ``RuntimeError``, ...), and
    never catch it to decide what to do next: check first, or return ``None`` where "not possible yet"
    is a normal state.
    """
