"""Re-export of :class:`errors.UserError`, the toolkit's one user-facing exception (see there)."""

from errors import UserError

__all__ = ["UserError"]
