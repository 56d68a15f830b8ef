"""Per-example outcomes: one file per evaluation trial, written atomically and read back by trial key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.results.errors import StudyFolderError
from pipeline.results.outcomes import correctness, outcome_path, read_outcomes, write_outcomes


def test_outcomes_round_trip_by_trial_key_and_split(tmp_path: Path) -> None:
    test = (np.array([2, 0, 1, 1]), np.array([2, 1, 1, 0]))
    shifted = (np.array([0, 0]), np.array([0, 2]))
    path = write_outcomes(tmp_path, "eval/sam/seed3", {"test": test, "shifted_test": shifted})
    assert path == outcome_path(tmp_path, "eval/sam/seed3") == tmp_path / "eval__sam__seed3.parquet"
    outcomes = read_outcomes(tmp_path, "eval/sam/seed3")
    assert outcomes is not None and outcomes.key == "eval/sam/seed3"
    assert outcomes.predictions["test"].tolist() == [2, 0, 1, 1] and outcomes.labels["shifted_test"].tolist() == [0, 2]
    assert outcomes.correct().tolist() == [1.0, 0.0, 1.0, 0.0]
    assert read_outcomes(tmp_path, "eval/sam/seed4") is None
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "no temporary file left beside it"


def test_written_again_the_file_is_replaced_not_doubled(tmp_path: Path) -> None:
    write_outcomes(tmp_path, "eval/sgd/seed0", {"test": (np.array([1, 1]), np.array([1, 0]))})
    write_outcomes(tmp_path, "eval/sgd/seed0", {"test": (np.array([0, 0]), np.array([1, 0]))})
    assert len(list(tmp_path.iterdir())) == 1
    assert read_outcomes(tmp_path, "eval/sgd/seed0").predictions["test"].tolist() == [0, 0]


def test_the_correctness_matrix_pairs_rows_in_the_order_of_the_keys(tmp_path: Path) -> None:
    labels = np.array([0, 1, 2])
    for seed, predicted in enumerate(([0, 1, 0], [0, 0, 0])):
        write_outcomes(tmp_path, f"eval/sam/seed{seed}", {"test": (np.array(predicted), labels)})
    matrix = correctness(tmp_path, ["eval/sam/seed1", "eval/sam/seed0"])
    assert matrix.tolist() == [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    with pytest.raises(StudyFolderError, match="no per-example outcomes of eval/sam/seed2 on test"):
        correctness(tmp_path, ["eval/sam/seed0", "eval/sam/seed2"])
    with pytest.raises(StudyFolderError, match="shifted_test"):
        correctness(tmp_path, ["eval/sam/seed0"], split="shifted_test")
    write_outcomes(tmp_path, "eval/sgd/seed0", {"test": (np.array([0, 1]), np.array([0, 1]))})
    with pytest.raises(StudyFolderError, match="different sizes"):
        correctness(tmp_path, ["eval/sam/seed0", "eval/sgd/seed0"])


def test_bad_outcomes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="splits"):
        write_outcomes(tmp_path, "eval/sam/seed0", {"val": (np.array([1]), np.array([1]))})
    with pytest.raises(ValueError, match="must be equal 1-D"):
        write_outcomes(tmp_path, "eval/sam/seed0", {"test": (np.array([1, 2]), np.array([1]))})
