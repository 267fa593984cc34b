// tinylm.book.icons: the few Font Awesome icons the book's pages use, drawn as inline SVG.
// It stands in for the theme's fontawesome.js (every icon, 1.5 MB) at the same path, and does
// what that script does for these icons: <i class="fa-solid fa-bars"></i> becomes an <svg>.
(function () {
  const ICONS = __ICONS__;  // name -> [width, height, SVG path], filled in at build time
  const CSS = "svg.svg-inline--fa{display:inline-block;height:1em;overflow:visible;" +
    "vertical-align:-.125em;box-sizing:content-box}" +
    ".fa-lg{font-size:1.25em;line-height:.05em;vertical-align:-.075em}" +
    ".svg-inline--fa.fa-lg{vertical-align:-.2em}.svg-inline--fa.fa-fw{width:1.25em}";
  const NS = "http://www.w3.org/2000/svg";

  function iconName(el) {
    for (const cls of el.classList) {
      if (cls.startsWith("fa-") && Object.hasOwn(ICONS, cls.slice(3))) return cls.slice(3);
    }
    return null;
  }

  function draw(el) {
    const name = iconName(el);
    if (!name) return;
    const [width, height, path] = ICONS[name];
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("class", `${el.getAttribute("class")} svg-inline--fa`);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.dataset.icon = name;
    for (const attr of ["title", "style"]) {
      if (el.hasAttribute(attr)) svg.setAttribute(attr, el.getAttribute(attr));
    }
    const shape = document.createElementNS(NS, "path");
    shape.setAttribute("fill", "currentColor");
    shape.setAttribute("d", path);
    svg.appendChild(shape);
    el.replaceWith(svg);
  }

  function drawAll(root) {
    for (const el of root.querySelectorAll("i[class*='fa-'], span[class*='fa-']")) draw(el);
  }

  const style = document.createElement("style");
  style.textContent = CSS;
  document.head.appendChild(style);
  const start = () => {
    drawAll(document);
    new MutationObserver((changes) => {
      for (const change of changes) {
        for (const node of change.addedNodes) {
          if (node.nodeType !== 1) continue;
          if (node.matches("i[class*='fa-'], span[class*='fa-']")) draw(node);
          else drawAll(node);
        }
      }
    }).observe(document.body, { childList: true, subtree: true });
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
