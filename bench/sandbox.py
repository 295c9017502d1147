"""Sandbox benchmark: start-up times, sign-up → inbox latency and RPC round trips on this machine.

    python bench/sandbox.py [--rounds N]

Targets (issue #2): cold start < 5 s, warm start < 1.5 s, sign-up → inbox < 200 ms, RPC p50 < 10 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from synthetics.sandbox.server import Sandbox, SandboxInfo, settings_for_port
from synthetics.sandbox.settings import SandboxSettings

PASSWORD = "bench-password-123"


def timed(action: Callable[[], object]) -> float:
    """Seconds `action` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of `values`."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def start_stop(data_dir: Path | None, *, use_template: bool = True) -> float:
    """Seconds from constructing a sandbox to every port answering (then stop it)."""
    sandbox = Sandbox(
        settings_for_port(SandboxSettings(), 0), data_dir=data_dir, use_template=use_template
    )
    elapsed = timed(sandbox.start)
    sandbox.stop()
    return elapsed


def signup_to_inbox(info: SandboxInfo, client: httpx.Client) -> float:
    """Seconds from sending a sign-up to its confirmation email being listed by the inbox API."""
    address = f"bench-{uuid.uuid4().hex[:12]}@mamapace-synthetics.dev"
    started = time.perf_counter()
    response = client.post(
        f"{info.api_url}/auth/v1/signup",
        headers={"apikey": info.anon_key},
        json={"email": address, "password": PASSWORD},
    )
    response.raise_for_status()
    deadline = started + 10
    while time.perf_counter() < deadline:  # tight poll: we are measuring, not waiting politely
        found = client.get(f"{info.inbox_url}/api/v1/search", params={"query": f"to:{address}"})
        if found.json()["messages"]:
            return time.perf_counter() - started
    raise RuntimeError("the email never arrived")


def rpc_round_trips(info: SandboxInfo, client: httpx.Client, rounds: int) -> dict[str, list[float]]:
    """Round-trip seconds of representative RPCs with a signed-in user."""
    service = {"apikey": info.service_role_key, "Authorization": f"Bearer {info.service_role_key}"}
    address = f"bench-rpc-{uuid.uuid4().hex[:12]}@mamapace-synthetics.dev"
    client.post(
        f"{info.api_url}/auth/v1/admin/users",
        headers=service,
        json={"email": address, "password": PASSWORD, "email_confirm": True},
    ).raise_for_status()
    token = client.post(
        f"{info.api_url}/auth/v1/token?grant_type=password",
        headers={"apikey": info.anon_key},
        json={"email": address, "password": PASSWORD},
    ).json()["access_token"]
    headers = {"apikey": info.anon_key, "Authorization": f"Bearer {token}"}
    for _ in range(10):
        client.post(
            f"{info.api_url}/rest/v1/rpc/create_post_v2",
            headers=headers,
            json={"p_body": "bench", "p_attachments": []},  # as the app calls it
        ).raise_for_status()
    calls = {
        "get_my_profile_v2": {},
        "get_home_feed_v2": {"p_offset_time": None, "p_limit": 20},
        "get_user_post_count_v2": {},
    }
    results: dict[str, list[float]] = {}
    for name, args in calls.items():
        url = f"{info.api_url}/rest/v1/rpc/{name}"
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            client.post(url, headers=headers, json=args).raise_for_status()
            samples.append(time.perf_counter() - started)
        results[name] = samples
    return results


def row(label: str, seconds: list[float], target: str, digits: int = 0) -> str:
    """One line of the table: p50, p95 and max in milliseconds."""
    p50, p95, top = (
        v * 1000 for v in (statistics.median(seconds), percentile(seconds, 95), max(seconds))
    )
    return f"{label:34} {p50:8.{digits}f}ms {p95:8.{digits}f}ms {top:8.{digits}f}ms  {target}"


def main() -> None:
    """Run every measurement and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="RPC calls per function")
    args = parser.parse_args()

    cold = [start_stop(None, use_template=False) for _ in range(3)]  # initdb + bootstrap
    start_stop(None)  # make sure the cluster template exists
    templated = [start_stop(None) for _ in range(3)]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "pgdata"
        start_stop(data_dir, use_template=False)  # initdb + bootstrap once
        warm = [start_stop(data_dir) for _ in range(3)]

    with Sandbox(settings_for_port(SandboxSettings(), 0)) as sandbox, httpx.Client() as client:
        info = sandbox.info
        inbox = [signup_to_inbox(info, client) for _ in range(30)]
        rpcs = rpc_round_trips(info, client, args.rounds)

    print(f"{'measurement':34} {'p50':>9} {'p95':>9} {'max':>9}  target")
    print(row("cold start (initdb + bootstrap)", cold, "< 5000 ms"))
    print(row("fresh start from cached template", templated, "(what each run does)"))
    print(row("warm start (kept data dir)", warm, "< 1500 ms"))
    print(row("sign-up -> email in inbox", inbox, "< 200 ms", 1))
    for name, samples in rpcs.items():
        print(row(f"rpc {name}", samples, "p50 < 10 ms", 2))


if __name__ == "__main__":
    main()
