// The test XML parser must reject what is not well-formed, or the SVG well-formedness checks prove nothing.
import { describe, expect, it } from "vitest";

import { elementsWithClass, parseXml, textContent, XmlSyntaxError } from "./xml-document.js";

describe("parseXml", () => {
  it("parses elements, attributes and entities", () => {
    const root = parseXml(
      `<?xml version="1.0" encoding="UTF-8"?>\n<svg a="1 &amp; 2"><title>x &lt;&amp;&gt; y &#65;&#x42;</title><g class="one two"/></svg>\n`,
    );
    expect(root.name).toBe("svg");
    expect(root.attributes.a).toBe("1 & 2");
    expect(textContent(root)).toBe("x <&> y AB");
    expect(elementsWithClass(root, "two")).toHaveLength(1);
  });

  const malformed: Array<[string, string]> = [
    ["unclosed element", "<svg><g></svg>"],
    ["mismatched closing tag", "<svg><g></h></svg>"],
    ["bare ampersand in text", "<svg>a & b</svg>"],
    ["bare ampersand in an attribute", '<svg a="a & b"/>'],
    ["less-than sign in an attribute", '<svg a="a < b"/>'],
    ["unknown entity", "<svg>&nbsp;</svg>"],
    ["unquoted attribute", "<svg a=1/>"],
    ["duplicate attribute", '<svg a="1" a="2"/>'],
    ["two root elements", "<svg/><svg/>"],
    ["text after the root", "<svg/>tail"],
    ["missing root", '<?xml version="1.0"?>'],
    ["attributes without whitespace", '<svg a="1"b="2"/>'],
  ];
  it.each(malformed)("rejects %s", (_, text) => {
    expect(() => parseXml(text)).toThrow(XmlSyntaxError);
  });
});
