"""Local collection where WinRM is not allowed: the kit (:mod:`.kit`) and the import of its answers (:mod:`.answers`)."""

from fleetcheck.collect.answers import (
    ANSWER_NAME,
    BAD_FILE_CLASS,
    AnswerFile,
    ImportOutcome,
    ImportSettings,
    Refusal,
    answer_files,
    import_answers,
    match_host,
    policy_evaluator,
    read_answer,
)
from fleetcheck.collect.kit import (
    KIT_SCRIPT,
    KIT_WRAPPER,
    KitFiles,
    KitPayload,
    kit_payload,
    render_script,
    write_kit,
)

__all__ = [
    "ANSWER_NAME",
    "BAD_FILE_CLASS",
    "KIT_SCRIPT",
    "KIT_WRAPPER",
    "AnswerFile",
    "ImportOutcome",
    "ImportSettings",
    "KitFiles",
    "KitPayload",
    "Refusal",
    "answer_files",
    "import_answers",
    "kit_payload",
    "match_host",
    "policy_evaluator",
    "read_answer",
    "render_script",
    "write_kit",
]
