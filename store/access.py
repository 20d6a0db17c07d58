"""Who may do what: roles from the signed-in identity, checked in the domain functions.

Four roles, each allowed what the one before it is, and more:

    viewer    the overview, the disparity explorer, the methods
    analyst   also data quality (checks, completeness), exports (files, meeting packs) and
              the tracker's pages (read only)
    champion  also edits the STEPS tracker (Commit, Learn, Vision, Launch)
    admin     also imports, configuration and the audit log

The app (ui/access.py) signs the user in with Streamlit's OpenID Connect login when an
`[auth]` section is configured, maps the email or the identity provider's groups to a role
with the roles file (`roles.toml`, see `roles.example.toml`), and sets that user for the run.
The domain functions the pages call (imports, checks, exports, tracker writes, counts) call
`require`, so a hidden button is never the only guard. A process that never set a user — the
command line, a script, a test — acts as the local operator (admin): whoever runs it already
holds the database's credentials.
"""
from __future__ import annotations

import contextlib
import getpass
import os
import tomllib
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROLES = ("viewer", "analyst", "champion", "admin")
# The least role each action needs.
PERMISSIONS = {
    "view": "viewer",
    "data_quality": "analyst",
    "export": "analyst",
    "see_tracker": "analyst",
    "edit_tracker": "champion",
    "import": "admin",
    "configure": "admin",
}
WHAT = {
    "view": "see the dashboard",
    "data_quality": "see data quality",
    "export": "export files or meeting packs",
    "see_tracker": "see the STEPS tracker",
    "edit_tracker": "edit the tracker",
    "import": "import data",
    "configure": "change the configuration or read the audit log",
}


@dataclass(frozen=True)
class User:
    email: str
    name: str
    role: str
    groups: tuple[str, ...] = ()
    local: bool = False  # the local operator (no sign-in configured, or a local process)

    @property
    def label(self) -> str:
        """How the user is named in the audit log and the tracker's history."""
        if self.local:
            return self.name
        return f"{self.name} <{self.email}>" if self.name and self.name != self.email \
            else self.email


class NotAllowed(PermissionError):
    """The user's role does not allow the action; the message says what would."""

    def __init__(self, user: User | None, permission: str):
        self.user, self.permission = user, permission
        needed = PERMISSIONS[permission]
        if user is None:
            message = f"Sign in to {WHAT[permission]}."
        else:
            message = (f"Your role ({user.role}) cannot {WHAT[permission]}: that needs the "
                       f"{needed} role. Ask an administrator of the dashboard.")
        super().__init__(message)


def local_operator() -> User:
    try:
        name = os.environ.get("EQUITY_ACTOR") or getpass.getuser()
    except Exception:  # noqa: BLE001 (no user name in some containers)
        name = "local user"
    return User(email="", name=name, role=_local_role(), local=True)


def _local_role() -> str:
    role = os.environ.get("EQUITY_LOCAL_ROLE", "admin").strip().lower()
    if role not in ROLES:
        raise ValueError(f"EQUITY_LOCAL_ROLE must be one of {', '.join(ROLES)}, not {role!r}")
    return role


_current: ContextVar[User | None] = ContextVar("equity_user", default=None)


def current_user() -> User:
    """The user of this run: the one the app set, else the local operator."""
    return _current.get() or local_operator()


def set_user(user: User) -> None:
    """The app's user for the rest of this script run (each run is a thread of its own)."""
    _current.set(user)


@contextlib.contextmanager
def acting_as(user: User):
    token = _current.set(user)
    try:
        yield user
    finally:
        _current.reset(token)


def allows(role: str | None, permission: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(PERMISSIONS[permission])


def can(permission: str, user: User | None = None) -> bool:
    return allows((user or current_user()).role, permission)


def require(permission: str) -> User:
    """The current user, if the role allows `permission`; else `NotAllowed`."""
    user = current_user()
    if not allows(user.role, permission):
        raise NotAllowed(user, permission)
    return user


# --- the roles file ---------------------------------------------------------------------

@dataclass(frozen=True)
class RolesFile:
    users: dict[str, str] = field(default_factory=dict)  # email (lower case) -> role
    groups: dict[str, str] = field(default_factory=dict)  # group name -> role
    default_role: str | None = None  # of a signed-in user listed nowhere (None: no access)
    path: Path | None = None


def roles_path() -> Path:
    return Path(os.environ.get("EQUITY_ROLES_FILE") or REPO / "roles.toml")


def load_roles(path: Path | None = None) -> RolesFile:
    """The roles file; a missing file gives no one a role (sign-in then admits nobody).
    A malformed file raises ValueError naming the file, the entry and the rule."""
    path = path or roles_path()
    if not path.exists():
        return RolesFile(path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path.name}: not valid TOML: {error}") from None

    def role(where: str, value) -> str:
        text = str(value).strip().lower()
        if text not in ROLES:
            raise ValueError(f"{path.name}: {where} = {value!r}: a role is one of "
                             + ", ".join(ROLES))
        return text

    unknown = sorted(set(data) - {"users", "groups", "default_role"})
    if unknown:
        raise ValueError(f"{path.name}: unknown entries {', '.join(unknown)}; the file holds "
                         "[users], [groups] and default_role")
    default = str(data.get("default_role", "")).strip()
    return RolesFile(
        users={str(k).strip().lower(): role(f"users.{k}", v)
               for k, v in dict(data.get("users", {})).items()},
        groups={str(k).strip(): role(f"groups.{k}", v)
                for k, v in dict(data.get("groups", {})).items()},
        default_role=role("default_role", default) if default else None,
        path=path,
    )


def role_for(email: str | None, groups=(), roles: RolesFile | None = None) -> str | None:
    """The highest role the email or any of the groups is given; else the default role."""
    roles = roles or load_roles()
    found = []
    if email and email.strip().lower() in roles.users:
        found.append(roles.users[email.strip().lower()])
    found += [roles.groups[group] for group in groups or () if group in roles.groups]
    if not found:
        return roles.default_role
    return max(found, key=ROLES.index)
