"""Sign-in for the pages: Streamlit's OpenID Connect login when `[auth]` is configured in
`.streamlit/secrets.toml` (the health system's Entra ID, Okta or similar), else the local
mode of one analyst on their own machine. The role comes from the roles file
(`store.access`); the domain functions check it again whatever a page shows."""
from __future__ import annotations

import os

import streamlit as st

import store
from store import access, audit
from store.access import User

_SIGNED_IN = "_equity_sign_in_recorded"


def sign_in_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 (no secrets file: local mode)
        return False


def signed_in() -> User:
    """The user of this run, set for the domain functions; stops the page with the sign-in
    screen (or a clear refusal) when there is none."""
    if not sign_in_configured():
        user = access.local_operator()
    else:
        user = _identity()
    access.set_user(user)
    if not st.session_state.get(_SIGNED_IN):
        st.session_state[_SIGNED_IN] = True
        store.ensure_schema()  # a page may be the first thing a fresh database serves
        audit.record("sign_in", {"role": user.role, "local": user.local,
                                 "groups": list(user.groups)}, actor=user.label)
    return user


def _identity() -> User:
    if not st.user.is_logged_in:
        st.title("Health equity dashboard")
        st.write("Sign in with your organisation's account to see the dashboard.")
        provider = os.environ.get("EQUITY_AUTH_PROVIDER") or None
        st.button("Sign in", type="primary", on_click=st.login, args=(provider,) if provider
                  else ())
        st.stop()
    email = str(st.user.get("email") or "")
    name = str(st.user.get("name") or email)
    groups = st.user.get("groups") or []
    groups = tuple(str(g) for g in (groups if isinstance(groups, list | tuple) else [groups]))
    try:
        role = access.role_for(email, groups)
    except ValueError as error:
        st.error(f"The dashboard's roles file cannot be read: {error}. Ask its administrator.")
        st.stop()
    if role is None:
        st.error(f"You are signed in as {email or name}, but this dashboard has not given you "
                 f"a role yet. Ask its administrator to add you to "
                 f"{access.roles_path().name}.")
        st.button("Sign out", on_click=st.logout)
        st.stop()
    return User(email=email, name=name, role=role, groups=groups)


def require_page(permission: str) -> User:
    """The signed-in user of a page, which stops when the user's role does not allow it (a
    deep link to a page not in their menu)."""
    user = signed_in()
    if not access.can(permission, user):
        st.warning(str(access.NotAllowed(user, permission)))
        st.stop()
    return user


def sign_out_control(user: User) -> None:
    """Who is signed in, with which role, in the sidebar."""
    if user.local:
        st.sidebar.caption(f"Local mode: {user.name} ({user.role})")
        return
    st.sidebar.caption(f"Signed in as {user.label} ({user.role})")
    st.sidebar.button("Sign out", on_click=st.logout, key="sign_out")
