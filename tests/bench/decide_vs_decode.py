"""Deciding is cheap: time to decide 10,000 stored Letters with the shipped rules, as a ratio
to the time to decode them from their raw bytes, both measured here in the same run.

Run: ``.venv/bin/python tests/bench/decide_vs_decode.py [N]``. The letters are the labelled
corpus (tests/fixtures/corpus) repeated to N; "stored" Letters are rebuilt from the JSON the
message rows keep (Letter.from_json), as replay reads them. Facts are the offline ones
(the database look-ups are two indexed SELECTs per letter, not measured here).
Target: deciding under 10% of decoding.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mailproc.letter import decode_letter  # noqa: E402
from mailproc.letter.model import Letter  # noqa: E402
from mailproc.sorting.evaluate import decide  # noqa: E402
from mailproc.sorting.facts import offline_facts  # noqa: E402
from mailproc.sorting.loader import load_rules  # noqa: E402
from mailproc.tokens import Tokens  # noqa: E402


def main(n: int = 10_000) -> None:
    raws = [p.read_bytes() for p in sorted((ROOT / "tests/fixtures/corpus").glob("*.eml"))]
    raws = (raws * (n // len(raws) + 1))[:n]
    ruleset = load_rules(ROOT / "rules", templates_dir=ROOT / "templates")
    tokens = Tokens(b"corpus-signing-key", "nlrs.ru")

    t0 = time.perf_counter()
    letters = [decode_letter(raw) for raw in raws]
    decode_s = time.perf_counter() - t0

    stored = [Letter.from_json(letter.to_json()) for letter in letters]
    t0 = time.perf_counter()
    for letter in stored:
        decide(ruleset, letter, offline_facts(letter, tokens))
    decide_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for letter in letters:
        decide(ruleset, letter, offline_facts(letter, tokens))
    fresh_s = time.perf_counter() - t0

    print(f"letters: {n}, rules: {len(ruleset.rules)}")
    print(f"decode:                 {decode_s:8.3f} s  ({decode_s / n * 1e6:7.1f} us/letter)")
    print(f"decide (stored Letters):{decide_s:8.3f} s  ({decide_s / n * 1e6:7.1f} us/letter)")
    print(f"decide (fresh Letters): {fresh_s:8.3f} s  ({fresh_s / n * 1e6:7.1f} us/letter)")
    print(f"decide / decode = {decide_s / decode_s:.1%} (target < 10%)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
