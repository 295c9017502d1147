"""Mamapace's v2 RPCs as the app calls them: each step's arguments, expectations and order.

The arguments are the ones `src/services/postService.ts` and `profileService.ts` send, names and
values (`create_post_v2` always with `p_attachments`, the feeds with `p_offset_time` and
`p_limit`, the follow lists with `p_before`), and the answers are checked for the columns the app
reads, with the JSON types it reads them as. A step `needs` the steps whose data it uses (their
failure blocks it) and runs `after` the steps that must see the data before it changes (order
only); its `extras` look further once the answer is right: a second call (idempotency), the run's
post further down a busy feed, the next page. Any configured function not described here is
called without arguments and must simply answer 2xx.

Nothing here assumes the run's rows are the only ones: on a real target other users post while
the run looks, so a feed is scrolled the way the app scrolls it and a page is judged by what must
hold whatever else was posted (older than the cursor, no repeats, nothing of ours skipped).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from synthetics.clients.http import BadResponse
from synthetics.clients.supabase import error_code, error_message
from synthetics.journey import Blocked, Journey, NotApplicable, Outcome, SignedIn

#: The app's page size (postService.ts and profileService.ts, PAGE_SIZE_DEFAULT).
PAGE_SIZE = 20
#: Pages the flow scrolls through a busy home feed looking for the run's post (as the app would).
MAX_PAGES = 5
#: The page size of the second-page check: small, so two posts make two pages.
PAGE_CHECK_LIMIT = 1


@dataclass
class FlowState:
    """What the steps learn and share: who I am, the other user, my posts and comment."""

    me: str
    run_id: str
    other: str | None = None
    post_id: str | None = None
    post_created_at: datetime | None = None
    second_post_id: str | None = None  # the newer post the second-page checks page back from
    comment_id: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)


class Refused(Exception):
    """An extra call the flow makes did not answer 2xx with JSON (the message says how)."""


class Undecided(Exception):
    """A look that could not tell right from wrong (the step is inconclusive, not failed)."""


#: Calls an RPC as the step's user; returns the JSON body of a 2xx answer, else raises Refused.
Rpc = Callable[[str, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Look:
    """What an extra check of a step gets: the call, its answer, the flow state, a caller."""

    name: str
    args: dict[str, Any]
    body: Any
    state: FlowState
    rpc: Rpc


Args = Callable[[FlowState], dict[str, Any]]
Verify = Callable[[Any, FlowState], str | None]
Extra = Callable[[Look], str | None]


# -- the columns the app reads ------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column the app reads: under one of `names` (its `a ?? b` fallbacks), of one of `kinds`."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]


def _col(names: str | tuple[str, ...], *kinds: str) -> Column:
    return Column((names,) if isinstance(names, str) else names, kinds)


_TEXT = ("string", "null")
#: The posts row create_post_v2 returns (the app keeps it as a `Post`).
POST = (
    _col("id", "string"),
    _col("user_id", "string"),
    _col("body", "string"),
    _col("created_at", "timestamp"),
    _col("attachments", "array", "null"),
)
#: A row of get_home_feed_v2 / get_user_posts_v2 / get_liked_posts_v2 (fetchHomeFeed & co.).
FEED_ROW = (
    *POST,
    _col(("user_display_name", "display_name"), *_TEXT),
    _col(("user_avatar_emoji", "avatar_emoji"), *_TEXT),
    _col("reaction_count", "number"),
    _col("comment_count", "number"),
)
#: The post_comments row create_comment_v2 returns (a `Comment`).
COMMENT = (
    _col("id", "string"),
    _col("post_id", "string"),
    _col("user_id", "string"),
    _col("body", "string"),
    _col("created_at", "timestamp"),
    _col("attachments", "array", "null"),
)
#: A row of get_post_comments_v2 (fetchComments).
COMMENT_ROW = (
    *COMMENT,
    _col(("user_display_name", "display_name"), *_TEXT),
    _col(("user_avatar_emoji", "avatar_emoji"), *_TEXT),
)
#: A profile (`PublicUserProfile` in src/types/auth.ts).
PROFILE = (
    _col("id", "string"),
    _col("username", "string"),
    _col("display_name", *_TEXT),
    _col("bio", *_TEXT),
    _col("avatar_emoji", *_TEXT),
    _col("created_at", "timestamp"),
    _col("profile_visibility", "string"),
    _col("is_active", "boolean"),
)
#: A row of get_followers_v2 / get_following_v2 (`FollowUser`; followed_at is its cursor).
FOLLOW_ROW = (
    _col("user_id", "string"),
    _col("username", "string"),
    _col("display_name", *_TEXT),
    _col("avatar_emoji", *_TEXT),
    _col("followed_at", "timestamp"),
)
FOLLOW_COUNTS = (_col("followers", "number"), _col("following", "number"))


def timestamp(value: Any) -> datetime | None:
    """A timestamptz as PostgREST renders it, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _at(row: Mapping[str, Any]) -> datetime:
    """The created_at of a row already checked to carry a timestamp there."""
    at = timestamp(row["created_at"])
    assert at is not None
    return at


def json_kind(value: Any) -> str:
    """The JSON type of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def shape_problem(row: Mapping[str, Any], columns: Sequence[Column], what: str) -> str | None:
    """The first column the app reads that `row` lacks or carries with the wrong JSON type."""
    for column in columns:
        present = [name for name in column.names if name in row]
        if not present:
            return f"{what} has no {' or '.join(column.names)} column (the app reads it)"
        name = present[0]
        value = row[name]
        kind = json_kind(value)
        if "timestamp" in column.kinds and timestamp(value) is not None:
            continue
        if kind not in column.kinds:
            wanted = " or ".join(k if k != "timestamp" else "a timestamp" for k in column.kinds)
            return f"{what}: {name} is {kind} {value!r:.40}, the app reads {wanted}"
    return None


def _object(body: Any, what: str, columns: Sequence[Column]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError(f"expected {what} as a JSON object, got {json_kind(body)}")
    problem = shape_problem(body, columns, what)
    if problem:
        raise ValueError(problem)
    return body


def _rows(body: Any, what: str, columns: Sequence[Column]) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise ValueError(f"expected a JSON array of {what}s, got {json_kind(body)}")
    for index, row in enumerate(body):
        if not isinstance(row, dict):
            raise ValueError(f"{what} {index + 1} is {json_kind(row)}, not an object")
        problem = shape_problem(row, columns, f"{what} {index + 1}")
        if problem:
            raise ValueError(problem)
    return body


# -- verdicts on one answer ---------------------------------------------------------------------


def _is(expected: object) -> Verify:
    def verify(body: Any, state: FlowState) -> str | None:
        return None if body is expected else f"expected {expected!r}, got {body!r}"

    return verify


def _listing(
    columns: Sequence[Column], what: str, key: str, wanted: Callable[[FlowState], Any]
) -> Verify:
    """Rows of `columns`, one of which has `key` == wanted(state)."""

    def verify(body: Any, state: FlowState) -> str | None:
        rows = _rows(body, "row", columns)
        target = wanted(state)
        if target in {row.get(key) for row in rows}:
            return None
        return f"{what} is missing from the result ({len(rows)} rows)"

    return verify


def _rows_only(columns: Sequence[Column]) -> Verify:
    def verify(body: Any, state: FlowState) -> str | None:
        _rows(body, "row", columns)
        return None

    return verify


def _my_profile(body: Any, state: FlowState) -> str | None:
    profile = _object(body, "the profile", PROFILE)
    if profile.get("id") != state.me:
        return "the profile returned is not the signed-in user's"
    state.profile = profile
    return None


def _updated_profile(body: Any, state: FlowState) -> str | None:
    profile = _object(body, "the profile", PROFILE)
    return None if profile.get("display_name") == "Synthetic check" else "display_name not updated"


def _user_profile(body: Any, state: FlowState) -> str | None:
    profile = _object(body, "the profile", PROFILE)
    return None if profile.get("id") == state.me else "the profile returned is someone else's"


def _created_post(body: Any, state: FlowState) -> str | None:
    post = _object(body, "the created post", POST)
    if post["user_id"] != state.me:
        return "the created post does not belong to the signed-in user"
    state.post_id = str(post["id"])
    state.post_created_at = timestamp(post["created_at"])
    return None


def _created_comment(body: Any, state: FlowState) -> str | None:
    comment = _object(body, "the created comment", COMMENT)
    if comment["post_id"] != state.post_id:
        return "the created comment is not on the run's post"
    state.comment_id = str(comment["id"])
    return None


def _count(body: Any, state: FlowState) -> str | None:
    if json_kind(body) != "number" or body < 1:
        return f"expected a count of at least 1 (the run's post), got {body!r}"
    return None


def _follow_counts(body: Any, state: FlowState) -> str | None:
    rows = _rows(body, "row", FOLLOW_COUNTS)
    if len(rows) != 1:
        return f"expected one row of followers/following counts, got {len(rows)}"
    return None if rows[0]["followers"] >= 1 else "the follow is not counted"


def _added_reaction(body: Any, state: FlowState) -> str | None:
    return None if body is True else f"the first reaction returned {body!r}, expected true"


# -- extra looks --------------------------------------------------------------------------------


def _twice(expected: object) -> Extra:
    """Calling it again with the same arguments answers `expected` (idempotency)."""

    def extra(look: Look) -> str | None:
        second = look.rpc(look.name, look.args)
        if second is expected:
            return None
        return f"calling it twice is not idempotent: expected {expected!r}, got {second!r}"

    return extra


def _finds_run_post(look: Look) -> str | None:
    """The run's post is in the feed: on page 1, or further down after newer posts by others.

    Scrolls as the app does (the last row's created_at as the next p_offset_time) until the post
    shows up or the pages have gone past it.
    """
    state, rows = look.state, look.body
    for page in range(1, MAX_PAGES + 1):
        if state.post_id in {row.get("id") for row in rows}:
            return None
        if len(rows) < look.args.get("p_limit", PAGE_SIZE) or state.post_created_at is None:
            break
        if _at(rows[-1]) < state.post_created_at:
            break
        if page == MAX_PAGES:
            raise Undecided(
                f"{MAX_PAGES} pages of newer posts came before the run's post: the feed is too "
                "busy to tell whether it is there"
            )
        scrolled = {**look.args, "p_offset_time": rows[-1]["created_at"]}
        rows = _rows(look.rpc(look.name, scrolled), "row", FEED_ROW)
    return "the run's post is missing from the feed"


def _second_post(look: Look) -> None:
    """A second, newer post of the run's user (made once), so that its posts span two pages."""
    state = look.state
    if state.second_post_id is None:
        body = look.rpc("create_post_v2", _post_args(state, "second page"))
        state.second_post_id = str(_object(body, "the second post", POST)["id"])


def _pages_back(look: Look) -> str | None:
    """Page 2 (p_offset_time = page 1's last created_at) carries on where page 1 stopped.

    Whatever anyone else posts meanwhile, page 2 must hold only rows older than the cursor, none
    of page 1's again, and must not skip the run's first post: it is older than the cursor (the
    run's second post is newer and was on the target before page 1 was read), so the newest row
    older than the cursor can be no older than it.
    """
    _second_post(look)
    first_args = {**look.args, "p_offset_time": None, "p_limit": PAGE_CHECK_LIMIT}
    page1 = _rows(look.rpc(look.name, first_args), "page 1 row", FEED_ROW)
    if not page1:
        return f"page 1 (p_limit {PAGE_CHECK_LIMIT}) is empty although the run has two posts"
    cursor_text, cursor = page1[-1]["created_at"], _at(page1[-1])
    page2 = _rows(
        look.rpc(look.name, {**first_args, "p_offset_time": cursor_text}), "page 2 row", FEED_ROW
    )
    seen = {row["id"] for row in page1}
    repeated = [row["id"] for row in page2 if row["id"] in seen]
    if repeated:
        return f"page 2 repeats page 1's {', '.join(repeated)}: p_offset_time is not applied"
    newer = [row["created_at"] for row in page2 if _at(row) >= cursor]
    if newer:
        return f"page 2 holds rows not older than the cursor {cursor_text}: {', '.join(newer)}"
    first = look.state.post_created_at
    if first is not None and first < cursor:
        if not page2:
            return f"page 2 (p_offset_time {cursor_text}) is empty: the run's first post is skipped"
        if _at(page2[0]) < first:
            return (
                f"page 2 starts at {page2[0]['created_at']}, past the run's first post: "
                "rows between the pages are skipped"
            )
    return None


def _deletes_second_post(look: Look) -> str | None:
    """The second post made for the paging checks goes too."""
    state = look.state
    if state.second_post_id is None:
        return None
    deleted = look.rpc(look.name, {"p_post_id": state.second_post_id})
    if deleted is not True:
        return f"deleting the run's second post returned {deleted!r}, expected true"
    state.second_post_id = None
    return None


# -- the flow -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One RPC of the flow."""

    args: Args
    verify: Verify
    needs: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    extras: tuple[Extra, ...] = ()


def _post_args(state: FlowState, what: str) -> dict[str, Any]:
    # createPost: the trimmed body, and p_attachments always (an empty array without images).
    return {"p_body": f"synthetic check {state.run_id} ({what})", "p_attachments": []}


def _page(**args: Any) -> Args:
    """A first page as the app asks for it: its own arguments, no cursor, its page size."""
    return lambda s: {**args, "p_offset_time": None, "p_limit": PAGE_SIZE}


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
    "get_user_profile_v2": Step(lambda s: {"p_user_id": s.me}, _user_profile),
    "create_post_v2": Step(lambda s: _post_args(s, "first"), _created_post),
    "get_home_feed_v2": Step(
        _page(),
        _rows_only(FEED_ROW),
        needs=("create_post_v2",),
        extras=(_finds_run_post, _pages_back),
    ),
    "get_user_posts_v2": Step(
        _page(),
        _listing(FEED_ROW, "the run's post", "id", lambda s: s.post_id),
        needs=("create_post_v2",),
        extras=(_pages_back,),
    ),
    "get_user_post_count_v2": Step(lambda s: {}, _count, needs=("create_post_v2",)),
    "add_reaction_v2": Step(
        lambda s: {"p_post_id": s.post_id},
        _added_reaction,
        needs=("create_post_v2",),
        extras=(_twice(False),),
    ),
    "get_liked_posts_v2": Step(
        _page(),
        _listing(FEED_ROW, "the liked post", "id", lambda s: s.post_id),
        needs=("add_reaction_v2",),
    ),
    "remove_reaction_v2": Step(
        lambda s: {"p_post_id": s.post_id},
        _is(True),
        needs=("add_reaction_v2",),
        after=("get_liked_posts_v2",),
    ),
    "create_comment_v2": Step(
        # createComment tries the attachments signature first, as this does.
        lambda s: {"p_post_id": s.post_id, "p_body": "synthetic comment", "p_attachments": []},
        _created_comment,
        needs=("create_post_v2",),
    ),
    "get_post_comments_v2": Step(
        lambda s: {"p_post_id": s.post_id, "p_offset_time": None, "p_limit": PAGE_SIZE},
        _listing(COMMENT_ROW, "the run's comment", "id", lambda s: s.comment_id),
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
        # getFollowers: these two still page with p_before.
        lambda s: {"p_user_id": s.other, "p_limit": PAGE_SIZE, "p_before": None},
        _listing(FOLLOW_ROW, "the run's user among the followers", "user_id", lambda s: s.me),
        needs=("follow_user_v2",),
    ),
    "get_following_v2": Step(
        lambda s: {"p_user_id": s.me, "p_limit": PAGE_SIZE, "p_before": None},
        _listing(FOLLOW_ROW, "the followed user", "user_id", lambda s: s.other),
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
        extras=(_deletes_second_post,),
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
                needed = self.result(dep)
                if not needed.ok:
                    root = needed.blocked_by or f"rpc.{dep}"
                    raise Blocked(root, f"blocked: rpc.{dep} failed ({needed.message})")
            if name in _NEEDS_OTHER and state.other is None:
                state.other = self.journey.admin_user("second").user.id
        outcome = self._call(name, step, user, state)
        self._results[name] = outcome
        return outcome

    def _rpc(self, user: SignedIn) -> Rpc:
        def call(name: str, args: Mapping[str, Any]) -> Any:
            answer = self.journey.api.rpc(name, args, bearer=user.access_token)
            if not 200 <= answer.status < 300:
                raise Refused(
                    f"{name} answered {answer.status} {error_code(answer) or ''}: "
                    f"{error_message(answer)}"
                )
            try:
                return answer.json() if answer.status != 204 else None
            except BadResponse as exc:
                raise Refused(str(exc)) from None

        return call

    def _call(self, name: str, step: Step | None, user: SignedIn, state: FlowState) -> Outcome:
        outcome = Outcome(f"rpc.{name}")
        args = step.args(state) if step else {}
        call = self.journey.api.rpc(name, args, bearer=user.access_token)
        outcome.measurements |= call.measurements()
        if not 200 <= call.status < 300:
            code = error_code(call)
            outcome.message = f"{name} answered {call.status} {code or ''}: {error_message(call)}"
            return outcome
        try:
            body = call.json() if call.status != 204 else None
            problem = step.verify(body, state) if step else None
            for extra in step.extras if step and problem is None else ():
                problem = extra(Look(name, args, body, state, self._rpc(user)))
                if problem:
                    break
        except (ValueError, BadResponse, Refused) as exc:
            problem = str(exc)
        except Undecided as exc:
            problem, outcome.reason = str(exc), "inconclusive"
        outcome.ok = problem is None
        took = f"{call.elapsed_ms:.0f} ms"
        outcome.message = (
            f"{name}: {problem}" if problem else f"{name} answered correctly in {took}"
        )
        if user.fallback_reason:
            outcome.message += f" ({user.fallback_reason})"
        return outcome
