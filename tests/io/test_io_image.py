"""sigkit.io images and videos: round trips, layouts, timestamps, and error paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sigkit.errors import InputError, MediaFileError
from sigkit.io import iter_video_frames, read_image, read_video, read_video_frames, write_image, write_video


def _img(h=12, w=20, c=3, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (h, w, c), dtype=torch.uint8, generator=g)


class TestImage:
    @pytest.mark.parametrize("ext", ["png", "bmp", "tif"])
    def test_lossless_round_trip_rgb_order(self, tmp_path, ext):
        x = _img()
        write_image(tmp_path / f"a.{ext}", x)
        y = read_image(tmp_path / f"a.{ext}")
        assert y.dtype == torch.uint8 and y.shape == (12, 20, 3)
        assert torch.equal(x, y)

    def test_red_stays_red(self, tmp_path):
        x = torch.zeros(2, 2, 3, dtype=torch.uint8)
        x[..., 0] = 255
        write_image(tmp_path / "r.png", x)
        import cv2

        bgr = cv2.imread(str(tmp_path / "r.png"))
        assert bgr[0, 0].tolist() == [0, 0, 255]
        assert read_image(tmp_path / "r.png")[0, 0].tolist() == [255, 0, 0]
        assert read_image(tmp_path / "r.png", mode="bgr")[0, 0].tolist() == [0, 0, 255]

    def test_float_and_channels_first(self, tmp_path):
        x = torch.rand(3, 8, 9)
        write_image(tmp_path / "f.png", x, channels_first=True)
        y = read_image(tmp_path / "f.png", dtype=torch.float32, channels_first=True)
        assert y.shape == (3, 8, 9) and y.dtype == torch.float32
        torch.testing.assert_close(y, x, rtol=0, atol=0.5 / 255 + 1e-6)

    def test_gray_and_uint16(self, tmp_path):
        g = _img(c=1)
        write_image(tmp_path / "g.png", g[..., 0])
        assert torch.equal(read_image(tmp_path / "g.png", mode="gray"), g)
        assert read_image(tmp_path / "g.png").shape == (12, 20, 3)
        x16 = np.random.default_rng(0).integers(0, 65536, (6, 5, 3), dtype=np.uint16)
        write_image(tmp_path / "d.png", x16)
        y16 = read_image(tmp_path / "d.png")
        assert y16.dtype == torch.uint16 and np.array_equal(y16.numpy(), x16)
        yf = read_image(tmp_path / "d.png", dtype=torch.float64)
        np.testing.assert_allclose(yf.numpy(), x16 / 65535.0)

    def test_jpeg_is_close(self, tmp_path):
        x = torch.full((16, 16, 3), 100, dtype=torch.uint8)
        write_image(tmp_path / "a.jpg", x)
        assert (read_image(tmp_path / "a.jpg").int() - 100).abs().max() <= 2

    def test_errors(self, tmp_path):
        with pytest.raises(MediaFileError, match=r"none\.png: file not found"):
            read_image(tmp_path / "none.png")
        (tmp_path / "junk.png").write_bytes(b"not an image")
        with pytest.raises(MediaFileError, match=r"junk\.png: not a readable image"):
            read_image(tmp_path / "junk.png")
        write_image(tmp_path / "ok.png", _img(64, 64))
        raw = (tmp_path / "ok.png").read_bytes()
        (tmp_path / "cut.png").write_bytes(raw[: len(raw) - 30])
        with pytest.raises(MediaFileError, match=r"cut\.png: not a readable image .*truncated"):
            read_image(tmp_path / "cut.png")
        write_image(tmp_path / "ok.jpg", _img(64, 64))
        raw = (tmp_path / "ok.jpg").read_bytes()
        (tmp_path / "cut.jpg").write_bytes(raw[:-2])  # OpenCV sometimes still decodes this
        with pytest.raises(MediaFileError, match=r"cut\.jpg: truncated JPEG"):
            read_image(tmp_path / "cut.jpg")
        with pytest.raises(InputError, match="NaN"):
            write_image(tmp_path / "n.png", torch.full((2, 2), float("nan")))
        with pytest.raises(InputError, match=r"image must be"):
            write_image(tmp_path / "s.png", torch.zeros(2, 2, 5, dtype=torch.uint8))
        with pytest.raises(InputError, match="dtype"):
            write_image(tmp_path / "s.png", torch.zeros(2, 2, 3, dtype=torch.int32))
        with pytest.raises(MediaFileError, match=r"cannot encode"):
            write_image(tmp_path / "s.xyz", _img())
        with pytest.raises(InputError, match="mode"):
            read_image(tmp_path / "ok.png", mode="hsv")


def _frames(t=6, h=16, w=24, seed=1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=g)


class TestVideo:
    def test_lossless_mkv_round_trip(self, tmp_path):
        x = _frames()
        write_video(tmp_path / "v.mkv", x, fps=12.5)
        y, fps, ts = read_video(tmp_path / "v.mkv")
        assert torch.equal(x, y) and fps == 12.5
        torch.testing.assert_close(ts, torch.arange(6, dtype=torch.float64) / 12.5)

    @pytest.mark.parametrize("ext", ["mp4", "avi"])
    def test_lossy_containers(self, tmp_path, ext):
        x = torch.full((5, 32, 32, 3), 128, dtype=torch.uint8)
        write_video(tmp_path / f"v.{ext}", x, fps=10)
        y, fps, ts = read_video(tmp_path / f"v.{ext}")
        assert y.shape == x.shape and fps == 10.0 and ts.shape == (5,)
        assert (y.int() - 128).abs().max() <= 8  # mp4v/MJPG are lossy (YUV 4:2:0 rounding)

    def test_iter_start_max_frames_float_gray(self, tmp_path):
        x = _frames(t=8)
        write_video(tmp_path / "v.mkv", x, fps=8)
        got = list(iter_video_frames(tmp_path / "v.mkv", start=3, max_frames=2, dtype=torch.float32))
        assert [round(t, 6) for t, _ in got] == [0.375, 0.5]
        torch.testing.assert_close(got[0][1], x[3].float() / 255)
        y, _, _ = read_video_frames(tmp_path / "v.mkv", mode="gray", channels_first=True)
        assert y.shape == (8, 1, 16, 24)

    def test_gray_video_write(self, tmp_path):
        x = _frames()[..., 0]
        write_video(tmp_path / "g.mkv", x, fps=5)
        y, _, _ = read_video(tmp_path / "g.mkv", mode="gray")
        assert torch.equal(y[..., 0], x)

    def test_errors(self, tmp_path):
        with pytest.raises(MediaFileError, match=r"no\.mp4: file not found"):
            read_video(tmp_path / "no.mp4")
        (tmp_path / "junk.mp4").write_bytes(b"\x00" * 100)
        with pytest.raises(MediaFileError, match=r"junk\.mp4: not a readable video"):
            read_video(tmp_path / "junk.mp4")
        write_video(tmp_path / "v.avi", _frames(t=40), fps=10)
        raw = (tmp_path / "v.avi").read_bytes()
        (tmp_path / "cut.avi").write_bytes(raw[: int(len(raw) * 0.6)])
        with pytest.raises(MediaFileError, match=r"cut\.avi: truncated video \(container declares 40 frames"):
            read_video(tmp_path / "cut.avi")
        # a short read on purpose is not truncation
        assert read_video(tmp_path / "cut.avi", max_frames=5)[0].shape[0] == 5
        with pytest.raises(MediaFileError, match="no frames at or after frame 99"):
            read_video(tmp_path / "v.avi", start=99)
        with pytest.raises(InputError, match="fps"):
            write_video(tmp_path / "w.mkv", _frames(), fps=0)
        with pytest.raises(MediaFileError, match="unknown video extension"):
            write_video(tmp_path / "w.xyz", _frames(), fps=5)
        bad = [_frames(t=1)[0], _frames(t=1, h=8)[0]]
        with pytest.raises(InputError, match="frame 1 has shape"):
            write_video(tmp_path / "w.mkv", bad, fps=5)
        assert not (tmp_path / "w.mkv").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
