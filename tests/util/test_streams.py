import pytest
import torch

from depthrep._util.streams import MAX_SEED, MAX_STREAMS, STREAMS, generator, generator_seed
from depthrep.core.distances import shift
from depthrep.core.methods import get_method, start_image


def test_every_seed_and_stream_draws_its_own_numbers():
    draws = {
        (seed, stream): tuple(torch.randn(4, generator=generator(seed, stream)).tolist())
        for seed in range(100)
        for stream in range(10)
    }
    assert len(set(draws.values())) == len(draws)


def test_the_largest_seed_is_distinct_too():
    last = MAX_SEED - 1
    draws = {
        tuple(torch.randn(4, generator=generator(s, k)).tolist())
        for s in (0, last)
        for k in range(MAX_STREAMS)
    }
    assert len(draws) == 2 * MAX_STREAMS


def test_streams_are_named_once_and_fit():
    assert len(set(STREAMS)) == len(STREAMS) <= MAX_STREAMS
    assert all(generator_seed(3, name) == generator_seed(3, i) for i, name in enumerate(STREAMS))


def test_starts_and_shifts_keep_the_books_seeds():
    # Every figure of the book was drawn with these: changing them changes every number.
    assert generator_seed(7, "starts") == 14 and generator_seed(7, "shifts") == 15
    expected = torch.randn((1, 3, 4, 4), generator=torch.Generator().manual_seed(2 * 5 + 1))
    assert torch.equal(shift(torch.zeros(1, 3, 4, 4), sigma=1.0, seed=5), expected)
    m = get_method("adam")
    noise = torch.randn((1, 3, 4, 4), generator=torch.Generator().manual_seed(2 * 3))
    assert torch.equal(start_image((1, 3, 4, 4), seed=3), m.init_mean + m.init_std * noise)


@pytest.mark.parametrize("seed, stream", [(-1, 0), (2**27, 0), (0, MAX_STREAMS), (0, "no such stream")])
def test_out_of_range_pairs_are_refused(seed, stream):
    with pytest.raises(ValueError):
        generator(seed, stream)
