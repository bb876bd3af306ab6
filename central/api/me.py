"""``GET /api/me`` and ``PUT /api/me/language``: who is signed in, and their language.

The pages ask once who they are showing things to (role and scopes decide which buttons
to offer; the server checks again on every call). A token has no account, so it has no
language to save.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.audit import record
from linetrace.central.auth.accounts import set_language
from linetrace.central.auth.guard import CurrentPrincipal, allow
from linetrace.central.auth.roles import Permission

__all__ = ["LanguageIn", "MeOut", "router"]

router = APIRouter(prefix="/api/me", tags=["access"], dependencies=[allow(Permission.VIEW)])


class MeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "lan",
                    "role": "operator",
                    "scopes": ["hcm1/L1"],
                    "language": "vi",
                    "via": "session",
                    "permissions": ["view", "operate"],
                }
            ]
        }
    )

    name: str = Field(description="Account name, or token:NAME for a machine token.")
    role: str = Field(description="operator, auditor or admin.")
    scopes: list[str] = Field(description="Sites or site/line seen; empty: every site.")
    language: str | None = Field(description="Chosen language; null: the site's.")
    via: str = Field(description="session (a page) or token (an integration).")
    permissions: list[str] = Field(description="What the role may do.")


class LanguageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"language": "en"}]})

    language: Literal["vi", "en"] | None = Field(description="vi, en, or null for the site's.")


@router.get("", response_model=MeOut)
def me(principal: CurrentPrincipal) -> MeOut:
    return MeOut(
        name=principal.name,
        role=str(principal.role),
        scopes=[str(scope) for scope in principal.scopes],
        language=principal.language,
        via=principal.via,
        permissions=[str(p) for p in Permission if principal.may(p)],
    )


@router.put("/language", response_model=MeOut, responses=responses(400, 409, 422))
def choose_language(
    body: LanguageIn, principal: CurrentPrincipal, engine: EngineDep, request: Request
) -> MeOut:
    if principal.via != "session":
        raise HTTPException(status.HTTP_409_CONFLICT, "a token has no account language")
    with engine.begin() as connection:
        set_language(connection, principal.name, body.language)
        record(
            connection,
            actor=principal.name,
            action="user.language",
            target=f"user:{principal.name}",
            details={"language": body.language},
        )
    out = me(principal)
    return out.model_copy(update={"language": body.language})
