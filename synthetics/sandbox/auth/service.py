"""The Auth service: GoTrue's route table (`internal/api/api.go`) over the shared `API`."""

from __future__ import annotations

from synthetics.sandbox.auth import (
    admin,
    health,
    invite,
    logout,
    magic_link,
    mail,
    otp,
    reauthenticate,
    recover,
    resend,
    signup,
    token,
    user,
    verify,
)
from synthetics.sandbox.auth.api import API
from synthetics.sandbox.auth.middleware import guard_admin, guard_user
from synthetics.sandbox.auth.router import Mount, Route, Router


class AuthService(API):
    """GoTrue's endpoints over the `auth` schema."""

    def router(self) -> Router:
        """The ASGI app to mount under /auth/v1."""
        return Router(
            self,
            [
                Route("/health", {"GET": health.health}),
                Route("/.well-known/jwks.json", {"GET": health.jwks}),
                Route("/settings", {"GET": health.settings}),
                Route("/invite", {"POST": invite.invite}),
                Route("/signup", {"POST": signup.signup}, mounted=True),
                Route("/recover", {"POST": recover.recover}),
                Route("/resend", {"POST": resend.resend}),
                Route("/magiclink", {"POST": magic_link.magic_link}),
                Route("/otp", {"POST": otp.otp}),
                Route("/token", {"POST": token.token}),
                Route("/verify", {"GET": verify.verify_get, "POST": verify.verify_post}, True),
                Route("/logout", {"POST": logout.logout}),
                Route("/reauthenticate", {"GET": reauthenticate.reauthenticate}, mounted=True),
                Route("/user", {"GET": user.get_user, "PUT": user.update_user}, mounted=True),
                Route(
                    "/admin/users",
                    {"GET": admin.list_users, "POST": admin.create_user},
                    mounted=True,
                ),
                Route(
                    "/admin/users/{user_id}",
                    {"GET": admin.get_user, "PUT": admin.update_user, "DELETE": admin.delete_user},
                    mounted=True,
                ),
                Route("/admin/generate_link", {"POST": mail.generate_link}),
            ],
            [
                Mount("/reauthenticate", guard_user),
                Mount("/user", guard_user),
                Mount("/admin", guard_admin),
            ],
        )
