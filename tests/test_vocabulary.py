"""Options in the caller's words: ``param=`` from Python, ``--param`` inside the command line."""

from __future__ import annotations

import pytest

from trialmlm.data.vocabulary import CLI_OPTIONS, command_line, given, on_command_line, option, shell_word


def test_python_words_by_default():
    assert not on_command_line()
    assert option("param") == "param="
    assert given("population", "FASFL") == "population='FASFL'"
    assert given("arm_order", ("Placebo", "Drug 10 mg")) == "arm_order=['Placebo', 'Drug 10 mg']"


def test_command_line_words_inside_the_block_only():
    with command_line():
        assert on_command_line()
        assert option("param") == "--param"
        assert option("arm_order") == "--arm-order"
        assert given("population", "FASFL") == "--population FASFL"
        assert given("where", "ATPTN == 815") == '--where "ATPTN == 815"'
        assert given("arm_order", ["Placebo", "Drug 10 mg"]) == '--arm-order Placebo "Drug 10 mg"'
    assert option("param") == "param="


def test_the_setting_ends_with_an_error():
    with pytest.raises(RuntimeError), command_line():
        raise RuntimeError
    assert not on_command_line()


@pytest.mark.parametrize("text, word", [
    ("EFFFL", "EFFFL"),
    ("AVISITN <= 24", '"AVISITN <= 24"'),
    ("SITEGR1 == '701'", "\"SITEGR1 == '701'\""),
    ('ATPT == "A $1"', "'ATPT == \"A $1\"'"),
    ("it's $HOME", "'it'\"'\"'s $HOME'"),
])
def test_shell_word(text, word):
    assert shell_word(text) == word


def test_every_option_named_is_an_option_of_analyze(capsys):
    from trialmlm.app.cli import main

    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    usage = capsys.readouterr().out
    assert all(f"{name} " in usage for name in CLI_OPTIONS.values())
