"""Edge export: ONNX (float), post-training int8 quantisation, and a C header for microcontroller firmware.

``sigkit export --ckpt X.ckpt --out DIR`` writes

- ``DIR/model_float.onnx``: the classifier from features ``(B, F, N)`` to logits ``(B, C)`` (the front
  end is DSP the device computes itself; its parameters are in the header);
- ``DIR/model_int8.onnx``: the same, statically quantised by ONNX Runtime (QDQ format, int8 weights
  per output channel, symmetric; int8 activations calibrated on training clips);
- ``DIR/model_int8.h``: every tensor of the int8 graph as a C array (int8 weights with their float
  scales and zero points, int32 biases, float LayerNorm/position tensors), the front end's and the
  model's shapes, and the class names;

and prints the parameter count, the sizes in bytes, the single-thread CPU latency per clip (float
PyTorch, float and int8 ONNX Runtime, and the front end) and the accuracy of the float and int8
models on the validation split of the checkpoint's DataModule, with the int8 drop in points.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from sigkit.audio.tiny.model import count_parameters
from torch import Tensor, nn

from sigkit.errors import InputError


class FeatureNet(nn.Module):
    """The exported part of a classifier: ``model.forward_features``, features ``(B, F, N)`` -> logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: Tensor) -> Tensor:
        return self.model.forward_features(features)


def export_onnx(model: nn.Module, path: str | Path, example: Tensor) -> Path:
    """Write ``model.forward_features`` as ONNX (opset 17, dynamic batch) with input ``features`` and
    output ``logits``; ``example`` is a feature batch ``(B, F, N)``. The model is left in eval mode.

    >>> import tempfile, os, onnxruntime as ort
    >>> from sigkit.audio.tiny import TinyTransformer, WaveChunkFrontend
    >>> m = TinyTransformer(WaveChunkFrontend(50), n_classes=3, clip_samples=500).eval()
    >>> x = m.frontend(torch.randn(2, 500))
    >>> p = export_onnx(m, os.path.join(tempfile.mkdtemp(), "m.onnx"), x)
    >>> y = ort.InferenceSession(str(p)).run(None, {"features": x.numpy()})[0]
    >>> bool(np.allclose(y, m.forward_features(x).detach().numpy(), atol=1e-5))
    True
    """
    import warnings

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = FeatureNet(model).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        # the TorchScript exporter takes ~0.5 s for these models; the dynamo one ~10 s
        torch.onnx.export(
            net,
            (example,),
            str(path),
            input_names=["features"],
            output_names=["logits"],
            dynamic_axes={"features": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    net.eval()
    return path


class _Calibration:
    """ONNX Runtime calibration reader over feature batches."""

    def __init__(self, features: np.ndarray, batch: int = 16) -> None:
        self.batches = iter([features[i : i + batch] for i in range(0, len(features), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        nxt = next(self.batches, None)
        return None if nxt is None else {"features": nxt}


def quantize_int8(float_path: str | Path, int8_path: str | Path, calibration: np.ndarray) -> Path:
    """Static int8 post-training quantisation of an exported ONNX model (ONNX Runtime, QDQ format).

    Matrix products and convolutions get int8 weights (symmetric, one scale per output channel) and
    int8 activations whose ranges are calibrated (min-max) on ``calibration`` features ``(n, F, N)``;
    LayerNorm, softmax and GELU stay float.

    Returns:
        ``int8_path``.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    float_path, int8_path = Path(float_path), Path(int8_path)
    pre = int8_path.with_suffix(".pre.onnx")
    quant_pre_process(str(float_path), str(pre), skip_symbolic_shape=True)
    quantize_static(
        str(pre),
        str(int8_path),
        _Calibration(calibration.astype(np.float32)),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul", "Gemm", "Conv"],
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
    )
    pre.unlink(missing_ok=True)
    return int8_path


def onnx_session(path: str | Path, threads: int = 1):
    """An ONNX Runtime CPU session limited to ``threads`` threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def onnx_logits(path: str | Path, features: np.ndarray, batch: int = 64) -> np.ndarray:
    """Logits ``(n, C)`` of an exported model for features ``(n, F, N)``."""
    sess = onnx_session(path, threads=1)
    outs = [
        sess.run(None, {"features": features[i : i + batch].astype(np.float32)})[0]
        for i in range(0, len(features), batch)
    ]
    return np.concatenate(outs)


def median_ms(fn: Callable[[], object], runs: int = 50, warmup: int = 5) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``runs`` calls (after ``warmup`` calls).

    >>> median_ms(lambda: sum(range(100)), runs=5) >= 0.0
    True
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


_C_TYPES = {1: ("float", "%.9g"), 3: ("int8_t", "%d"), 2: ("uint8_t", "%d"), 6: ("int32_t", "%d")}


def _c_name(name: str, prefix: str) -> str:
    return prefix + re.sub(r"[^0-9A-Za-z_]", "_", name)


def int8_tensors(path: str | Path) -> dict[str, np.ndarray]:
    """The numeric initializers of an ONNX graph (int8/uint8/int32/float), by name.

    This is what :func:`write_c_header` writes (int64 shape constants of reshapes are left out).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    return {
        init.name: numpy_helper.to_array(init)
        for init in model.graph.initializer
        if init.data_type in _C_TYPES
    }


def write_c_header(int8_path: str | Path, header_path: str | Path, info: dict, prefix: str = "tiny_") -> Path:
    """Write the int8 ONNX graph's tensors and the model's shapes as a C header.

    Every numeric initializer becomes ``static const <type> <prefix><name>[] = {...};`` with a comment
    giving its shape; ``info`` (front end and model hyper-parameters, ints, floats or strings, and an
    optional ``class_names`` list) becomes ``#define`` lines and a class-name table. Quantised weights
    follow ONNX's ``DequantizeLinear``: ``w = scale[c] * (q - zero_point[c])`` along the output channel.

    Returns:
        ``header_path``.
    """
    header_path = Path(header_path)
    guard = re.sub(r"[^0-9A-Za-z]", "_", header_path.name).upper()
    lines = [
        f"/* Generated by `sigkit export` from {Path(int8_path).name}: int8 weights (ONNX QDQ) and shapes.",
        " * Input: features (1, N_FEATURES, N_FRAMES) from the front end below; output: logits (N_CLASSES).",
        " * Dequantise: w = scale[c] * (q - zero_point[c]) along each tensor's output channel. */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <stdint.h>",
        "",
    ]
    upper = prefix.upper()
    for key, value in info.items():
        if key == "class_names":
            continue
        macro = upper + re.sub(r"[^0-9A-Za-z]", "_", key).upper()
        lines.append(f'#define {macro} "{value}"' if isinstance(value, str) else f"#define {macro} {value}")
    names = info.get("class_names") or []
    if names:
        quoted = ", ".join(json.dumps(str(n)) for n in names)
        lines += ["", f"static const char *const {prefix}class_names[{len(names)}] = {{{quoted}}};"]
    import onnx

    types = {init.name: init.data_type for init in onnx.load(str(int8_path)).graph.initializer}
    total = 0
    for name, arr in int8_tensors(int8_path).items():
        ctype, fmt = _C_TYPES[types[name]]
        flat = arr.reshape(-1)
        total += flat.nbytes
        body = ", ".join(fmt % v for v in flat.tolist())
        lines += [
            "",
            f"/* {name}: {arr.dtype} shape {list(arr.shape)} */",
            f"static const {ctype} {_c_name(name, prefix)}[{max(flat.size, 1)}] = {{{body}}};",
        ]
    lines += ["", f"/* {total} bytes of tensors */", f"#endif /* {guard} */", ""]
    header_path.write_text("\n".join(lines))
    return header_path


def read_c_header(path: str | Path, prefix: str = "tiny_") -> dict[str, np.ndarray]:
    """Parse the arrays :func:`write_c_header` wrote back into numpy arrays (flat), keyed by C name."""
    dtypes = {"float": np.float32, "int8_t": np.int8, "uint8_t": np.uint8, "int32_t": np.int32}
    out = {}
    pattern = re.compile(
        r"static const (float|int8_t|uint8_t|int32_t) (" + prefix + r"\w+)\[\d+\] = \{([^}]*)\};"
    )
    for ctype, name, body in pattern.findall(Path(path).read_text()):
        out[name] = np.array([float(v) for v in body.split(",") if v.strip()], dtype=np.float64).astype(
            dtypes[ctype]
        )
    return out


def describe(model: nn.Module) -> dict:
    """The front end's and the classifier's shapes and settings, for the header (ints, floats, strings)."""
    info: dict = {
        "model": type(model).__name__,
        "frontend": type(model.frontend).__name__,
        "clip_samples": model.clip_samples,
        "n_features": model.feature_shape[0],
        "n_frames": model.feature_shape[1],
        "n_classes": model.n_classes,
    }
    fe = model.frontend
    for key in ("sr", "n_mels", "n_mfcc", "fmin", "top_db", "chunk", "norm"):
        if getattr(fe, key, None) is not None:
            info[f"frontend_{key}"] = getattr(fe, key)
    if getattr(fe, "spec", None) is not None:
        info.update(
            frontend_n_fft=fe.spec.n_fft,
            frontend_hop=fe.spec.hop,
            frontend_win=fe.spec.win,
            frontend_window=fe.spec.window,
        )
    for key in ("dim", "depth", "heads", "ffn", "token_kind", "n_tokens"):
        if getattr(model, key, None) is not None:
            info[key] = getattr(model, key)
    return info


@dataclass
class ExportReport:
    """What :func:`export_model` measured (sizes in bytes, latencies in ms per clip, accuracies in %)."""

    params: int
    float_bytes: int
    int8_bytes: int
    tensor_bytes_float: int
    tensor_bytes_int8: int
    header_bytes: int
    frontend_ms: float
    torch_float_ms: float
    onnx_float_ms: float
    onnx_int8_ms: float
    onnx_max_abs_diff: float
    n_val: int
    float_acc: float
    int8_acc: float

    @property
    def drop(self) -> float:
        """Accuracy lost by int8, in points."""
        return self.float_acc - self.int8_acc

    def lines(self) -> list[str]:
        return [
            f"parameters      {self.params:,}",
            f"size            tensors: float32 {self.tensor_bytes_float:,} B, "
            f"int8 model {self.tensor_bytes_int8:,} B "
            f"(int8 weights + float scales/LayerNorm/positions, int32 biases); files: float ONNX "
            f"{self.float_bytes:,} B, int8 ONNX {self.int8_bytes:,} B, C header {self.header_bytes:,} B",
            f"latency/clip    (1 CPU thread) front end {self.frontend_ms:.3f} ms; network: PyTorch float "
            f"{self.torch_float_ms:.3f} ms, ONNX Runtime float {self.onnx_float_ms:.3f} ms, int8 "
            f"{self.onnx_int8_ms:.3f} ms",
            f"onnx parity     max |onnx - torch| = {self.onnx_max_abs_diff:.2e} on the validation logits",
            f"accuracy        {self.n_val} validation clips: float {self.float_acc:.2f}%, "
            f"int8 {self.int8_acc:.2f}% "
            f"(drop {self.drop:+.2f} points)",
        ]


@torch.no_grad()
def features_of(model: nn.Module, loader) -> tuple[Tensor, Tensor]:
    """The model's front end over a loader of ``(wave, label)``: features ``(n, F, N)``, labels ``(n,)``."""
    feats, labels = [], []
    for wave, label in loader:
        feats.append(model.frontend(wave))
        labels.append(torch.as_tensor(label))
    return torch.cat(feats), torch.cat(labels)


def export_model(
    model: nn.Module,
    out_dir: str | Path,
    val: tuple[Tensor, Tensor],
    calibration: Tensor,
    class_names: list[str] | None = None,
    latency_runs: int = 50,
) -> ExportReport:
    """Export ``model`` to ``out_dir`` (float ONNX, int8 ONNX, C header) and measure it.

    Args:
        model: a classifier of :mod:`sigkit.audio.tiny.model`.
        out_dir: output folder (created).
        val: validation features ``(n, F, N)`` and labels ``(n,)`` for the accuracy check.
        calibration: features ``(m, F, N)`` the int8 activation ranges are calibrated on.
        class_names: written into the header.
        latency_runs: timed runs per latency figure.
    """
    model = model.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x_val, y_val = val
    if len(x_val) == 0:
        raise InputError("export: the validation split is empty; the int8 accuracy check needs clips")
    float_path = export_onnx(model, out / "model_float.onnx", x_val[:1])
    int8_path = quantize_int8(float_path, out / "model_int8.onnx", calibration.numpy())
    info = describe(model)
    info["params"] = count_parameters(model)
    if class_names:
        info["class_names"] = list(class_names)
    header = write_c_header(int8_path, out / "model_int8.h", info)

    with torch.no_grad():
        torch_logits = torch.cat(
            [model.forward_features(x_val[i : i + 64]) for i in range(0, len(x_val), 64)]
        )
    float_logits = onnx_logits(float_path, x_val.numpy())
    int8_logits = onnx_logits(int8_path, x_val.numpy())
    y = y_val.numpy()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        wave = torch.randn(1, model.clip_samples)
        one = x_val[:1]
        with torch.no_grad():
            fe_ms = median_ms(lambda: model.frontend(wave), latency_runs)
            torch_ms = median_ms(lambda: model.forward_features(one), latency_runs)
        sess_f, sess_q = onnx_session(float_path), onnx_session(int8_path)
        feed = {"features": one.numpy()}
        onnx_f_ms = median_ms(lambda: sess_f.run(None, feed), latency_runs)
        onnx_q_ms = median_ms(lambda: sess_q.run(None, feed), latency_runs)
    finally:
        torch.set_num_threads(threads)
    return ExportReport(
        params=count_parameters(model),
        float_bytes=float_path.stat().st_size,
        int8_bytes=int8_path.stat().st_size,
        tensor_bytes_float=sum(a.nbytes for a in int8_tensors(float_path).values()),
        tensor_bytes_int8=sum(a.nbytes for a in int8_tensors(int8_path).values()),
        header_bytes=header.stat().st_size,
        frontend_ms=fe_ms,
        torch_float_ms=torch_ms,
        onnx_float_ms=onnx_f_ms,
        onnx_int8_ms=onnx_q_ms,
        onnx_max_abs_diff=float(np.abs(float_logits - torch_logits.numpy()).max()),
        n_val=len(y),
        float_acc=100.0 * float((float_logits.argmax(1) == y).mean()),
        int8_acc=100.0 * float((int8_logits.argmax(1) == y).mean()),
    )


def main(argv: list[str] | None = None) -> int:
    """``sigkit export --ckpt X.ckpt --out DIR``: see the module docstring. Returns 0, or 1 when the int8
    model loses more than ``--max-drop`` points of validation accuracy."""
    parser = argparse.ArgumentParser(prog="sigkit export", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ckpt", required=True, help="a checkpoint written by `sigkit fit` with a tiny config"
    )
    parser.add_argument("--out", required=True, help="output folder for the ONNX models and the C header")
    parser.add_argument(
        "--data-root", default=None, help="dataset folder, if not the one the model trained on"
    )
    parser.add_argument(
        "--fold", type=int, default=None, help="ESC-50 validation fold, if not the trained one"
    )
    parser.add_argument(
        "--calib-clips",
        type=int,
        default=256,
        help="training clips (spread over the set) to calibrate int8 on",
    )
    parser.add_argument("--latency-runs", type=int, default=50, help="timed runs per latency figure")
    parser.add_argument(
        "--max-drop", type=float, default=2.0, help="largest int8 accuracy drop accepted (points)"
    )
    args = parser.parse_args(argv)

    from sigkit.audio.tiny.infer import load_classifier, load_datamodule

    module = load_classifier(args.ckpt)
    overrides = {k: v for k, v in (("root", args.data_root), ("fold", args.fold)) if v is not None}
    dm = load_datamodule(args.ckpt, **overrides)
    dm.setup("fit")
    model = module.model.eval()
    val = features_of(model, dm.val_dataloader())
    calib_x, _ = features_of(model, _spread_clips(dm.train_set, args.calib_clips, dm.batch_size))
    report = export_model(model, args.out, val, calib_x, module.class_names, args.latency_runs)
    print(f"sigkit export: {args.ckpt} -> {args.out}/model_float.onnx, model_int8.onnx, model_int8.h")
    for line in report.lines():
        print("  " + line)
    (Path(args.out) / "report.json").write_text(json.dumps({**asdict(report), "drop": report.drop}, indent=2))
    if report.drop > args.max_drop:
        print(f"sigkit export: int8 loses {report.drop:.2f} points (> --max-drop {args.max_drop})")
        return 1
    return 0


def _spread_clips(dataset, n: int, batch_size: int):
    """A loader of ``n`` clips spread evenly over ``dataset`` (datasets are often sorted by class)."""
    from torch.utils.data import DataLoader, Subset

    idx = np.unique(np.linspace(0, len(dataset) - 1, num=min(n, len(dataset))).round().astype(int))
    return DataLoader(Subset(dataset, idx.tolist()), batch_size=batch_size, shuffle=False)
