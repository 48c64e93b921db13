"""``sigkit synth speech|esc OUT_DIR``: write a synthetic corpus in the VCTK-0.92 or ESC-50 layout."""

from __future__ import annotations

import argparse
import time

from sigkit.data.synth.environmental import ENV_CLASSES
from sigkit.data.synth.layouts import write_esc50_layout, write_vctk_layout


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sigkit synth", description=__doc__)
    sub = p.add_subparsers(dest="corpus", required=True)
    sp = sub.add_parser("speech", help="speech-like utterances in the VCTK-0.92 layout")
    sp.add_argument("out_dir")
    sp.add_argument("--n", type=int, default=200, help="number of utterances (default 200)")
    sp.add_argument("--sr", type=int, default=48000, help="sample rate in Hz, <= 48000 (default 48000)")
    sp.add_argument("--speakers", type=int, default=None, help="number of speakers (default n // 10, 2..108)")
    sp.add_argument("--min-seconds", type=float, default=1.5)
    sp.add_argument("--max-seconds", type=float, default=4.0)
    sp.add_argument("--subtype", default="PCM_16", choices=["PCM_16", "PCM_24"])
    sp.add_argument("--seed", type=int, default=0)
    ep = sub.add_parser("esc", help=f"environmental clips in the ESC-50 layout ({len(ENV_CLASSES)} classes)")
    ep.add_argument("out_dir")
    ep.add_argument("--n-per-class", type=int, default=8, help="clips per class (default 8)")
    ep.add_argument("--sr", type=int, default=44100, help="sample rate in Hz (default 44100, as ESC-50)")
    ep.add_argument("--seconds", type=float, default=5.0, help="clip length (default 5.0, as ESC-50)")
    ep.add_argument(
        "--classes",
        nargs="+",
        default=None,
        choices=list(ENV_CLASSES),
        metavar="CLASS",
        help=f"subset of: {' '.join(ENV_CLASSES)}",
    )
    ep.add_argument("--seed", type=int, default=0)
    for q in (sp, ep):
        q.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``sigkit synth``; returns the exit code.

    >>> import tempfile
    >>> args = ["--n-per-class", "1", "--sr", "8000", "--seconds", "0.5", "--classes", "dog", "--quiet"]
    >>> main(["esc", tempfile.mkdtemp(), *args])
    0
    """
    args = _parser().parse_args(argv)
    t0 = time.perf_counter()
    if args.corpus == "speech":
        out = write_vctk_layout(
            args.out_dir,
            n=args.n,
            sr=args.sr,
            seed=args.seed,
            n_speakers=args.speakers,
            seconds=(args.min_seconds, args.max_seconds),
            subtype=args.subtype,
            progress=not args.quiet,
        )
        what = f"{len(out.files)} utterances ({len({p.parent.name for p in out.files})} speakers)"
    else:
        out = write_esc50_layout(
            args.out_dir,
            n_per_class=args.n_per_class,
            sr=args.sr,
            seconds=args.seconds,
            seed=args.seed,
            classes=args.classes,
            progress=not args.quiet,
        )
        what = f"{len(out.files)} clips ({len({p.stem.rsplit('-', 1)[1] for p in out.files})} classes)"
    if not args.quiet:
        print(
            f"wrote {what}, {out.seconds / 60:.1f} min of audio at {args.sr} Hz, to {out.root} "
            f"in {time.perf_counter() - t0:.1f} s"
        )
    return 0
