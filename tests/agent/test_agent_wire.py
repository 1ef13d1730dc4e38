"""The agent as sent is the shipped agent.ps1, token for token (only comments and layout removed).

fleetcheck sends :func:`fleetcheck.agent.agent_wire` (full-line comments, blank lines
and indentation outside here-strings removed) instead of the commented source; the
simulator accepts exactly that. Both are parsed with tree-sitter-powershell and
every token that is not a comment must be identical, in order, with here-string
bodies byte for byte; a minifier that changed a string literal or a here-string
would fail here.
"""

from __future__ import annotations

import pytest
from agent_ps_lint import parse, syntax_errors, walk  # type: ignore[import-not-found]

from fleetcheck.agent import (
    agent_script,
    agent_wire,
    build_payload,
    minify_powershell,
    parse_payload,
)
from fleetcheck.agent.contract import ProbeRequest


def _tokens(source: str) -> list[str]:
    data = source.encode("utf-8")
    out: list[str] = []
    for node in walk(parse(data).root_node):
        if node.type == "comment":
            continue
        if node.child_count == 0 or node.type in ("here_string", "expandable_here_string_literal",
                                                  "verbatim_here_string_characters"):
            out.append(data[node.start_byte:node.end_byte].decode("utf-8"))
    return out


def test_agent_as_sent_is_the_same_program() -> None:
    source = agent_script().decode("utf-8-sig")
    sent = agent_wire().decode("utf-8-sig")
    assert syntax_errors(sent) == []
    assert _tokens(sent) == _tokens(source)
    assert len(sent) < 0.8 * len(source)  # the point of it: the largest part of each host's payload


def test_here_string_bodies_are_kept_byte_for_byte() -> None:
    source = "$a = 1\n    # note\n$s = @'\n    # kept: data, not a comment\n\n  indented\n'@\n  $b = 2\n"
    sent = minify_powershell(source)
    assert "    # kept: data, not a comment\n\n  indented\n'@" in sent
    assert "# note" not in sent and "$b = 2" in sent
    assert _tokens(sent) == _tokens(source)


def test_a_minifier_that_broke_a_string_would_be_caught() -> None:
    source = '$s = "line one\n    # not a comment\nline three"\n'
    assert _tokens(minify_powershell(source)) != _tokens(source)  # the check can fail


def test_payload_carries_the_wire_form() -> None:
    agent, _ = parse_payload(build_payload(ProbeRequest(queries=[])))
    assert agent == agent_wire()


def test_a_line_continuation_is_refused() -> None:
    with pytest.raises(ValueError, match="line 1"):
        minify_powershell("Get-Item `\n  # comment\n  -Path x\n")
