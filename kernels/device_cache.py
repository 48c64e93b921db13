"""Constant tensors (windows, DFT bases, filterbanks) built once per key and device, safe under CUDA graphs.

A cached constant first built while a CUDA graph is being captured or warmed up by
``torch.compile(mode="reduce-overhead")`` would be allocated from the graph's private memory pool
(cudagraph trees route the calling thread's allocations there) and that memory may later be handed to
other tensors, silently corrupting the cache; a pageable host-to-device copy cannot be captured at all.
So CUDA constants are uploaded from a helper thread on its own stream, outside any capture and pool,
and kept for the life of the process (a captured graph keeps pointing at them). This module imports
no Triton: the spectral core uses it for its reference path too.

>>> import torch
>>> w = device_constant(("doc-hann", 8), lambda: torch.hann_window(8), torch.device("cpu"))
>>> w is device_constant(("doc-hann", 8), lambda: torch.hann_window(8), torch.device("cpu"))
True
"""
from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Hashable
from typing import Any

import torch

_CACHE: dict[tuple, Any] = {}
_LOCK = threading.Lock()
_UPLOADER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sigkit-device-constants")


def _to(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    return value


def _upload(host: Any, device: torch.device) -> Any:
    """Copy ``host`` (a tensor or a dict of tensors and plain values) to ``device`` on a private stream."""
    with torch.cuda.device(device):
        stream = torch.cuda.Stream(device)
        with torch.cuda.stream(stream):
            out = _to(host, device)
        stream.synchronize()
    return out


def device_constant(key: tuple[Hashable, ...], build: Callable[[], Any], device: torch.device | str) -> Any:
    """``build()`` (CPU tensors, or a dict of them and plain values) on ``device``, cached forever under ``key``.

    ``key`` must identify what ``build`` returns (dtype included); the device is added to it here.
    Entries are never evicted: callers cache small tables (windows, bases, filterbanks) only. Under
    ``torch.compile`` tracing the table is built in the graph instead.
    """
    device = torch.device(device)
    if torch.compiler.is_compiling():
        # Traced by Dynamo: build inside the graph (Inductor folds it into a constant); no cache, no lock.
        return _to(build(), device)
    full_key = (*key, device)
    hit = _CACHE.get(full_key)
    if hit is not None:
        return hit
    with _LOCK:
        hit = _CACHE.get(full_key)
        if hit is None:
            host = build()
            hit = _UPLOADER.submit(_upload, host, device).result() if device.type == "cuda" else _to(host, device)
            _CACHE[full_key] = hit
    return hit
