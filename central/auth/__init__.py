"""Access: who is calling, with which role and scopes, and whether they may.

In: a request's session cookie or bearer token, the account tables, the command line's
user and token verbs. Out: a :class:`~.principal.Principal` on ``request.state``, 401 /
403 / 303-to-login refusals, the ``allow``/``public`` rules every route carries
(:mod:`.guard`), and the account, token and session records (:mod:`.accounts`,
:mod:`.tokens`, :mod:`.sessions`).
"""

from linetrace.central.auth.principal import Principal, Scope
from linetrace.central.auth.roles import Permission, Role

__all__ = ["Permission", "Principal", "Role", "Scope"]
