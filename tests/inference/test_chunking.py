import numpy as np
import pytest

from clearspeech.inference.chunking import ChunkPlan, aligned_grid, overlap_add, process_array


@pytest.mark.parametrize("total", [1, 99, 1000, 1234, 5000, 10_007])
@pytest.mark.parametrize("plan", [ChunkPlan(1000, 100, 40), ChunkPlan(400, 50, 0), ChunkPlan(256, 128, 128, grid=128)])
def test_identity_process_gives_back_the_signal_exactly(total, plan):
    signal = np.random.default_rng(total).standard_normal((total, 2)).astype(np.float32)
    np.testing.assert_allclose(process_array(signal, plan, lambda x: x), signal, rtol=0, atol=1e-6)


def test_cross_fades_are_complementary_and_centred_on_the_boundaries():
    # A process that returns its chunk's own index shows every output sample's weights.
    plan, total = ChunkPlan(1000, 100, 40), 3000
    reads = []

    def index_of_read(segment):
        reads.append(segment[0, 0])
        return np.full_like(segment, len(reads) - 1)

    signal = np.arange(total, dtype=np.float32)[:, None]
    out = process_array(signal, plan, index_of_read)[:, 0]
    assert reads == [0, 900, 1900]  # each chunk read from its start minus the context
    np.testing.assert_array_equal(out[:980], 0)
    np.testing.assert_array_equal(out[1020:1980], 1)
    assert np.all(np.diff(out[980:1020]) > 0) and abs(out[999] + out[1000] - 1.0) < 0.05


def test_reads_stay_bounded_and_move_forward():
    plan, total = ChunkPlan(16000, 4000, 1000), 16000 * 60 + 123
    spans = []

    def read(a, b):
        spans.append((a, b))
        return np.zeros((b - a, 1), dtype=np.float32)

    blocks = list(overlap_add(plan, total, read, lambda x: x))
    assert sum(len(b) for b in blocks) == total
    assert all(b - a <= 16000 + 2 * 4000 for a, b in spans)
    assert [a for a, _ in spans] == sorted(a for a, _ in spans)


@pytest.mark.parametrize(("rate", "grid"), [(16000, 128), (48000, 384), (44100, 1764), (8000, 64), (22050, 882)])
def test_grid_is_a_whole_number_of_model_hops(rate, grid):
    assert aligned_grid(rate, 16000, 128) == grid
    assert (grid * 16000) % rate == 0 and (grid * 16000 // rate) % 128 == 0


def test_seconds_round_onto_the_grid_and_bad_plans_are_refused():
    plan = ChunkPlan.from_seconds(44100, chunk=10.0, context=1.0, fade=0.25, grid=1764)
    assert plan.chunk % 1764 == 0 and plan.context % 1764 == 0 and plan.fade % 2 == 0
    with pytest.raises(ValueError, match="fade / 2 <= context"):
        ChunkPlan(1000, 10, 40)
    with pytest.raises(ValueError, match="chunk >= grid"):
        ChunkPlan(100, 10, 0, grid=128)
