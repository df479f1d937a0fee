"""The `sahulat` command: help texts, `ask` for scripts, `kb check`, `eval`, and the console chat.

Commands run in this process through the entry point (`conftest.sahulat`); the tests marked "a real process"
start `sahulat` or `python -m bot` as a subprocess, for what only a process shows: its exit status, and that the
console script and the module both start. (test_run and test_worker start `sahulat run` and `sahulat worker`.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import PYTHON, ROOT, SAHULAT, sahulat

KB_DIR = ROOT / "knowledge" / "data"


def run(*args: str, stdin: bytes | str | None = None, env: dict[str, str] | None = None, cwd: Path = ROOT):
    """`sahulat ARGS` in this process, with `env` added to the environment."""
    return sahulat(*args, stdin=stdin, env={**os.environ, **(env or {})}, cwd=cwd)


def run_process(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """ARGV as a real process, with `env` added to the environment."""
    done = subprocess.run(list(argv), capture_output=True, cwd=ROOT, env={**os.environ, **(env or {})}, timeout=180)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["chat"], ["ask"], ["db"], ["db", "upgrade"], ["kb"], ["kb", "check"], ["eval"]],
)
def test_every_command_has_help(command: list[str]) -> None:
    code, out, _ = run(*command, "--help")
    assert code == 0
    assert out.startswith("usage: sahulat")


def test_no_command_prints_help_and_exits_2() -> None:
    code, out, _ = run()
    assert code == 2 and "COMMAND" in out


def test_python_m_bot_is_the_same_command_and_exits_2_as_a_real_process() -> None:
    code, out, _ = run_process(PYTHON, "-m", "bot")
    assert code == 2
    assert out.startswith("usage: sahulat") and "COMMAND" in out


def test_ask_json_greeting_from_stdin() -> None:
    code, out, err = run("ask", "--json", stdin="hello\n")
    assert code == 0, err
    record = json.loads(out.strip())
    assert set(record) >= {"question", "reply", "intent", "entry_id", "score", "language"}
    assert record["question"] == "hello" and record["intent"] == "greeting"
    assert "1. Technology parks" in record["reply"]


def test_ask_answers_the_issue_examples() -> None:
    code, out, err = run(
        "ask", "--json", stdin="stp in fsd?\nregistration fee kitni hai\nرجسٹریشن فیس کتنی ہے\nI want to complain\n"
    )
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["entry_id"] for r in records[:3]] == [
        "park_faisalabad",
        "fee_startup_registration",
        "fee_startup_registration",
    ]
    assert [r["language"] for r in records[:3]] == ["en", "roman", "ur"]
    assert [r["reply_language"] for r in records[:3]] == ["en", "roman", "ur"]  # each answered as it was asked
    assert "\nSources: " in records[0]["reply"] and "\nZariya: " in records[1]["reply"]
    assert "\nماخذ: " in records[2]["reply"]
    assert records[3]["intent"] == "complaint_start"


def test_ask_question_argument_and_plain_output() -> None:
    code, out, _ = run("ask", "what", "is", "e-rozgar")
    assert code == 0
    assert "E-Rozgar" in out and "Source:" in out


def test_ask_bad_input_gets_a_result_per_line() -> None:
    lines = b"\n" + b"\xff\xfe\x00binary\x01\n" + b"x" * (1024 * 1024) + b"\n" + b"stp swat\n"
    code, out, err = run("ask", "--json", stdin=lines)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["intent"] for r in records] == ["empty", "out_of_scope", "too_long", "answer"]
    assert all(r["reply"] for r in records)
    assert "Traceback" not in err


def test_ask_lang_ur_answers_in_urdu() -> None:
    code, out, _ = run("ask", "--json", "--lang", "ur", "stp in swat")
    assert code == 0
    assert "ماخذ" in json.loads(out)["reply"]


def test_chat_answers_and_numbers_options(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    code, out, err = run("chat", stdin="hello\n2\n1\nLahore\nquit\n", env={"DATABASE_URL": db})
    assert code == 0, err
    assert "  1. Technology parks" in out
    assert "  1. A startup" in out  # menu 2 (fees), then its first option
    assert "Rs 1,000" in out and "Is Lahore an underserved or secondary city?" in out
    assert "does not say who decides" in out
    assert "Source:" in out


def test_kb_check_passes_on_the_real_knowledge_base() -> None:
    code, out, err = run("kb", "check")
    assert code == 0, err + out
    assert "knowledge base OK" in out


def broken_copy(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    target = tmp_path / "data"
    shutil.copytree(KB_DIR, target)
    edit(target)
    return target


def edit_entry(path: Path, entry_id: str, change) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in data["entries"]:
        if entry["id"] == entry_id:
            change(entry)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def edit_yaml(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


FEES = "entries/fees.yaml"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: edit_entry(d / FEES, "fee_company", lambda e: e["answer"].pop("ur")),
            ["fees.yaml", "'fee_company'", "answer.ur", "Field required"],
        ),
        (
            lambda d: edit_entry(d / FEES, "fee_company", lambda e: e["answer"].pop("roman")),
            ["fees.yaml", "entry 'fee_company'", "answer.roman", "Field required"],
        ),
        (
            lambda d: edit_yaml(d / "texts.yaml", lambda t: t["texts"]["menu_fees"].pop("roman")),
            ["texts.yaml", "texts.menu_fees.roman", "Field required"],
        ),
        (
            lambda d: edit_yaml(d / "texts.yaml", lambda t: t["months"].pop("roman")),
            ["texts.yaml", "months.roman", "Field required"],
        ),
        (
            lambda d: edit_yaml(d / "parks.yaml", lambda p: p["parks"][12]["host"].pop("roman")),
            ["parks.yaml", "park 'stp_faisalabad_afcst'", "host.roman", "Field required"],
        ),
        (
            lambda d: edit_yaml(d / "services.yaml", lambda s: s["services"][1]["questions"][0]["prompt"].pop("roman")),
            ["services.yaml", "service 'pseb_registration'", "questions.0.prompt.roman", "Field required"],
        ),
        (
            lambda d: edit_yaml(d / "sources.yaml", lambda s: s["sources"][0]["title"].update(roman="  ")),
            ["sources.yaml", "source '000_9d78760ee697a276.txt'", "title.roman", "must not be blank"],
        ),
        (
            lambda d: edit_entry(d / FEES, "fee_company", lambda e: e["questions"].update(ur=["company fee"])),
            ["fees.yaml", "'fee_company'", "questions.ur", "no Urdu script"],
        ),
        (
            lambda d: edit_entry(d / FEES, "fee_company", lambda e: e.update(sources=["999_missing.txt"])),
            ["fees.yaml", "'fee_company'", "unknown source file '999_missing.txt'"],
        ),
        (
            lambda d: edit_entry(d / FEES, "fee_company", lambda e: e.update(id="fee_startup_registration")),
            ["duplicate entry id 'fee_startup_registration'"],
        ),
        (
            lambda d: edit_entry(d / FEES, "fee_company", lambda e: e.update(places=["atlantis"])),
            ["'fee_company'", "unknown place 'atlantis'"],
        ),
        (
            lambda d: edit_entry(d / FEES, "fee_company", lambda e: e.update(colour="blue")),
            ["'fee_company'", "colour", "Extra inputs are not permitted"],
        ),
        (
            lambda d: (d / FEES).write_text("entries:\n  - id: [unclosed\n", encoding="utf-8"),
            ["fees.yaml", "not valid YAML"],
        ),
        (
            lambda d: (d / "city_classes.yaml").write_text(
                "cities:\n  - {place: atlantis, class: underserved, source: 999.txt}\n", encoding="utf-8"
            ),
            ["city_classes.yaml: unknown place 'atlantis'", "unknown source file '999.txt'"],
        ),
        (
            lambda d: (d / "programmes.yaml").write_text(
                "programmes:\n  - {entry: nothing, name: {en: X, ur: ایکس, roman: X}, provinces: [Narnia], basis: b}\n",
                encoding="utf-8",
            ),
            ["programmes.yaml: programme 'nothing': no such entry", "unknown province 'Narnia'"],
        ),
        (
            lambda d: (d / "handover.yaml").write_text(
                "person:\n  phrases: {en: [talk to a person], roman: [insaan se baat]}\n", encoding="utf-8"
            ),
            ["handover.yaml", "person", "ur", "back"],
        ),
    ],
    ids=[
        "missing-urdu-answer",
        "missing-roman-answer",
        "missing-roman-text",
        "missing-roman-months",
        "missing-roman-park-host",
        "missing-roman-service-prompt",
        "blank-roman-source-title",
        "urdu-variant-not-urdu",
        "unknown-source",
        "duplicate-id",
        "unknown-place",
        "unknown-key",
        "yaml-syntax",
        "city-class",
        "programme",
        "handover-missing-urdu",
    ],
)
def test_kb_check_names_file_and_entry(tmp_path: Path, edit, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    directory = broken_copy(tmp_path, edit)
    code, out, err = run("kb", "check", "--dir", str(directory))
    assert code == 1
    for fragment in expected:
        assert fragment in err, (fragment, err)
    assert "Traceback" not in err


def test_kb_check_lists_variants_the_matcher_cannot_tell_apart(tmp_path: Path) -> None:
    def clash(d: Path) -> None:
        edit_entry(d / FEES, "fee_company", lambda e: e["questions"]["en"].append("startup registration fee"))

    directory = broken_copy(tmp_path, clash)
    code, out, _ = run("kb", "check", "--dir", str(directory))
    assert code == 0
    assert "warning: entry 'fee_company': variant 'startup registration fee'" in out
    strict, _, _ = run("kb", "check", "--strict", "--dir", str(directory))
    assert strict == 1


def test_app_refuses_to_start_on_invalid_knowledge_base(tmp_path: Path) -> None:
    """A real process: `sahulat run` start-up, its exit status and its standard error."""
    directory = broken_copy(tmp_path, lambda d: edit_entry(d / FEES, "fee_company", lambda e: e["answer"].pop("ur")))
    code, _, err = run_process(SAHULAT, "run", "--port", "1", env={"KNOWLEDGE_DIR": str(directory)})
    assert code == 1
    assert "'fee_company'" in err and "answer.ur" in err
    assert "Traceback" not in err


def test_eval_prints_accuracy_per_intent_and_language(tmp_path: Path) -> None:
    questions = tmp_path / "q.yaml"
    questions.write_text(
        yaml.safe_dump(
            {
                "questions": [
                    {"q": "stp in fsd?", "lang": "en", "expect": "park_faisalabad"},
                    {"q": "salam", "lang": "roman", "expect": "greeting"},
                    {"q": "who won the cricket match", "lang": "en", "expect": "park_swat"},
                ]
            }
        ),
        encoding="utf-8",
    )
    code, out, _ = run("eval", str(questions))
    assert code == 0
    assert "overall: 2/3 (66.7%)" in out
    assert "greeting         1/1" in out and "roman            1/1" in out
    assert "'who won the cricket match': expected park_swat, got out_of_scope" in out
    low, _, err = run("eval", str(questions), "--min-accuracy", "0.9")
    assert low == 1 and "below" in err


def test_eval_rejects_a_malformed_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("questions:\n  - q: hi\n    lang: klingon\n    expect: greeting\n", encoding="utf-8")
    code, _, err = run("eval", str(bad))
    assert code == 1 and "bad.yaml" in err and "Traceback" not in err


def test_kb_check_on_a_file_instead_of_a_directory_says_so_without_a_traceback(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "data"
    not_a_directory.write_text("", encoding="utf-8")
    code, _, err = run("kb", "check", "--dir", str(not_a_directory))
    assert code == 1 and "cannot be read" in err and "Traceback" not in err
