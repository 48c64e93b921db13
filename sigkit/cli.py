"""The ``sigkit`` console script.

``sigkit fit|validate|test|predict -c CONFIG.yaml`` go to LightningCLI (:mod:`sigkit.train.cli`);
every other verb is a tool named in :data:`TOOLS`, whose module is imported only when it runs.
"""
from __future__ import annotations

import importlib
import sys

LIGHTNING_VERBS = ("fit", "validate", "test", "predict")

# tool name -> "module:function"; the function takes argv (list[str]) and returns an exit code.
TOOLS: dict[str, str] = {
    "resample": "sigkit.batch.tools:resample_main",
    "spectrogram": "sigkit.batch.tools:spectrogram_main",
    "synth": "sigkit.data.synth.cli:main",
    "bwe": "sigkit.audio.apbwe.infer:main",
    "classify": "sigkit.audio.tiny.infer:classify_main",
    "export": "sigkit.audio.tiny.export:main",
    "esc50-cv": "sigkit.audio.tiny.infer:crossval_main",
    "kde": "sigkit.kde.cli:main",
    "events": "sigkit.events.cli:main",
}


def _usage() -> str:
    tools = ", ".join(sorted(TOOLS))
    return (
        "usage: sigkit {fit,validate,test,predict} -c CONFIG.yaml [--key value ...]\n"
        f"       sigkit TOOL [args]   (TOOL one of: {tools})\n"
        "       sigkit TOOL --help   for a tool's arguments"
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    verb, rest = argv[0], argv[1:]
    if verb in LIGHTNING_VERBS:
        from sigkit.train.cli import run_lightning_cli

        return run_lightning_cli([verb, *rest])
    if verb not in TOOLS:
        print(f"sigkit: unknown command {verb!r}\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name = TOOLS[verb].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    from sigkit.errors import SigkitError

    try:
        code = func(rest)
    except SigkitError as err:
        print(f"sigkit {verb}: error: {err}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
