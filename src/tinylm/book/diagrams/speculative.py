"""Chapter 6's diagrams: one round of speculative decoding, and the KV caches rolled back after it.

    from tinylm.book.diagrams import speculative as diagrams

    diagrams.speculative_step(context=["The", "cat", "sat"], draft=["on", "the", "mat", "."],
                              target=["on", "the", "rug", "by", "a"])
    diagrams.kv_rollback(context=4, gamma=4, accepted=2)

`speculative_step` is greedy verification drawn: the drafter proposes gamma tokens, the target
reads the last token and all of them in one call and names its own choice at each of the
gamma + 1 positions, and the round keeps the drafts up to the first disagreement plus the
target's token there (the bonus token when there is no disagreement). `kv_rollback` shows both
caches before and after ``crop``: the slots of rejected drafts are not erased, the cache's length
just moves back over them.

The colours are the acceptance dashboard's: kept drafts green, a rejected draft red, the target's
own token orange, a bonus token blue. Each function draws with `kit` on a fresh figure and shows
it (returning None), or into ``ax=`` (returning that axes). Parts carry a ``gid`` for the
tests: ``"draft:2"`` the third drafted token, ``"pick:2"`` the target's choice that checks it,
``"kept:2"`` what became of it; ``"slot:<row>:<i>:<state>"`` a cache slot.
"""

from __future__ import annotations

from collections.abc import Sequence

from tinylm.book.diagrams import kit

COL = 1.5  # one token column
LEFT = 0.05  # the token columns start here; each row's title sits above it
FONT = 18  # token labels: large, so that the diagrams read on a phone
KEPT, REJECTED, TARGET_TOKEN, BONUS = kit.GREEN, kit.RED, kit.ORANGE, kit.BLUE
DRAFTED, CONTEXT, TARGET_CALL = kit.YELLOW, kit.GREY, kit.TEAL


def verify_by_hand(draft: Sequence[str], target: Sequence[str]) -> tuple[int, str]:
    """Greedy verification on words: ``target`` holds the target's choice after the last
    context token and after each draft (gamma + 1 of them). Returns (accepted, token): the
    drafts that equal the target's choice, in a row from the first, and the target's token
    after them (a correction, or the bonus token when every draft was kept)."""
    if len(target) != len(draft) + 1:
        raise ValueError(f"the target makes one choice per draft plus one: {len(draft) + 1} "
                         f"for {len(draft)} drafts, got {len(target)}")
    accepted = 0
    while accepted < len(draft) and draft[accepted] == target[accepted]:
        accepted += 1
    return accepted, target[accepted]


def _done(fig, ax_, ax):
    kit.finish(fig, ax)
    return ax_ if ax is not None else None


def _token(ax, col: float, y: float, text: str, color: str, gid: str, dashed=False,
           filled=True, text_color=kit.INK, h=0.9, fontsize=FONT):
    x = LEFT + col * COL
    patch = kit.box(ax, x + 0.06, y, COL - 0.12, h, text, color=color, dashed=dashed,
                    filled=filled, text_color=text_color, fontsize=fontsize)
    patch.set_gid(gid)
    return patch


def _title(ax, y: float, title: str, note: str = ""):
    """A row's title, bold, with a note after it, just above the row at height y."""
    t = kit.label(ax, LEFT + 0.06, y + 1.3, title, ha="left", fontsize=FONT + 1,
                  fontweight="bold")
    if note:
        kit.label(ax, LEFT + 0.06 + 0.32 * len(title) + 0.25, y + 1.3, note, ha="left",
                  fontsize=FONT - 2, color=kit.MUTED)
    return t


def speculative_step(context: Sequence[str] = ("The", "cat", "sat"),
                     draft: Sequence[str] = ("on", "the", "mat", "."),
                     target: Sequence[str] = ("on", "the", "rug", "by", "a"), ax=None):
    """One round of speculative decoding with greedy verification, top to bottom.

    1. Draft: the drafter proposes ``draft`` (gamma tokens, one cheap call each) after
       ``context``.
    2. Verify: one target call reads the last context token and the gamma drafts; at each of
       those gamma + 1 positions it names its own next token (``target``), drawn under the
       draft it checks, ticked or crossed; the last one, past every draft, is the bonus.
    3. Keep: the drafts up to the first disagreement (green), the target's token in place of
       the rejected draft (orange), the rest thrown away (dashed); if every draft was kept,
       the bonus token (blue) follows them.
    """
    accepted, token = verify_by_hand(draft, target)
    gamma, n = len(draft), len(context)
    cols = n + gamma + 1
    width = LEFT + cols * COL + 0.1
    rows = {"draft": 8.6, "read": 5.75, "pick": 3.75, "keep": 0.75}
    fig, ax_ = kit.canvas(width, 10.5, ax=ax)
    row_h = 0.9

    # 1. the drafts after the context
    _title(ax_, rows["draft"], "1. draft", f"γ = {gamma} cheap calls, one token each")
    for i, word in enumerate(context):
        _token(ax_, i, rows["draft"], word, CONTEXT, f"context:{i}")
    for i, word in enumerate(draft):
        _token(ax_, n + i, rows["draft"], word, DRAFTED, f"draft:{i}")

    # 2. one target call over the last context token and the drafts
    _title(ax_, rows["read"] + 0.45, "2. verify", "one target call")
    x0 = LEFT + (n - 1) * COL + 0.06
    call = kit.box(ax_, x0, rows["read"], (gamma + 1) * COL - 0.12, 1.35, "", color=TARGET_CALL)
    call.set_gid("target-call")
    kit.label(ax_, x0 + 0.15, rows["read"] + 1.0, f"reads {gamma + 1} positions at once",
              ha="left", fontsize=FONT - 2)
    for i in range(gamma + 1):  # the token read at position i, and its choice one column on
        word = context[-1] if i == 0 else draft[i - 1]
        x = LEFT + (n - 1 + i) * COL + COL / 2
        kit.label(ax_, x, rows["read"] + 0.38, word, fontsize=FONT - 3, color=kit.MUTED)
        kit.arrow(ax_, (x, rows["read"]), (x + COL, rows["pick"] + row_h), color=TARGET_CALL,
                  width=1.4)
    for i, word in enumerate(target):
        if i < accepted:
            text, color, ink = f"{word} ✓", KEPT, kit.INK
        elif i == accepted and i < gamma:
            text, color, ink = f"{word} ✗", REJECTED, kit.INK
        elif i == gamma:
            text, color, ink = word, BONUS, kit.INK if accepted == gamma else kit.MUTED
        else:
            text, color, ink = word, kit.GREY, kit.MUTED
        wasted = i > accepted
        _token(ax_, n + i, rows["pick"], text, color, f"pick:{i}", dashed=wasted,
               filled=not wasted, text_color=ink)
    kit.label(ax_, LEFT + (n + gamma) * COL + COL / 2, rows["pick"] - 0.2, "bonus",
              fontsize=FONT - 3, color=BONUS, va="top")
    kit.label(ax_, LEFT + (n - 1) * COL + COL - 0.1, rows["pick"] + row_h / 2, "its choice:",
              fontsize=FONT - 3, color=kit.MUTED, ha="right")

    # 3. what the round keeps
    _title(ax_, rows["keep"], "3. keep", f"+{accepted + 1} tokens, 1 call")
    for i, word in enumerate(context):
        _token(ax_, i, rows["keep"], word, CONTEXT, f"kept-context:{i}")
    for i, word in enumerate(draft):
        if i < accepted:
            _token(ax_, n + i, rows["keep"], word, KEPT, f"kept:{i}")
        elif i == accepted:
            _token(ax_, n + i, rows["keep"], token, TARGET_TOKEN, f"kept:{i}")
            kit.label(ax_, LEFT + (n + i) * COL + COL / 2, rows["keep"] - 0.2,
                      f"not “{word}”", fontsize=FONT - 3, color=REJECTED, va="top")
        else:
            _token(ax_, n + i, rows["keep"], word, kit.GREY, f"kept:{i}", dashed=True,
                   filled=False, text_color=kit.MUTED)
    if accepted == gamma:
        _token(ax_, n + gamma, rows["keep"], token, BONUS, f"kept:{gamma}")
    return _done(fig, ax_, ax)


def kv_rollback(context: int = 4, gamma: int = 4, accepted: int = 2, ax=None):
    """Both KV caches in one round of ``speculative_generate``, one row of slots each time.

    The sequence has ``context`` tokens when the round starts, the last of them the target's
    own token of the previous round, which neither cache has read yet (after a round that kept
    every draft the draft's cache also lacks the one before it). Rows: the target's cache after
    the verify call (the last context token and every draft written); after
    ``crop(context + accepted)``; the draft's cache after drafting (every draft but the last,
    which nothing needed to read yet); after the same crop. Cropped slots stay where they are,
    dashed: the next call writes over them.
    """
    if not (isinstance(gamma, int) and gamma >= 1 and 0 <= accepted <= gamma and context >= 1):
        raise ValueError(f"need context >= 1, gamma >= 1 and 0 <= accepted <= gamma, got "
                         f"context={context}, gamma={gamma}, accepted={accepted}")
    slots = context + gamma
    width = LEFT + slots * COL + 0.1
    names = [f"c{i + 1}" for i in range(context)] + [f"d{i + 1}" for i in range(gamma)]
    draft_fed = context + gamma - 1
    rows = [  # (title, note, length after, length before this row's operation)
        ("target cache", "after the verify call", context + gamma, context - 1),
        ("target cache", f"crop({context} + {accepted})", context + accepted, context + gamma),
        ("draft cache", "after drafting", draft_fed, context - 1),
        ("draft cache", f"crop({context} + {accepted})", min(draft_fed, context + accepted),
         draft_fed),
    ]
    row_h, step, base = 0.9, 2.5, 0.75  # base: room for the last "length" label
    height = base + step * (len(rows) - 1) + 1.65
    fig, ax_ = kit.canvas(width, height, ax=ax)
    for r, (title, note, length, before) in enumerate(rows):
        y = base + step * (len(rows) - 1 - r)
        _title(ax_, y, title, note)
        cropping = "crop" in note
        for i in range(slots):
            if i < length:
                state = "new" if (not cropping and i >= before) else "cached"
                color = kit.ORANGE if state == "new" else kit.BLUE
                _token(ax_, i, y, names[i], color, f"slot:{r}:{i}:{state}")
            elif cropping and i < before:
                _token(ax_, i, y, names[i], kit.GREY, f"slot:{r}:{i}:cropped", dashed=True,
                       filled=False, text_color=kit.MUTED)
            else:
                _token(ax_, i, y, "", kit.GREY, f"slot:{r}:{i}:empty", dashed=True,
                       filled=False)
        x = LEFT + length * COL
        ax_.plot([x, x], [y - 0.2, y + row_h + 0.2], color=kit.INK, linewidth=2.5)
        kit.label(ax_, x + 0.08, y - 0.25, f"length {length}", fontsize=FONT - 4,
                  va="top", ha="left" if length < slots - 1 else "right").set_gid(f"length:{r}")
    return _done(fig, ax_, ax)
