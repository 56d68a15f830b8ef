"""How a study stops short: each message says what happened and that running the same command resumes."""

from __future__ import annotations

from pathlib import Path

from pipeline.results.folder import TABLE_FILE


class StudyInterrupted(RuntimeError):
    """The study stopped before its last trial (Ctrl-C, a stopped cluster); what finished is kept."""

    def __init__(self, what: str, study_dir: Path) -> None:
        super().__init__(
            f"{what}; the {TABLE_FILE} in {study_dir} keeps every finished trial: run the same command again to resume"
        )


class StudyWriteError(RuntimeError):
    """A file of the study folder could not be written (a full disk, an unwritable folder). The study stops;
    every trial recorded before is kept, whole."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}; free space or make the folder writable, then run the same command again to resume")


class RayLost(RuntimeError):
    """The Ray instance or cluster under the study went away (its GCS stopped answering). The trials that were
    running are lost with it; every finished trial is in the trials table, and running the same command resumes."""

    def __init__(
        self, cluster: str, why: str, recorded: int, to_go: int, study_dir: Path, tables: str | None = None
    ) -> None:
        self.recorded, self.to_go, self.study_dir = recorded, to_go, study_dir
        super().__init__(
            f"{cluster} was lost: {why}.\nThe trials that were running on it are lost; {recorded} finished trial(s) "
            f"are recorded in {tables or study_dir / TABLE_FILE}, {to_go} to go."
        )
