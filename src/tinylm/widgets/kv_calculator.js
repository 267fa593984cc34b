// The KV-cache calculator: how many bytes the key/value cache of LLaMA 2 7B, 13B and 70B takes
// for a context length, batch size and precision, with one key/value head per query head
// (multi-head attention) and as the models were built (70B: grouped-query attention).
import { esc, fmtBytes, pct } from "./common.js";

function render({ model, el }) {
  const data = model.get("data");
  const root = document.createElement("div");
  root.className = "tinylm-widget tinylm-kv-calculator";
  root.innerHTML = `
    <div class="tkv-controls">
      <label>context length <input class="tkv-seq" type="range" min="7" max="15" step="1">
        <span class="tkv-seq-value"></span> tokens</label>
      <label>batch <input class="tkv-batch" type="range" min="0" max="6" step="1">
        <span class="tkv-batch-value"></span></label>
      <label>precision <select class="tkv-bytes">
        <option value="2">fp16 / bf16 (2 bytes)</option><option value="4">fp32 (4 bytes)</option>
        <option value="1">int8 (1 byte)</option></select></label>
    </div>
    <table class="tkv-table"><thead><tr><th>model</th><th>layers x kv heads x head dim</th>
      <th>weights</th><th>KV cache with MHA</th><th>KV cache as built</th></tr></thead>
      <tbody></tbody></table>
    <div class="tkv-note"></div>`;
  el.appendChild(root);
  const seq = root.querySelector(".tkv-seq"), batch = root.querySelector(".tkv-batch");
  const bytes = root.querySelector(".tkv-bytes"), body = root.querySelector("tbody");
  seq.value = Math.log2(data.seq_len); batch.value = Math.log2(data.batch_size);  // powers of 2

  function update() {
    const s = 2 ** parseInt(seq.value), b = 2 ** parseInt(batch.value);
    const w = parseInt(bytes.value);
    root.querySelector(".tkv-seq-value").textContent = s.toLocaleString("en");
    root.querySelector(".tkv-batch-value").textContent = b;
    // keys and values (2) x layers x kv heads x head dim x positions x batch x bytes per number
    const max = Math.max(...data.models.map(
      (m) => 2 * m.n_layers * m.n_heads * m.head_dim * s * b * w));
    body.innerHTML = data.models.map((m) => {
      const per = 2 * m.n_layers * m.head_dim * s * b * w;  // k and v, per kv head
      const mha = per * m.n_heads, built = per * m.n_kv_heads;
      const bar = (v, cls) => `<span class="tkv-bar ${cls}" style="width:${pct(v / max)}"></span>`;
      const kind = m.n_kv_heads < m.n_heads ? " (GQA)" : " (MHA)";
      return `<tr data-model="${esc(m.name)}"><td>${esc(m.name)}</td>
        <td>${m.n_layers} x ${m.n_kv_heads} x ${m.head_dim}${kind}</td>
        <td class="tkv-weights">${fmtBytes(m.n_params * w)}</td>
        <td class="tkv-mha">${fmtBytes(mha)}${bar(mha, "tkv-bar-mha")}</td>
        <td class="tkv-built">${fmtBytes(built)}${bar(built, "tkv-bar-built")}</td></tr>`;
    }).join("");
    const big = data.models[data.models.length - 1];
    root.querySelector(".tkv-note").textContent =
      `${big.name}: grouped-query attention shares each key/value head among ` +
      `${big.n_heads / big.n_kv_heads} query heads, so its cache is ` +
      `${big.n_heads / big.n_kv_heads}x smaller than with one key/value head per query head.`;
  }
  for (const input of [seq, batch, bytes]) input.addEventListener("input", update);
  update();
}

export default { render };
