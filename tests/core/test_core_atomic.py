"""atomic_output publishes whole files only."""

import os
import stat

import pytest

from kanbench.atomic import atomic_directory, atomic_output


def test_replace_publishes_content(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    with atomic_output(target) as temporary:
        temporary.write_text("new")
        assert target.read_text() == "old"

    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_error_keeps_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("boom")

    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_exclusive_refuses_existing(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("first")

    with pytest.raises(FileExistsError):
        with atomic_output(target, exclusive=True) as temporary:
            temporary.write_text("second")

    assert target.read_text() == "first"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_mode_follows_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        with atomic_output(tmp_path / "out.txt") as temporary:
            temporary.write_text("x")
    finally:
        os.umask(previous)

    assert oct((tmp_path / "out.txt").stat().st_mode & 0o777) == oct(0o640)


def test_creates_parent_directories(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"

    with atomic_output(target) as temporary:
        temporary.write_text("x")

    assert target.read_text() == "x"


def test_atomic_directory_publishes_complete(tmp_path):
    target = tmp_path / "models" / "small"
    with atomic_directory(target) as staging:
        (staging / "config.json").write_text("{}")
        assert not target.exists()
    assert (target / "config.json").read_text() == "{}"
    assert [path.name for path in target.parent.iterdir()] == ["small"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~umask


def test_atomic_directory_error_leaves_nothing(tmp_path):
    target = tmp_path / "small"
    with pytest.raises(RuntimeError, match="training failed"):
        with atomic_directory(target) as staging:
            (staging / "half.bin").write_bytes(b"x")
            raise RuntimeError("training failed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_existing_target(tmp_path):
    (tmp_path / "small").mkdir()
    with pytest.raises(FileExistsError, match="small' exists; choose a new directory or remove it"):
        with atomic_directory(tmp_path / "small"):
            pass
