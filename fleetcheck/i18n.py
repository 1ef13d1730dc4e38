"""Bilingual text: everything a user reads exists in Simplified Chinese and English.

Chinese is the default language. ``Text`` is the model used in policies,
findings and messages; ``tr`` picks a language.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

Lang = Literal["zh", "en"]
DEFAULT_LANG: Lang = "zh"


class Text(BaseModel):
    """A string in both languages. A plain string in YAML is accepted for both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str
    en: str

    @model_validator(mode="before")
    @classmethod
    def _from_plain(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"zh": data, "en": data}
        return data

    def get(self, lang: Lang = DEFAULT_LANG) -> str:
        return self.en if lang == "en" else self.zh

    def format(self, **kwargs: Any) -> Text:
        """Fill ``{name}`` placeholders in both languages (values are plain data)."""
        return Text(zh=self.zh.format(**kwargs), en=self.en.format(**kwargs))

    def __str__(self) -> str:
        return self.zh


def T(zh: str, en: str) -> Text:
    return Text(zh=zh, en=en)


class TextValueError(ValueError):
    """A validation failure with a bilingual message (raise it from pydantic validators).

    Internal: pydantic turns it into a positioned issue of the file being loaded.

    ``str()`` is the English text, so pydantic and plain callers still read it;
    the policy loader shows ``text`` in the user's language.

    >>> str(TextValueError(T("必须为正数", "must be positive")))
    'must be positive'
    """

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


def tr(text: Text | str | None, lang: Lang = DEFAULT_LANG) -> str:
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    return text.get(lang)
