"""The helpers every lab check uses (tinylm.grading.checks.common): student code called safely,
comparisons that say where and what, notes on exercises that build on earlier ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinylm.grading.checks import common


def _student_function(x):
    y = x + 1
    return y["key"]  # a bug: y is an int


def test_call_returns_what_the_student_code_returns():
    assert common.call(lambda a, b=0: a + b, 1, b=2, call="add(1, b=2)") == 3


def test_call_lets_not_implemented_through_unchanged():
    def stub(x):
        raise NotImplementedError("Exercise: replace this line with your code")

    with pytest.raises(NotImplementedError, match="^Exercise"):
        common.call(stub, 1, call="stub(1)")


def test_call_names_the_call_the_error_and_the_line_of_student_code():
    with pytest.raises(AssertionError) as info:
        common.call(_student_function, 1, call="student_function(1)")
    message = str(info.value)
    assert message.startswith("student_function(1) raised TypeError: ")
    assert "raised in _student_function, at line" in message
    assert "`return y[\"key\"]" in message


def test_call_adds_the_hint_for_its_error_type():
    def bad_shapes(a):
        return torch.ones(2, 3) @ torch.ones(2, 3)

    with pytest.raises(AssertionError) as info:
        common.call(bad_shapes, 1, call="bad_shapes(1)",
                    hints={RuntimeError: "weights are (out, in): use x @ w.T"})
    assert "raised RuntimeError" in str(info.value)
    assert str(info.value).endswith(". weights are (out, in): use x @ w.T")


def test_an_assert_in_student_code_is_reported_as_the_student_s():
    def asserting(x):
        assert x > 5, "x too small"

    with pytest.raises(AssertionError, match=r"^asserting\(1\) raised AssertionError: x too small"):
        common.call(asserting, 1, call="asserting(1)")


def test_a_check_failing_inside_student_code_keeps_its_own_message():
    # a check's callback (here common.fail itself) raising while the student's code runs
    def calls_back(callback):
        callback("the check's own message")

    with pytest.raises(AssertionError, match="^the check's own message$"):
        common.call(calls_back, common.fail, call="calls_back(callback)")


def test_expect_error():
    def raises_value_error(n):
        raise ValueError(n)

    common.expect_error(ValueError, raises_value_error, 0, call="f(0)", why="n must be >= 1")
    with pytest.raises(AssertionError, match=r"^f\(0\): expected a ValueError \(n must be >= 1\), "
                                             "got none$"):
        common.expect_error(ValueError, lambda n: n, 0, call="f(0)", why="n must be >= 1")
    with pytest.raises(AssertionError, match=r"got TypeError: .*raised in _student_function"):
        common.expect_error(ValueError, _student_function, 0, call="f(0)", why="n must be >= 1")


def test_builds_on_adds_its_note_only_when_the_earlier_exercise_is_wrong():
    with pytest.raises(AssertionError, match=r"^wrong \(note: fix Exercise 1 first\)$"):
        with common.builds_on(False, "fix Exercise 1 first"):
            common.fail("wrong")
    with pytest.raises(AssertionError, match="^wrong$"):
        with common.builds_on(True, "fix Exercise 1 first"):
            common.fail("wrong")
    with pytest.raises(AssertionError, match=r"^KeyError: 'x' \(note: fix"):
        with common.builds_on(False, "fix Exercise 1 first"):
            raise KeyError("x")
    with pytest.raises(NotImplementedError):
        with common.builds_on(False, "fix Exercise 1 first"):
            raise NotImplementedError("Exercise")
    assert common.passes(lambda: True) and not common.passes(lambda: 1 / 0)


def test_values_are_checked_for_type_shape_and_dtype():
    common.check_number(np.float32(0.5), "p()")
    with pytest.raises(AssertionError, match=r"p\(\): expected a float, got bool True"):
        common.check_number(True, "p()")
    with pytest.raises(AssertionError, match="did you forget `return`"):
        common.check_array(None, "f()", (2,))
    with pytest.raises(AssertionError, match=r"expected shape \(2,\), got \(3,\)"):
        common.check_array(np.zeros(3), "f()", (2,))
    with pytest.raises(AssertionError, match="expected dtype float32, got float64"):
        common.check_array(np.zeros(2), "f()", (2,), np.float32)
    with pytest.raises(AssertionError, match="returned None: did you forget `return`"):
        common.check_tensor(None, "g()", (2,))
    with pytest.raises(AssertionError, match=r"expected dtype torch.float32, got torch.float64"):
        common.check_tensor(torch.zeros(2, dtype=torch.float64), "g()", (2,))
    with pytest.raises(AssertionError, match=r"expected finite values, got inf at index \(1,\)"):
        common.check_tensor(torch.tensor([0.0, float("inf")]), "g()", (2,))
    common.check_tensor(torch.tensor([0.0, -float("inf")]), "g()", (2,), finite=False)


def test_compare_arrays_points_at_the_first_wrong_entry():
    common.compare_arrays(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), "f()", 0, 1e-8)
    with pytest.raises(AssertionError, match=r"^f\(\): 1 wrong values, for example at index "
                                             r"\(1,\): expected 2.000000, got 2.500000 \(hint\)$"):
        common.compare_arrays(np.array([1.0, 2.5]), np.array([1.0, 2.0]), "f()", 0, 1e-8,
                              hint="hint")


def test_compare_tensors_names_the_axes_a_known_mistake_and_the_right_positions():
    expected = torch.arange(12.0).view(1, 4, 3)
    got = expected.clone()
    got[0, 2:] += 1  # positions 2 and 3 are wrong
    with pytest.raises(AssertionError) as info:
        common.compare_tensors(got, expected, "f(x)", ("batch", "position", "channel"),
                               hints=[("a wrong guess", got - 1), ("the known mistake", got)],
                               position_note=True)
    message = str(info.value)
    assert message.startswith("f(x): 6 of 12 values differ, the first at batch 0, position 2, "
                              "channel 0: expected 6.000000, got 7.000000")
    assert "; positions 0 to 1 are right in every row (the known mistake)" in message
    common.compare_tensors(expected + 1e-6, expected, "f(x)")  # within 1e-5


def test_seeded_generators_repeat():
    assert common.numpy_rng(3).integers(0, 1000, 5).tolist() == (
        common.numpy_rng(3).integers(0, 1000, 5).tolist())
    assert torch.equal(torch.randn(4, generator=common.torch_rng(3)),
                       torch.randn(4, generator=common.torch_rng(3)))
