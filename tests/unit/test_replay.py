"""Episode replay: sampling at episode boundaries, eviction, files on disk, resume, to_torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from envs.episode import Episode
from envs.errors import UserError
from envs.replay import EpisodeReplay, EpisodeWriter, to_torch


def make_episode(number: int, transitions: int, *, pixels: bool = False) -> Episode:
    """An episode whose records say who they are: obs[t] = (number, t, ...), reward[t] = 1000 * number + t."""
    n = transitions + 1
    t = np.arange(n)
    if pixels:
        obs = np.zeros((n, 8, 8, 3), dtype=np.uint8)
        obs[:, 0, 0, 0] = number
        obs[:, 0, 0, 1] = t
    else:
        obs = np.stack([np.full(n, number), t, np.zeros(n)], axis=1).astype(np.float32)
    action = np.stack([t, -t], axis=1).astype(np.float32) / 100.0
    action[0] = 0.0
    reward = (1000.0 * number + t).astype(np.float32)
    reward[0] = 0.0
    terminated = np.zeros(n, dtype=bool)
    terminated[-1] = number % 2 == 0
    truncated = np.zeros(n, dtype=bool)
    truncated[-1] = not terminated[-1]
    is_first = t == 0
    return Episode(obs, action, reward, terminated, truncated, is_first)


def ids(batch_obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(episode number, t) of each record of a state batch (B, T, 3)."""
    return batch_obs[..., 0].astype(int), batch_obs[..., 1].astype(int)


def check_continuity(replay: EpisodeReplay, stored: list[int], lengths: dict[int, int]) -> None:
    """Sampled sequences follow the stored episodes in order; is_first exactly at starts; fields agree."""
    batch = replay.sample(256, 7)
    ep, t = ids(batch.obs)
    assert batch.obs.shape == (256, 7, 3)
    assert set(np.unique(ep)) <= set(stored)
    np.testing.assert_array_equal(batch.is_first, t == 0)
    same = (ep[:, 1:] == ep[:, :-1]) & (t[:, 1:] == t[:, :-1] + 1)
    order = {e: i for i, e in enumerate(stored)}
    nxt = np.vectorize(lambda a, b: order[b] == order[a] + 1)(ep[:, :-1], ep[:, 1:])
    crossing = nxt & (t[:, 1:] == 0) & (t[:, :-1] == np.vectorize(lambda e: lengths[e] - 1)(ep[:, :-1]))
    assert np.all(same | crossing), "a sequence skipped records or wrapped from the newest episode"
    nonfirst = t > 0
    np.testing.assert_array_equal(batch.reward[nonfirst], (1000 * ep + t)[nonfirst])
    np.testing.assert_array_equal(batch.reward[~nonfirst], 0.0)
    np.testing.assert_allclose(batch.action[..., 0], t / 100.0, rtol=1e-6)
    # terminated / truncated only on the last record of an episode.
    last = t == np.vectorize(lambda e: lengths[e] - 1)(ep)
    assert not batch.terminated[~last].any() and not batch.truncated[~last].any()
    np.testing.assert_array_equal(batch.terminated[last], ep[last] % 2 == 0)


def test_sampling_crosses_boundaries_with_is_first_at_starts() -> None:
    replay = EpisodeReplay(None, capacity=1000, seed=0)
    lengths = {}
    for number, transitions in enumerate([5, 1, 9, 3, 12]):
        replay.add(make_episode(number, transitions))
        lengths[number] = transitions + 1
    assert replay.steps == len(replay) == sum(lengths.values())
    assert replay.num_episodes == 5
    check_continuity(replay, [0, 1, 2, 3, 4], lengths)
    # Every stored record can be sampled, and sequences do cross boundaries.
    batch = replay.sample(2000, 4)
    ep, t = ids(batch.obs)
    assert {(int(a), int(b)) for a, b in zip(ep.ravel(), t.ravel(), strict=True)} == {
        (e, i) for e, n in lengths.items() for i in range(n)
    }
    assert batch.is_first[:, 1:].any()


def test_sample_types_and_too_few_steps() -> None:
    replay = EpisodeReplay(None, capacity=100, seed=0)
    with pytest.raises(ValueError, match="fewer than the sequence length"):
        replay.sample(4, 2)
    replay.add(make_episode(0, 4))
    with pytest.raises(ValueError, match="holds 5 steps, fewer than the sequence length 6"):
        replay.sample(4, 6)
    batch = replay.sample(3, 5)
    assert batch.obs.dtype == np.float32 and batch.action.shape == (3, 5, 2)
    assert batch.reward.dtype == np.float32 and batch.reward.shape == (3, 5)
    assert batch.is_first.dtype == bool and batch.terminated.dtype == bool and batch.truncated.dtype == bool
    # Only one full-length window exists: it must be the episode itself.
    np.testing.assert_array_equal(batch.obs[:, :, 1], np.tile(np.arange(5), (3, 1)))


def test_eviction_of_whole_oldest_episodes_and_ring_wrap() -> None:
    replay = EpisodeReplay(None, capacity=20, seed=1)
    lengths: dict[int, int] = {}
    stored: list[int] = []
    rng = np.random.default_rng(0)
    for number in range(30):
        transitions = int(rng.integers(1, 8))
        replay.add(make_episode(number, transitions))
        lengths[number] = transitions + 1
        stored.append(number)
        while sum(lengths[e] for e in stored) > 20:
            stored.pop(0)
        assert replay.num_episodes == len(stored)
        assert replay.steps == sum(lengths[e] for e in stored)
        if replay.steps >= 7:
            check_continuity(replay, stored, lengths)


def test_end_fraction_ends_sequences_at_falls_through_eviction_and_ring_wrap(tmp_path: Path) -> None:
    # even-numbered episodes terminate (falls), odd ones are truncated
    replay = EpisodeReplay(tmp_path, capacity=40, seed=0)
    lengths: dict[int, int] = {}
    stored: list[int] = []
    rng = np.random.default_rng(1)
    for number in range(40):
        transitions = int(rng.integers(2, 12))
        replay.add(make_episode(number, transitions))
        lengths[number] = transitions + 1
        stored.append(number)
        while sum(lengths[e] for e in stored) > 40:
            stored.pop(0)
        if replay.steps < 5 or not any(e % 2 == 0 for e in stored):
            continue
        batch = replay.sample(8, 5, end_fraction=0.5)
        ep, t = ids(batch.obs)
        for row in range(4):  # round(0.5 * 8) sequences end at a stored fall ...
            last = (int(ep[row, -1]), int(t[row, -1]))
            at_fall = last[0] % 2 == 0 and last[1] == lengths[last[0]] - 1
            # ... or, for a fall among the first 5 stored records, start at the oldest one and hold it
            held = (int(ep[row, 0]), int(t[row, 0])) == (stored[0], 0) and batch.terminated[row].any()
            assert at_fall or held, (number, row, last)
            assert last[0] in stored
    # a resumed replay finds its falls again
    loaded = EpisodeReplay(tmp_path, capacity=40, seed=0)
    loaded.load()
    assert loaded.sample(6, 3, end_fraction=1.0).terminated[:, -1].all()
    # no fall stored: uniform sampling
    truncated_only = EpisodeReplay(None, capacity=40, seed=0)
    truncated_only.add(make_episode(1, 9))
    assert not truncated_only.sample(4, 3, end_fraction=1.0).terminated.any()


def test_recent_fraction_draws_from_the_newest_records_through_eviction_and_ring_wrap() -> None:
    replay = EpisodeReplay(None, capacity=40, seed=0)
    plain, same = EpisodeReplay(None, capacity=40, seed=3), EpisodeReplay(None, capacity=40, seed=3)
    rng = np.random.default_rng(1)
    records: list[tuple[int, int]] = []  # (episode, t) of every stored record, oldest first
    newest_seen = 0
    for number in range(40):
        episode = make_episode(number, int(rng.integers(2, 12)))
        for r in (replay, plain, same):
            r.add(episode)
        records += [(number, t) for t in range(len(episode))]
        records = records[len(records) - replay.steps :]  # what eviction left
        if replay.steps < 5:
            continue
        # at 0 no draw is made: the batches are uniform sampling's
        a, b = plain.sample(8, 5), same.sample(8, 5, recent_fraction=0.0, recent_window=5)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        batch = replay.sample(8, 5, end_fraction=0.25, recent_fraction=0.5, recent_window=12)
        ep, t = ids(batch.obs)
        newest = records[-12:]
        for row in range(4, 8):  # round(0.5 * 8) sequences, the last of the batch: consecutive newest records
            seq = list(zip(ep[row].tolist(), t[row].tolist(), strict=True))
            first = newest.index(seq[0])
            assert seq == newest[first : first + 5], (number, row)
            newest_seen += seq[-1] == records[-1]
    assert newest_seen > 0  # the newest record itself is drawn
    with pytest.raises(ValueError, match="recent_window"):
        replay.sample(8, 5, recent_fraction=0.5, recent_window=4)


def test_episode_longer_than_capacity_and_mismatched_shapes() -> None:
    replay = EpisodeReplay(None, capacity=10, seed=0)
    with pytest.raises(UserError, match="does not fit"):
        replay.add(make_episode(0, 10))
    replay.add(make_episode(0, 3))
    with pytest.raises(ValueError, match="obs has shape"):
        replay.add(make_episode(1, 3, pixels=True))


def test_files_on_disk_and_resume(tmp_path: Path) -> None:
    directory = tmp_path / "episodes"
    replay = EpisodeReplay(directory, capacity=30, seed=0)
    lengths = {}
    for number in range(10):
        replay.add(make_episode(number, number + 1))
        lengths[number] = number + 2
    names = sorted(p.name for p in directory.iterdir())
    assert names == [f"{n:06d}-{n + 2}.npz" for n in range(10)]  # all kept, no temporary files
    stored = [e for e in range(10) if sum(lengths[k] for k in range(e, 10)) <= 30]
    assert replay.num_episodes == len(stored)

    resumed = EpisodeReplay(directory, capacity=30, seed=0)
    assert resumed.steps == 0
    assert resumed.load() == sum(lengths[e] for e in stored)
    assert resumed.num_episodes == len(stored)
    # The same seed samples the same batch from the same contents.
    a, b = replay.sample(8, 5), resumed.sample(8, 5)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    check_continuity(resumed, stored, lengths)
    # New episodes continue the numbering instead of overwriting files.
    resumed.add(make_episode(10, 2))
    assert (directory / "000010-3.npz").is_file()
    assert len(list(directory.iterdir())) == 11

    # A smaller capacity on resume loads only the newest episodes that fit.
    small = EpisodeReplay(directory, capacity=25, seed=0)
    assert small.load() == 3 + 11 + 10
    assert small.num_episodes == 3


def test_load_upto_a_checkpoint_sets_later_episodes_aside(tmp_path: Path) -> None:
    directory = tmp_path / "episodes"
    replay = EpisodeReplay(directory, capacity=100, seed=0)
    for number in range(6):
        replay.add(make_episode(number, 3))
    # a checkpoint had seen 4 episodes; the run was killed after writing two more
    resumed = EpisodeReplay(directory, capacity=100, seed=0)
    with pytest.warns(UserWarning, match="2 episode file"):
        assert resumed.load(upto=4) == 4 * 4
    assert resumed.num_episodes == 4 and resumed.episodes_added == 4
    assert sorted(p.name for p in (directory / "after-checkpoint").iterdir()) == [
        "000004-4.npz",
        "000005-4.npz",
    ]
    resumed.add(make_episode(4, 5))  # re-collected: takes index 4, nothing on disk collides
    assert sorted(p.name for p in directory.glob("*.npz"))[-1] == "000004-6.npz"
    assert EpisodeReplay(directory, capacity=100, seed=0).load() == 4 * 4 + 6


def test_unreadable_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    replay = EpisodeReplay(tmp_path, capacity=100, seed=0)
    for number in range(3):
        replay.add(make_episode(number, 4))
    (tmp_path / "000001-5.npz").write_bytes(b"not a zip file")
    (tmp_path / ".000003-5.npz.abc.tmp").write_bytes(b"left by a crash mid-write")
    resumed = EpisodeReplay(tmp_path, capacity=100, seed=0)
    assert not (tmp_path / ".000003-5.npz.abc.tmp").exists()  # stale temporary files are removed
    with pytest.warns(RuntimeWarning, match="000001-5.npz"):
        assert resumed.load() == 10
    batch = resumed.sample(64, 3)
    assert set(np.unique(batch.obs[..., 0])) == {0, 2}
    resumed.add(make_episode(3, 4))  # numbering continues after the newest file
    assert (tmp_path / "000003-5.npz").is_file()


def test_pixels_stay_uint8(tmp_path: Path) -> None:
    replay = EpisodeReplay(tmp_path, capacity=50, seed=0)
    for number in range(4):
        replay.add(make_episode(number, 6, pixels=True))
    batch = replay.sample(5, 9)
    assert batch.obs.dtype == np.uint8 and batch.obs.shape == (5, 9, 8, 8, 3)
    t = batch.obs[..., 0, 0, 1]
    np.testing.assert_array_equal(batch.is_first, t == 0)
    resumed = EpisodeReplay(tmp_path, capacity=50, seed=0)
    assert resumed.load() == 28
    assert resumed.sample(2, 3).obs.dtype == np.uint8


def test_state_dict_restores_sampling() -> None:
    replay = EpisodeReplay(None, capacity=100, seed=3)
    replay.add(make_episode(0, 50))
    state = replay.state_dict()
    a = replay.sample(4, 5)
    replay.load_state_dict(state)
    b = replay.sample(4, 5)
    np.testing.assert_array_equal(a.obs, b.obs)


def test_to_torch_keeps_dtypes_and_shapes() -> None:
    replay = EpisodeReplay(None, capacity=100, seed=0)
    replay.add(make_episode(0, 20, pixels=True))
    batch = replay.sample(4, 6)
    out = to_torch(batch, torch.device("cpu"))
    assert out.obs.dtype == torch.uint8 and out.obs.shape == (4, 6, 8, 8, 3)
    assert out.action.dtype == torch.float32 and out.action.shape == (4, 6, 2)
    assert out.reward.dtype == torch.float32 and out.reward.shape == (4, 6)
    for flag in (out.terminated, out.truncated, out.is_first):
        assert flag.dtype == torch.bool and flag.shape == (4, 6)
    # On CPU the tensors share memory with the sampled arrays (no copy).
    assert out.obs.data_ptr() == batch.obs.__array_interface__["data"][0]
    np.testing.assert_array_equal(out.reward.numpy(), batch.reward)


@pytest.mark.gpu
def test_to_torch_cuda() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    replay = EpisodeReplay(None, capacity=100, seed=0)
    replay.add(make_episode(0, 20))
    batch = replay.sample(4, 6)
    out = to_torch(batch, torch.device("cuda"))
    torch.cuda.synchronize()
    assert out.obs.is_cuda and out.is_first.dtype == torch.bool
    np.testing.assert_array_equal(out.obs.cpu().numpy(), batch.obs)


def test_episode_writer_numbers_after_existing_files_and_sets_later_ones_aside(tmp_path: Path) -> None:
    directory = tmp_path / "episodes"
    writer = EpisodeWriter(directory)
    paths = [writer.write(make_episode(n, 2 + n)) for n in range(3)]
    assert [p.name for p in paths] == ["000000-3.npz", "000001-4.npz", "000002-5.npz"]
    with np.load(paths[1]) as data:  # the replay's file format: the Episode's fields by name
        np.testing.assert_array_equal(data["reward"], make_episode(1, 3).reward)
    (directory / ".000003-9.npz.1234.tmp").write_bytes(b"half")  # a write cut short by a kill
    again = EpisodeWriter(directory)
    assert again.next_index == 3 and not list(directory.glob("*.tmp"))
    assert again.write(make_episode(3, 1)).name == "000003-2.npz"
    with pytest.warns(UserWarning, match="2 episode file"):
        assert again.set_aside(2) == 2
    assert again.next_index == 2 and [i for i, _, _ in again.files()] == [0, 1]
    assert EpisodeReplay(directory, capacity=100, seed=0).load() == 3 + 4
