"""The data_root override reaches the trainer but not the stored protocol."""

import json

from kanbench.sweep.runner import populate


def test_data_root_not_in_manifest(tmp_path):
    run = tmp_path / "run"
    populate("digits", run, seeds=[0], arch_ids="0:1", overrides={"epochs": 1, "data_root": str(tmp_path)}, progress=False)

    manifest = json.loads((run / "manifest.json").read_text())
    assert "data_root" not in manifest["protocol"]
    assert manifest["protocol"]["epochs"] == 1


def test_resume_with_other_data_root(tmp_path):
    run = tmp_path / "run"
    populate("digits", run, seeds=[0], arch_ids="0:1", overrides={"epochs": 1, "data_root": "/a"}, progress=False)

    summary = populate(
        "digits", run, seeds=[0], arch_ids="0:1", overrides={"epochs": 1, "data_root": "/b"}, progress=False
    )
    assert summary.skipped == 1
    assert summary.finished == 0
