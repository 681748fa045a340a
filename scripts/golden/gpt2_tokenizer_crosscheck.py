#!/usr/bin/env python3
"""Cross-check tests/data/tokenizer/gpt2_golden.json (made by gpt-3-encoder) against a
second implementation: OpenAI's GPT-2 encoder.py logic with the Python `regex` module.
Not run by the tests. Usage: python3 scripts/golden/gpt2_tokenizer_crosscheck.py \
    ../shared/tokenizers/gpt2 tests/data/tokenizer/gpt2_golden.json"""
import json
import sys

import regex as re


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def main():
    d, golden = sys.argv[1], sys.argv[2]
    encoder = json.load(open(d + "/vocab.json", encoding="utf-8"))
    lines = open(d + "/merges.txt", encoding="utf-8").read().split("\n")[1:-1]
    ranks = {tuple(x.split()): i for i, x in enumerate(lines)}
    byte_encoder = bytes_to_unicode()
    pat = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

    def bpe(token):
        word = tuple(token)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            bigram = min(pairs, key=lambda p: ranks.get(p, float("inf")))
            if bigram not in ranks:
                break
            first, second = bigram
            new_word, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
        return word

    def encode(text):
        ids = []
        for tok in re.findall(pat, text):
            tok = "".join(byte_encoder[b] for b in tok.encode("utf-8"))
            ids.extend(encoder[t] for t in bpe(tok))
        return ids

    cases = json.load(open(golden, encoding="utf-8"))["cases"]
    bad = 0
    for c in cases:
        got = encode(c["text"])
        if got != c["ids"]:
            bad += 1
            print("MISMATCH", json.dumps(c["text"]), got, c["ids"])
    print(f"{len(cases)} cases, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
