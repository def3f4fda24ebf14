// audit measures the page as a visitor sees it, for browser_test.go: the
// gap between the header and the first element of main, the document's
// width, and the WCAG 2 contrast of every visible element that holds text
// against the background it is drawn on. It returns a JSON-friendly object.
(() => {
  const canvas = { r: 255, g: 255, b: 255, a: 1 };
  const colorRE = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/g;

  // colorsIn returns every rgb() or rgba() colour in a computed value.
  const colorsIn = (value) =>
    [...value.matchAll(colorRE)].map((m) => ({
      r: +m[1], g: +m[2], b: +m[3], a: m[4] === undefined ? 1 : +m[4],
    }));

  // over composites colour top over colour bottom.
  const over = (top, bottom) => {
    const a = top.a + bottom.a * (1 - top.a);
    if (a === 0) return { r: 0, g: 0, b: 0, a: 0 };
    const mix = (t, b) => (t * top.a + b * bottom.a * (1 - top.a)) / a;
    return { r: mix(top.r, bottom.r), g: mix(top.g, bottom.g), b: mix(top.b, bottom.b), a };
  };

  // backgrounds returns the colours el's text may be drawn on: its own
  // background and its ancestors', composited down to the first opaque
  // one (or the white canvas). A gradient counts as each of its stops.
  // It returns null for a background image it cannot read.
  const backgrounds = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      const colors = colorsIn(style.backgroundColor);
      if (colors.length !== 1) return null;
      let layer = colors;
      if (style.backgroundImage !== "none") {
        const stops = colorsIn(style.backgroundImage);
        if (stops.length === 0) return null;
        layer = stops.map((stop) => over(stop, colors[0]));
      }
      layers.push(layer);
      if (layer.every((c) => c.a === 1)) break;
    }
    let result = [canvas];
    for (const layer of layers.reverse()) {
      result = layer.flatMap((top) => result.map((bottom) => over(top, bottom)));
    }
    return result;
  };

  // luminance is the WCAG relative luminance of an opaque colour.
  const luminance = ({ r, g, b }) => {
    const lin = (v) => {
      v /= 255;
      return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };

  const ratio = (x, y) => {
    const [hi, lo] = [luminance(x), luminance(y)].sort((p, q) => q - p);
    return (hi + 0.05) / (lo + 0.05);
  };

  const hex = ({ r, g, b }) =>
    "#" + [r, g, b].map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");

  // describe names an element for a failure message.
  const describe = (el) => {
    const classes = [...el.classList].map((c) => "." + c).join("");
    const text = el.textContent.trim().replace(/\s+/g, " ").slice(0, 40);
    return `<${el.localName}${classes}> "${text}"`;
  };

  const ownText = (el) =>
    [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim() !== "");

  const texts = [];
  const problems = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (!ownText(el) || !el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    const style = getComputedStyle(el);
    const fgs = colorsIn(style.color);
    const bgs = backgrounds(el);
    if (fgs.length !== 1 || bgs === null) {
      problems.push(`${describe(el)}: cannot read its colours (${style.color} on ${style.backgroundImage})`);
      continue;
    }
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && parseInt(style.fontWeight, 10) >= 700);
    const required = large ? 3 : 4.5;
    for (const bg of bgs) {
      const fg = over(fgs[0], bg);
      texts.push({
        element: describe(el), color: hex(fg), background: hex(bg),
        ratio: ratio(fg, bg), required,
      });
    }
  }

  const header = document.querySelector("body > header").getBoundingClientRect();
  const first = document.querySelector("main").firstElementChild.getBoundingClientRect();
  return {
    headerGap: first.top - header.bottom,
    scrollWidth: document.documentElement.scrollWidth,
    texts,
    problems,
  };
})()
