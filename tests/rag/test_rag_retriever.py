"""ImageRetriever: style filter, do_not_use, similarity scores, duplicates, minimum score, fallbacks."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from rag import ImageRetriever, ReferenceIndex, index_directory, retrieval_metadata


@pytest.fixture
def two_styles(tmp_path, make_image, embedder):
    a = tmp_path / "refs" / "alpha"
    b = tmp_path / "refs" / "beta"
    for i in range(6):
        make_image(a / f"a_{i}.png", i)
        make_image(b / f"b_{i}.png", 20 + i)
    index_directory(a, "alpha", embedder=embedder)
    index_directory(b, "beta", embedder=embedder)
    return a, b


def test_construction_loads_nothing(tmp_path):
    retriever = ImageRetriever(index_dir=tmp_path / "nowhere")
    assert retriever._embedder is None and retriever._indexes == {}
    assert not (tmp_path / "nowhere").exists()


def test_style_filter_and_true_similarity_scores(two_styles, embedder, make_style, make_spec):
    a, b = two_styles
    spec = make_spec("a playful golf mascot")
    result = ImageRetriever(embedder=embedder, min_score=-1.0).retrieve(
        spec, make_style("alpha", [a]), top_k=3
    )
    assert result.method == "clip" and result.embedder == embedder.id and result.style_id == "alpha"
    assert len(result.hits) == 3
    assert all(p.parent == a for p in result.paths)
    query = embedder.encode_text([spec.refined_intent])[0]
    images = embedder.encode_files(result.paths)[0]
    assert np.allclose(images @ query, result.scores, atol=5e-3)
    assert result.scores == sorted(result.scores, reverse=True)
    other = ImageRetriever(embedder=embedder, min_score=-1.0).retrieve(spec, make_style("beta", [b]), top_k=3)
    assert all(p.parent == b for p in other.paths)


def test_do_not_use_is_excluded(two_styles, embedder, make_style, make_spec):
    a, _ = two_styles
    style = make_style("alpha", [a], do_not_use=["a_0.png", "a_[12].png", "alpha/a_3*"])
    result = ImageRetriever(embedder=embedder, min_score=-1.0).retrieve(make_spec(), style, top_k=6)
    assert sorted(p.name for p in result.paths) == ["a_4.png", "a_5.png"]


def test_minimum_score_drops_weak_matches(two_styles, embedder, make_style, make_spec):
    a, _ = two_styles
    result = ImageRetriever(embedder=embedder, min_score=0.999).retrieve(
        make_spec(), make_style("alpha", [a])
    )
    assert result.hits == [] and result.method == "clip" and "minimum" in result.reason


def test_near_duplicates_are_suppressed(tmp_path, make_image, embedder, make_style, make_spec):
    refs = tmp_path / "dups"
    for i in range(5):
        make_image(refs / f"distinct_{i}.png", 40 + i)
    spec = make_spec("a vintage badge")
    query = embedder.encode_text([spec.refined_intent])[0]
    vectors, paths, _ = embedder.encode_files(sorted(refs.glob("*.png")))
    best_seed = 40 + int(np.argmax(vectors @ query))  # copy the best match: copies would fill the top 3
    for name in ("copy_a.png", "copy_b.png"):
        make_image(refs / name, best_seed)
    make_image(refs / "copy_nudged.png", best_seed, nudge=True)  # one pixel differs: not byte-identical
    index_directory(refs, "dups", embedder=embedder)
    style = make_style("dups", [refs])
    group = {"copy_a.png", "copy_b.png", "copy_nudged.png", f"distinct_{best_seed - 40}.png"}

    naive = ImageRetriever(embedder=embedder, min_score=-1.0, duplicate_threshold=2.0, mmr_lambda=1.0)
    undiversified = [
        h.path.name for h in naive._clip_hits(spec, style, ReferenceIndex.load("dups"), embedder, 20)
    ]
    assert len(set(undiversified[:3]) & group) >= 2  # the test has teeth: copies crowd the top

    result = ImageRetriever(embedder=embedder, min_score=-1.0).retrieve(spec, style, top_k=3)
    names = [p.name for p in result.paths]
    assert len(names) == 3 and len(set(names) & group) == 1
    chosen = embedder.encode_files(result.paths)[0]
    sims = chosen @ chosen.T
    assert (sims[~np.eye(3, dtype=bool)] < 0.95).all()
    assert len({h.sha256 for h in result.hits}) == 3


def test_ties_are_deterministic(tmp_path, make_image, embedder, make_style, make_spec):
    refs = tmp_path / "ties"
    for name in ("c.png", "a.png", "b.png"):
        make_image(refs / name, 7)  # identical images: identical scores
    make_image(refs / "z.png", 8)
    index_directory(refs, "ties", embedder=embedder)
    retriever = ImageRetriever(embedder=embedder, min_score=-1.0)
    first = retriever.retrieve(make_spec(), make_style("ties", [refs]), top_k=3)
    assert [p.name for p in first.paths if p.name != "z.png"] == ["a.png"]  # copies tie: first path wins
    assert retriever.retrieve(make_spec(), make_style("ties", [refs]), top_k=3) == first


def test_no_index_falls_back_to_lexical(tmp_path, make_image, make_style, make_spec):
    refs = tmp_path / "refs"
    make_image(refs / "coffee-cup-mascot.png", 1)
    make_image(refs / "golf-ball-mascot.png", 2)
    make_image(refs / "untitled.png", 3)
    (refs / "untitled.txt").write_text("a playful golf ball")
    result = ImageRetriever().retrieve(
        make_spec("a playful golf mascot", ["golf", "mascot"]), make_style("lex", [refs]), top_k=2
    )
    assert result.method == "lexical" and result.embedder is None
    # No weights on disk: indexing is not offered as the way out.
    assert result.reason.startswith("no index for style lex and no CLIP weights on disk")
    assert [p.name for p in result.paths] == ["golf-ball-mascot.png", "untitled.png"]
    meta = retrieval_metadata(result)
    assert meta["reference_images"] == [str(p) for p in result.paths]
    assert meta["retrieval"]["method"] == "lexical" and meta["retrieval_scores"] == [
        round(s, 4) for s in result.scores
    ]


def test_style_without_references_is_empty(tmp_path, make_style, make_spec):
    result = ImageRetriever().retrieve(make_spec(), make_style("bare", [tmp_path / "missing"]))
    assert result.hits == [] and result.method == "none" and "no reference images" in result.reason


def test_no_weights_falls_back_with_one_warning(
    two_styles, make_style, make_spec, tmp_path, monkeypatch, caplog
):
    a, _ = two_styles
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    retriever = ImageRetriever()  # no embedder given: the default ViT-B-32 tag, not on disk
    with caplog.at_level(logging.WARNING, logger="sketchgen.rag"):
        first = retriever.retrieve(make_spec(), make_style("alpha", [a]))
        second = retriever.retrieve(make_spec(), make_style("alpha", [a]))
    assert first.method == second.method == "lexical"
    # a_0.png ... a_5.png share no word with "a playful golf mascot": nothing arbitrary is retrieved
    assert "no CLIP weights" in first.reason and first.hits == []
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_index_of_another_embedder_falls_back_with_rebuild_hint(
    two_styles, other_embedder, make_style, make_spec
):
    a, _ = two_styles
    result = ImageRetriever(embedder=other_embedder).retrieve(make_spec(), make_style("alpha", [a]))
    assert result.method == "lexical" and "--rebuild" in result.reason


def test_reindexed_library_is_picked_up(two_styles, embedder, make_image, make_style, make_spec):
    a, _ = two_styles
    retriever = ImageRetriever(embedder=embedder, min_score=-1.0)
    style = make_style("alpha", [a])
    assert len(retriever.retrieve(make_spec(), style, top_k=10).hits) == 6
    make_image(a / "a_new.png", 99)
    index_directory(a, "alpha", embedder=embedder)
    assert Path(a / "a_new.png") in retriever.retrieve(make_spec(), style, top_k=10).paths


async def test_aretrieve_runs_off_the_event_loop(two_styles, embedder, make_style, make_spec, monkeypatch):
    a, _ = two_styles
    threads: list[threading.Thread] = []
    original = embedder.encode_text

    def spy(texts):
        threads.append(threading.current_thread())
        return original(texts)

    monkeypatch.setattr(embedder, "encode_text", spy)
    retriever = ImageRetriever(embedder=embedder, min_score=-1.0)
    result = await retriever.aretrieve(make_spec(), make_style("alpha", [a]), top_k=2)
    assert len(result.hits) == 2 and threads and threads[0] is not threading.main_thread()
    assert result == retriever.retrieve(make_spec(), make_style("alpha", [a]), top_k=2)


def test_emptied_index_is_not_reported_as_low_scores(tmp_path, make_image, embedder, make_style, make_spec):
    refs = tmp_path / "gone"
    make_image(refs / "only.png", 1)
    index_directory(refs, "gone", embedder=embedder)
    (refs / "only.png").unlink()
    assert index_directory(refs, "gone", embedder=embedder).removed == 1
    result = ImageRetriever(embedder=embedder, min_score=-1.0).retrieve(
        make_spec(), make_style("gone", [refs])
    )
    assert result.hits == [] and result.method == "none" and "empty" in result.reason


def test_no_index_with_weights_available_names_the_index_command(
    tmp_path, make_image, make_style, make_spec, tiny_model_dir, monkeypatch
):
    monkeypatch.setenv("SKETCHGEN_CLIP_MODEL", f"local-dir:{tiny_model_dir}")
    refs = tmp_path / "refs"
    make_image(refs / "golf-ball-mascot.png", 2)
    result = ImageRetriever().retrieve(make_spec("golf", ["golf"]), make_style("lex", [refs]), top_k=1)
    assert result.method == "lexical"
    assert result.reason == f"no index for style lex; run: sketchgen index {refs} --style lex"


def test_unreadable_references_are_skipped_with_one_warning(
    tmp_path, make_image, make_style, make_spec, caplog
):
    refs = tmp_path / "refs"
    (refs).mkdir()
    (refs / "golf-mascot-best.png").write_bytes(b"<html>403 Forbidden</html>")  # the best name match
    (refs / "golf-mascot-cut.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 20)  # a truncated JPEG
    make_image(refs / "golf-ball-mascot.png", 2)
    make_image(refs / "golf-tee.png", 3)
    style = make_style("lex", [refs])
    spec = make_spec("a playful golf mascot", ["golf", "mascot"])
    retriever = ImageRetriever()
    with caplog.at_level(logging.WARNING, logger="sketchgen.rag"):
        result = retriever.retrieve(spec, style, top_k=2)
        again = retriever.retrieve(spec, style, top_k=2)
    assert result.method == "lexical"
    assert [p.name for p in result.paths] == ["golf-ball-mascot.png", "golf-tee.png"]  # the next ones step up
    assert sorted(Path(s["path"]).name for s in result.skipped) == [
        "golf-mascot-best.png",
        "golf-mascot-cut.jpg",
    ]
    assert all("not a readable image" in s["reason"] for s in result.skipped)
    assert again.skipped == result.skipped
    skipped_warnings = [r for r in caplog.records if "unreadable reference" in r.getMessage()]
    assert len(skipped_warnings) == 1  # one line naming both files, not one per file or per run
    assert "golf-mascot-best.png" in skipped_warnings[0].getMessage()
    assert "golf-mascot-cut.jpg" in skipped_warnings[0].getMessage()
    assert retrieval_metadata(result)["retrieval"]["skipped"] == result.skipped


def test_a_file_made_unreadable_after_indexing_is_not_retrieved(two_styles, embedder, make_style, make_spec):
    a, _ = two_styles
    retriever = ImageRetriever(embedder=embedder, min_score=-1.0)
    style = make_style("alpha", [a])
    before = retriever.retrieve(make_spec(), style, top_k=3)
    broken = before.paths[0]
    broken.write_bytes(b"not an image any more")
    after = retriever.retrieve(make_spec(), style, top_k=3)
    assert broken not in after.paths and len(after.paths) == 3
    assert [s["path"] for s in after.skipped] == [str(broken)]
