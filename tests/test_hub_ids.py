"""Hub repo ids and revisions (rexrank.hub_ids): the Hub's rules, never a local path."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from rexrank.errors import InputError
from rexrank.hub_ids import is_commit_sha, parse_hub_ref, validate_repo_id, validate_revision

SHA = "795a2b1cd4a310624b4e3d14b5a23e41fd273deb"


@pytest.mark.parametrize("text, expected", [
    ("IAMJB/chexpert-mimic-cxr-findings-baseline", ("IAMJB/chexpert-mimic-cxr-findings-baseline", None)),
    ("  gpt2 ", ("gpt2", None)),
    ("google/medgemma-4b-it@main", ("google/medgemma-4b-it", "main")),
    (f"microsoft/maira-2@{SHA}", ("microsoft/maira-2", SHA)),
    ("org/m@refs/pr/3", ("org/m", "refs/pr/3")),
    ("Foo-BAR_foo.bar123/x.y", ("Foo-BAR_foo.bar123/x.y", None)),
])
def test_valid_refs(text, expected) -> None:
    assert tuple(parse_hub_ref(text)) == expected


@pytest.mark.parametrize("text", [
    "", "/", "dir/sub/deeper", "../etc", "./model", "/abs/path", "org/..", "..", ".", "org/.hidden",
    "org/name.git", "org--x/name", "org/na--me", "-org/name", "org/name-", "org\\name", "org/na me",
    "org/nämé", "ｏｒｇ/name", "org/name\x00", "~/models", "a" * 97, "org/" + "b" * 97, "C:/models",
    "https://huggingface.co/org/name", "org/name@", "datasets/org/name",
])
def test_invalid_repo_ids_are_refused_with_an_example(text) -> None:
    with pytest.raises(InputError) as err:
        parse_hub_ref(text)
    assert "ORG/NAME" in str(err.value) or "revision" in str(err.value)


@pytest.mark.parametrize("rev", ["../../x", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "[a", "a\\b", "/a",
                                 "a/", "a.lock", "a@{1}", "a//b", ".a", "a/.b", "-x", "x" * 256, "a\nb"])
def test_invalid_revisions_are_refused(rev) -> None:
    with pytest.raises(InputError, match="revision"):
        validate_revision(rev)


def test_conflicting_revisions_are_refused() -> None:
    with pytest.raises(InputError, match="give one"):
        parse_hub_ref("org/m@v1", "v2")
    assert parse_hub_ref("org/m@v1", "v1").revision == "v1"
    assert parse_hub_ref("org/m", "  ").revision is None


def test_a_local_folder_is_still_only_a_repo_id(tmp_path, monkeypatch) -> None:
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "sub" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert parse_hub_ref("dir/sub") == ("dir/sub", None)   # a repo id; nothing looked at the disk


def test_echoed_input_is_truncated() -> None:
    with pytest.raises(InputError) as err:
        validate_repo_id("x/" + "y" * 10_000)
    assert len(str(err.value)) < 400


def test_commit_sha() -> None:
    assert is_commit_sha(SHA) and not is_commit_sha("main") and not is_commit_sha(SHA.upper())


def _hub_accepts(text: str) -> bool:
    from huggingface_hub.utils import HFValidationError
    from huggingface_hub.utils import validate_repo_id as hub

    try:
        hub(text)
        return True
    except HFValidationError:
        return False


@settings(max_examples=500)
@given(st.one_of(st.text(max_size=120), st.text(alphabet="ab_-./9Z", max_size=12),
                 st.builds(lambda a, b: f"{a}/{b}", st.text(alphabet="aZ0_-.", min_size=0, max_size=98),
                           st.text(alphabet="aZ0_-.", min_size=0, max_size=98))))
def test_the_rules_are_the_hub_librarys(text) -> None:
    try:
        repo = validate_repo_id(text)
    except InputError:
        # refused: the library refuses it too, or it is not ASCII (the Hub's names are)
        assert not _hub_accepts(text.strip()) or not text.strip().isascii() or not text.strip()
        return
    assert _hub_accepts(repo) and repo.isascii()  # never accept what huggingface_hub refuses
