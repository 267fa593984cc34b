"""Chapter 3b's diagrams draw what they say: one training step, its window read as inputs and
targets shifted by one, its stages in order with the schedule feeding AdamW; and a word coming
together from its bytes, one merge a row."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _diagrams import by_gid  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from tinylm import bpe  # noqa: E402
from tinylm.book.diagrams import kit  # noqa: E402
from tinylm.book.diagrams import training as diagrams  # noqa: E402


def centre(patch) -> tuple[float, float]:
    bb = patch.get_bbox()
    return (bb.x0 + bb.x1) / 2, (bb.y0 + bb.y1) / 2


def text_at(ax, xy) -> str:
    return next(t.get_text() for t in ax.texts if t.get_position() == pytest.approx(xy))


def test_diagrams_draw_into_the_given_axes_without_showing(ax, monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(True))
    assert diagrams.training_step(ax=ax) is ax
    ax.clear()
    assert diagrams.merge_steps([[b"a", b"b"], [b"ab"]], ["a + b"], ax=ax) is ax
    assert shown == []
    assert diagrams.training_step() is None  # on its own figure it shows it, returns nothing
    assert shown == [True]
    plt.close("all")


@pytest.mark.parametrize("window", [("<s>", "Once", "␣upon", "␣a", "␣time", ","),
                                    ("a", "b", "c")])
def test_targets_are_the_inputs_shifted_by_one(ax, window):
    diagrams.training_step(window, ax=ax)
    inputs, targets = by_gid(ax, "input:"), by_gid(ax, "target:")
    seq = len(window) - 1
    assert len(inputs) == len(targets) == seq
    for i in range(seq):
        box_in, box_out = inputs[f"input:{i}"], targets[f"target:{i}"]
        assert text_at(ax, centre(box_in)) == window[i]
        assert text_at(ax, centre(box_out)) == window[i + 1]  # the token after input i
        assert centre(box_in)[0] == pytest.approx(centre(box_out)[0])  # right under it
        assert centre(box_out)[1] < centre(box_in)[1]
    assert f"seq + 1 = {seq + 1} tokens" in by_gid(ax, "window-title")["window-title"].get_text()


def test_the_stages_of_a_step_in_order(ax):
    diagrams.training_step(ax=ax)
    stages = by_gid(ax, "stage:")
    order = ["model", "loss", "backward", "clip", "adamw"]
    assert sorted(stages) == sorted(f"stage:{s}" for s in order)
    heights = [centre(stages[f"stage:{s}"])[1] for s in order]
    assert heights == sorted(heights, reverse=True), "top to bottom: model ... AdamW"
    texts = [text_at(ax, centre(stages[f"stage:{s}"])) for s in order]
    for text, word in zip(texts, ["logits", "cross-entropy", "backward", "clip", "AdamW"],
                          strict=True):
        assert word in text
    assert "≤ 1" in texts[3]  # the zoo clips to norm 1
    # every stage is below the targets: the loss needs them
    lowest_target = min(centre(p)[1] for p in by_gid(ax, "target:").values())
    assert all(h < lowest_target for h in heights)
    # the schedule sits beside the stages, level with clipping and AdamW, and names its parts
    schedule = by_gid(ax, "schedule")["schedule"]
    text = text_at(ax, centre(schedule))
    assert "warm-up" in text and "cosine" in text
    assert centre(schedule)[0] > centre(stages["stage:adamw"])[0]
    assert heights[-1] < centre(schedule)[1] < heights[2]
    # the loop goes from AdamW back up to the top, to the next batch
    loop = by_gid(ax, "loop")["loop"]
    assert min(loop.get_ydata()) == pytest.approx(heights[-1])
    assert max(loop.get_ydata()) > max(centre(p)[1] for p in by_gid(ax, "input:").values())
    assert by_gid(ax, "next-batch")["next-batch"].get_text() == "next batch"


def test_a_window_needs_two_tokens():
    with pytest.raises(ValueError, match="at least 2 tokens"):
        diagrams.training_step(("<s>",))


def test_merge_steps_draw_each_token_as_wide_as_its_bytes(ax):
    tok = bpe.train_bpe(["low lower lowest newest widest"] * 3, 266, special_tokens=())
    steps = tok.merge_steps(" lowest")
    labels = [f"{diagrams.label(tok.vocab[a])} + {diagrams.label(tok.vocab[b])}"
              for a, b in tok.merges[: len(steps) - 1]]
    diagrams.merge_steps(steps, labels, ax=ax)
    for row, tokens in enumerate(steps):
        boxes = by_gid(ax, f"token:{row}:")
        assert len(boxes) == len(tokens)
        for i, token in enumerate(tokens):
            box = boxes[f"token:{row}:{i}"]
            assert text_at(ax, centre(box)) == token.decode().replace(" ", "\u2423")
            assert box.get_bbox().width == pytest.approx(len(token) - 0.08)
        # the token made at this step is the orange one
        new = [i for i in range(len(tokens))
               if to_hex(boxes[f"token:{row}:{i}"].get_edgecolor()) == kit.ORANGE]
        assert new == ([] if row == 0 else
                       [i for i, t in enumerate(tokens) if t not in steps[row - 1]])
    # rows run top to bottom, each named, with the merge it made
    ys = [centre(by_gid(ax, f"token:{r}:0")[f"token:{r}:0"])[1] for r in range(len(steps))]
    assert ys == sorted(ys, reverse=True)
    assert by_gid(ax, "step:0")["step:0"].get_text() == "bytes"
    assert by_gid(ax, "step:2")["step:2"].get_text() == "step 2"
    assert [by_gid(ax, f"merge:{r}")[f"merge:{r}"].get_text()
            for r in range(1, len(steps))] == labels


def test_merge_steps_refuse_steps_that_do_not_spell_the_same_bytes():
    with pytest.raises(ValueError, match="same bytes"):
        diagrams.merge_steps([[b"a", b"b"], [b"abc"]])
    with pytest.raises(ValueError, match="one merge label"):
        diagrams.merge_steps([[b"a", b"b"], [b"ab"]], ["x", "y"])
