"""Users JSON API under /api/v1: registration, email links, API tokens, the caller's account."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from xtrack.db import utcnow
from xtrack.ratelimit import RateLimiterDep, client_ip
from xtrack.users import service
from xtrack.users.auth import SESSION_COOKIE
from xtrack.users.deps import CurrentUser
from xtrack.users.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenRead,
    EmailIn,
    MessageOut,
    PasswordChange,
    PasswordResetConfirm,
    RegisterIn,
    TokenIn,
    UserRead,
    UserUpdate,
    error_responses,
)
from xtrack.web.deps import SessionDep, SettingsDep

router = APIRouter(tags=["users"])

REGISTER_ANSWER = (
    "Check your email: we sent a link to confirm the address. Open it, then sign in "
    "(if the address already has an account, the email says so instead)."
)
RESEND_ANSWER = "If an unverified account exists for this email, a new verification link is on its way."
RESET_ANSWER = "If an account exists for this email, a link to choose a new password is on its way."


@router.post(
    "/auth/register",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
    summary="Create an account (UNVERIFIED until the emailed link is used); the same answer whether "
    "or not the email already has one",
    responses=error_responses(422, 429),
)
async def register(
    body: RegisterIn, request: Request, session: SessionDep, settings: SettingsDep, limiter: RateLimiterDep
) -> MessageOut:
    await limiter.check("register", settings.register_rate_limit, ip=client_ip(request), email=body.email)
    await service.register(
        session,
        email=body.email,
        password=body.password,
        timezone=body.timezone,
        now=utcnow(),
        settings=settings,
    )
    return MessageOut(detail=REGISTER_ANSWER)


@router.post(
    "/auth/verify",
    response_model=UserRead,
    summary="Confirm an email address with the token from the verification link",
    responses=error_responses(400, 403, 422),
)
async def verify(body: TokenIn, session: SessionDep) -> UserRead:
    user = await service.verify_email(session, token=body.token, now=utcnow())
    return UserRead.model_validate(user)


@router.post(
    "/auth/resend-verification",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
    summary="Send a new verification link (the same answer whether or not the account exists)",
    responses=error_responses(422, 429),
)
async def resend_verification(
    body: EmailIn, request: Request, session: SessionDep, settings: SettingsDep, limiter: RateLimiterDep
) -> MessageOut:
    await limiter.check("resend", settings.email_rate_limit, ip=client_ip(request), email=body.email)
    await service.resend_verification_to(session, email=body.email, now=utcnow(), settings=settings)
    return MessageOut(detail=RESEND_ANSWER)


@router.post(
    "/auth/token",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiTokenCreated,
    summary="Exchange email + password for a named personal API token (shown once)",
    responses=error_responses(401, 403, 422, 429),
)
async def create_token(
    body: ApiTokenCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> ApiTokenCreated:
    await limiter.check_signin(settings, email=body.email, ip=client_ip(request))
    now = utcnow()
    user = await service.authenticate(
        session, email=body.email, password=body.password, now=now, settings=settings
    )
    token, plain = await service.create_api_token(session, user=user, name=body.name, now=now)
    return ApiTokenCreated(token=plain, id=token.id, name=token.name, prefix=token.prefix)


@router.post(
    "/auth/password-reset/request",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
    summary="Email a password reset link (the same answer whether or not the account exists)",
    responses=error_responses(422, 429),
)
async def request_password_reset(
    body: EmailIn, request: Request, session: SessionDep, settings: SettingsDep, limiter: RateLimiterDep
) -> MessageOut:
    await limiter.check("reset", settings.email_rate_limit, ip=client_ip(request), email=body.email)
    await service.request_password_reset(session, email=body.email, now=utcnow(), settings=settings)
    return MessageOut(detail=RESET_ANSWER)


@router.post(
    "/auth/password-reset/confirm",
    response_model=MessageOut,
    summary="Set a new password with the token from the reset link; signs out everywhere",
    responses=error_responses(400, 403, 422),
)
async def confirm_password_reset(
    body: PasswordResetConfirm, session: SessionDep, settings: SettingsDep
) -> MessageOut:
    await service.reset_password(
        session, token=body.token, password=body.password, now=utcnow(), settings=settings
    )
    return MessageOut(
        detail="Password changed. Every session, API token and feed address was revoked: sign in again."
    )


@router.get("/me", response_model=UserRead, summary="The caller's account", responses=error_responses(401))
async def me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.patch(
    "/me",
    response_model=UserRead,
    summary="Change the caller's time zone, theme, monthly budget and/or what happens when it is spent",
    responses=error_responses(401, 422),
)
async def update_me(body: UserUpdate, user: CurrentUser, session: SessionDep) -> UserRead:
    theme = body.theme.value if body.theme is not None else None
    await service.update_settings(session, user=user, timezone=body.timezone, theme=theme)
    if "monthly_budget_usd" in body.model_fields_set or body.budget_action is not None:
        budget = (
            body.monthly_budget_usd
            if "monthly_budget_usd" in body.model_fields_set
            else user.monthly_budget_usd
        )
        action = body.budget_action.value if body.budget_action is not None else user.budget_action
        await service.update_budget(session, user=user, monthly_budget_usd=budget, budget_action=action)
    return UserRead.model_validate(user)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change the caller's password (needs the current one); other web sessions are signed out",
    responses=error_responses(401, 422, 429),
)
async def change_password(
    body: PasswordChange,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> Response:
    await limiter.check_signin(settings, email=user.email, ip=client_ip(request))
    await service.change_password(
        session,
        user=user,
        current_password=body.current_password,
        new_password=body.new_password,
        keep_session=request.cookies.get(SESSION_COOKIE),
        settings=settings,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/tokens",
    response_model=list[ApiTokenRead],
    summary="The caller's API tokens (never their values)",
    responses=error_responses(401),
)
async def list_tokens(user: CurrentUser, session: SessionDep) -> list[ApiTokenRead]:
    tokens = await service.list_api_tokens(session, user=user)
    return [ApiTokenRead.model_validate(token) for token in tokens]


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke one of the caller's API tokens",
    responses=error_responses(401, 404),
)
async def revoke_token(token_id: int, user: CurrentUser, session: SessionDep) -> Response:
    await service.revoke_api_token(session, user=user, token_id=token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
