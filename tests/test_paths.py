"""Containment of manifest/submission paths (rexrank.paths): several ways out, all refused."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from rexrank.errors import InputError
from rexrank.paths import check_image, check_image_bytes, resolve_inside


def png_bytes(size=(4, 4)) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, 128).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "p10" / "s1").mkdir(parents=True)
    (data / "p10" / "s1" / "a.png").write_bytes(png_bytes())
    (tmp_path / "secret.txt").write_text("root:x:0:0\n")
    (data / "link_out").symlink_to(tmp_path / "secret.txt")
    (data / "dir_out").symlink_to(tmp_path)
    (data / "link_in").symlink_to(data / "p10" / "s1" / "a.png")
    (data / "loop").symlink_to(data / "loop")
    return data


def test_a_plain_relative_path_and_a_link_inside_resolve(root: Path) -> None:
    assert resolve_inside(root, "p10/s1/a.png", what="study 's1' image_path") == (root / "p10/s1/a.png").resolve()
    assert resolve_inside(root, "link_in", what="x") == (root / "p10/s1/a.png").resolve()
    assert resolve_inside(root, "p10/./s1/a.png", what="x").name == "a.png"
    assert resolve_inside(root, "p10\\s1\\a.png", what="x").name == "a.png"   # Windows separators


@pytest.mark.parametrize("bad, why", [
    ("../secret.txt", "'..' segment"),
    ("p10/../../secret.txt", "'..' segment"),
    ("p10\\..\\..\\secret.txt", "'..' segment"),
    ("/etc/passwd", "absolute path"),
    ("C:\\Windows\\win.ini", "absolute path"),
    ("~/.ssh/id_rsa", "absolute path"),
    ("link_out", "points outside"),
    ("dir_out/secret.txt", "points outside"),
    ("loop", "loop"),
    ("p10/s1/a.png\x00.txt", "NUL"),
    ("", "empty"),
    ("p10/s1/missing.png", "does not exist"),
    ("p10/s1", "not a regular file"),
])
def test_every_way_out_is_refused_naming_the_field_never_the_server_path(root: Path, bad: str, why: str) -> None:
    with pytest.raises(InputError) as err:
        resolve_inside(root, bad, what="study 's1' image_path")
    message = str(err.value)
    assert why in message and "study 's1' image_path" in message
    assert str(root) not in message and str(root.parent) not in message


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["..", ".", "p10", "s1", "a.png", "link_out", "dir_out", "secret.txt", ""]),
                min_size=1, max_size=6), st.sampled_from(["/", "\\"]))
def test_whatever_the_segments_a_resolved_path_is_inside_the_root(tmp_path_factory, segments, sep) -> None:
    base = tmp_path_factory.getbasetemp() / "fuzzroot"
    if not base.exists():
        (base / "data" / "p10" / "s1").mkdir(parents=True)
        (base / "data" / "p10" / "s1" / "a.png").write_bytes(b"x")
        (base / "secret.txt").write_text("secret")
        (base / "data" / "link_out").symlink_to(base / "secret.txt")
        (base / "data" / "dir_out").symlink_to(base)
    root = base / "data"
    try:
        path = resolve_inside(root, sep.join(segments), what="f", kind="any", must_exist=False)
    except InputError as err:
        assert str(base) not in str(err)
        return
    assert path.is_relative_to(root.resolve())
    assert path.resolve() == path


def test_the_root_itself_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        resolve_inside(tmp_path / "nope", "a.png", what="x")


def test_echoed_paths_are_truncated(root: Path) -> None:
    with pytest.raises(InputError) as err:
        resolve_inside(root, "../" + "a" * 5000, what="x")
    assert len(str(err.value)) < 400


@pytest.mark.parametrize("data, why", [
    (b"", "empty file"),
    (b"root:x:0:0:root:/root:/bin/bash\n", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image"),          # a PNG signature and nothing valid after it
    (png_bytes()[:30], "image"),                              # a truncated PNG
    (b"%PDF-1.4\n", "not an image"),
])
def test_embedded_files_must_decode_as_images(data: bytes, why: str) -> None:
    with pytest.raises(InputError, match=why) as err:
        check_image_bytes(data, what="study 's1' image_path", shown_path="p10/s1/a.png")
    assert "study 's1' image_path" in str(err.value) and "'p10/s1/a.png'" in str(err.value)


def test_a_real_image_passes(root: Path) -> None:
    assert check_image(root / "p10/s1/a.png", what="x") == (root / "p10/s1/a.png").read_bytes()
    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8)).save(jpeg, format="JPEG")
    check_image_bytes(jpeg.getvalue(), what="x")
