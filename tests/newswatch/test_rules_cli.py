"""`newswatch rules test|explain` and the rule examples run by `newswatch check`, as a user runs them."""

from __future__ import annotations

import json

from tests.conftest import SEED_FILE, Workspace, clear_of_the_hour

CONFIG = """\
sources:
  - name: desk
    directory: ../seeds
channels:
  - name: terminal
    console: true
rules:
  - name: putin
    people: [Vladimir Putin]
    notify: [terminal]
    examples:
      match: ["Putin's aide spoke", "an anti-Putin rally"]
      no_match: ["Rasputin was a mystic"]
  - name: sport
    topics: [Sport]
    notify: [terminal]
"""


def test_rules_test_replays_stored_articles_and_sends_nothing(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    assert workspace.cli("run", "--once").returncode == 0
    result = workspace.cli("rules", "test", "--since", "1d", "--json")
    assert result.returncode == 0, result.stderr
    report = {entry["rule"]: entry for entry in json.loads(result.stdout)}
    assert report["putin"]["hits"] == 1 and report["sport"]["hits"] == 0
    [alert] = report["putin"]["alerts"]
    assert {hit["surface"] for hit in alert["matched"]} >= {"Vladimir Putin", "Putin"}
    assert all(hit["snippet"] for hit in alert["matched"])
    alerts_before = json.loads(workspace.cli("alerts", "--json").stdout)
    assert len(alerts_before) == 1  # only the run's alert; the replay queued nothing
    only = json.loads(workspace.cli("rules", "test", "--rule", "sport", "--json").stdout)
    assert [entry["rule"] for entry in only] == ["sport"]


def test_rules_test_on_a_file_needs_no_database(bare_workspace: Workspace) -> None:
    bare_workspace.write_config(CONFIG)
    # The bare workspace's database cannot be reached: exit 0 shows none was opened.
    result = bare_workspace.cli("rules", "test", "--file", str(SEED_FILE))
    assert result.returncode == 0, result.stderr
    assert "putin: 1 would-be alerts" in result.stdout
    assert "sport: 0 would-be alerts" in result.stdout


def test_rules_explain_says_why_each_rule_did_or_did_not_match(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    assert workspace.cli("run", "--once").returncode == 0
    explained = json.loads(workspace.cli("rules", "explain", "1", "--json").stdout)
    assert explained["article_id"] == 1
    assert [(s["how"], s["similarity"]) for s in explained["sightings"]] == [("first", None)]
    verdicts = {row["rule"]: row for row in explained["rules"]}
    assert verdicts["putin"]["fired"] is True
    assert verdicts["sport"] == {
        "rule": "sport",
        "fired": False,
        "reason": "none of its people, topics or keywords appear",
        "hits": [],
    }
    missing = workspace.cli("rules", "explain", "99")
    assert missing.returncode == 2
    assert missing.stderr.strip() == "newswatch: no stored article has id 99; see `newswatch articles`"


def test_unknown_rule_is_a_usage_error(bare_workspace: Workspace) -> None:
    bare_workspace.write_config(CONFIG)
    result = bare_workspace.cli("rules", "test", "--rule", "nope", "--file", str(SEED_FILE))
    assert result.returncode == 2
    assert "no rule is named 'nope' (rules: putin, sport)" in result.stderr


def test_check_runs_rule_examples_and_fails_when_one_disagrees(bare_workspace: Workspace) -> None:
    bare_workspace.write_config(CONFIG)
    assert bare_workspace.cli("check").returncode == 0
    bare_workspace.write_config(
        CONFIG.replace('no_match: ["Rasputin was a mystic"]', 'no_match: ["Putin, again"]')
    )
    result = bare_workspace.cli("check")
    assert result.returncode == 2
    assert "rule 'putin' should not match 'Putin, again': matched 'Vladimir Putin' (title)" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_errors_in_rules_are_one_line_exit_2(bare_workspace: Workspace) -> None:
    cases = {
        "keywords: ['/(a)\\1/']": "not a safe regular expression",
        "sources: [wire]": "rule 'sport' is scoped to unknown source 'wire' (sources: desk)",
        "fields: [body]": "rules[1].fields[0] (rule 'sport'): Input should be 'title', 'text' or 'topics'",
        "max_per_hour: 0": "greater than 0",
        # Terms that normalise to nothing would match every article.
        "keywords: ['\u0301']": "has nothing to match once spaces, accents and marks are dropped",
        "people: ['\u00a0']": "has nothing to match once spaces, accents and marks are dropped",
        "people: [{name: Putin, aliases: ['\u0301\u0301']}]": "has nothing to match",
    }
    for extra, message in cases.items():
        bare_workspace.write_config(CONFIG + f"    {extra}\n")
        result = bare_workspace.cli("check")
        assert result.returncode == 2, extra
        assert message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_run_holds_back_alerts_over_max_per_hour(workspace: Workspace) -> None:
    # A different story (not a near-duplicate of the seed, which dedup would merge).
    (workspace.seeds / "second.txt").write_text(
        "Putin opens a grain terminal\nVladimir Putin opened a grain terminal on the Black Sea coast"
        " on Tuesday, promising exporters lower port fees.\nFarmers in the region said prices for"
        " wheat had fallen for the third month in a row.\nTopics: Russia, Trade\n",
        encoding="utf-8",
    )
    workspace.write_config(
        CONFIG.replace("    notify: [terminal]\n", "    notify: [terminal]\n    max_per_hour: 1\n", 1)
    )
    clear_of_the_hour()  # the held alert goes out when the hour ends
    result = workspace.cli("run", "--once")
    assert result.returncode == 0, result.stderr
    articles = json.loads(workspace.cli("articles", "--json").stdout)
    alerts = json.loads(workspace.cli("alerts", "--json").stdout)
    assert len(articles) == 2
    # One alert goes out; the one over the limit waits in the rule's hourly digest, not dropped.
    assert sorted((a["rule"], a["status"]) for a in alerts) == [("putin", "pending"), ("putin", "sent")]
    held = next(a for a in alerts if a["status"] == "pending")
    assert held["batch"].startswith("rule:putin:hourly:")
    assert held["next_attempt_at"] > held["created_at"]
    assert "over max_per_hour=1" in result.stderr
