"""Known vulnerabilities in the installed packages, from PyPI's vulnerability data (OSV).

Usage: python .ci/audit.py [--ignore .ci/audit-ignore.toml]   (run with the environment's python)

Why not pip-audit: pip-audit asks PyPI's per-release endpoint (/pypi/NAME/VERSION/json), which
the package mirror these machines reach does not serve (it answers 404 for every release), so
pip-audit reports every package as "not found" and exits 0 — an audit that checks nothing.
The mirror does serve the project endpoint (/pypi/NAME/json), whose `vulnerabilities` are those
of the latest release. So: for each installed distribution, the per-release answer where PyPI
gives one (as pip-audit would), else the project answer when the installed release is the
latest; otherwise the package is listed as not audited. The figures say how many were audited.

Exit status: 0 no known vulnerability (other than those accepted in the ignore file, each with
its reason); 1 at least one; 2 PyPI could not be reached at all.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

PYPI = "https://pypi.org/pypi"

Fetch = Callable[[str], dict | None]


def normalise(name: str) -> str:
    """PEP 503 name: what PyPI's URLs use."""
    return re.sub(r"[-_.]+", "-", name).lower()


def fetch_json(url: str) -> dict | None:
    """The JSON at `url`, or None when PyPI answers 404; other failures raise OSError."""
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise OSError(f"{url}: HTTP {error.code}") from error
    except json.JSONDecodeError:
        return None  # the mirror answers some unknown paths with an HTML page


def vulnerabilities_of(name: str, version: str, fetch: Fetch = fetch_json
                       ) -> tuple[str, list[dict]]:
    """('release' | 'latest' | 'not audited', the vulnerabilities affecting name==version)."""
    project = normalise(name)
    release = fetch(f"{PYPI}/{project}/{version}/json")
    if release is not None and release.get("info", {}).get("version") == version:
        return "release", _current(release)
    latest = fetch(f"{PYPI}/{project}/json")
    if latest is not None and latest.get("info", {}).get("version") == version:
        return "latest", _current(latest)
    return "not audited", []


def _current(answer: dict) -> list[dict]:
    return [v for v in answer.get("vulnerabilities") or [] if not v.get("withdrawn")]


def installed() -> list[tuple[str, str]]:
    seen = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            seen.setdefault(normalise(name), (name, dist.version))
    return sorted(seen.values(), key=lambda item: normalise(item[0]))


def accepted(path: Path) -> dict[str, str]:
    """{vulnerability id: reason} from the ignore file; every entry must give a reason."""
    if not path.exists():
        return {}
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("accepted", [])
    reasons = {}
    for entry in entries:
        if not str(entry.get("reason", "")).strip():
            raise SystemExit(f"{path}: accepted vulnerability {entry.get('id')} has no reason")
        reasons[entry["id"]] = entry["reason"]
    return reasons


def audit(packages: list[tuple[str, str]], ignore: dict[str, str], fetch: Fetch = fetch_json,
          out=sys.stdout) -> int:
    found, unaudited, reached = [], [], 0

    def ask(package):
        try:
            return package, vulnerabilities_of(*package, fetch), None
        except OSError as error:
            return package, None, error

    # Two requests per package, answered in about a second each: ask several at once.
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, packages))
    for (name, version), answer, error in answers:
        if error is not None:
            unaudited.append(f"{name}=={version} ({error})")
            continue
        how, vulns = answer
        reached += 1
        if how == "not audited":
            unaudited.append(f"{name}=={version} (PyPI gives no vulnerability data for it)")
            continue
        for vuln in vulns:
            ids = {vuln.get("id"), *(vuln.get("aliases") or [])}
            reason = next((ignore[i] for i in ids if i in ignore), None)
            fixed = ", ".join(vuln.get("fixed_in") or []) or "no fixed release"
            line = f"{name}=={version}: {vuln.get('id')} (fixed in {fixed})"
            if reason:
                print(f"accepted  {line} — {reason}", file=out)
            else:
                found.append(line)
    audited = len(packages) - len(unaudited)
    print(f"dependency audit: {audited} of {len(packages)} installed packages audited, "
          f"{len(found)} with a known vulnerability", file=out)
    for line in unaudited:
        print(f"not audited  {line}", file=out)
    for line in found:
        print(f"VULNERABLE  {line}", file=out)
    if packages and reached == 0:
        print("PyPI could not be reached: no package was audited", file=out)
        return 2
    return 1 if found else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ignore", type=Path,
                        default=Path(__file__).with_name("audit-ignore.toml"))
    args = parser.parse_args(argv)
    return audit(installed(), accepted(args.ignore))


if __name__ == "__main__":
    sys.exit(main())
