"""Chapter 3's diagrams draw what they say: the decoder's layers in order, RoPE's angles, which
query heads share which key/value head, and a KV cache that grows by one column per step."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _diagrams import by_gid  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

from tinylm.book.diagrams import kit  # noqa: E402
from tinylm.book.diagrams import llama as diagrams  # noqa: E402


def centre(patch) -> tuple[float, float]:
    if isinstance(patch, Circle):
        return patch.center
    bb = patch.get_bbox()
    return (bb.x0 + bb.x1) / 2, (bb.y0 + bb.y1) / 2


def text_at(ax, xy) -> str:
    return next(t.get_text() for t in ax.texts if t.get_position() == pytest.approx(xy))


def test_diagrams_draw_into_the_given_axes_without_showing(ax, monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(True))
    for draw in (diagrams.decoder_block, diagrams.rope_rotation, diagrams.head_sharing,
                 diagrams.kv_cache):
        ax.clear()
        assert draw(ax=ax) is ax
        assert ax.patches and ax.texts
    assert shown == []
    assert diagrams.kv_cache() is None  # on its own figure it shows it, and returns nothing
    assert shown == [True]
    plt.close("all")


def test_decoder_block_is_prenorm_in_order(ax):
    diagrams.decoder_block(ax=ax)
    boxes = by_gid(ax, "")
    order = ["embedding", "norm:attention", "attention", "add:attention", "norm:ffn", "ffn",
             "add:ffn", "norm:final", "head"]
    heights = [centre(boxes[g])[1] for g in order]
    assert heights == sorted(heights), "bottom to top: embedding ... LM head"
    labels = {g: text_at(ax, centre(boxes[g])) for g in order if not g.startswith("add")}
    assert labels == {"embedding": "Embedding", "norm:attention": "RMSNorm",
                      "attention": "Attention\nwith RoPE", "norm:ffn": "RMSNorm",
                      "ffn": "SwiGLU\nfeed-forward", "norm:final": "RMSNorm",
                      "head": "LM head (linear)"}
    # the repeated part holds the two sub-layers and their additions, not the head
    frame = boxes["layers"].get_bbox()
    for g in order[1:7]:
        assert frame.y0 < heights[order.index(g)] < frame.y1, g
    for g in ("embedding", "norm:final", "head"):
        assert not frame.y0 < heights[order.index(g)] < frame.y1, g
    assert boxes["repeat"].get_text() == "N ×"
    # each residual leaves the stream below its RMSNorm and comes back at its addition
    for sub in ("attention", "ffn"):
        ys = boxes[f"residual:{sub}"].get_ydata()
        assert min(ys) < heights[order.index(f"norm:{sub}")]
        assert max(ys) == pytest.approx(boxes[f"add:{sub}"].center[1])
    ax.clear()
    diagrams.decoder_block(n_layers="32", ax=ax)
    assert by_gid(ax, "repeat")["repeat"].get_text() == "32 ×"


@pytest.mark.parametrize(("positions", "theta"), [(((2, 0), (5, 3)), 30.0),
                                                  (((1, 0), (4, 3), (7, 6)), 20.0)])
def test_rope_rotation_keeps_the_angle_for_the_same_distance(ax, positions, theta):
    q0, k0 = 10.0, 50.0
    diagrams.rope_rotation(positions, theta_deg=theta, q_deg=q0, k_deg=k0, ax=ax)
    parts = by_gid(ax, "")
    gaps = []
    for p, (m, n) in enumerate(positions):
        cx, cy = parts[f"circle:{p}"].center

        def angle(gid, cx=cx, cy=cy):
            x, y = parts[gid].get_position()
            return math.degrees(math.atan2(y - cy, x - cx)) % 360

        # the query is turned by m * theta, the key by n * theta: the angle grows with position
        assert angle(f"q:{p}") == pytest.approx((q0 + m * theta) % 360)
        assert angle(f"k:{p}") == pytest.approx((k0 + n * theta) % 360)
        gap = (angle(f"q:{p}") - angle(f"k:{p}")) % 360
        gaps.append(gap)
        arc = parts[f"angle:{p}"]
        assert arc.theta2 - arc.theta1 == pytest.approx(min(gap, 360 - gap))
        assert f"m = {m}" in text_at(ax, (cx, 5.2)) and f"n = {n}" in text_at(ax, (cx, 5.2))
        assert parts[f"angle-label:{p}"].get_text() == \
            f"angle between: {abs(k0 - q0 - (m - n) * theta):g}°"
    assert gaps == pytest.approx([gaps[0]] * len(positions)), "same m - n, same angle"


@pytest.mark.parametrize(("n_heads", "kv_heads"), [(8, (8, 2, 1)), (4, (4, 1)), (6, (3,))])
def test_head_sharing_joins_each_query_head_to_its_group(ax, n_heads, kv_heads):
    diagrams.head_sharing(n_heads, kv_heads, ax=ax)
    for row, kv in enumerate(kv_heads):
        queries, keys = by_gid(ax, f"q:{row}:"), by_gid(ax, f"kv:{row}:")
        links = by_gid(ax, f"link:{row}:")
        assert len(queries) == n_heads and len(keys) == kv
        group = n_heads // kv
        # every query head reads exactly one key/value head: the one of its group, whose colour
        # it has, and which is drawn below the query heads it serves
        assert sorted(links) == sorted(f"link:{row}:{i}:{i // group}" for i in range(n_heads))
        for i in range(n_heads):
            q, k = queries[f"q:{row}:{i}"], keys[f"kv:{row}:{i // group}"]
            assert to_hex(q.get_edgecolor()) == to_hex(k.get_edgecolor())
            assert centre(k)[1] < centre(q)[1]
            xs = links[f"link:{row}:{i}:{i // group}"].get_xdata()
            assert xs == pytest.approx([centre(q)[0], centre(k)[0]])
        colours = {to_hex(k.get_edgecolor()) for k in keys.values()}
        assert len(colours) == kv, "groups are told apart by colour"
        title = by_gid(ax, f"title:{row}")[f"title:{row}"].get_text()
        name = "MHA" if kv == n_heads else "MQA" if kv == 1 else "GQA"
        assert title.startswith(f"{name}: {n_heads} query heads") and f" {kv} key/value" in title
        saving = by_gid(ax, f"saving:{row}")[f"saving:{row}"].get_text()
        heads = f"{kv} key/value head{'s' if kv > 1 else ''} per token"
        assert saving == (f"cache: {heads}" if kv == n_heads else
                          f"cache: {heads}, {group}× smaller")
        assert {text_at(ax, centre(b)) for b in queries.values()} == {"q"}
        assert {text_at(ax, centre(b)) for b in keys.values()} == {"kv"}


def test_head_sharing_rejects_groups_that_do_not_divide(ax):
    with pytest.raises(ValueError, match="divide"):
        diagrams.head_sharing(8, (3,), ax=ax)


def test_kv_cache_grows_one_column_per_step(ax):
    prompt, generated = ["Once", "upon", "a", "time"], [",", "there", "was"]
    diagrams.kv_cache(prompt, generated, ax=ax)
    tokens = prompt + generated
    for row in range(1 + len(generated)):
        keys, values = by_gid(ax, f"k:{row}:"), by_gid(ax, f"v:{row}:")
        filled = len(prompt) + row
        assert len(keys) == len(values) == filled, "one key and one value per token so far"
        new = sorted(int(g.split(":")[2]) for g in keys if g.endswith(":new"))
        # prefill writes the whole prompt; each step appends exactly the newest token
        assert new == (list(range(len(prompt))) if row == 0 else [filled - 1])
        for g, patch in keys.items():
            assert to_hex(patch.get_edgecolor()) == (kit.ORANGE if g.endswith(":new")
                                                     else kit.BLUE)
        shown = [by_gid(ax, f"token:{row}:{c}")[f"token:{row}:{c}"].get_text()
                 for c in range(filled)]
        assert shown == tokens[:filled]
        note = by_gid(ax, f"note:{row}")[f"note:{row}"].get_text()
        if row == 0:
            assert f"all {len(prompt)} tokens at once" in note
        else:  # the new token's query reads every cached key, its own included
            assert note == f"query of “{tokens[filled - 1]}” attends to all {filled} keys"
    # rows go down the page in order
    ys = [by_gid(ax, f"row:{r}")[f"row:{r}"].get_position()[1] for r in range(4)]
    assert ys == sorted(ys, reverse=True)
