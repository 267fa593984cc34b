// The BPE merge viewer: any text, split into tokens as a byte-pair encoder applies its merges
// one at a time. The state (see bpe_merges.py) is the tokenizer itself: the id of each byte and
// the merges in rank order, each (left id, right id, id of the token it makes). Here the text is
// cut into pieces with the pre-tokenizer's pattern, each piece becomes its UTF-8 bytes, and at
// every step the merge of lowest rank found anywhere is applied wherever it occurs (as
// tinylm.bpe.BPETokenizer.merge_steps does), until no adjacent pair of tokens is a merge.
import { esc, html } from "./common.js";

const KEY = 2 ** 21;  // the pair (a, b) is looked up as a * KEY + b: ids below 2**21
const SHOWN = { " ": "\u2423", "\n": "\u21b5", "\t": "\u21e5", "\r": "\u240d" };
const COLOURS = 5;  // chips cycle through this many background colours (bpe_merges.css)
const PLAY_MS = 700;

// A token's bytes as a chip shows them: UTF-8 characters as themselves (a space as ␣, a newline
// as ↵, a tab as ⇥, a carriage return as ␍), other control characters and the bytes of a
// character cut in two as \xNN. tinylm.widgets.bpe_merges.token_label writes the same.
const strict = new TextDecoder("utf-8", { fatal: true });
const hex = (b) => "\\x" + b.toString(16).padStart(2, "0");
function tokenLabel(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length;) {
    const lead = bytes[i];
    const n = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef
      ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    let char = null;
    if (n && i + n <= bytes.length) {
      try { char = strict.decode(bytes.subarray(i, i + n)); } catch { char = null; }
    }
    if (char === null) { out += hex(lead); i += 1; continue; }
    const code = char.codePointAt(0);
    if (char in SHOWN) out += SHOWN[char];
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) {
      out += Array.from(bytes.subarray(i, i + n), hex).join("");
    } else out += char;
    i += n;
  }
  return out;
}

// The tokenizer: rank of each merge by its pair, and the bytes of every token.
function tokenizer(data) {
  const rank = new Map(), bytes = new Map(), merges = [];
  data.byte_ids.forEach((id, b) => bytes.set(id, Uint8Array.of(b)));
  for (let k = 0; 3 * k < data.merges.length; k++) {
    const [a, b, made] = data.merges.slice(3 * k, 3 * k + 3);
    merges.push([a, b, made]);
    if (!rank.has(a * KEY + b)) rank.set(a * KEY + b, k);
    if (!bytes.has(made)) {
      const left = bytes.get(a), right = bytes.get(b), joined = new Uint8Array(left.length + right.length);
      joined.set(left);
      joined.set(right, left.length);
      bytes.set(made, joined);
    }
  }
  return { rank, bytes, merges, label: (id) => tokenLabel(bytes.get(id)) };
}

// Every step for `text`: step 0 is the bytes; step k applies the merge of lowest rank found in
// step k - 1 wherever it occurs, left to right. Each step: the pieces (lists of ids), the merge
// (null at step 0), how many times it was applied and where the new tokens stand.
function mergeSteps(text, data, tok) {
  const encoder = new TextEncoder();
  const pieces = text.match(new RegExp(data.pattern, "gu")) || [];
  let words = pieces.map((p) => Array.from(encoder.encode(p), (b) => data.byte_ids[b]));
  const steps = [{ words, merge: null, fresh: new Set() }];
  for (;;) {
    let best = -1;
    for (const w of words) {
      for (let i = 0; i + 1 < w.length; i++) {
        const r = tok.rank.get(w[i] * KEY + w[i + 1]);
        if (r !== undefined && (best < 0 || r < best)) best = r;
      }
    }
    if (best < 0) return steps;
    const [a, b, made] = tok.merges[best];
    const fresh = new Set();
    let count = 0, position = 0;
    words = words.map((w) => {
      const out = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          fresh.add(position + out.length);
          out.push(made);
          i++;
          count++;
        } else out.push(w[i]);
      }
      position += out.length;
      return out;
    });
    steps.push({ words, merge: { rank: best, left: a, right: b, made, count }, fresh });
  }
}

function render({ model, el }) {
  const data = model.get("data");
  const tok = tokenizer(data);
  const nShown = data.merges.length / 3;
  const root = html("div", "tinylm-widget tinylm-bpe-merges", undefined, el);
  if (data.title) html("div", "tbm-title", data.title, root);
  const textLabel = html("label", "tbm-text-label", "Text ", root);
  const input = html("textarea", "tbm-text", undefined, textLabel);
  input.rows = 2;
  input.maxLength = data.max_chars;
  input.spellcheck = false;
  input.value = data.text;

  const controls = html("div", "tbm-controls", undefined, root);
  const prev = html("button", "tbm-prev", "\u25c0", controls);
  prev.type = "button";
  prev.title = "one merge back";
  prev.setAttribute("aria-label", prev.title);
  const slider = html("input", "tbm-step", undefined, controls);
  slider.type = "range";
  slider.min = 0;
  slider.setAttribute("aria-label", "merges applied");
  const next = html("button", "tbm-next", "\u25b6", controls);
  next.type = "button";
  next.title = "one merge on";
  next.setAttribute("aria-label", next.title);
  const play = html("button", "tbm-play", "play", controls);
  play.type = "button";
  const stepText = html("span", "tbm-step-value", "", controls);

  const mergeLine = html("div", "tbm-merge", "", root);
  mergeLine.setAttribute("aria-live", "polite");
  const chips = html("div", "tbm-chips", undefined, root);
  const summary = html("div", "tbm-summary", "", root);
  html("div", "tbm-history-title", "merges applied to this text, in order (click one):", root);
  const history = html("ol", "tbm-history", undefined, root);
  history.start = 1;

  let steps = [], timer = null;

  function stop() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    play.textContent = "play";
  }

  function mergeText(m) {
    const tokenText = (id) => `<span class="tbm-mono">${esc(tok.label(id))}</span>`;
    return `${tokenText(m.left)} + ${tokenText(m.right)} \u2192 ${tokenText(m.made)}`;
  }

  function show(k) {
    const step = steps[k], last = steps.length - 1;
    slider.value = k;
    stepText.textContent = `step ${k} of ${last}`;
    const m = step.merge;
    mergeLine.dataset.rank = m ? m.rank : "";
    mergeLine.innerHTML = m
      ? `step ${k} applies the merge of rank <b>${m.rank.toLocaleString("en")}</b> (of ` +
        `${data.n_merges.toLocaleString("en")}): ${mergeText(m)} ` +
        `<span class="tbm-id">(id ${m.made})</span>` +
        (m.count > 1 ? `, in ${m.count} places` : "")
      : steps.length > 1 ? "step 0: the text's UTF-8 bytes, one token each (move the slider)"
        : "step 0: the text's UTF-8 bytes; no merge applies";
    chips.replaceChildren();
    let n = 0;
    step.words.forEach((w) => {
      for (const id of w) {
        const chip = html("span", `tbm-chip tbm-c${n % COLOURS}` +
                          (step.fresh.has(n) ? " tbm-new" : ""), undefined, chips);
        chip.dataset.id = id;
        const bytes = Array.from(tok.bytes.get(id), (b) => b.toString(16).padStart(2, "0"));
        chip.title = `id ${id}, bytes ${bytes.join(" ")}`;
        html("span", "tbm-label", tok.label(id), chip);
        html("span", "tbm-id", String(id), chip);
        n++;
      }
    });
    const nBytes = steps[0].words.reduce((s, w) => s + w.length, 0);
    const chars = Array.from(input.value).length;
    summary.textContent = `${chars} characters, ${nBytes} bytes \u2192 ${n} tokens after ` +
      `${k} of ${last} merge${last === 1 ? "" : "s"}` +
      (nShown < data.n_merges ? ` (the tokenizer's first ${nShown.toLocaleString("en")} ` +
                                `merges are used)` : "");
    for (const item of history.children) {
      item.classList.toggle("tbm-current", Number(item.dataset.step) === k);
      item.classList.toggle("tbm-done", Number(item.dataset.step) < k);
    }
    const current = history.querySelector(".tbm-current");
    if (current) {
      const top = current.offsetTop - history.offsetTop;
      if (top < history.scrollTop || top > history.scrollTop + history.clientHeight - 20) {
        history.scrollTop = top - history.clientHeight / 2;
      }
    }
    prev.disabled = k === 0;
    next.disabled = k === last;
  }

  function update(startAt) {
    stop();
    steps = mergeSteps(input.value, data, tok);
    slider.max = steps.length - 1;
    history.replaceChildren();
    steps.forEach((s, k) => {
      if (!s.merge) return;
      const item = html("li", "tbm-step-item", undefined, history);
      item.dataset.step = k;
      item.innerHTML = `${mergeText(s.merge)} <span class="tbm-id">rank ${s.merge.rank}</span>`;
      item.addEventListener("click", () => { stop(); show(k); });
    });
    show(startAt < 0 || startAt > steps.length - 1 ? steps.length - 1 : startAt);
  }

  input.addEventListener("input", () => update(-1));
  slider.addEventListener("input", () => { stop(); show(Number(slider.value)); });
  prev.addEventListener("click", () => { stop(); show(Math.max(0, Number(slider.value) - 1)); });
  next.addEventListener("click", () => {
    stop();
    show(Math.min(steps.length - 1, Number(slider.value) + 1));
  });
  play.addEventListener("click", () => {
    if (timer !== null) { stop(); return; }
    if (Number(slider.value) === steps.length - 1) show(0);
    play.textContent = "pause";
    timer = setInterval(() => {
      const k = Number(slider.value) + 1;
      if (k >= steps.length) stop();
      else show(k);
    }, PLAY_MS);
  });
  update(data.step);
  return stop;
}

export default { render };
