"""Golden tests for the cascade's pure parts: redaction, policy, drafts' code, checks, the ledger."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fireside.cascade.checks import CheckConfig, run_command, syntax_check, related_tests
from fireside.cascade.drafts import EditTask, extract_code, messages
from fireside.cascade.ledger import Ledger, LedgerEntry, Prices, summarize
from fireside.cascade.policy import CloudPolicy, matching_glob
from fireside.cascade.redact import redact
from fireside.cascade.shadow import shadow_workspace

SECRETS = {
    'aws = "AKIAIOSFODNN7EXAMPLE"': "AWS access key",
    'token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789AB"': "GitHub token",
    'OPENAI_API_KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"': "API key",
    'url = "postgres://bob:hunter2secret@db.example.com/x"': "password in URL",
    'password = "correct horse battery"': "secret",
    '"api_key": "0123456789abcdef"': "secret",
    "slack = 'xoxb-1234567890-abcdefghij'": "Slack token",
}


@pytest.mark.parametrize("line,kind", SECRETS.items())
def test_known_secrets_are_redacted(line: str, kind: str) -> None:
    result = redact(f"def f():\n    {line}\n    return 1\n")
    assert kind in result.found
    assert f"[REDACTED {kind}]" in result.text
    assert "return 1" in result.text


def test_a_private_key_block_goes_whole() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabcdef==\n-----END RSA PRIVATE KEY-----"
    result = redact(f"KEY = '''{pem}'''\n")
    assert result.text == "KEY = '''[REDACTED private key]'''\n"


def test_ordinary_code_is_left_alone() -> None:
    code = 'def add(a, b):\n    token = next_token(stream)\n    password_field = form["password"]\n    digest = "e3b0c44298fc1c149afbf4c8996fb924"\n    return a + b\n'
    assert redact(code).text == code and redact(code).found == ()


def test_policy_says_why_a_file_stays_local() -> None:
    cloud = CloudPolicy("cloud-coder")
    assert cloud.refusal("src/app.py") is None
    assert "never_send" in (cloud.refusal(".env") or "")
    assert "'secrets/**'" in (cloud.refusal("config/secrets/db.py") or "")
    assert "'*.pem'" in (cloud.refusal("certs/server.pem") or "")
    assert "no cloud model" in (CloudPolicy(None).refusal("src/app.py") or "")
    assert "FIRESIDE_OFFLINE" in (CloudPolicy("cloud-coder", offline=True).refusal("src/app.py") or "")
    assert matching_glob("secrets.py", ("secrets/**",)) is None


def _task(text: str, start: int, end: int) -> EditTask:
    return EditTask("fix", "Fix", "m.py", text, start, end, "fix it", language="python")


def test_a_drafts_code_is_indented_as_its_region() -> None:
    text = "class A:\n    def f(self):\n        return 1\n\nx = 1\n"
    start = text.index("    def f")
    task = _task(text, start, text.index("\nx =") + 1)
    answer = "Here you go:\n```python\ndef f(self):\n    return 2\n```\nDone."
    assert extract_code(answer, task) == "    def f(self):\n        return 2\n\n"
    mid = "y = compute(a)\n"
    assert extract_code("```\nother(a)\n```", _task(mid, 4, 14)) == "other(a)"


def test_the_cloud_prompt_carries_the_failure_redacted() -> None:
    from fireside.cascade.checks import CheckResult

    task = _task('KEY = "AKIAIOSFODNN7EXAMPLE"\ndef f():\n    return 1\n', 28, 50)
    failed = ("def f():\n    return 2\n", CheckResult("test", False, "assert 2 == 1"))
    chat = messages(task, failed, lambda s: redact(s).text)
    user = chat[-1]["content"]
    assert "AKIAIOSFODNN7EXAMPLE" not in user and "[REDACTED AWS access key]" in user
    assert "failed the test check" in user and "assert 2 == 1" in user


def test_syntax_check_looks_only_at_the_changed_region() -> None:
    broken_elsewhere = "def ok():\n    return 1\n\ndef broken(:\n    pass\n"
    assert syntax_check("m.py", broken_elsewhere, 0, 22).passed
    bad = syntax_check("m.py", broken_elsewhere, 23, len(broken_elsewhere))
    assert not bad.passed and "m.py:4" in bad.output
    assert syntax_check("notes.txt", "anything (", 0, 10).passed  # no grammar: nothing to check


def test_tests_belong_to_files_by_layout(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_calc.py").write_text("")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "util.test.js").write_text("")
    assert related_tests(tmp_path, ["calc.py", "web/util.js", "other.py"]) == ["tests/test_calc.py", "web/util.test.js"]
    assert related_tests(tmp_path, ["tests/test_calc.py"]) == ["tests/test_calc.py"]


def test_the_workspace_config_names_the_checks(tmp_path: Path) -> None:
    (tmp_path / ".fireside.toml").write_text('[checks]\nlint = "ruff check {files}"\ntimeout = 5\n')
    config = CheckConfig.for_workspace(tmp_path, ["a.py"])
    assert config.commands == {"lint": "ruff check {files}"} and config.timeout == 5
    (tmp_path / ".fireside.toml").write_text("[checks]\nlint = 3\n")
    with pytest.raises(ValueError, match="must be a command line"):
        CheckConfig.for_workspace(tmp_path, ["a.py"])


async def test_checks_run_in_a_shadow_copy_and_leave_the_workspace_alone(tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    check = f"{sys.executable} -c \"import calc, pathlib; pathlib.Path('touched').write_text('x'); assert calc.add(2, 3) == 5, calc.add(2, 3)\""
    async with shadow_workspace(tmp_path, {"calc.py": "def add(a, b):\n    return a + b\n"}) as shadow:
        assert not (shadow / ".git").exists()
        good = await run_command("test", check, shadow, ["calc.py"], [], 30)
    async with shadow_workspace(tmp_path, {}) as shadow:
        bad = await run_command("test", check, shadow, ["calc.py"], [], 30)
    assert good.passed and not bad.passed and "AssertionError: -1" in bad.output
    assert (tmp_path / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"
    assert not (tmp_path / "touched").exists()
    slow = await run_command("test", f'{sys.executable} -c "import time; time.sleep(30)"', tmp_path, [], [], 0.5)
    assert not slow.passed and "no result within" in slow.output
    missing = await run_command("lint", "no-such-linter-here {files}", tmp_path, ["calc.py"], [], 5)
    assert missing.passed and "not installed" in missing.output


def test_the_ledger_appends_lines_and_sums_them_up(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state" / "ledger.jsonl")
    prices = Prices(input=3.0, output=15.0)
    ledger.append(LedgerEntry("t1", "fix", "a.py", "smol", 100, 20, 1.0, outcome="local", all_cloud_usd=prices.cost(100, 20)))
    ledger.append(LedgerEntry("t2", "fix", "b.py", "smol", 100, 20, 1.0, escalated=True, signal={"check": "test", "excerpt": "assert"},
                              cloud_model="cloud", cloud_tokens_in=1000, cloud_tokens_out=200, cost_usd=prices.cost(1000, 200), outcome="cloud",
                              all_cloud_usd=prices.cost(1000, 200)))
    with ledger.path.open("a") as f:
        f.write('{"broken": \n')
    summary = summarize(ledger.entries())
    assert (summary.tasks, summary.resolved_locally, summary.escalated) == (2, 1, 1)
    assert summary.by_signal == {"test": 1}
    assert summary.spent_usd == pytest.approx(0.006)
    assert summary.all_cloud_usd == pytest.approx(0.006 + 0.0006)
    assert json.loads(ledger.path.read_text().splitlines()[0])["path"] == "a.py"


def test_fireside_ledger_summarizes_the_state_directory(tmp_path: Path) -> None:
    import subprocess

    env = {"FIRESIDE_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    empty = subprocess.run([sys.executable, "-m", "fireside", "ledger"], env=env, capture_output=True, text=True, check=True)
    assert "no checked edits recorded yet" in empty.stdout
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.append(LedgerEntry("t1", "fix", "a.py", "smol", outcome="local", all_cloud_usd=0.002))
    ledger.append(LedgerEntry("t2", "tests", "b.py", "smol", escalated=True, signal={"check": "test"}, cloud_model="cloud", cost_usd=0.01,
                              all_cloud_usd=0.01, outcome="cloud"))
    shown = subprocess.run([sys.executable, "-m", "fireside", "ledger"], env=env, capture_output=True, text=True, check=True).stdout
    assert "2 checked edits: 1 resolved locally (50%), 1 escalated" in shown
    assert "test check failed" in shown and "spent $0.0100" in shown and "all-cloud estimate $0.0120" in shown
    as_json = json.loads(subprocess.run([sys.executable, "-m", "fireside", "ledger", "--json"], env=env, capture_output=True, text=True, check=True).stdout)
    assert as_json["escalated"] == 1 and as_json["by_signal"] == {"test": 1}


async def test_a_draft_is_not_blamed_for_what_failed_before_it_but_a_fix_is(tmp_path: Path) -> None:
    from fireside.cascade.checks import CheckConfig
    from fireside.cascade.escalation import check

    broken_elsewhere = "def f():\n    return 1\n\nx = undefined_name\n"
    (tmp_path / "m.py").write_text(broken_elsewhere)
    lint = CheckConfig({"lint": f'{sys.executable} -c "import m"'}, 30)  # fails on the NameError at import, before and after
    region_end = broken_elsewhere.index("\n\n") + 1
    docstring = EditTask("docstring", "Doc", "m.py", broken_elsewhere, 0, region_end, "add a docstring")
    with_doc = 'def f():\n    """One."""\n    return 1\n'
    (syntax, linted) = await check(tmp_path, docstring, with_doc, lint)
    assert syntax.passed and linted.passed and "failing before this edit too" in linted.output
    fix = EditTask("fix", "Fix", "m.py", broken_elsewhere, 0, region_end, "fix it")
    assert not (await check(tmp_path, fix, with_doc, lint))[-1].passed  # a fix must make it pass
    (unchanged,) = await check(tmp_path, docstring, docstring.region, lint)
    assert unchanged.name == "change" and not unchanged.passed
