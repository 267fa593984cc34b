"""What the checks of every lab share.

Each helper either returns quietly or raises AssertionError with a message written for the
student: the call that shows the problem, what was expected and what came back. The checks use
plain ``assert cond, message`` for one-line conditions, so they need Python without ``-O``.

- Calling student code: `call` and `expect_error`. An unsolved exercise's NotImplementedError
  always passes through unchanged (the grader and nbval recognise an unsolved lab by it).
- Values: `check_number`, `check_array`, `check_tensor` check type, shape, dtype (and that
  values are finite) before anything is compared.
- Comparisons: `compare_arrays` and `compare_tensors` stop at the first value out of tolerance
  and say where it is, how many differ, and which known mistake the result matches, if any.
- Exercises that build on earlier ones: `builds_on`.
- Random inputs from a seed: `numpy_rng` and `torch_rng`.
"""

from __future__ import annotations

import contextlib
import sys
import sysconfig
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

if sys.flags.optimize:  # `python -O` strips assert statements, and with them the checks
    raise RuntimeError("the lab checks need assert statements: run Python without -O")

ERROR_TEXT_LIMIT = 300  # characters of an exception's message quoted back to the student

# Frames from these folders are library code, not the student's: the standard library,
# site-packages and the tinylm package (the checks included).
_LIBRARY_DIRS = tuple(
    str(Path(p).resolve()) for p in {sysconfig.get_paths()[key]
                                     for key in ("stdlib", "platstdlib", "purelib", "platlib")}
) + (str(Path(__file__).resolve().parents[2]),)
_CHECKS_DIR = str(Path(__file__).resolve().parent)


def fail(message: str) -> NoReturn:
    """Stop the check with `message` for the student."""
    raise AssertionError(message)


# -- calling the student's code ------------------------------------------------------------------


def _in(filename: str, folders: Iterable[str]) -> bool:
    try:
        path = str(Path(filename).resolve())
    except (OSError, ValueError):
        return False
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in folders)


def _student_line(exc: BaseException) -> str:
    """Where in the student's code `exc` was raised: the innermost frame outside the libraries
    (named after the function around it when that frame is a comprehension or a lambda)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)[1:]  # [0]: the checker's call
              if not _in(f.filename, _LIBRARY_DIRS)]
    if not frames:
        return ""
    frame = frames[-1]
    named = next((f.name for f in reversed(frames)
                  if f.filename == frame.filename and not f.name.startswith("<")), frame.name)
    line = (frame.line or "").strip()
    code = f" `{line}`" if line else ""
    return f" (raised in {named}, at line {frame.lineno} of its cell:{code})"


def _from_checks(exc: BaseException) -> bool:
    """True if a check raised `exc` (a check's callback running inside the student's code)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and _in(frames[-1].filename, [_CHECKS_DIR])


def error_text(exc: BaseException) -> str:
    """"<Type>: <message>" of an exception from the student's code, and where it was raised."""
    text = str(exc).strip().rstrip(".")
    if len(text) > ERROR_TEXT_LIMIT:
        text = text[: ERROR_TEXT_LIMIT - 3].rstrip() + "..."
    return type(exc).__name__ + (f": {text}" if text else "") + _student_line(exc)


def describe_error(call_text: str, exc: BaseException, hint: str = "") -> str:
    """"<call> raised <Type>: <message>", where it happened, and a hint if there is one."""
    return f"{call_text} raised {error_text(exc)}" + (f". {hint}" if hint else "")


def call(fn: Callable, *args: Any, call: str,
         hints: dict[type[BaseException], str] | None = None, **kwargs: Any) -> Any:
    """Return ``fn(*args, **kwargs)``, the student's code at work.

    NotImplementedError (an unsolved exercise) passes through unchanged. Any other exception
    becomes an AssertionError naming `call` (how the student would write the call), the exception,
    and the line of the student's code it came from; `hints` adds advice for exception types
    that usually mean one known mistake (a RuntimeError from torch is most often a shape).
    """
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except AssertionError as exc:
        if _from_checks(exc):
            raise
        raise AssertionError(describe_error(call, exc)) from exc
    except Exception as exc:
        hint = next((text for kind, text in (hints or {}).items() if isinstance(exc, kind)), "")
        raise AssertionError(describe_error(call, exc, hint)) from exc


def expect_error(error: type[BaseException], fn: Callable, *args: Any, call: str,
                 why: str) -> None:
    """``fn(*args)`` must raise `error` (`why` says why); anything else is reported."""
    try:
        fn(*args)
    except NotImplementedError:  # an unsolved exercise, even where `error` is a RuntimeError
        raise
    except error:
        return
    except Exception as exc:
        fail(f"{call}: expected a {error.__name__} ({why}), got {error_text(exc)}")
    fail(f"{call}: expected a {error.__name__} ({why}), got none")


@contextlib.contextmanager
def builds_on(earlier_ok: bool, note: str) -> Iterator[None]:
    """Run checks of an exercise that builds on an earlier one.

    When the earlier exercise is still wrong (`earlier_ok` False), a failure here may be its
    fault: the message then ends with `note`, which says so and which exercise to fix first.
    NotImplementedError passes through unchanged.
    """
    try:
        yield
    except Exception as exc:
        if earlier_ok or isinstance(exc, NotImplementedError):
            raise
        what = str(exc) if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {exc}"
        raise AssertionError(f"{what} (note: {note})") from exc


def passes(fn: Callable[[], Any]) -> bool:
    """True if ``fn()`` returns a truthy value without raising: for probes of earlier exercises."""
    try:
        return bool(fn())
    except Exception:
        return False


# -- random inputs from a seed -------------------------------------------------------------------


def numpy_rng(seed: int) -> np.random.Generator:
    """NumPy's generator for `seed`: the same random inputs on every run."""
    return np.random.default_rng(seed)


def torch_rng(seed: int):
    """A torch.Generator seeded with `seed`: the same random tensors on every run."""
    import torch

    return torch.Generator().manual_seed(seed)


# -- values --------------------------------------------------------------------------------------


def is_number(value: Any) -> bool:
    """An int or float, from Python or NumPy; a bool is not a number here."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_number(got: Any, call: str) -> None:
    assert is_number(got), f"{call}: expected a float, got {type(got).__name__} {got!r}"


def rounded(values: Iterable[float], digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in values]


def as_int(value: Any, what: str) -> int:
    """An int (Python or NumPy, not a bool), or fail saying what came back."""
    import torch

    if isinstance(value, torch.Tensor):
        fail(f"{what}: expected a Python int, got a tensor {value!r}: turn it into an int with "
             "int(...)")
    assert isinstance(value, (int, np.integer)) and not isinstance(value, bool), (
        f"{what}: expected an int, got {type(value).__name__} {value!r}"
        + ("; did you forget `return`?" if value is None else ""))
    return int(value)


def check_array(got: Any, call: str, shape: tuple, dtype: Any = None) -> None:
    """`got` is a NumPy array of `shape` (and `dtype`, if given)."""
    assert isinstance(got, np.ndarray), (
        f"{call}: expected a NumPy array, got {type(got).__name__}; did you forget `return`?")
    assert got.shape == tuple(shape), f"{call}: expected shape {tuple(shape)}, got {got.shape}"
    if dtype is not None:
        assert got.dtype == dtype, f"{call}: expected dtype {np.dtype(dtype)}, got {got.dtype}"


def check_tensor(got: Any, call: str, shape: Sequence[int], dtype: Any = "float32",
                 finite: bool = True) -> None:
    """`got` is a torch.Tensor of `shape` and `dtype` (default float32; None: any), and, if it
    holds floats and `finite` is set, has no inf or nan."""
    import torch

    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    assert got is not None, f"{call} returned None: did you forget `return`?"
    assert isinstance(got, torch.Tensor), (
        f"{call}: expected a torch.Tensor, got {type(got).__name__}")
    assert tuple(got.shape) == tuple(shape), (
        f"{call}: expected shape {tuple(shape)}, got {tuple(got.shape)}")
    if dtype is not None:
        assert got.dtype == dtype, f"{call}: expected dtype {dtype}, got {got.dtype}"
    if finite and got.is_floating_point() and not torch.isfinite(got).all():
        at = tuple((~torch.isfinite(got)).nonzero()[0].tolist())
        fail(f"{call}: expected finite values, got {got[at].item()} at index {at}")


# -- comparisons ---------------------------------------------------------------------------------


def compare_arrays(got: np.ndarray, expected: np.ndarray, call: str, rtol: float, atol: float,
                   what: str = "values", digits: int = 6, hint: str = "") -> None:
    """Equal within ``np.isclose(rtol, atol)`` (0 and 0: exactly equal), or fail at the first
    entry that is not, adding `hint` in brackets."""
    wrong = np.argwhere(~np.isclose(got, expected, rtol=rtol, atol=atol))
    if wrong.size:
        at = tuple(int(i) for i in wrong[0])
        fail(f"{call}: {len(wrong)} wrong {what}, for example at index {at}: expected "
             f"{float(expected[at]):.{digits}f}, got {float(got[at]):.{digits}f}"
             + (f" ({hint})" if hint else ""))


def compare_tensors(got, expected, call: str, axes: Sequence[str] | None = None,
                    hints: Iterable[tuple[str, Any]] = (), rtol: float = 1e-5,
                    atol: float = 1e-5, position_note: bool = False) -> None:
    """Equal within ``torch.isclose(rtol, atol)``, or fail at the first value that is not.

    `axes` names the dimensions in the message ("batch 1, position 3, channel 0"). `hints` are
    (advice, tensor) pairs: what known wrong versions would give; when `got` matches one (and the
    right answer does not), its advice is added. With `position_note`, the message also says up
    to which position every row is still right (useful when a mistake starts at some position).
    """
    import torch

    close = torch.isclose(got, expected, rtol=rtol, atol=atol)
    if close.all():
        return
    at = tuple((~close).nonzero()[0].tolist())
    where = (", ".join(f"{axis} {i}" for axis, i in zip(axes, at, strict=False)) if axes
             else f"index {at}")
    message = (f"{call}: {int((~close).sum())} of {got.numel()} values differ, the first at "
               f"{where}: expected {expected[at].item():.6f}, got {got[at].item():.6f}")
    if position_note and axes and "position" in axes:
        p = list(axes).index("position")
        right = close.transpose(0, p).flatten(1).all(1)  # one flag per position
        first_wrong = int((~right).nonzero()[0])
        message += ("; position 0 is already wrong" if first_wrong == 0 else
                    "; position 0 is right in every row" if first_wrong == 1 else
                    f"; positions 0 to {first_wrong - 1} are right in every row")
    for hint, variant in hints:
        if (variant.shape == got.shape and torch.allclose(got, variant, rtol=rtol, atol=atol)
                and not torch.allclose(expected, variant, rtol=rtol, atol=atol)):
            message += f" ({hint})"
            break
    fail(message)
