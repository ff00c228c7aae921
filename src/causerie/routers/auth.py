"""Who is asking: API keys and session cookies on /v1 and /api; accounts, keys and usage."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from causerie.errors import AuthenticationError, InvalidRequest
from causerie.routers import services
from causerie.services.auth import LOCAL, PermissionDenied, Principal, csrf_ok
from causerie.store.models import LOCAL_USER_ID

router = APIRouter(prefix="/api", tags=["accounts"])

SESSION_COOKIE = "causerie_session"
CSRF_COOKIE = "causerie_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Access:
    """Who may call a route, declared on the route (or its router) as a dependency:
    `dependencies=[PUBLIC]`. A route that declares none is private."""

    name: str

    def __call__(self) -> None:
        """Nothing to run: `authenticate` reads the declaration from the matched route."""


PRIVATE = "private"  # credentials needed (the local user's in single-user mode)
# Credentials not even read: probes, and operator routes that check their own token.
OPEN = Depends(Access("open"))
# No credentials needed (signing in); a stale or unknown session cookie counts as none.
PUBLIC = Depends(Access("public"))
# Credentials needed, but a stale or unknown session cookie counts as none (logout):
# refusing it would leave the user no way out short of clearing cookies by hand.
SIGN_IN = Depends(Access("sign-in"))


def access(request: Request) -> str:
    """The access the matched route declares (its own over its router's); private if none."""
    route = request.scope.get("route")
    declared = [d.dependency for d in getattr(route, "dependencies", ())]
    names = [d.name for d in declared if isinstance(d, Access)]
    return names[-1] if names else PRIVATE


def authenticate(request: Request) -> None:
    """The one dependency of every route: resolve the principal and check CSRF."""
    identify(request)


def metered(request: Request) -> None:
    """Count this request against its user's and key's rate limits and daily token quota.

    Declared by each route that calls a model (a search embeds its query), as
    `dependencies=[METERED]`: it runs after `authenticate` and before the body is used.
    """
    services(request).quotas.admit(principal(request))


METERED = Depends(metered)


def identify(request: Request) -> Principal | None:
    """Who is asking (401/403 for strangers on private routes); kept on request.state."""
    if access(request) == "open":
        return None
    principal = _resolve(request)
    request.state.principal = principal
    return principal


def _resolve(request: Request) -> Principal | None:
    auth = services(request).auth
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("Use 'Authorization: Bearer <API key>'.")
        try:
            return auth.from_key(token)
        except AuthenticationError:
            # Without accounts, clients that must send some key (the openai SDK) still work.
            if auth.accounts_exist():
                raise
            return LOCAL
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            principal = auth.from_session(cookie)
        except AuthenticationError:
            if access(request) in ("public", "sign-in"):
                return None  # signed out: login sets a new cookie, logout clears this one
            raise
        if request.method not in SAFE_METHODS and not csrf_ok(
            principal, request.headers.get(CSRF_HEADER)
        ):
            raise PermissionDenied(f"Missing or wrong {CSRF_HEADER} header.", code="csrf_failed")
        return principal
    if access(request) == "public":
        return None
    if not auth.accounts_exist():
        return LOCAL  # single-user mode: only reachable on loopback (see cli.serve)
    raise AuthenticationError(
        "You didn't provide an API key. Send 'Authorization: Bearer <API key>' "
        "or log in at /api/auth/login."
    )


def require_operator(request: Request) -> None:
    """Dependency of /metrics and /health/targets: who may read how the server is doing.

    Open in single-user mode (which only listens on loopback); once accounts exist, an
    administrator (key or session) or the configured `metrics_token`, so that a Prometheus
    scraper needs no user account.
    """
    svc = services(request)
    token = svc.settings.metrics_token
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if (
        token is not None
        and scheme.lower() == "bearer"
        and hmac.compare_digest(presented.strip().encode(), token.get_secret_value().encode())
    ):
        return
    if not svc.auth.accounts_exist():
        return
    found = _resolve(request)  # 401 without credentials
    if found is None or not found.is_admin:
        raise PermissionDenied(
            "Metrics and target health need an administrator or the metrics token."
        )


def principal(request: Request) -> Principal:
    """The authenticated principal of this request (set by `authenticate`)."""
    found = getattr(request.state, "principal", None)
    if found is None:
        raise AuthenticationError("Authentication required.")
    return found


def owner(request: Request) -> str:
    """The id of the user whose data this request may touch."""
    return principal(request).user_id


def billed_to(request: Request) -> tuple[str, str | None]:
    """(user id, key id) that pay for this request's tokens."""
    p = principal(request)
    return p.user_id, p.key_id


def require_admin(request: Request) -> None:
    """Dependency of the admin routes (runs before the body is validated)."""
    if not principal(request).is_admin:
        raise PermissionDenied("This needs an administrator.")


admin_router = APIRouter(
    prefix="/api/admin", tags=["accounts"], dependencies=[Depends(require_admin)]
)


# -- sessions ----------------------------------------------------------------------------


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=320, description="User name or email.")
    password: str = Field(min_length=1, max_length=1000)


@router.get("/auth/state", dependencies=[PUBLIC])
def auth_state(request: Request) -> dict:
    """Whether this server needs a login (the UI asks before anything else)."""
    accounts = services(request).auth.accounts_exist()
    p = getattr(request.state, "principal", None)
    return {
        "mode": "accounts" if accounts else "single-user",
        "authenticated": p is not None or not accounts,
    }


@router.post("/auth/login", dependencies=[PUBLIC])
def login(body: Login, request: Request, response: Response) -> dict:
    """Check a password; set the HttpOnly session cookie and the CSRF cookie.

    Too many failures for the account or from the address: 429 with Retry-After.
    """
    svc = services(request)
    auth = svc.auth
    # Behind a reverse proxy on this host, uvicorn puts X-Forwarded-For's client here.
    address = request.client.host if request.client else "unknown"
    token, csrf, user = svc.logins.guard(
        auth.login_subject(body.name), address, lambda: auth.login(body.name, body.password)
    )
    secure = request.url.scheme == "https"
    max_age = int(auth.session_lifetime.total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    # Readable by the page, which echoes it in X-CSRF-Token: a cross-site form cannot.
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="strict", secure=secure
    )
    return {"user": user, "csrf_token": csrf}


@router.post("/auth/logout", status_code=204, dependencies=[SIGN_IN])
def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        services(request).auth.logout(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me")
def me(request: Request) -> dict:
    """The current user and how the request was authenticated."""
    p = principal(request)
    if p.user_id == LOCAL_USER_ID:
        user = {"id": p.user_id, "object": "user", "name": p.name, "role": p.role}
    else:
        user = services(request).auth.get_user(p.user_id)
    return {**user, "authenticated_via": p.via, "key_id": p.key_id}


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=1000)
    new_password: str = Field(min_length=1, max_length=1000)


@router.post("/me/password", status_code=204)
def change_password(body: PasswordChange, request: Request) -> Response:
    """Change one's own password; one's other sessions end, this one stays signed in."""
    p = principal(request)
    if p.user_id == LOCAL_USER_ID:
        raise InvalidRequest("Single-user mode has no password to change.", code="no_accounts")
    services(request).auth.change_password(
        p.user_id, body.current_password, body.new_password, request.cookies.get(SESSION_COOKIE)
    )
    return Response(status_code=204)


# -- API keys ----------------------------------------------------------------------------


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("key", max_length=200)
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_day: int | None = Field(None, ge=1)
    web_searches_per_day: int | None = Field(None, ge=0)


@router.post("/keys", status_code=201)
def create_key(body: KeyCreate, request: Request) -> dict:
    """A new API key for the current user; `key` is shown this once only."""
    return services(request).auth.create_key(owner(request), **body.model_dump())


@router.get("/keys")
def list_keys(request: Request) -> dict:
    return {"object": "list", "data": services(request).auth.list_keys(owner(request))}


@router.delete("/keys/{key_id}")
def revoke_key(key_id: str, request: Request) -> dict:
    return services(request).auth.revoke_key(owner(request), key_id)


@router.get("/usage")
def usage(request: Request, days: int = Query(30, ge=1, le=366)) -> dict:
    """The current user's tokens and requests per day and model."""
    return services(request).quotas.report(owner(request), days)


# -- administration ----------------------------------------------------------------------


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)
    email: str | None = Field(None, max_length=320)
    role: str = Field("user", pattern="^(admin|user)$")
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_day: int | None = Field(None, ge=1)
    web_searches_per_day: int | None = Field(None, ge=0)
    # Take over the single-user mode's data (the first administrator always does).
    claim_local: bool = False


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = Field(None, pattern="^(admin|user)$")
    disabled: bool | None = None
    password: str | None = Field(None, max_length=1000)
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_day: int | None = Field(None, ge=1)
    web_searches_per_day: int | None = Field(None, ge=0)


@admin_router.get("/users")
def admin_list_users(request: Request) -> dict:
    return {"object": "list", "data": services(request).auth.list_users()}


@admin_router.post("/users", status_code=201)
def admin_create_user(body: UserCreate, request: Request) -> dict:
    data = body.model_dump()
    name, password, claim = data.pop("name"), data.pop("password"), data.pop("claim_local")
    return services(request).auth.create_user(name, password, claim_local_data=claim, **data)


@admin_router.patch("/users/{user_id}")
def admin_update_user(user_id: str, body: UserUpdate, request: Request) -> dict:
    """Disable or enable, change role, limits or password (null clears a limit)."""
    return services(request).auth.update_user(user_id, body.model_dump(exclude_unset=True))


@admin_router.get("/usage")
def admin_usage(request: Request, days: int = Query(30, ge=1, le=366)) -> dict:
    """Everyone's tokens and requests per day, user and model."""
    return services(request).quotas.report(None, days)
