"""Chapter 6's diagrams draw what the package does: the round of speculative decoding keeps what
``verify_greedy`` keeps, and the KV-cache rows have the lengths the package's own caches have
when a ``ModelDrafter`` drafts and both caches are cropped."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from _diagrams import by_gid, label_of  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from tinylm.book.diagrams import kit  # noqa: E402
from tinylm.book.diagrams import speculative as diagrams  # noqa: E402
from tinylm.generation import LogitsProcessorList  # noqa: E402
from tinylm.llama import Llama, LlamaConfig  # noqa: E402
from tinylm.speculative import Decoding, ModelDrafter, verify_greedy  # noqa: E402

CONTEXT = ["The", "cat", "sat"]
DRAFT = ["on", "the", "mat", "."]


def edge(patch) -> str:
    return to_hex(patch.get_edgecolor())


@pytest.mark.parametrize("target", [
    ["on", "the", "rug", "by", "a"],     # the third draft rejected
    ["in", "the", "mat", ".", "a"],      # the first rejected: later matches do not count
    ["on", "the", "mat", ".", "The"],    # all kept, and a bonus
])
def test_verify_by_hand_is_verify_greedy(target):
    words = sorted(set(DRAFT + target))
    ids = torch.tensor([words.index(w) for w in DRAFT])
    scores = torch.eye(len(words))[[words.index(w) for w in target]]  # the target's argmax
    accepted, token = verify_greedy(ids, scores)
    assert diagrams.verify_by_hand(DRAFT, target) == (accepted, words[token])


def test_verify_by_hand_wants_one_choice_per_draft_plus_one():
    with pytest.raises(ValueError, match="one choice per draft plus one"):
        diagrams.verify_by_hand(DRAFT, DRAFT)


def test_a_rejected_draft_is_replaced_and_the_rest_thrown_away(ax):
    assert diagrams.speculative_step(CONTEXT, DRAFT, ["on", "the", "rug", "by", "a"], ax=ax) is ax
    drafts = by_gid(ax, "draft:")
    assert [label_of(ax, drafts[f"draft:{i}"]) for i in range(4)] == DRAFT
    picks = by_gid(ax, "pick:")
    assert [label_of(ax, picks[f"pick:{i}"]) for i in range(5)] == [
        "on ✓", "the ✓", "rug ✗", "by", "a"]
    # each choice sits under the draft it checks; the last one is past every draft
    for i in range(4):
        assert picks[f"pick:{i}"].get_bbox().x0 == pytest.approx(drafts[f"draft:{i}"].get_bbox().x0)
    assert picks["pick:4"].get_bbox().x0 > drafts["draft:3"].get_bbox().x1
    assert [p.get_linestyle() == "--" for p in picks.values()] == [False] * 3 + [True] * 2
    kept = by_gid(ax, "kept:")
    assert [label_of(ax, kept[f"kept:{i}"]) for i in range(4)] == ["on", "the", "rug", "."]
    assert [edge(kept[f"kept:{i}"]) for i in range(3)] == [
        diagrams.KEPT, diagrams.KEPT, diagrams.TARGET_TOKEN]
    assert kept["kept:3"].get_linestyle() == "--"  # the draft after the rejected one
    assert "kept:4" not in kept  # no bonus
    assert any(t.get_text() == "not “mat”" for t in ax.texts)
    assert any(t.get_text() == "+3 tokens, 1 call" for t in ax.texts)


def test_when_every_draft_is_kept_the_bonus_follows(ax):
    diagrams.speculative_step(CONTEXT, DRAFT, ["on", "the", "mat", ".", "The"], ax=ax)
    kept = by_gid(ax, "kept:")
    assert [label_of(ax, kept[f"kept:{i}"]) for i in range(5)] == DRAFT + ["The"]
    assert [edge(kept[f"kept:{i}"]) for i in range(5)] == [diagrams.KEPT] * 4 + [diagrams.BONUS]
    assert edge(by_gid(ax, "pick:")["pick:4"]) == diagrams.BONUS
    assert any(t.get_text() == "+5 tokens, 1 call" for t in ax.texts)


def drawn_lengths(ax, rows: int) -> list[tuple[int, set[int]]]:
    """Per row: how many slots are filled (cached or new), and which of them are new."""
    out = []
    for r in range(rows):
        slots = by_gid(ax, f"slot:{r}:")
        filled = [g for g in slots if g.endswith((":cached", ":new"))]
        new = {int(g.split(":")[2]) for g in slots if g.endswith(":new")}
        assert sorted(int(g.split(":")[2]) for g in filled) == list(range(len(filled)))
        out.append((len(filled), new))
    return out


def tiny_llama(seed: int) -> Llama:
    config = LlamaConfig(vocab_size=16, dim=32, n_layers=1, n_heads=4, n_kv_heads=2,
                         ffn_hidden=64, max_seq_len=64)
    return Llama(config, seed=seed).eval()


@pytest.mark.parametrize("context, gamma, accepted", [(4, 4, 2), (3, 2, 0), (5, 3, 3)])
@torch.no_grad()
def test_cache_rows_have_the_lengths_of_the_packages_caches(ax, context, gamma, accepted):
    """One round as speculative_generate plays it, with the package's KVCache and ModelDrafter:
    the caches start one token short of the sequence; the drafter drafts gamma tokens; the
    target reads the last token and the drafts; both are cropped to context + accepted."""
    target, draft = tiny_llama(0), tiny_llama(1)
    sequence = torch.arange(1, context + 1)
    target_cache = target.new_cache(max_len=32)
    target(sequence[None, :-1], cache=target_cache)
    drafter = ModelDrafter(draft)
    drafter.reset(32)
    draft(sequence[None, :-1], cache=drafter.cache)
    greedy = Decoding(False, LogitsProcessorList(), None, ())
    tokens, _ = drafter.propose(sequence, gamma, greedy)
    draft_after = drafter.cache.length
    target(torch.cat([sequence[-1:], tokens])[None], cache=target_cache)
    target_after = target_cache.length
    target_cache.crop(context + accepted)
    drafter.rollback(context + accepted)

    diagrams.kv_rollback(context, gamma, accepted, ax=ax)
    rows = drawn_lengths(ax, 4)
    assert [n for n, _ in rows] == [target_after, target_cache.length, draft_after,
                                    drafter.cache.length]
    # what each call wrote: the target the last context token and every draft; the drafter
    # the last context token and every draft but the last
    assert rows[0][1] == set(range(context - 1, context + gamma))
    assert rows[2][1] == set(range(context - 1, context + gamma - 1))
    assert rows[1][1] == rows[3][1] == set()  # crop writes nothing
    cropped = by_gid(ax, "slot:1:")
    assert sum(g.endswith(":cropped") for g in cropped) == gamma - accepted
    assert all(edge(p) == kit.GREY and p.get_linestyle() == "--"
               for g, p in cropped.items() if g.endswith(":cropped"))
    lengths = {t.get_gid(): t.get_text() for t in ax.texts
               if (t.get_gid() or "").startswith("length:")}
    assert lengths["length:1"] == f"length {target_cache.length}"


def test_kv_rollback_refuses_impossible_rounds():
    with pytest.raises(ValueError, match="0 <= accepted <= gamma"):
        diagrams.kv_rollback(4, 2, 3)
