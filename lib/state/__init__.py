"""State stores: pick a backend from ``ASSISTWATCH_STATE_URL``.

Backends are imported only when chosen, so a cold start pays for the one it uses.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lib.core.claims import ClaimKey
from lib.state.base import Claim, ClaimOutcome, Record, StateStore
from lib.support.errors import ConfigError

if TYPE_CHECKING:
    from lib.support.credentials import Credentials

__all__ = [
    "Claim",
    "ClaimKey",
    "ClaimOutcome",
    "Record",
    "StateStore",
    "nas_mount_covering",
    "open_store",
]

_SETTING = "ASSISTWATCH_STATE_URL"
_FORMS = "file://PATH, oss://BUCKET/PREFIX or ots://INSTANCE/TABLE"
_NAS_TYPES = ("nfs", "nfs4", "nas")
_PROC_MOUNTS = Path("/proc/mounts")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,15}")


def open_store(
    url: str,
    *,
    environ: Mapping[str, str] | None = None,
    namespace: str = "default",
    mounts_path: Path | None = None,
    credentials: Callable[[], Credentials] | None = None,
    endpoint: str | None = None,
    region: str | None = None,
) -> StateStore:
    """Open the state store ``url`` names.

    Args:
        url: ``file://PATH`` (a directory, relative or absolute, created if missing),
            ``oss://BUCKET/PREFIX`` (lib.state.oss) or ``ots://INSTANCE/TABLE`` (lib.state.ots).
        environ: the process environment (default ``os.environ``); ``FC_FUNCTION_NAME`` in it
            means we run on Function Compute, where ``file://`` must be on a NAS mount.
        namespace: keeps two deployments sharing one location apart.
        mounts_path: the mount table to check for NAS (default ``/proc/mounts``).
        credentials: the current credentials, called per request (``oss://``, ``ots://``).
        endpoint: the backend endpoint override (``ASSISTWATCH_OTS_ENDPOINT`` / ``_OSS_``).
        region: the region for the default endpoint (default: ``FC_REGION``).

    Raises:
        ConfigError: the URL is malformed, names an unknown or unavailable backend, or is
            ``file://`` on FC outside a NAS mount. Messages never echo the URL, which could
            carry credentials; they name the setting and the scheme.
        StateError: the directory cannot be created or written.
    """
    environ = os.environ if environ is None else environ
    scheme, sep, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ConfigError(f"{_SETTING} is not a URL; use {_FORMS}")
    if scheme == "ots":
        from lib.state.ots import open_ots_store  # only the chosen backend is imported

        return open_ots_store(
            rest,
            environ,
            namespace=namespace,
            credentials=credentials,
            endpoint=endpoint,
            region=region,
        )
    if scheme == "oss":
        from lib.state.oss import open_oss_store  # only the chosen backend is imported

        return open_oss_store(
            rest,
            environ,
            namespace=namespace,
            credentials=credentials,
            endpoint=endpoint,
            region=region,
        )
    if scheme != "file":
        # Echo the scheme only when it looks like one: a mangled URL may carry a password.
        shown = f" {scheme!r}" if _SCHEME.fullmatch(scheme) else ""
        raise ConfigError(f"{_SETTING}: unknown scheme{shown}; use {_FORMS}")
    if not rest:
        raise ConfigError(
            f"{_SETTING}: file:// needs a directory, e.g. file:///var/lib/assistwatch"
        )
    directory = Path(rest).expanduser()
    if environ.get("FC_FUNCTION_NAME"):
        absolute = Path(os.path.realpath(directory))
        if nas_mount_covering(absolute, mounts_path=mounts_path) is None:
            raise ConfigError(
                f"{_SETTING}: file:// state on Function Compute must be on a mounted NAS; "
                f"{absolute} is not, and /tmp dies with the instance (what was already told "
                "would be told again). Use ots://INSTANCE/TABLE, or mount a NAS and point "
                "file:// at it"
            )

    from lib.state.file import FileStore  # only the chosen backend is imported

    return FileStore(directory, namespace=namespace)


def nas_mount_covering(path: Path, *, mounts_path: Path | None = None) -> str | None:
    """The NAS (NFS) mount point that holds ``path`` (absolute), or None if it is not on one.

    The deepest mount covering the path decides, so a tmpfs mounted inside a NAS mount is
    not mistaken for NAS. An unreadable mount table means "not on NAS".
    """
    try:
        table = (mounts_path or _PROC_MOUNTS).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    target = str(path)
    best: tuple[str, str] | None = None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        source, point, fstype = fields[0], _unescape(fields[1]), fields[2]
        covers = target == point or target.startswith(point.rstrip("/") + "/")
        if covers and (best is None or len(point) >= len(best[0])):
            best = (point, _nas_kind(source, fstype))
    if best is None or not best[1]:
        return None
    return best[0]


def _nas_kind(source: str, fstype: str) -> str:
    if fstype.lower() in _NAS_TYPES or ".nas.aliyuncs.com" in source.lower():
        return fstype
    return ""


def _unescape(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as octal escapes (\040 …).
    return (
        field.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
    )
