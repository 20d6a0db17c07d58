"""Secrets stay out of the repository; dependencies are pinned and audited (.ci/audit.py)."""
from __future__ import annotations

import importlib.util
import io
import re
import subprocess

import pytest

from tests.conftest import REPO


def _audit_module():
    spec = importlib.util.spec_from_file_location("ci_audit", REPO / ".ci" / "audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


audit = _audit_module()

# PyPI's answers in the shape the JSON API gives them (trimmed): pycrypto 2.6.1 is the latest
# release of an abandoned package with published advisories.
VULN = {"id": "PYSEC-2017-94", "aliases": ["CVE-2013-7459"], "fixed_in": [], "withdrawn": None}
WITHDRAWN = {"id": "PYSEC-2099-1", "aliases": [], "fixed_in": ["9"], "withdrawn": "2024-01-01"}


def pypi(answers: dict[str, dict | None]):
    asked = []

    def fetch(url):
        asked.append(url)
        if url not in answers:
            return None
        answer = answers[url]
        if isinstance(answer, Exception):
            raise answer
        return answer

    fetch.asked = asked
    return fetch


def run(packages, answers, ignore=None):
    out = io.StringIO()
    status = audit.audit(packages, ignore or {}, fetch=pypi(answers), out=out)
    return status, out.getvalue()


def test_a_vulnerable_release_fails_the_audit_and_is_named():
    status, out = run([("PyCrypto", "2.6.1")], {
        "https://pypi.org/pypi/pycrypto/json": {"info": {"version": "2.6.1"},
                                                "vulnerabilities": [VULN, WITHDRAWN]}})
    assert status == 1
    assert "VULNERABLE  PyCrypto==2.6.1: PYSEC-2017-94 (fixed in no fixed release)" in out
    assert "PYSEC-2099-1" not in out  # withdrawn advisories do not count
    assert "1 of 1 installed packages audited, 1 with a known vulnerability" in out


def test_the_per_release_answer_is_used_where_pypi_gives_one():
    fetch = pypi({"https://pypi.org/pypi/requests/2.19.0/json": {
        "info": {"version": "2.19.0"}, "vulnerabilities": [dict(VULN, id="PYSEC-2018-28")]}})
    out = io.StringIO()
    assert audit.audit([("requests", "2.19.0")], {}, fetch=fetch, out=out) == 1
    assert fetch.asked == ["https://pypi.org/pypi/requests/2.19.0/json"]


def test_an_accepted_vulnerability_needs_its_reason_and_is_shown(tmp_path):
    answers = {"https://pypi.org/pypi/pycrypto/json": {"info": {"version": "2.6.1"},
                                                       "vulnerabilities": [VULN]}}
    # accepted by its alias, with the reason printed
    status, out = run([("pycrypto", "2.6.1")], answers, {"CVE-2013-7459": "not reachable"})
    assert status == 0
    assert "accepted  pycrypto==2.6.1: PYSEC-2017-94" in out and "not reachable" in out

    ignore = tmp_path / "ignore.toml"
    ignore.write_text('[[accepted]]\nid = "PYSEC-2017-94"\nreason = ""\n')
    with pytest.raises(SystemExit, match="has no reason"):
        audit.accepted(ignore)


def test_an_older_release_without_data_is_listed_as_not_audited_not_passed_silently():
    status, out = run([("numpy", "1.0")], {
        "https://pypi.org/pypi/numpy/json": {"info": {"version": "2.4.6"},
                                             "vulnerabilities": []}})
    assert status == 0
    assert "0 of 1 installed packages audited" in out
    assert "not audited  numpy==1.0" in out


def test_pypi_out_of_reach_fails_the_audit():
    down = OSError("connection refused")
    status, out = run([("numpy", "2.4.6")], {
        "https://pypi.org/pypi/numpy/2.4.6/json": down})
    assert status == 2
    assert "PyPI could not be reached" in out


def test_names_are_asked_for_as_pypi_spells_them():
    assert audit.normalise("Typing_Extensions") == "typing-extensions"
    assert audit.normalise("zope.interface") == "zope-interface"


def _requirement_lines():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for number, line in enumerate((REPO / name).read_text().splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                yield name, number, line


def test_every_requirement_is_pinned_to_one_release():
    loose = [f"{name}:{number}: {line}" for name, number, line in _requirement_lines()
             if not re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z,]+\])?==[0-9][0-9A-Za-z.+\-]*", line)]
    assert not loose, "not pinned with ==: " + "; ".join(loose)


def _tracked_files():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.split(b"\0")
    return [REPO / name.decode() for name in listed if name]


SECRET_SHAPES = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "password in a database URL": re.compile(r"://[^/\s:@'\"]+:(?!//)[^@\s'\"<>{}$]+@"),
    # a token-like value (placeholders in the example file are words with spaces)
    "client secret or cookie secret with a value": re.compile(
        r"(client_secret|cookie_secret|api_key|password)\s*=\s*['\"][A-Za-z0-9_\-+/=.]{12,}['\"]",
        re.IGNORECASE),
    "AWS access key": re.compile(r"AKIA[0-9A-Z]{16}"),
}


def test_no_secret_is_committed():
    found = []
    for path in _tracked_files():
        if not path.is_file() or path.suffix in {".png", ".pdf", ".pptx", ".xlsx", ".db"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for what, shape in SECRET_SHAPES.items():
            for match in shape.finditer(text):
                found.append(f"{path.relative_to(REPO)}: {what}: {match.group(0)[:40]}")
    # this file spells the shapes out, and the test below shows they are found
    found = [f for f in found if not f.startswith("tests/reliability/test_dependencies")]
    assert not found, found


def test_the_secret_shapes_catch_real_looking_secrets():
    samples = {
        "private key": "-----BEGIN RSA PRIVATE KEY-----",
        "password in a database URL": "postgresql://app:s3cretpass@db.example.org/equity",
        "client secret or cookie secret with a value":
            'client_secret = "f00dfeedf00dfeedf00d"',
        "AWS access key": "AKIAIOSFODNN7EXAMPLE",
    }
    for what, sample in samples.items():
        assert SECRET_SHAPES[what].search(sample), what
    # and the example file's placeholders are not taken for secrets
    example = (REPO / ".streamlit" / "secrets.example.toml").read_text()
    assert not any(shape.search(example) for shape in SECRET_SHAPES.values())


@pytest.mark.parametrize("path", [".streamlit/secrets.toml", "roles.toml", "data/equity.db"])
def test_where_secrets_and_data_live_is_ignored_by_git(path):
    ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO)
    assert ignored.returncode == 0, f"{path} is not git-ignored"
