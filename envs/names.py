"""Environment names: short names (``Walker2d``) and full Gymnasium ids (``Walker2d-v5``).

Versions are never written down here: a short name resolves to the highest version that Gymnasium's
registry holds, so a Gymnasium upgrade that adds ``-v6`` is picked up without a code change. The
toolkit's own environments (``FrictionlessPendulum-v0``, :mod:`envs.pendulum`; ``ParticleSprings-v0``,
:mod:`envs.particles`) are registered on the first name lookup.
"""

from __future__ import annotations

import difflib

from envs.errors import UserError

SHORT_NAMES: tuple[str, ...] = (
    "Walker2d",
    "Hopper",
    "HalfCheetah",
    "Ant",
    "Humanoid",
    "Swimmer",
    "Reacher",
    "InvertedPendulum",
    "InvertedDoublePendulum",
    "Pusher",
    "Pendulum",
)
"""The environments this toolkit is tuned and tested on (any registered continuous-control id works)."""


def _registry_names() -> tuple[dict[str, str], set[str]]:
    """Versionless names of the registry (lower-case -> proper case) and all full ids."""
    from gymnasium.envs.registration import get_env_id, parse_env_id, registry

    from envs import particles, pendulum

    # the toolkit's own envs (FrictionlessPendulum-v0, ParticleSprings-v0), on first use, not on import
    pendulum.register()
    particles.register()
    bases: dict[str, str] = {}
    for env_id in registry:
        ns, base, _ = parse_env_id(env_id)
        versionless = get_env_id(ns, base, None)
        bases.setdefault(versionless.lower(), versionless)
    return bases, set(registry)


def resolve_env_id(name: str) -> str:
    """Turn a short name or a full id into a registered Gymnasium id.

    Args:
        name: ``"Walker2d"`` (latest version), ``"Walker2d-v4"`` (that version) or any registered id;
            short names are matched case-insensitively (``"walker2d"`` works).

    Returns:
        The registered id, e.g. ``"Walker2d-v5"``.

    Raises:
        UserError: the name is not registered; the message lists the close matches.
    """
    from gymnasium.envs.registration import find_highest_version, get_env_id, parse_env_id

    name = name.strip()
    bases, ids = _registry_names()
    if name in ids:
        return name
    try:
        ns, base, version = parse_env_id(name)
    except Exception:  # gymnasium raises its own error type for malformed ids
        ns, base, version = None, name, None
    versionless = bases.get(get_env_id(ns, base, None).lower())
    if versionless is not None:
        ns, base, _ = parse_env_id(versionless)
        if version is None:
            latest = find_highest_version(ns, base)
            return versionless if latest is None else get_env_id(ns, base, latest)
        available = sorted(i for i in ids if i.lower().startswith(versionless.lower() + "-v"))
        if get_env_id(ns, base, version) in ids:
            return get_env_id(ns, base, version)
        raise UserError(
            f"environment {name!r} is not registered in this Gymnasium; available versions: "
            + ", ".join(available)
        )
    # Suggest versionless names unless the user typed a version.
    candidates = sorted(ids if "-v" in name else set(bases.values()))
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
    if not close:
        # Case and spacing mistakes ("walker 2d") are the common ones: compare in lower case.
        lower = {c.lower(): c for c in candidates}
        close = [lower[c] for c in difflib.get_close_matches(name.lower(), list(lower), n=5, cutoff=0.6)]
    hint = f"did you mean {', '.join(close)}?" if close else f"known short names: {', '.join(SHORT_NAMES)}"
    raise UserError(f"unknown environment {name!r}; {hint}")
