"""The batch file runner every ``sigkit <tool> IN OUT`` uses.

- :func:`discover_inputs`: a file, a folder (``--pattern``, ``--recursive``), a glob or ``@list.txt``;
- :func:`run_batch`: load -> process in batches on the device -> atomic save, mirroring the input
  tree, skipping finished outputs (resume), reporting bad files in ``OUT/errors.jsonl`` and a summary;
- :func:`atomic_write`: the temporary-name-then-``os.replace`` writer for any tool's own outputs;
- :func:`add_batch_arguments` / :func:`run_from_args`: the command line every tool shares.

>>> from sigkit.batch import run_batch, discover_inputs, atomic_write, add_batch_arguments
"""
from sigkit.batch.atomic import atomic_write, partial_path, remove_partials
from sigkit.batch.cli import AUDIO_PATTERN, add_batch_arguments, default_device, resolve_device, run_from_args
from sigkit.batch.discover import InputFile, discover_inputs, read_list_file
from sigkit.batch.runner import BatchSummary, Failure, Job, output_path, per_item, run_batch

__all__ = [
    "AUDIO_PATTERN", "BatchSummary", "Failure", "InputFile", "Job", "add_batch_arguments", "atomic_write",
    "default_device", "discover_inputs", "output_path", "partial_path", "per_item", "read_list_file",
    "remove_partials", "resolve_device", "run_batch", "run_from_args",
]
