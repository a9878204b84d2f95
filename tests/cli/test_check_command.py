"""The `check` command: one line per check, against a fresh sandbox."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_check_add_mode_passes(run_cli):
    outcome = run_cli("check", "--config", str(EXAMPLES / "users.yml"), "--sandbox")
    lines = outcome.stdout.splitlines()
    assert outcome.exit_code == 0
    assert [line.split(":")[0] for line in lines] == [
        "ok   settings",
        "ok   api version",
        "ok   access token",
        "ok   ad account",
        "ok   segment",
    ]
    assert "will create it" in lines[-1]


def test_check_remove_mode_missing_segment_fails(run_cli, tmp_path):
    config = tmp_path / "remove.yml"
    config.write_text(
        (EXAMPLES / "users.yml").read_text(encoding="utf-8").replace("mode: add", "mode: remove"), encoding="utf-8"
    )
    outcome = run_cli("check", "--config", str(config), "--sandbox")
    assert outcome.exit_code == 1
    assert outcome.stdout.splitlines()[-1].startswith("FAIL segment")


def test_check_bad_config_exits_2(run_cli, tmp_path):
    config = tmp_path / "bad.yml"
    config.write_text("segment_name: ''\n", encoding="utf-8")
    outcome = run_cli("check", "--config", str(config), "--sandbox")
    assert outcome.exit_code == 2
    assert outcome.stdout.startswith("FAIL settings")
    assert "ad_account_id" in outcome.stdout
