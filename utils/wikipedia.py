"""The train/valid subset of Wikipedia that notebook 3 trains on: from the Hub, else from the offline sample."""

from __future__ import annotations

import time
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset

from utils.data.mediawiki import WikipediaError, parsed_articles
from utils.offline import assets, hub
from utils.support.files import user_path
from utils.support.validation import check_enough_articles, check_subset_request, check_texts

HUB_DATASET = ("wikimedia/wikipedia", "20231101.en")
FEATURES = ("id", "url", "title", "text")


def sample_dump() -> Path:
    """The offline 106-article English Wikipedia sample (a 2014 dump, from the asset cache)."""
    return assets.asset_dir("wikipedia-sample") / assets.WIKI_SAMPLE.name


def sample_articles() -> Dataset:
    """The offline sample's 106 clean articles (parsed once, cached)."""
    return parsed_articles(sample_dump())


def _hub_articles(n: int) -> Dataset | None:
    """First ``n`` articles of the Hub's English Wikipedia (streaming), or None when the Hub can't be reached.

    Only an unreachable Hub means None; any other failure (a missing config, a broken file) is raised as
    what it is.
    """
    if hub.offline() or not hub.reachable(HUB_DATASET[0], repo_type="dataset"):
        return None
    try:
        stream = load_dataset(*HUB_DATASET, split="train", streaming=True)
        return Dataset.from_list([{k: row[k] for k in FEATURES} for row in stream.take(n)])
    except (ValueError, KeyError, OSError) as exc:
        raise WikipediaError(f"The Hub's {HUB_DATASET[0]} ({HUB_DATASET[1]}) answered but could not be read: "
                             f"{type(exc).__name__}: {exc}. Use source='sample' for the offline sample.") from exc


def load_wikipedia_subset(n_train: int = 50, n_valid: int = 50, seed: int = 42,
                          source: str = "auto") -> DatasetDict:
    """``DatasetDict(train, valid)`` of whole articles, shuffled with ``seed``; prints its source in one line.

    ``source``: ``"auto"`` (the Hub's wikimedia/wikipedia when reachable, else the offline sample),
    ``"hub"``, ``"sample"``, or the path of a dump file.
    """
    n_train, n_valid, seed = check_subset_request(n_train, n_valid, seed, source)
    wanted = n_train + n_valid
    started = time.perf_counter()
    articles, label = None, ""
    if source in ("auto", "hub"):
        articles = _hub_articles(wanted)
        label = f"the Hub's {HUB_DATASET[0]} ({HUB_DATASET[1]}, first {wanted} articles)"
        if articles is None and source == "hub":
            raise WikipediaError("The Hub's Wikipedia is not reachable (or HF_HUB_OFFLINE=1); use source='sample'.")
    if articles is None:
        dump = sample_dump() if source in ("auto", "sample") else user_path(source)  # "~/dumps/x.xml.bz2" works
        articles = parsed_articles(dump)
        label = (str(dump) if source not in ("auto", "sample")
                 else "the offline sample, a 2014 English dump's first 106 articles (most titled A…)")
    check_enough_articles(wanted, n_train, n_valid, len(articles), label)
    shuffled = articles.shuffle(seed=seed)
    subset = DatasetDict(train=shuffled.select(range(n_train)),
                         valid=shuffled.select(list(range(n_train, wanted))))  # may be empty: no validation
    print(f"Wikipedia: {n_train} train + {n_valid} valid articles from {label}, shuffled with seed {seed} "
          f"({time.perf_counter() - started:.1f} s)")
    return subset


def corpus_stats(texts, tokenizer=None) -> dict[str, int]:
    """Articles, characters and (with a tokenizer) tokens of some texts (a list or a Dataset column)."""
    texts = check_texts(texts, tokenizer)
    stats = {"articles": len(texts), "characters": sum(len(t) for t in texts)}
    if tokenizer is not None:
        stats["tokens"] = sum(len(ids) for ids in tokenizer(texts, verbose=False)["input_ids"])
    return stats

