"""Auth under /auth/v1, speaking GoTrue's wire protocol (reference/supabase-api.md, A to D).

State lives in the `auth` schema of the sandbox's Postgres, exactly where GoTrue keeps it, so the
runbook's SQL and the profile trigger see what a real project would. The modules follow
supabase/auth's `internal/api/*.go`, one per source file, and comments name the GoTrue function a
rule comes from where the rule is not obvious:

    service     the route table (api.go)          router      chi's routing, 404 and 405
    api         shared state (the API struct)     errors      error bodies in both API versions
    helpers     request bodies, Go URL encoding   models      users, identities, their JSON
    middleware  Bearer and admin checks           sessions    sessions and token responses
    password    password rules                    pkce        flow states and auth codes
    mail        every email, admin generate_link  health      /health, /settings, /jwks
    signup      POST /signup                      verify      GET and POST /verify
    token       POST /token                       user        GET and PUT /user
    logout      POST /logout                      resend      POST /resend
    recover     POST /recover                     otp         POST /otp
    magic_link  POST /magiclink                   invite      POST /invite
    reauthenticate  GET /reauthenticate           admin       /admin/users
"""

from synthetics.sandbox.auth.api import Clock, utcnow
from synthetics.sandbox.auth.service import AuthService

__all__ = ["AuthService", "Clock", "utcnow"]
