"""Diagrams of chapter 4 (decoding): one step of beam search.

`beam_step_candidates` does the step's bookkeeping by hand, on a table of next-token
probabilities small enough to check with a pencil; `beam_search_step` draws it: the beams with
their scores, every extension of every beam ranked by cumulative log-probability, the
shortlist of the best 2 x num_beams, and what becomes of each candidate (finished, kept,
pruned, or never looked at).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tinylm.book.diagrams import kit

STATUS_COLOR = {"finished": kit.GREEN, "kept": kit.BLUE, "pruned": kit.GREY, "unseen": kit.GREY}
BEAM_COLORS = [kit.TEAL, kit.PURPLE, kit.YELLOW, kit.RED]


def num(x: float) -> str:
    """A score with three decimals and a real minus sign."""
    return f"{x:.3f}".replace("-", "\u2212")


@dataclass
class StepCandidate:
    """One extension of one beam.

    beam:    index of the beam it extends; text: the beam's tokens and the new one, spaced
    logprob: ln p(token | beam); score: the beam's score + logprob
    rank:    1 for the best of all extensions
    status:  "finished" (ends with EOS and ranks among the first num_beams), "kept" (a beam of
             the next step), "pruned" (in the shortlist but neither) or "unseen" (below the
             shortlist: beam search never looks at it)
    final_score: score / generated_len ** length_penalty, if finished
    """

    beam: int
    token: str
    text: str
    prob: float
    logprob: float
    score: float
    rank: int
    status: str
    next_beam: int | None = None
    final_score: float | None = None


def beam_step_candidates(beams: Sequence[tuple[str, float]],
                         next_probs: Sequence[Mapping[str, float]], generated_len: int,
                         eos: str = "</s>", length_penalty: float = 1.0) -> list[StepCandidate]:
    """One step of beam search, by hand: every extension of every beam, best first.

    beams:       (text, score) of each running beam; text is its generated tokens, spaced
    next_probs:  for each beam, the probability of each next token (token -> p)
    generated_len: the number of generated tokens once this step's token is appended
    Ties keep the order of beams, then of tokens in ``next_probs``. (The finished hypotheses are
    assumed not yet full, as in the chapter's example.)
    """
    num_beams = len(beams)
    out = []
    for b, ((text, score), probs) in enumerate(zip(beams, next_probs, strict=True)):
        for token, p in probs.items():
            lp = math.log(p)
            out.append(StepCandidate(b, token, f"{text} {token}", p, lp, score + lp, 0, "unseen"))
    out.sort(key=lambda c: -c.score)  # stable: ties keep their order
    kept = 0
    for rank, c in enumerate(out, start=1):
        c.rank = rank
        if rank > 2 * num_beams:
            continue  # below the shortlist
        if c.token == eos:
            if rank <= num_beams:
                c.status = "finished"
                c.final_score = c.score / generated_len ** length_penalty
            else:
                c.status = "pruned"
        elif kept < num_beams:
            c.status, c.next_beam = "kept", kept
            kept += 1
        else:
            c.status = "pruned"
    return out


def beam_search_step(beams: Sequence[tuple[str, float]], next_probs: Sequence[Mapping[str, float]],
                     generated_len: int, eos: str = "</s>", length_penalty: float = 1.0,
                     ax=None) -> None:
    """Draw one step of beam search, as `beam_step_candidates` works it out.

    Left, the beams with their cumulative scores; middle, every extension of every beam ranked
    by its new score (beam score + ln p), the shortlist of the best 2 x num_beams above a dashed
    line; right, what becomes of each: finished (into the finished hypotheses, below, with its
    length-penalised score), kept (a beam of the next step), pruned, or never looked at.
    """
    cands = beam_step_candidates(beams, next_probs, generated_len, eos, length_penalty)
    num_beams, n = len(beams), len(cands)
    row_h, gap, cut = 1.0, 0.2, 0.75  # candidate box height, gap between rows, shortlist gap
    xb, wb = 0.0, 1.9  # beam boxes
    xc, wc = 2.55, 4.7  # candidate boxes
    xf = 7.5  # fate labels
    width = 9.95
    bottom = 1.9  # room for the finished hypotheses
    top = bottom + n * (row_h + gap) + cut  # the first row's top edge (headers above it)
    height = top + 0.95

    def row_y(rank: int) -> float:  # lower edge of a candidate's box
        y = top - rank * (row_h + gap) + gap
        return y - (cut if rank > 2 * num_beams else 0)

    fig, ax_ = kit.canvas(width, height, ax=ax)
    head = dict(fontsize=13, weight="bold", ha="left")
    kit.label(ax_, xb, top + 0.5, "beams", **head)
    kit.label(ax_, xc, top + 0.5, "extensions by score", **head)
    kit.label(ax_, xf, top + 0.5, "fate", **head)

    # the beams, level with the middle of their extensions
    beam_y = []
    for b, (text, score) in enumerate(beams):
        mid = sum(row_y(c.rank) for c in cands if c.beam == b) / len(next_probs[b]) + row_h / 2
        color = BEAM_COLORS[b % len(BEAM_COLORS)]
        kit.box(ax_, xb, mid - 0.65, wb, 1.3, "", color=color)
        kit.label(ax_, xb + wb / 2, mid + 0.25, text, fontsize=14, weight="bold")
        kit.label(ax_, xb + wb / 2, mid - 0.28, f"s = {num(score)}", fontsize=11.5)
        beam_y.append(mid)

    for c in cands:
        y = row_y(c.rank)
        unseen = c.status == "unseen"
        color = STATUS_COLOR[c.status]
        kit.arrow(ax_, (xb + wb, beam_y[c.beam]), (xc, y + row_h / 2),
                  color=BEAM_COLORS[c.beam % len(BEAM_COLORS)], width=1.1 if unseen else 1.6,
                  dashed=unseen)
        kit.box(ax_, xc, y, wc, row_h, "", color=color, filled=not unseen, dashed=unseen)
        ink = kit.MUTED if unseen else kit.INK
        kit.label(ax_, xc + 0.15, y + row_h * 0.7, f"{c.rank}. {c.text}", fontsize=13.5,
                  ha="left", color=ink, weight="normal" if unseen else "bold")
        kit.label(ax_, xc + 0.15, y + row_h * 0.27,
                  f"{num(beams[c.beam][1])} + ln {c.prob:g} = {num(c.score)}", fontsize=12,
                  ha="left", color=ink)
        if c.status == "kept":
            kit.label(ax_, xf, y + row_h * 0.7, "kept", fontsize=13.5, ha="left", color=color,
                      weight="bold")
            kit.label(ax_, xf, y + row_h * 0.27, f"as beam {c.next_beam}", fontsize=12,
                      ha="left")
        elif c.status in ("finished", "pruned"):
            kit.label(ax_, xf, y + row_h / 2, c.status, fontsize=13.5, ha="left",
                      color=color if c.status == "finished" else kit.MUTED, weight="bold")

    # the shortlist, and what lies below it
    line_y = row_y(2 * num_beams) - gap / 2 - cut / 2 + 0.12
    ax_.plot([xc - 0.25, width], [line_y, line_y], color=kit.INK, linestyle="--", linewidth=1.2)
    kit.label(ax_, xc + 0.1, line_y - 0.1, f"\u2191 the shortlist: the best 2B = {2 * num_beams}",
              fontsize=12, ha="left", va="top")
    unseen = [c for c in cands if c.status == "unseen"]
    if unseen:
        mid = (row_y(unseen[0].rank) + row_y(unseen[-1].rank) + row_h) / 2
        kit.label(ax_, xf, mid, "never\nlooked at", fontsize=13, ha="left", color=kit.MUTED,
                  style="italic", linespacing=1.3)

    # the finished hypotheses, below; each finished candidate joins them
    done = [c for c in cands if c.status == "finished"]
    kit.box(ax_, xc, 0.1, width - xc, 1.5, "", color=kit.GREEN)
    kit.label(ax_, xc + 0.2, 1.17, "finished hypotheses", fontsize=13, ha="left", weight="bold")
    length = f"{generated_len}" if length_penalty == 1 else f"{generated_len}^{length_penalty:g}"
    listed = ";  ".join(f"{c.text}: {num(c.score)} / {length} = {num(c.final_score)}"
                        for c in done) or "none yet"
    kit.label(ax_, xc + 0.2, 0.52, listed, fontsize=12.5, ha="left")
    for c in done:
        y = row_y(c.rank) + row_h / 2
        kit.arrow(ax_, (xf + 1.65, y), (width - 0.2, y), color=kit.GREEN, width=1.6, style="-")
        kit.arrow(ax_, (width - 0.2, y), (width - 0.2, 1.6), color=kit.GREEN, width=1.6)
    kit.finish(fig, ax)
