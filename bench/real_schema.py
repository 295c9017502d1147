"""The suite on Mamapace's real SQL: what it reports before and after the runbook's Security
Incident Response REVOKEs (and with the `FROM PUBLIC` the runbook forgets).

It loads a checkout of kkk9131/mamapace (default: the mirror's HEAD) into the sandbox in the
order its files were added (see the README), runs every check, and prints each run's criticals and
warnings.

    python bench/real_schema.py [--repo GIT_DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from synthetics.sandbox.migrations import MAMAPACE_CHECKOUT_ORDER  # noqa: E402

MIRROR = Path("/work/.mirror/kkk9131+mamapace/repo")
ORDER = list(MAMAPACE_CHECKOUT_ORDER)
RUNBOOK = (
    "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM anon;\n"
    "REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM anon;\n"
)
WITH_PUBLIC = RUNBOOK + "REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;\n"


def run(checkout: Path, extra: list[str], report: Path) -> dict[str, object]:
    subprocess.run(
        [sys.executable, "-m", "synthetics.cli", "run", "--no-history", "--continue-on-error",
         "--set", "deeplink.browser=off", "--report-dir", str(report), "--migrations",
         *ORDER, *extra],
        cwd=checkout, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    results: dict[str, object] = json.loads((report / "results.json").read_text())
    return results


def show(title: str, results: dict[str, object]) -> None:
    checks = results["checks"]
    assert isinstance(checks, list)
    print(f"\n== {title}: {str(results['status']).upper()}")
    for status in ("critical", "warning"):
        found = [c for c in checks if c["status"] == status]
        print(f"  {len(found)} {status}")
        for check in found:
            print(f"    {check['id']}: {str(check['message'])[:150]}")
    blocked = [c["id"] for c in checks if c["status"] == "blocked"]
    if blocked:
        print(f"  {len(blocked)} blocked")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", type=Path, default=MIRROR)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-real-schema-"))
    checkout = work / "mamapace"
    checkout.mkdir()
    archive = subprocess.run(
        ["git", "--git-dir", str(args.repo), "archive", "HEAD", "supabase"],
        capture_output=True, check=True,
    )  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive.stdout, check=True)
    (work / "runbook.sql").write_text(RUNBOOK)
    (work / "runbook_public.sql").write_text(WITH_PUBLIC)
    show("the app's own SQL", run(checkout, [], work / "before"))
    show(
        "after the runbook's REVOKEs (FROM anon)",
        run(checkout, [str(work / "runbook.sql")], work / "runbook"),
    )
    show(
        "after the REVOKEs FROM anon and PUBLIC",
        run(checkout, [str(work / "runbook_public.sql")], work / "public"),
    )


if __name__ == "__main__":
    main()
