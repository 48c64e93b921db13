"""sigkit.data Datasets: AudioFolderDataset over files, and the in-memory synthetic datasets."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from sigkit.data import AudioFolderDataset, SyntheticESCDataset, SyntheticSpeechDataset, find_audio_files
from sigkit.data.synth import ENV_CLASSES
from sigkit.errors import AudioFileError, DatasetError, InputError
from sigkit.io import save_audio


@pytest.fixture
def folder(tmp_path):
    ramp = torch.linspace(-0.5, 0.5, 1600)
    save_audio(tmp_path / "b" / "long.wav", torch.stack([ramp, -ramp]), 16000, subtype="float")
    save_audio(tmp_path / "a" / "short.flac", 0.25 * torch.ones(1, 400), 16000)
    (tmp_path / "notes.txt").write_text("not audio")
    return tmp_path


class TestAudioFolderDataset:
    def test_discovery_sorted_recursive(self, folder):
        assert [p.name for p in find_audio_files(folder)] == ["short.flac", "long.wav"]
        with pytest.raises(DatasetError, match="no audio files"):
            find_audio_files(folder, recursive=False)

    def test_whole_files_mono_and_channels(self, folder):
        ds = AudioFolderDataset(folder, mono=False)
        assert len(ds) == 2 and ds[0].shape == (1, 400) and ds[1].shape == (2, 1600)
        assert torch.allclose(AudioFolderDataset(folder)[1], torch.zeros(1, 1600), atol=1e-7)  # L + R cancel

    def test_segment_crop_and_pad(self, folder):
        ds = AudioFolderDataset(folder, segment=800, mono=False, random_crop=False)
        short, long = ds[0], ds[1]
        assert (
            short.shape == (1, 800)
            and torch.all(short[:, 400:] == 0)
            and torch.allclose(short[:, :400], torch.tensor(0.25), atol=1e-4)
        )
        ramp = torch.linspace(-0.5, 0.5, 1600)
        torch.testing.assert_close(long[0], ramp[:800])
        rnd = AudioFolderDataset(folder, segment=800, mono=False, random_crop=True)
        torch.manual_seed(0)
        starts = set()
        for _ in range(8):
            w = rnd[1][0]
            start = int(torch.argmin((ramp[:801] - w[0]).abs()))
            torch.testing.assert_close(w, ramp[start : start + 800])
            starts.add(start)
        assert len(starts) > 1

    def test_resample_and_paths(self, folder):
        ds = AudioFolderDataset(folder, sr=8000, return_path=True)
        wave, path = ds[1]
        assert wave.shape == (1, 800) and path.endswith("long.wav")

    def test_list_file(self, folder):
        lst = folder / "files.txt"
        lst.write_text("# utterances\nlong|b/long.wav\n\na/short.flac\n")
        ds = AudioFolderDataset(lst)
        assert [p.name for p in ds.files] == ["long.wav", "short.flac"] and ds[0].shape == (1, 1600)
        assert AudioFolderDataset([folder / "a" / "short.flac"])[0].shape == (1, 400)

    def test_batches_with_dataloader(self, folder):
        batch = next(iter(DataLoader(AudioFolderDataset(folder, segment=500), batch_size=2)))
        assert batch.shape == (2, 1, 500)

    def test_errors(self, tmp_path, folder):
        with pytest.raises(DatasetError, match=r"nowhere: no such folder or list file"):
            AudioFolderDataset(tmp_path / "nowhere")
        (tmp_path / "empty").mkdir()
        with pytest.raises(DatasetError, match="no audio files"):
            AudioFolderDataset(tmp_path / "empty")
        with pytest.raises(InputError, match="segment must be >= 1"):
            AudioFolderDataset(folder, segment=0)
        (folder / "b" / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
        ds = AudioFolderDataset(folder)
        with pytest.raises(AudioFileError, match=r"broken\.wav"):
            ds[1]


class TestSyntheticDatasets:
    def test_speech(self):
        ds = SyntheticSpeechDataset(5, sr=8000, seconds=0.5, seed=1, n_speakers=3)
        assert len(ds) == 5 and ds[0].shape == (1, 4000) and ds[0].dtype == torch.float32
        assert [ds.speaker(i) for i in range(5)] == ["p225", "p226", "p360", "p225", "p226"]
        again = SyntheticSpeechDataset(5, sr=8000, seconds=0.5, seed=1, n_speakers=3, cache=False)
        assert torch.equal(ds[4], again[4]) and torch.equal(ds[-1], ds[4])
        assert not torch.equal(
            ds[4], SyntheticSpeechDataset(5, sr=8000, seconds=0.5, seed=2, n_speakers=3)[4]
        )
        with pytest.raises(IndexError):
            ds[5]
        assert next(iter(DataLoader(ds, batch_size=4))).shape == (4, 1, 4000)

    def test_esc(self):
        ds = SyntheticESCDataset(2, sr=8000, seconds=0.5, seed=0)
        assert len(ds) == 2 * len(ENV_CLASSES) and ds.num_classes == len(ENV_CLASSES)
        assert ds.labels == [i // 2 for i in range(len(ds))] and ds.class_names == list(ENV_CLASSES)
        wave, label = ds[5]
        assert wave.shape == (1, 4000) and label == 2
        assert torch.equal(wave, SyntheticESCDataset(2, sr=8000, seconds=0.5, seed=0, cache=False)[5][0])
        waves, labels = next(iter(DataLoader(ds, batch_size=6)))
        assert waves.shape == (6, 1, 4000) and labels.tolist() == [0, 0, 1, 1, 2, 2]
        with pytest.raises(InputError, match="unknown classes"):
            SyntheticESCDataset(1, classes=["cat"])
        with pytest.raises(InputError, match="n_per_class"):
            SyntheticESCDataset(0)
