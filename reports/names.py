"""Normalising what people type for 名寄せ: company names, person names, e-mails, phones.

Japanese CRM data mixes scripts and widths for one and the same thing: ``株式会社サンプル``,
``(株)サンプル``, ``㈱ｻﾝﾌﾟﾙ``, ``サンプル株式会社``; ``岡田 陽子``, ``オカダ ヨウコ``, ``ｵｶﾀﾞ ﾖｳｺ``,
``Yoko Okada``. Everything here is a pure function of one value:

* NFKC folds full-width Latin and digits to ASCII and half-width kana to full-width kana
  (``㈱`` becomes ``(株)``);
* katakana becomes hiragana (jaconv), so ``サンプル`` and ``さんぷる`` compare equal;
* kana names are romanised (jaconv) and long vowels shortened (``ou``/``uu``/``oo`` → one
  vowel) on every romaji token alike, so ``ヨウコ``, ``yoko`` and ``youko`` agree;
* legal forms (株式会社, (株), 有限会社, Inc., Co., Ltd., GmbH …) are dropped from company names.

Kanji names cannot be read without a dictionary; they match each other exactly (spacing
aside) and match romaji through the person's e-mail address (see ``person_keys``).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import jaconv

_JA_LEGAL_FORMS = ("株式会社", "有限会社", "合同会社", "合資会社", "合名会社", "一般社団法人",
                   "一般財団法人", "公益社団法人", "公益財団法人", "医療法人", "学校法人",
                   "社会福祉法人", "独立行政法人", "(株)", "(有)", "(同)", "(合)", "(社)", "(財)")
_EN_LEGAL_FORMS = frozenset({
    "inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited", "llc",
    "llp", "plc", "gmbh", "ag", "sa", "sas", "sarl", "bv", "nv", "pty", "pvt", "private", "kk",
    "gk", "pte", "oy", "ab", "srl", "spa", "holdings",
})
_PUNCTUATION = re.compile(r"[\s\W_]+", re.UNICODE)
_LATIN_TOKEN = re.compile(r"[a-z]+")
_LONG_VOWELS = (("ou", "o"), ("uu", "u"), ("oo", "o"), ("aa", "a"), ("ii", "i"))
_KANA = re.compile(r"^[\u3041-\u309f\u30fc\s]+$")


@lru_cache(maxsize=200_000)
def fold_text(value: str) -> str:
    """NFKC, lower case, katakana → hiragana, whitespace collapsed to one space."""
    text = unicodedata.normalize("NFKC", value).casefold()
    return " ".join(jaconv.kata2hira(text).split())


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value) in (
        "", "<NA>", "nan")


def normalize_company_name(value: object) -> str:
    """Company name without legal form, width, script, case, spaces or punctuation
    ('' when blank): ``株式会社サンプル``, ``㈱ｻﾝﾌﾟﾙ`` and ``サンプル (株)`` all give ``さんぷる``."""
    if _blank(value):
        return ""
    text = fold_text(str(value))
    for form in _JA_LEGAL_FORMS:
        text = text.replace(form, " ")
    tokens = [t for t in _PUNCTUATION.split(text) if t and t not in _EN_LEGAL_FORMS]
    return "".join(tokens)


def shorten_long_vowels(romaji: str) -> str:
    """One spelling per romaji reading: ``youko`` → ``yoko``, ``satou`` → ``sato``,
    ``yuuto`` → ``yuto``, ``ryou`` → ``ryo`` (apply to both sides of a comparison)."""
    for long, short in _LONG_VOWELS:
        romaji = romaji.replace(long, short)
    return romaji


def name_tokens(value: object) -> tuple[str, ...]:
    """Romaji tokens of a Latin or kana person name, in typed order (empty for kanji names):
    ``Baker, Andrew`` → (baker, andrew); ``ｵｶﾀﾞ ﾖｳｺ`` → (okada, yoko)."""
    if _blank(value):
        return ()
    text = fold_text(str(value))
    if _KANA.match(text):
        text = jaconv.kana2alphabet(text)
    elif re.search(r"[^\x00-\x7f]", text):
        return ()
    return tuple(shorten_long_vowels(t) for t in _LATIN_TOKEN.findall(text))


def name_key(value: object) -> str:
    """The name folded and without spaces or punctuation ('' when blank)."""
    return "" if _blank(value) else _PUNCTUATION.sub("", fold_text(str(value)))


def normalize_email(value: object) -> str:
    """Folded e-mail address ('' when blank or without '@')."""
    if _blank(value):
        return ""
    text = unicodedata.normalize("NFKC", str(value)).strip().casefold()
    return text if "@" in text else ""


def email_local_tokens(email: str) -> tuple[str, ...]:
    """Romaji tokens of a normalised address's local part, digits dropped:
    ``yoko.okada55@…`` → (yoko, okada); ``yokada2@…`` → (yokada,)."""
    local = email.split("@")[0]
    return tuple(shorten_long_vowels(t) for t in re.split(r"[._\-+\d]+", local) if t)


def normalize_phone(value: object) -> str:
    """Digits of a phone number in the Japanese national form: ``+81 3-1234-5678``,
    ``(03) 1234 5678`` and ``０３１２３４５６７８`` give ``0312345678`` ('' when too short)."""
    if _blank(value):
        return ""
    text = unicodedata.normalize("NFKC", str(value)).strip()
    digits = re.sub(r"\D", "", text)
    if text.startswith("+81") or digits.startswith("0081"):
        digits = "0" + digits.removeprefix("0081").removeprefix("81").lstrip("0")
    return digits if len(digits) >= 9 else ""


def person_keys(tokens: tuple[str, ...]) -> set[str]:
    """Blocking keys of a person from name or e-mail tokens (a, b): ``t:`` the unordered pair,
    ``c:`` the concatenations ab and ba, ``x:`` the initial forms a[0]b and b[0]a (how e-mail
    addresses are built: ``yoko.okada``, ``okada_yoko``, ``yokada``). A single token t (an
    address like ``yokada``) gives ``c:t`` and ``x:t``; ``x:`` keys are evidence only
    against a single token (see ``shared_person_keys``)."""
    if len(tokens) == 1:
        return {f"c:{tokens[0]}", f"x:{tokens[0]}"} if len(tokens[0]) >= 3 else set()
    if len(tokens) < 2:
        return set()
    a, b = tokens[0], tokens[-1]
    return {f"t:{'|'.join(sorted((a, b)))}", f"c:{a}{b}", f"c:{b}{a}", f"x:{a[0]}{b}",
            f"x:{b[0]}{a}"}


def shared_person_keys(first: tuple[str, ...], second: tuple[str, ...]) -> set[str]:
    """Person keys two token tuples share; initial forms (``x:``) count only when one side is
    a single token (``Sarah Singh`` and ``Sophie Singh`` share ``ssingh`` but are not one
    person; ``yokada`` is Yoko Okada's address)."""
    shared = person_keys(first) & person_keys(second)
    if len(first) != 1 and len(second) != 1:
        shared = {k for k in shared if not k.startswith("x:")}
    return shared
