"""Mamapace's v2 RPCs as the app uses them: each step's arguments, expectations and order.

A step `needs` the steps whose data it uses (their failure blocks it) and runs `after` the steps
that must see the data before it changes (order only). Any configured function not described here
is called without arguments and must simply answer 2xx.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from synthetics.clients.supabase import error_code, error_message
from synthetics.journey import Blocked, Journey, NotApplicable, Outcome, SignedIn

Args = Callable[["FlowState"], dict[str, Any]]
Verify = Callable[[Any, "FlowState"], str | None]


@dataclass
class FlowState:
    """What the steps learn and share: who I am, the other user, my post and comment."""

    me: str
    run_id: str
    other: str | None = None
    post_id: str | None = None
    comment_id: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError(f"expected {what} as a JSON object, got {type(body).__name__}")
    return body


def _rows(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise ValueError(f"expected a JSON array, got {type(body).__name__}")
    return [row for row in body if isinstance(row, dict)]


def _contains(body: Any, key: str, value: str | None, what: str) -> str | None:
    ids = {str(row.get(key)) for row in _rows(body)}
    return None if value in ids else f"{what} is missing from the result ({len(ids)} rows)"


def _is(expected: object) -> Verify:
    def verify(body: Any, state: FlowState) -> str | None:
        return None if body is expected else f"expected {expected!r}, got {body!r}"

    return verify


def _my_profile(body: Any, state: FlowState) -> str | None:
    profile = _object(body, "a profile")
    if profile.get("id") != state.me:
        return "the profile returned is not the signed-in user's"
    state.profile = profile
    return None


def _updated_profile(body: Any, state: FlowState) -> str | None:
    profile = _object(body, "a profile")
    return None if profile.get("display_name") == "Synthetic check" else "display_name not updated"


def _created_post(body: Any, state: FlowState) -> str | None:
    post = _object(body, "a post")
    if post.get("user_id") != state.me or not post.get("id"):
        return "the created post does not belong to the signed-in user"
    state.post_id = str(post["id"])
    return None


def _created_comment(body: Any, state: FlowState) -> str | None:
    comment = _object(body, "a comment")
    if comment.get("post_id") != state.post_id or not comment.get("id"):
        return "the created comment is not on the run's post"
    state.comment_id = str(comment["id"])
    return None


def _count(body: Any, state: FlowState) -> str | None:
    if not isinstance(body, int) or isinstance(body, bool) or body < 1:
        return f"expected a count of at least 1 (the run's post), got {body!r}"
    return None


def _follow_counts(body: Any, state: FlowState) -> str | None:
    rows = _rows(body)
    if len(rows) != 1 or not isinstance(rows[0].get("followers"), int):
        return "expected one row with followers/following counts"
    return None if rows[0]["followers"] >= 1 else "the follow is not counted"


def _added_reaction(body: Any, state: FlowState) -> str | None:
    return None if body is True else f"the first reaction returned {body!r}, expected true"


@dataclass(frozen=True)
class Step:
    """One RPC of the flow."""

    args: Args
    verify: Verify
    needs: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    again: Verify | None = None  # call a second time and verify (idempotency)


_POST_READS = ("get_home_feed_v2", "get_user_posts_v2", "get_user_post_count_v2")
_FOLLOW_READS = ("is_following_v2", "get_follow_counts_v2", "get_followers_v2", "get_following_v2")

STEPS: dict[str, Step] = {
    "get_my_profile_v2": Step(lambda s: {}, _my_profile),
    "update_my_profile_v2": Step(
        lambda s: {
            "p_display_name": "Synthetic check",
            "p_bio": f"synthetic monitoring run {s.run_id}",
            "p_avatar_emoji": "🧪",
        },
        _updated_profile,
    ),
    "get_user_profile_v2": Step(
        lambda s: {"p_user_id": s.me},
        lambda b, s: None if _object(b, "a profile").get("id") == s.me else "wrong profile",
    ),
    "create_post_v2": Step(lambda s: {"p_body": f"synthetic check {s.run_id}"}, _created_post),
    "get_home_feed_v2": Step(
        lambda s: {"p_limit": 50},
        lambda b, s: _contains(b, "id", s.post_id, "the run's post"),
        needs=("create_post_v2",),
    ),
    "get_user_posts_v2": Step(
        lambda s: {"p_limit": 20},
        lambda b, s: _contains(b, "id", s.post_id, "the run's post"),
        needs=("create_post_v2",),
    ),
    "get_user_post_count_v2": Step(lambda s: {}, _count, needs=("create_post_v2",)),
    "add_reaction_v2": Step(
        lambda s: {"p_post_id": s.post_id},
        _added_reaction,
        needs=("create_post_v2",),
        again=_is(False),
    ),
    "get_liked_posts_v2": Step(
        lambda s: {"p_limit": 20},
        lambda b, s: _contains(b, "id", s.post_id, "the liked post"),
        needs=("add_reaction_v2",),
    ),
    "remove_reaction_v2": Step(
        lambda s: {"p_post_id": s.post_id},
        _is(True),
        needs=("add_reaction_v2",),
        after=("get_liked_posts_v2",),
    ),
    "create_comment_v2": Step(
        lambda s: {"p_post_id": s.post_id, "p_body": "synthetic comment"},
        _created_comment,
        needs=("create_post_v2",),
    ),
    "get_post_comments_v2": Step(
        lambda s: {"p_post_id": s.post_id},
        lambda b, s: _contains(b, "id", s.comment_id, "the run's comment"),
        needs=("create_comment_v2",),
    ),
    "delete_comment_v2": Step(
        lambda s: {"p_comment_id": s.comment_id},
        _is(True),
        needs=("create_comment_v2",),
        after=("get_post_comments_v2",),
    ),
    "follow_user_v2": Step(lambda s: {"p_target_user_id": s.other}, _is(True)),
    "is_following_v2": Step(
        lambda s: {"p_target_user_id": s.other}, _is(True), needs=("follow_user_v2",)
    ),
    "get_follow_counts_v2": Step(
        lambda s: {"p_user_id": s.other}, _follow_counts, needs=("follow_user_v2",)
    ),
    "get_followers_v2": Step(
        lambda s: {"p_user_id": s.other},
        lambda b, s: _contains(b, "user_id", s.me, "the run's user among the followers"),
        needs=("follow_user_v2",),
    ),
    "get_following_v2": Step(
        lambda s: {"p_user_id": s.me},
        lambda b, s: _contains(b, "user_id", s.other, "the followed user"),
        needs=("follow_user_v2",),
    ),
    "unfollow_user_v2": Step(
        lambda s: {"p_target_user_id": s.other},
        _is(True),
        needs=("follow_user_v2",),
        after=_FOLLOW_READS,
    ),
    "delete_post_v2": Step(
        lambda s: {"p_post_id": s.post_id},
        _is(True),
        needs=("create_post_v2",),
        after=(*_POST_READS, "get_liked_posts_v2", "remove_reaction_v2", "delete_comment_v2"),
    ),
}
_NEEDS_OTHER = {"follow_user_v2", *_FOLLOW_READS, "unfollow_user_v2"}


class RpcFlow:
    """Runs the configured RPCs in the app's order, each at most once, with their verdicts."""

    def __init__(self, journey: Journey, functions: list[str]) -> None:
        self.journey = journey
        self.functions = functions
        self._results: dict[str, Outcome] = {}
        self._state: FlowState | None = None
        self._user: SignedIn | None = None

    def _setup(self) -> tuple[SignedIn, FlowState]:
        if self._user is None or self._state is None:
            self._user = self.journey.signed_in()
            user_id = self._user.user.id or ""
            self._state = FlowState(me=user_id, run_id=self.journey.run_id)
        return self._user, self._state

    def result(self, name: str) -> Outcome:
        """The verdict of `name`, running it (and what it needs) first if necessary."""
        if name in self._results:
            return self._results[name]
        user, state = self._setup()
        step = STEPS.get(name)
        if step is not None:
            for dep in step.after:
                if dep in self.functions and dep not in self._results:
                    # Ordering only: a broken read must not block the delete.
                    with contextlib.suppress(Blocked, NotApplicable):
                        self.result(dep)
            for dep in step.needs:
                try:
                    needed = self.result(dep)
                except NotApplicable:
                    raise
                if not needed.ok:
                    root = needed.blocked_by or f"rpc.{dep}"
                    raise Blocked(root, f"blocked: rpc.{dep} failed ({needed.message})")
            if name in _NEEDS_OTHER and state.other is None:
                state.other = self.journey.admin_user("second").user.id
        outcome = self._call(name, step, user, state)
        self._results[name] = outcome
        return outcome

    def _call(self, name: str, step: Step | None, user: SignedIn, state: FlowState) -> Outcome:
        outcome = Outcome(f"rpc.{name}")
        args = step.args(state) if step else {}
        call = self.journey.api.rpc(name, args, bearer=user.access_token)
        outcome.measurements["latency_ms"] = call.elapsed_ms
        if not 200 <= call.status < 300:
            code = error_code(call)
            outcome.message = f"{name} answered {call.status} {code or ''}: {error_message(call)}"
            return outcome
        body = call.json() if call.status != 204 else None
        try:
            problem = step.verify(body, state) if step else None
            if problem is None and step is not None and step.again is not None:
                second = self.journey.api.rpc(name, args, bearer=user.access_token)
                second_body = second.json() if second.status != 204 else None
                problem = step.again(second_body, state)
                if problem:
                    problem = f"calling it twice is not idempotent: {problem}"
        except ValueError as exc:
            problem = str(exc)
        outcome.ok = problem is None
        took = f"{call.elapsed_ms:.0f} ms"
        outcome.message = (
            f"{name}: {problem}" if problem else f"{name} answered correctly in {took}"
        )
        if user.fallback_reason:
            outcome.message += f" ({user.fallback_reason})"
        return outcome
