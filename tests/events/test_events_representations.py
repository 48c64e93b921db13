"""Representations, filters, losses and VPR helpers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sigkit.events import Events
from sigkit.events.denoise import background_activity_filter, refractory_filter
from sigkit.events.losses import event_count_loss, event_intervals, sample_tv_subintervals, threshold_normalized_tv_loss
from sigkit.events.representations import event_frame, event_frames, time_surface, voxel_grid
from sigkit.events.vpr import patch_normalize, recall_at_n, sad_matrix

from sigkit.errors import InputError


def _rand(n=2000, h=10, w=12, seed=0):
    rng = np.random.default_rng(seed)
    return Events.from_arrays(np.sort(rng.integers(0, 100_000, n)), rng.integers(0, w, n), rng.integers(0, h, n),
                              rng.integers(0, 2, n), h, w)


class TestFramesAndVoxels:
    def test_counts_sum_to_events(self):
        ev = _rand()
        c = event_frame(ev)
        assert c.shape == (2, 10, 12) and int(c.sum()) == len(ev)
        assert int(c[1].sum()) == int((ev.p > 0).sum())
        assert torch.equal(event_frame(ev, mode="signed"), c[1] - c[0])
        frames = event_frames(ev, 10_000)
        assert frames.shape[0] == 10 and int(frames.sum()) == len(ev)

    @pytest.mark.parametrize("convention", ["dsec", "n_bins"])
    def test_voxel_grid_conserves_polarity(self, convention):
        ev = _rand()
        g = voxel_grid(ev, 5, convention=convention)
        total = float(ev.p.astype(np.float64).sum())
        if convention == "dsec":
            assert float(g.sum()) == pytest.approx(total, abs=1e-3)      # every event fully inside
        else:
            # t_n = 5 (t - t0) / span: the share of an event beyond bin 4 (t_n > 4) falls outside the grid
            tn = 5 * (ev.t - ev.t[0]) / (ev.t[-1] - ev.t[0])
            lost = float((ev.p * np.clip(tn - 4, 0, 1)).sum())
            assert float(g.sum()) == pytest.approx(total - lost, abs=1e-3)

    def test_voxel_grid_bilinear_and_normalize(self):
        ev = Events.from_arrays([0, 25, 100], [0, 0, 0], [0, 0, 0], [1, 1, -1], 1, 1)
        assert voxel_grid(ev, 5).flatten().tolist() == [1.0, 1.0, 0.0, 0.0, -1.0]
        assert voxel_grid(ev, 4, convention="n_bins").flatten().tolist() == [1.0, 1.0, 0.0, 0.0]
        g = voxel_grid(_rand(), 3, normalize=True)
        nz = g[g != 0]
        assert float(nz.mean()) == pytest.approx(0, abs=1e-5) and float(nz.std()) == pytest.approx(1, abs=1e-4)

    def test_time_surface(self):
        ev = Events.from_arrays([0, 50, 100], [0, 1, 1], [0, 0, 0], [-1, 1, 1], 1, 2)
        ts = time_surface(ev, tau_us=50.0)
        assert ts[0, 0, 0] == pytest.approx(np.exp(-2)) and ts[1, 0, 1] == 1.0 and ts[1, 0, 0] == 0.0
        assert time_surface(ev, t_ref=60, tau_us=50.0)[1, 0, 1] == pytest.approx(np.exp(-0.2))

    def test_errors(self):
        ev = Events.from_arrays([0], [0], [0], [1])
        with pytest.raises(InputError, match="mode"):
            event_frame(ev, 1, 1, mode="rgb")
        with pytest.raises(InputError, match="n_bins"):
            voxel_grid(ev, 0, 1, 1)
        with pytest.raises(InputError, match="convention"):
            voxel_grid(ev, 2, 1, 1, convention="zhu")


class TestFilters:
    def test_refractory_nonparalyzable_matches_bruteforce(self):
        ev = _rand(3000, 3, 3)
        kept = refractory_filter(ev, 500)
        last: dict = {}
        ref = []
        for t, x, y in zip(ev.t, ev.x, ev.y, strict=False):
            if (x, y) not in last or t - last[(x, y)] > 500:
                last[(x, y)] = t
                ref.append(t)
        assert kept.t.tolist() == ref

    def test_ba_filter_drops_isolated_noise(self):
        rng = np.random.default_rng(1)
        # an edge moving along x (supported by its neighbours) plus isolated random noise
        t_edge = np.arange(0, 30) * 100
        edge = Events.from_arrays(np.repeat(t_edge, 8), np.repeat(np.arange(30) % 30, 8),
                                  np.tile(np.arange(8), 30), np.ones(240), 8, 30)
        noise = Events.from_arrays(rng.integers(0, 3000, 30) * 1000, rng.integers(0, 30, 30), rng.integers(0, 8, 30),
                                   np.ones(30), 8, 30)
        out = background_activity_filter(Events.concat([edge, noise]), 300)
        assert len(out) >= 0.9 * len(edge) and len(out) <= len(edge) + 3


class TestLosses:
    def test_intervals(self):
        ev = Events.from_arrays([0, 5, 9, 12], [0, 0, 1, 0], [0, 0, 0, 0], [1, -1, 1, 1], 1, 2)
        iv = event_intervals(ev)
        assert iv["t_start"].tolist() == [0, 5] and iv["t_end"].tolist() == [5, 12]
        assert iv["n_on"].tolist() == [0, 1] and iv["n_off"].tolist() == [1, 0]

    def test_event_count_loss_values_and_gradient(self):
        le = torch.tensor([0.5, -0.2], requires_grad=True)
        ls = torch.zeros(2)
        loss = event_count_loss(le, ls, torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), 0.25, 0.25)
        # residuals /0.25: (2 - 1) = 1 -> Huber 0.5; (-0.8 + 1) = 0.2 -> 0.02
        assert float(loss.detach()) == pytest.approx((0.5 + 0.02) / 2)
        loss.backward()
        assert le.grad.tolist() == pytest.approx([0.5 * 4 * 1.0, 0.5 * 4 * 0.2])
        c = torch.tensor(0.3, requires_grad=True)
        event_count_loss(torch.tensor([0.2]), torch.zeros(1), torch.ones(1), torch.zeros(1), c, 0.2).backward()
        assert c.grad is not None and float(c.grad) != 0

    def test_tv_loss_threshold_normalised(self):
        a = threshold_normalized_tv_loss(torch.tensor([0.1]), torch.zeros(1), 0.1, 0.1)
        b = threshold_normalized_tv_loss(torch.tensor([0.2]), torch.zeros(1), 0.2, 0.2)
        assert float(a) == float(b) == pytest.approx(1.0)

    def test_subintervals_distribution(self):
        g = torch.Generator().manual_seed(0)
        ta, tb = sample_tv_subintervals(torch.zeros(20000, dtype=torch.float64), torch.ones(20000, dtype=torch.float64),
                                        refractory=0.2, generator=g)
        frac = (tb - ta) / 0.8
        assert bool((ta >= 0.2).all() & (tb <= 1.0 + 1e-12).all())
        assert float(frac.mean()) == pytest.approx(1 / 3, abs=0.01)       # Triangular(0, 1, 0): mean 1/3
        assert float((frac < 0.5).double().mean()) == pytest.approx(0.75, abs=0.01)   # CDF(0.5) = 0.75


class TestVPR:
    def test_patch_normalize(self):
        x = torch.rand(3, 16, 24)
        y = patch_normalize(x, 8)
        blocks = y.reshape(3, 2, 8, 3, 8).transpose(2, 3).reshape(3, 6, 64)
        assert torch.allclose(blocks.mean(-1), torch.zeros(3, 6), atol=1e-5)
        assert torch.allclose(blocks.std(-1), torch.ones(3, 6), atol=1e-5)
        assert torch.equal(patch_normalize(torch.full((4, 4), 3.0), 2), torch.zeros(4, 4))

    def test_sad_and_recall(self):
        ref = torch.eye(4)
        q = torch.eye(4)[[2, 0, 3, 1]] + 0.01
        d = sad_matrix(q, ref)
        assert d.shape == (4, 4) and int(d.argmin(1)[0]) == 2
        qpos, rpos = np.array([2.0, 0.0, 3.0, 10.0]), np.arange(4.0)
        r = recall_at_n(d, qpos, rpos, ns=(1, 4), tolerance=0.5)
        assert r == {1: 0.75, 4: 0.75}
