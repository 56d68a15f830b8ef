"""The decisions of a sequential study, as the report reads them: the engine and its records live in
``pipeline.decisions`` (the driver takes its seeds from there too); ``StudyDecisions.to_dict`` is
``decisions.json``."""

from pipeline.decisions import PROCEDURE, UNDECIDED_MEANING, MethodDecision, StudyDecisions, decide

__all__ = ["PROCEDURE", "UNDECIDED_MEANING", "MethodDecision", "StudyDecisions", "decide"]
