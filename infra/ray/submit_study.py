"""Entry point for `ray submit CLUSTER.yaml infra/ray/submit_study.py -- STUDY.yaml [sam-study run options]`.

`ray submit` copies only this file to the head node and runs it with python, so it imports nothing of the
project: it runs the installed `sam-study run` (the cluster YAML's setup_commands install it in
~/sam-study) from that folder, joined to the running cluster with `--address auto`.
The same with Ray Jobs:
`ray job submit --address http://HEAD:8265 --working-dir . -- sam-study run STUDY.yaml --address auto`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

PROJECT = Path(os.environ.get("SAM_STUDY_DIR", "~/sam-study")).expanduser()


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    command = shutil.which("sam-study")
    if command is None:
        print(
            "error: the `sam-study` command is not installed on this node; run the cluster YAML's setup_commands",
            file=sys.stderr,
        )
        return 2
    if not PROJECT.is_dir():
        print(
            f"error: {PROJECT} does not exist; the cluster YAML's file_mounts copy the project there", file=sys.stderr
        )
        return 2
    os.chdir(PROJECT)
    args = ["sam-study", "run", *argv]
    if "--address" not in argv:
        args += ["--address", "auto"]
    os.execv(command, args)  # replaces this process: the exit code and Ctrl-C are sam-study's own


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
