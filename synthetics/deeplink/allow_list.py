"""Whether the deep link is on Auth's redirect allow-list, asked without sending anything.

GoTrue resolves `redirect_to` the same way on every endpoint (`utilities.GetReferrer`): the
value when `IsRedirectURLValid` accepts it (Site URL's host, a loopback IP, or a
`URI_ALLOW_LIST` glob), else the Referer, else the Site URL. Most endpoints that take it
send an email (`/signup`, `/recover`, `/otp`, `/resend`) or need an OAuth provider turned on
(`/authorize` answers 400 "provider is not enabled" on an email-only project before anything is
resolved). `GET /verify` does not: it resolves `redirect_to` first, then looks the token up, and
an unknown token is refused (403 otp_expired) with a 303 to the *resolved* redirect, the error
in the fragment (`prepErrorRedirectURL`). Nothing is written and nothing is sent: the lookup
finds no user. So `GET /verify?token=<impossible>&type=signup&redirect_to=<deep link>` lands on
the deep link when it is allowed and on the Site URL when it is not.

The token can never match a stored one: GoTrue stores token hashes as hex SHA-224 digests
(optionally `pkce_`-prefixed), and this one has letters outside hex. No Referer is sent, so the
fallback cannot pick one up. A deep link equal to the Site URL's origin passes either way; it
is allowed, so that is the right answer too.
"""

from __future__ import annotations

from synthetics.deeplink.redirect import parse_landing, same_target
from synthetics.findings import Finding, fail, ok, unknown

#: Not hex, so never a stored token hash.
PROBE_TOKEN = "synthetics-doctor-probe-not-a-token"
ID = "auth.redirect_allowed"


def probe_params(redirect: str) -> dict[str, str]:
    """The query of the probe: an impossible signup token and the deep link."""
    return {"token": PROBE_TOKEN, "type": "signup", "redirect_to": redirect}


def judge(status: int, location: str | None, redirect: str) -> Finding:
    """What the answer to the probe says about the deep link (unknown when it says neither)."""
    if status != 303 or not location:
        return unknown(
            ID,
            f"GET /auth/v1/verify answered {status}"
            + ("" if location else " without a Location")
            + ", not GoTrue's 303: cannot tell whether the deep link is allowed",
            "run `synthetics run --only deeplink` (it signs up a user and follows the link)",
        )
    landing = parse_landing(location)
    if same_target(landing, redirect):
        if landing.error_code not in (None, "otp_expired"):
            return unknown(
                ID,
                f"the probe landed on {redirect} but with error {landing.error_code!r} instead "
                "of otp_expired: cannot tell",
                "run `synthetics run --only deeplink`",
            )
        return ok(ID, f"{redirect} is on the redirect allow-list (GoTrue redirected to it)")
    return fail(
        ID,
        f"{redirect} is not on the redirect allow-list: GoTrue fell back to "
        f"{landing.base} (its Site URL), so confirmation links will not open the app",
        f"add {redirect} to Authentication → URL Configuration → Redirect URLs (URI_ALLOW_LIST)",
    )
