"""Records built for a whole batch at once say what one-by-one formatting would."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from consumer.records import iso_time, iso_times


@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(min_value=-1e10, max_value=3e11),
            st.floats(min_value=1.6e9, max_value=1.8e9),
            st.integers(min_value=1_600_000_000_000, max_value=1_800_000_000_000).map(
                lambda ms: ms / 1000 - 5e-7  # a fraction just below a half microsecond
            ),
        ),
        max_size=20,
    )
)
def test_times_formatted_for_a_batch_at_once_are_those_formatted_one_by_one(seconds):
    assert iso_times(np.array(seconds, dtype=np.float64)) == [iso_time(s) for s in seconds]
