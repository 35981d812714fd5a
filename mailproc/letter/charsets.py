"""Bytes -> text for Russian mail, when the declared charset is missing, unknown or wrong.

Readers' mail arrives in UTF-8, windows-1251 and KOI8-R, often with no charset, with a made-up
name ("win-1251") or with the wrong one (KOI8-R text labelled windows-1251, 8-bit bytes labelled
us-ascii). Single-byte Cyrillic code pages cannot be told apart by which bytes are valid (almost
every byte is valid in all of them), so candidates are scored as Russian text: how frequent the
letters are in Russian and whether words have a sane case pattern (KOI8-R read as windows-1251
turns "Привет" into "рПХБЕР", swapping case; that is the strongest signal). charset-normalizer
is asked only when no Cyrillic reading looks like language.

Nothing is dropped or replaced silently: when a replacement character cannot be avoided, the
result carries a defect saying so.
"""

from __future__ import annotations

import codecs
import math
import re
from dataclasses import dataclass

# Russian letter frequencies, per thousand letters (national corpus, rounded).
_FREQ = {
    "о": 109.7, "е": 84.5, "а": 80.1, "и": 73.5, "н": 67.0, "т": 62.6, "с": 54.7, "р": 47.3,
    "в": 45.4, "л": 44.0, "к": 34.9, "м": 32.1, "д": 29.8, "п": 28.1, "у": 26.2, "я": 20.1,
    "ы": 19.0, "ь": 17.4, "г": 17.0, "з": 16.5, "б": 15.9, "ч": 14.4, "й": 12.1, "х": 9.7,
    "ж": 9.4, "ш": 7.3, "ю": 6.4, "ц": 4.8, "щ": 3.6, "э": 3.2, "ф": 2.6, "ъ": 0.4, "ё": 0.4,
    # Yakut letters: the library's readers write Sakha too.
    "ҥ": 2.0, "ҕ": 2.0, "ө": 2.0, "һ": 2.0, "ү": 2.0,
}
_LOGP = {ch: math.log(f / 1000) for ch, f in _FREQ.items()}
_NEUTRAL = math.log(0.01)  # typographic punctuation Russian text uses: «»—–№…“”„ and NBSP
_PUNCT = set("«»—–№…“”„‘’\u00a0•·°±§")
_ALIEN = math.log(0.0003)  # anything else non-ASCII: box drawing, accents, other scripts
_BAD_WORD = 12.0  # per word with an impossible case pattern or mixed Latin/Cyrillic
PLAUSIBLE = -5.0  # mean score per non-ASCII character above which a reading looks Russian

_WORD = re.compile(r"[^\W\d_]+")
_CYR = re.compile(r"[\u0400-\u04ff]")
_LAT = re.compile(r"[A-Za-z]")

# Candidates, in order of preference when scores tie (the library's mail: cp1251, then KOI8-R).
CYRILLIC = ("cp1251", "koi8_r", "cp866", "mac_cyrillic", "iso8859_5")
_PREFERENCE_BONUS = {"cp1251": 0.3, "koi8_r": 0.2}
_SINGLE_BYTE_ASCII = {
    "cp1251", "koi8_r", "koi8_u", "cp866", "mac_cyrillic", "iso8859_5", "iso8859_1", "latin_1",
    "iso8859_2", "iso8859_15", "cp1252", "cp1250", "ascii",
}

ALIASES = {
    "win-1251": "cp1251", "win1251": "cp1251", "windows1251": "cp1251", "cp-1251": "cp1251",
    "x-cp1251": "cp1251", "ansi-1251": "cp1251", "1251": "cp1251", "windows-1251-cyrillic":
    "cp1251", "cyrillic": "cp1251", "ms-cyrl": "cp1251", "win": "cp1251",
    "koi8": "koi8_r", "koi-8r": "koi8_r", "koi-8-r": "koi8_r", "koi8r": "koi8_r",
    "x-koi8-r": "koi8_r", "csKOI8R".lower(): "koi8_r", "koi8-ru": "koi8_u", "koi": "koi8_r",
    "x-mac-cyrillic": "mac_cyrillic", "mac-cyrillic": "mac_cyrillic", "maccyrillic":
    "mac_cyrillic", "x-mac-cyr": "mac_cyrillic", "x-mac-ukrainian": "mac_cyrillic",
    "cp-866": "cp866", "dos-866": "cp866", "ibm-866": "cp866", "866": "cp866", "alt": "cp866",
    "x-cp866": "cp866", "utf8": "utf_8", "utf-8": "utf_8", "x-unicode20utf8": "utf_8",
    "unicode-1-1-utf-8": "utf_8", "unicode-2-0-utf-8": "utf_8", "x-utf-8": "utf_8",
    "ks_c_5601-1987": "cp949", "us-ascii": "ascii", "ansi_x3.4-1968": "ascii",
    "iso-8859-8-i": "iso8859_8",
}
_UNKNOWN = {"unknown-8bit", "x-unknown", "unknown", "x-user-defined", "default", "none",
            "charset", ""}
_CP_NUMBER = re.compile(r"^(?:x-)?(?:windows|win|cp|ms|ansi)[-_ ]?(\d{3,4})$")


@dataclass(frozen=True)
class Decoded:
    text: str
    charset: str  # the Python codec name actually used
    defect: str = ""  # why the declared charset was not used, or what had to be replaced


def lookup(name: str | None) -> str | None:
    """A Python codec name for a declared charset, through the aliases real mailers use."""
    if not name:
        return None
    key = name.strip().strip("\"'").lower()
    if key in _UNKNOWN or len(key) > 40 or not (key.isascii() and key.isprintable()):
        return None
    key = ALIASES.get(key, key)
    match = _CP_NUMBER.match(key)
    if match:
        key = f"cp{match.group(1)}"
    try:
        return codecs.lookup(key).name.replace("-", "_")
    except (LookupError, ValueError):
        return None


def russian_score(text: str) -> float:
    """Mean log-likelihood per non-ASCII character that ``text`` is Russian (higher is better)."""
    total = 0.0
    count = 0
    for ch in text:
        if ch < "\x80":
            continue
        count += 1
        low = ch.lower()
        if low in _LOGP:
            total += _LOGP[low]
        elif ch in _PUNCT:
            total += _NEUTRAL
        else:
            total += _ALIEN
    if not count:
        return 0.0
    for word in _WORD.findall(text):
        if len(word) < 2 or not _CYR.search(word):
            continue
        if _LAT.search(word) or not (word.islower() or word.isupper() or word.istitle()):
            total -= _BAD_WORD
    return total / count


SAMPLE = 32768  # bytes looked at to choose a charset; the whole text is then decoded once


def decode_text(data: bytes, declared: str | None = None) -> Decoded:
    """Decode ``data`` as text, trusting ``declared`` only when the bytes agree with it.

    The charset is chosen on a sample (scoring is Python-speed), then everything is decoded.
    """
    if data.isascii():
        return Decoded(data.decode("ascii"), "ascii")
    if len(data) <= SAMPLE:
        return _decide(data, declared)
    chosen = _decide(_sample(data), declared)
    try:
        return Decoded(data.decode(chosen.charset), chosen.charset, chosen.defect)
    except UnicodeDecodeError:
        text = data.decode(chosen.charset, "replace")
        return Decoded(text, chosen.charset, (chosen.defect + "; " if chosen.defect else "") +
                       f"{text.count(chr(0xFFFD))} bytes not valid in {chosen.charset} "
                       f"were replaced")


def _sample(data: bytes) -> bytes:
    """Up to SAMPLE bytes from where the non-ASCII text starts, cut at an ASCII byte so a
    UTF-8 sequence is never split."""
    first = re.search(rb"[\x80-\xff]", data)
    start = max(0, first.start() - 256) if first else 0
    chunk = data[start:start + SAMPLE]
    cut = max(chunk.rfind(b"\n"), chunk.rfind(b" "))
    return chunk[:cut] if cut > SAMPLE // 2 else chunk


def _decide(data: bytes, declared: str | None) -> Decoded:
    codec = lookup(declared)
    label = (declared or "").strip().strip("\"'") or "none"
    try:
        text = data.decode("utf_8")
    except UnicodeDecodeError:
        pass
    else:
        if codec not in (None, "utf_8", "ascii") and codec in _SINGLE_BYTE_ASCII:
            other = data.decode(codec, "replace")
            if russian_score(other) > max(PLAUSIBLE, russian_score(text)):
                return Decoded(other, codec)
        defect = "" if codec == "utf_8" else "no charset declared, text read as utf-8" \
            if label == "none" else f"charset {label} declared, text read as utf-8"
        return Decoded(text, "utf_8", defect)
    declared_text = None
    if codec is not None:
        try:
            declared_text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            declared_text = None
        if declared_text is not None and codec not in _SINGLE_BYTE_ASCII \
                and codec != "utf_8":
            return Decoded(declared_text, codec)  # multi-byte Asian etc.: trust strict success
    best_codec, best_text, best_score = _best_cyrillic(data)
    if declared_text is not None:
        own = russian_score(declared_text) + _PREFERENCE_BONUS.get(codec, 0.0)
        if best_score < PLAUSIBLE or own + 0.5 >= best_score:
            return Decoded(declared_text, codec)
    if best_score >= PLAUSIBLE and best_text is not None:
        why = "no charset declared" if codec is None and label == "none" else \
            f"charset {label} declared"
        return Decoded(best_text, best_codec, f"{why}, text read as {best_codec}")
    guess = _normalizer_guess(data)
    if guess is not None:
        return Decoded(guess[0], guess[1], f"charset {label} declared, text read as {guess[1]}")
    if best_text is not None:
        return Decoded(best_text, best_codec, f"charset {label} declared, text read as "
                                              f"{best_codec} (uncertain)")
    text = data.decode("cp1251", "replace")
    return Decoded(text, "cp1251", f"charset {label}: {text.count(chr(0xFFFD))} bytes "
                                   f"could not be decoded and were replaced")


def _best_cyrillic(data: bytes) -> tuple[str, str | None, float]:
    best: tuple[str, str | None, float] = ("cp1251", None, -1e9)
    for codec in CYRILLIC:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        score = russian_score(text) + _PREFERENCE_BONUS.get(codec, 0.0)
        if score > best[2]:
            best = (codec, text, score)
    return best


def _normalizer_guess(data: bytes) -> tuple[str, str] | None:
    """charset-normalizer's reading, for text that is not Cyrillic (Western, Asian ...)."""
    try:
        from charset_normalizer import from_bytes

        match = from_bytes(data[:16384]).best()
        if match is None or not match.encoding:
            return None
        codec = lookup(match.encoding)
        if codec is None:
            return None
        return data.decode(codec), codec
    except Exception:  # noqa: BLE001 - a guess that fails is simply no guess
        return None
