// SVG text building blocks: XML escaping, elements with escaped attributes, and the document shell
// with its <title>. Every plot of the sweep is built from these, so escaping happens in one place.

export type SvgAttributes = Record<string, string | number | undefined>;

/** Escapes the five XML special characters, so that any text is safe as content or attribute value. */
export function escapeXml(text: string): string {
  let escaped = "";
  for (const character of text) {
    switch (character) {
      case "&":
        escaped += "&amp;";
        break;
      case "<":
        escaped += "&lt;";
        break;
      case ">":
        escaped += "&gt;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      case "'":
        escaped += "&apos;";
        break;
      default:
        escaped += character;
    }
  }
  return escaped;
}

/** Formats a coordinate with at most two decimals, which is below a pixel's resolution. */
export function formatCoordinate(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/**
 * Returns one element as text. Attributes whose value is undefined are left out. `content` is inserted
 * unchanged, so it must be markup built by these helpers or text passed through escapeXml.
 */
export function svgElement(name: string, attributes: SvgAttributes, content?: string): string {
  const parts = [name];
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    const text = typeof value === "number" ? formatCoordinate(value) : value;
    parts.push(`${key}="${escapeXml(text)}"`);
  }
  const open = parts.join(" ");
  return content === undefined ? `<${open}/>` : `<${open}>${content}</${name}>`;
}

/** Returns a <text> element whose content is the escaped `text`. */
export function svgText(text: string, attributes: SvgAttributes): string {
  return svgElement("text", attributes, escapeXml(text));
}

/**
 * Returns a complete SVG document. The <title> is the document's accessible name, and `description`
 * goes into <desc> when given.
 */
export function svgDocument(options: { width: number; height: number; title: string; description?: string; body: string[] }): string {
  const { width, height } = options;
  const header = [
    svgElement("title", {}, escapeXml(options.title)),
    ...(options.description === undefined ? [] : [svgElement("desc", {}, escapeXml(options.description))]),
    svgElement("rect", { x: 0, y: 0, width, height, fill: "#ffffff" }),
  ];
  const attributes = {
    xmlns: "http://www.w3.org/2000/svg",
    width,
    height,
    viewBox: `0 0 ${formatCoordinate(width)} ${formatCoordinate(height)}`,
    "font-family": "sans-serif",
    "font-size": 12,
  };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${svgElement("svg", attributes, `\n${[...header, ...options.body].join("\n")}\n`)}\n`;
}
