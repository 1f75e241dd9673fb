"""The documented lexical fallback ranking and the reference-folder rules it shares with indexing."""

from __future__ import annotations

from rag.files import is_excluded, list_style_images, scan_directory
from rag.lexical import rank_lexical, tokenize


def test_tokenize_normalises_words():
    assert tokenize("Golf-Ball_Mascots v2 (final).PNG") == ["golf", "ball", "mascot"]
    assert tokenize("glass class") == ["glass", "class"]  # 'ss' is not a plural


def test_ranking_uses_names_captions_and_is_deterministic(tmp_path, make_image, make_spec):
    refs = tmp_path / "refs"
    paths = [
        make_image(refs / "coffee-cup.png", 1),
        make_image(refs / "golf-mascot.png", 2),
        make_image(refs / "b-untitled.png", 3),
        make_image(refs / "a-untitled.png", 4),
        make_image(refs / "golf-tee.png", 5),
        make_image(refs / "golf-bag.png", 6),
    ]
    (refs / "b-untitled.txt").write_text("a cheerful caddy mascot")
    spec = make_spec("a playful golf mascot", ["golf", "mascot"])
    hits = rank_lexical(spec, paths, 6)
    # Images sharing no word with the brief (coffee-cup, a-untitled) are not retrieved at all.
    assert [h.path.name for h in hits] == [
        "golf-mascot.png",
        "b-untitled.png",
        "golf-bag.png",
        "golf-tee.png",
    ]
    assert hits[0].score > hits[1].score > 0
    assert hits[2].score == hits[3].score > 0  # equal scores: ordered by path
    assert all(0.0 < h.score <= 1.0 for h in hits)
    assert rank_lexical(spec, list(reversed(paths)), 6) == hits


def test_identical_files_count_once(tmp_path, make_image, make_spec):
    a = make_image(tmp_path / "golf-1.png", 5)
    b = make_image(tmp_path / "golf-2.png", 5)
    c = make_image(tmp_path / "golf-other.png", 6)  # matches the brief, different pixels
    hits = rank_lexical(make_spec("golf"), [a, b, c], 3)
    assert [h.path for h in hits] == [a, c]


def test_folder_rules(tmp_path, make_image):
    make_image(tmp_path / "x" / "one.png", 1)
    make_image(tmp_path / "x" / ".hidden" / "two.png", 2)
    (tmp_path / "x" / "one.txt").write_text("caption")
    (tmp_path / "x" / "README").write_text("notes")
    (tmp_path / "x" / "scan.psd").write_bytes(b"8BPS")
    scan = scan_directory(tmp_path / "x")
    assert [p.name for p in scan.images] == ["one.png"]
    assert sorted(p.name for p in scan.skipped) == ["README", "one.txt"]
    assert [p.name for p, _ in scan.unsupported] == ["scan.psd"]


def test_do_not_use_forms(tmp_path):
    root = tmp_path / "refs"
    path = root / "old" / "logo_v1.png"
    assert is_excluded(path, ["logo_v1.png"], [root])
    assert is_excluded(path, ["old/logo_v1.png"], [root])
    assert is_excluded(path, ["old/*"], [root])
    assert is_excluded(path, ["logo_*.png"], [root])
    assert is_excluded(path, [str(path)], [])
    assert not is_excluded(path, ["new/*", "logo.png"], [root])


def test_list_style_images_applies_do_not_use(tmp_path, make_image):
    make_image(tmp_path / "a" / "keep.png", 1)
    make_image(tmp_path / "a" / "drop.png", 2)
    make_image(tmp_path / "b" / "keep2.jpg", 3)
    images = list_style_images([tmp_path / "a", tmp_path / "b", tmp_path / "missing"], ["drop.*"])
    assert [p.name for p in images] == ["keep.png", "keep2.jpg"]


def test_symlink_loops_do_not_hang_the_scan(tmp_path, make_image):
    make_image(tmp_path / "x" / "one.png", 1)
    (tmp_path / "x" / "loop").symlink_to(tmp_path / "x", target_is_directory=True)
    assert [p.name for p in scan_directory(tmp_path / "x").images] == ["one.png"]
